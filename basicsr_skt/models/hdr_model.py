"""``HDRModel``: trains and validates any multi-exposure HDR network (the ORM) with BasicSR's trainer.

:class:`ORMModel` holds what every model of the plugin does with its ORM (build and load it, EMA copy, reconstruction
losses, batches, inference, validation, saving it); the registered models on it (:class:`HDRModel` here,
:class:`~basicsr_skt.models.skt_model.SKTModel`) each define BasicSR's model API (``__init__``,
``init_training_settings``, ``setup_optimizers``, ``optimize_parameters``, ``save``, ``checkpoint_networks``) once,
from these parts.
"""
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Tuple

import torch
from torch import nn

from basicsr.archs import build_network
from basicsr.losses import build_loss
from basicsr.utils.registry import MODEL_REGISTRY
from basicsr_skt.inference.orm import forward_frames, run_orm
from basicsr_skt.models.hdr_base import HDRBaseModel
from basicsr_skt.models.hdr_validation import HDRValidationMixin
from basicsr_skt.models.model_options import ValOptions
from basicsr_skt.models.val_display import display_for

#: Loss sections of ``train`` and the log name of each term.
LOSS_SECTIONS = (('pixel_opt', 'l_pix'), ('perceptual_opt', 'l_percep'))


class ORMModel(HDRValidationMixin, HDRBaseModel):
    """The ORM ``network_g`` of a model, with float validation and HDR outputs (not registered: the base of
    :class:`HDRModel` and :class:`~basicsr_skt.models.skt_model.SKTModel`).

    Options: ``network_g`` (+ ``path.pretrain_network_g``, ``param_key_g``, ``strict_load_g``); ``train.optim_g``
    (any of :data:`~basicsr_skt.models.hdr_base.OPTIMIZERS`); ``train.pixel_opt`` (logged ``l_pix``) and
    ``train.perceptual_opt`` (``l_percep``), summed as ``l_rec``; ``train.ema_decay`` (validation and ``params_ema``
    use the EMA copy) with ``train.ema_warmup`` (:meth:`ema_decay_at`). Validation:
    :class:`~basicsr_skt.models.hdr_validation.HDRValidationMixin`, with the plugin's ``val`` keys parsed once into
    ``val_options`` (:class:`~basicsr_skt.models.model_options.ValOptions`) and the sRGB or RAW ``display`` strategy
    chosen from the datasets' options (:func:`~basicsr_skt.models.val_display.display_for`); inference (padding or
    tiles): :meth:`infer`. Checkpoints, optimisers and resume states:
    :class:`~basicsr_skt.models.hdr_base.HDRBaseModel`.

    ``side_predictors``: callables run by :meth:`test` after the ORM, each returning metric prefix -> (B, C, H, W)
    outputs that validation scores beside the ORM's (``side_outputs``; the SKT teacher's, for instance).
    """

    def setup_orm(self, opt: Dict[str, Any], trainable: bool) -> None:
        """Parse the plugin's ``val`` keys (``val_options``), choose the ``display`` strategy from the datasets, and
        build ``net_g`` (DDP-wrapped when ``trainable``) with its ``path.pretrain_network_g`` weights."""
        self.val_options = ValOptions.parse(opt.get('val'))
        ValOptions.warn_unknown_keys(opt.get('val'))
        self.display = display_for(opt)
        self.side_predictors: List[Callable[[], Dict[str, torch.Tensor]]] = []
        self.side_outputs: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
        self.net_g = self.place_network(build_network(opt['network_g']), trainable=trainable)
        self.print_network(self.net_g)
        self.load_pretrained('g', self.net_g)

    def setup_orm_training(self) -> None:
        """Train mode, the EMA copy ``net_g_ema`` (``train.ema_decay``) and the reconstruction losses."""
        self.net_g.train()
        train_opt = self.opt['train']
        self.ema_decay = train_opt.get('ema_decay', 0)
        if self.ema_decay > 0:
            self.net_g_ema = build_network(self.opt['network_g']).to(self.device)
            if self.opt['path'].get('resume_state') and self.opt['path'].get('pretrain_network_g') is not None:
                self.load_network(self.net_g_ema, self.opt['path']['pretrain_network_g'], True, 'params_ema')
            elif self.opt['path'].get('pretrain_network_g') is not None:
                self.load_pretrained('g', self.net_g_ema)
            else:
                self.model_ema(0)
            self.net_g_ema.eval()
        self.rec_losses = self.build_losses(train_opt)
        if not self.rec_losses:
            raise ValueError(f'train: no loss configured; set one of {[s for s, _ in LOSS_SECTIONS]}')

    def build_losses(self, train_opt: Dict[str, Any]) -> 'OrderedDict[str, nn.Module]':
        """Reconstruction losses from ``train.pixel_opt`` / ``train.perceptual_opt``, keyed by log name."""
        return OrderedDict((log_name, build_loss(train_opt[section]).to(self.device))
                           for section, log_name in LOSS_SECTIONS if train_opt.get(section))

    def feed_data(self, data: Dict[str, Any]) -> None:
        """Take a batch: ``lq`` (B, N, C, H, W) frames; when present ``gt`` (B, C_out, H, W) linear HDR (or packed
        RAW), the scene names, the semantic priors ``skb_embedding`` (B, C, h, w) and ``skb_labels`` (B, H, W) (read
        by the SKT teacher, never by the ORM; None when absent); and the display strategy's per-scene data (RAW: the
        colour metadata)."""
        self.lq = data['lq'].to(self.device)
        self.exposures = data.get('exposures')  # (B, N) relative exposure times, kept on the CPU for region metrics
        if 'gt' in data:
            self.gt = data['gt'].to(self.device)
        self.batch_scenes = list(data.get('scene', []))
        for key in ('skb_embedding', 'skb_labels'):
            setattr(self, key, data[key].to(self.device) if key in data else None)
        self.display.take_batch(data)

    def reconstruction_loss(self, output: torch.Tensor, gt: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, Any]]:
        """L_rec = Σ configured losses(output, gt); returns the total and each logged term."""
        terms = OrderedDict((name, loss(output, gt)) for name, loss in self.rec_losses.items())
        return sum(terms.values()), terms

    def ema_decay_at(self, current_iter: int) -> float:
        """The EMA decay of this iteration: ``train.ema_decay``, or with ``train.ema_warmup: true``
        ``min(ema_decay, (1 + t) / (10 + t))``, so that the average covers about the last ``t / 10`` iterations early on
        instead of still holding the initial weights (at decay 0.999 a fixed-decay EMA keeps e^-1.2 = 30 % of the
        random initialisation after 1,200 iterations)."""
        if not self.opt['train'].get('ema_warmup', False):
            return self.ema_decay
        return min(self.ema_decay, (1 + current_iter) / (10 + current_iter))

    def save_orm(self, current_iter: int) -> None:
        """``net_g_<iter>.pth``: the ORM's ``params`` (and ``params_ema`` with an EMA copy)."""
        if hasattr(self, 'net_g_ema'):
            self.save_network([self.net_g, self.net_g_ema], 'net_g', current_iter, param_key=['params', 'params_ema'])
        else:
            self.save_network(self.net_g, 'net_g', current_iter)

    def inference_network(self) -> nn.Module:
        """The EMA ORM when there is one, else the ORM; unwrapped from (Distributed)DataParallel, because under DDP
        only rank 0 validates and a wrapped forward would wait for the other ranks to synchronise buffers."""
        return self.net_g_ema if hasattr(self, 'net_g_ema') else self.get_bare_model(self.net_g)

    def test(self) -> None:
        """Predict ``self.output`` for the fed frames in eval mode (the network's train mode is restored), then
        ``self.side_outputs`` from the ``side_predictors``.

        ``self.infer_seconds`` receives the wall time of :meth:`infer` (CUDA synchronised before and after when the
        model runs on a GPU, so queued kernels are counted).
        """
        net = self.inference_network()
        was_training = net.training
        net.eval()
        try:
            with torch.no_grad():
                self.synchronize()
                start = time.perf_counter()
                self.output = self.infer(net, self.lq)
                self.synchronize()
                self.infer_seconds = time.perf_counter() - start
        finally:
            net.train(was_training)
        self.side_outputs = OrderedDict()
        for predictor in self.side_predictors:
            self.side_outputs.update(predictor())

    def infer(self, net: nn.Module, lq: torch.Tensor) -> torch.Tensor:
        """Full-resolution prediction: whole image (default) or overlapping tiles (``val.tile``).

        Args:
            net: The ORM, in eval mode (called under ``torch.no_grad()``).
            lq: (B, N, 6, H, W) frames ``concat(L ** γ / t, L)``, BGR, LDR part in [0, 1].

        Returns:
            (B, 3, H, W) linear HDR prediction, BGR. With ``val.tile: T`` the frames run as ``T x T`` tiles
            overlapping by at least ``val.tile_overlap`` pixels (default 32) and blended without seams, which bounds
            the memory by the tile size; tiles start on multiples of ``val.pad_multiple`` where possible. Otherwise
            the whole image is reflect-padded to ``val.pad_multiple`` (default 1: the arch pads itself).
        """
        val = self.val_options
        return run_orm(net, lq, val.pad_multiple, val.tile, val.tile_overlap, out_channels=None)

    def get_current_visuals(self) -> 'OrderedDict[str, torch.Tensor]':
        out = OrderedDict(lq=self.lq.detach().cpu(), result=self.output.detach().cpu())
        if hasattr(self, 'gt'):
            out['gt'] = self.gt.detach().cpu()
        return out


@MODEL_REGISTRY.register()
class HDRModel(ORMModel):
    """Multi-exposure HDR reconstruction model: the ORM ``network_g`` trained alone on L_rec (see :class:`ORMModel`
    for its options)."""

    def __init__(self, opt: Dict[str, Any]):
        super().__init__(opt)
        self.setup_orm(opt, trainable=True)
        if self.is_train:
            self.init_training_settings()

    @classmethod
    def checkpoint_networks(cls, opt: Dict[str, Any]) -> List[str]:
        """Labels ``x`` of the ``net_<x>_<iter>.pth`` files :meth:`save` writes with options ``opt`` (a resume checks
        that each is complete: :func:`basicsr_skt.compat.network_files`)."""
        return ['g']

    def init_training_settings(self) -> None:
        self.setup_orm_training()
        self.setup_optimizers()
        self.setup_schedulers()

    def setup_optimizers(self) -> None:
        params = [p for p in self.net_g.parameters() if p.requires_grad]
        self.optimizer_g = self.build_optimizer(self.opt['train']['optim_g'], params)

    def optimize_parameters(self, current_iter: int) -> None:
        self.optimizer_g.zero_grad()
        self.output = forward_frames(self.net_g, self.lq)
        l_rec, terms = self.reconstruction_loss(self.output, self.gt)
        l_rec.backward()
        self.optimizer_g.step()
        self.log_dict = self.reduce_loss_dict(OrderedDict(l_rec=l_rec, **terms))
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay_at(current_iter))

    def save(self, epoch: int, current_iter: int) -> None:
        self.save_orm(current_iter)
        self.save_training_state(epoch, current_iter)
