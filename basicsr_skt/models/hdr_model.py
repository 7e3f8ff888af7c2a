"""``HDRModel``: trains and validates any multi-exposure HDR network (the ORM) with BasicSR's trainer."""
import os
import os.path as osp
import time
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from basicsr.archs import build_network
from basicsr.losses import build_loss
from basicsr.metrics import calculate_metric
from basicsr.models.base_model import BaseModel
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY
from basicsr_skt.metrics.metric_errors import MetricUnavailableError
from basicsr_skt.metrics.region_metric import metric_frame_inputs
from basicsr_skt.utils.checkpoint import atomic_save, check_state_dict_fits, unwrap_state_dict
from basicsr_skt.utils.figures import comparison_figure
from basicsr_skt.utils.hdr_io import write_hdr
from basicsr_skt.utils.input_checks import warn_unknown_keys
from basicsr_skt.utils.padding import crop_to, pad_to_multiple
from basicsr_skt.utils.rng import capture_rng_state, preserved_rng_state, restore_rng_state
from basicsr_skt.utils.tiling import tiled_forward
from basicsr_skt.utils.tonemap import mu_law

#: Optimisers selectable with ``train.optim_g.type`` (basicsr 1.4.2 itself only knows Adam).
OPTIMIZERS = ('Adam', 'AdamW', 'Adamax', 'SGD', 'ASGD', 'RMSprop', 'Rprop')
#: Loss sections of ``train`` and the log name of each term.
LOSS_SECTIONS = (('pixel_opt', 'l_pix'), ('perceptual_opt', 'l_percep'))
#: Keys of the ``val`` section: BasicSR's own, then this model's (see :class:`HDRModel`); others get a warning.
VAL_KEYS = ('val_freq', 'save_img', 'suffix', 'pbar', 'metrics', 'mu', 'pad_multiple', 'tile', 'tile_overlap',
            'num_tb_images', 'save_exr', 'figure_scenes')
#: Default ``val.tile_overlap`` in pixels (4 x the 8-pixel attention window of HDR-Transformer).
DEFAULT_TILE_OVERLAP = 32
#: Column of the per-scene inference time in the metrics tables (seconds; not a metric, never "best").
TIME_COLUMN = 'time_s'


def forward_frames(net: nn.Module, lq: torch.Tensor) -> torch.Tensor:
    """Run an ORM on stacked frames.

    Args:
        net: HDR network whose ``forward`` takes one (B, C, H, W) tensor per frame (reference = middle).
        lq: (B, N, C, H, W) frames, C = 6 for [L**γ/t, L] in BGR order.

    Returns:
        (B, 3, H, W) linear HDR prediction, BGR, typically in [0, 1].
    """
    return net(*lq.unbind(dim=1))


@MODEL_REGISTRY.register()
class HDRModel(BaseModel):
    """Multi-exposure HDR reconstruction model (ORM ``network_g``), float validation, HDR outputs.

    Validation is split into small steps that subclasses override: :meth:`infer` (padding or tiles, timed by
    :meth:`test`), :meth:`compute_metrics`, :meth:`save_visuals`, :meth:`save_figure`, :meth:`log_tb_images`,
    :meth:`write_metrics_files` and :meth:`metrics_table`. Metrics are computed on float HDR arrays, never on 8-bit
    images.

    ``val`` options read here (besides BasicSR's ``val_freq``, ``save_img``, ``suffix``, ``pbar``, ``metrics``):

    * ``mu`` (5000): μ of the tone-mapped PNGs, figures and tensorboard images.
    * ``pad_multiple`` (1): reflect-pad the frames to this multiple before the network (1: the arch pads itself).
    * ``tile`` (null: whole image) and ``tile_overlap`` (32): memory-bounded inference on overlapping
      ``tile x tile`` tiles blended without seams (:func:`~basicsr_skt.utils.tiling.tiled_forward`).
    * ``save_exr`` (false): also write each prediction as float32 OpenEXR next to the ``.hdr``.
    * ``figure_scenes`` (null): scenes that get a comparison figure (:meth:`save_figure`): a list of scene names,
      or a count N for the first N scenes.
    * ``num_tb_images`` (2): scenes logged to tensorboard.

    Each scene's inference wall time (the network only, CUDA synchronised when on a GPU; the first scene includes
    one-off costs such as attention-mask caching) is recorded in ``scene_seconds`` and reported as ``time_s``.
    """

    def __init__(self, opt: Dict[str, Any]):
        super().__init__(opt)
        self.warn_unknown_val_keys()
        self.net_g = self.place_network(build_network(opt['network_g']), trainable=self.trains_orm)
        self.print_network(self.net_g)
        self.load_pretrained('g', self.net_g)
        if self.is_train:
            self.init_training_settings()

    # ------------------------------------------------------------------------------------------------------------
    # Set-up
    # ------------------------------------------------------------------------------------------------------------
    @property
    def trains_orm(self) -> bool:
        """Whether ``network_g`` is optimised by this model (subclasses may freeze it)."""
        return True

    @classmethod
    def checkpoint_networks(cls, opt: Dict[str, Any]) -> List[str]:
        """Labels ``x`` of the ``net_<x>_<iter>.pth`` files :meth:`save` writes with options ``opt`` (a resume checks
        that each is complete: :func:`basicsr_skt.compat.network_files`)."""
        return ['g']

    def place_network(self, net: nn.Module, trainable: bool = True) -> nn.Module:
        """Move ``net`` to the model's device; a network that is optimised is also wrapped for (Distributed)
        DataParallel by ``model_to_device``, a frozen one is not (DDP rejects modules without trainable
        parameters, and a frozen network needs no gradient synchronisation)."""
        return self.model_to_device(net) if trainable else net.to(self.device)

    def warn_unknown_val_keys(self) -> None:
        """Warn (BasicSR's logger) about ``val`` keys that nothing reads, e.g. a misspelt ``tile_overlap``."""
        warn_unknown_keys('val', self.opt.get('val'), VAL_KEYS)

    def load_pretrained(self, label: str, net: nn.Module) -> None:
        """Load ``path.pretrain_network_<label>`` (honouring ``strict_load_<label>``, ``param_key_<label>``)."""
        load_path = self.opt['path'].get(f'pretrain_network_{label}')
        if load_path is not None:
            self.load_network(net, load_path, self.opt['path'].get(f'strict_load_{label}', True),
                              self.opt['path'].get(f'param_key_{label}', 'params'))

    def load_network(self, net: nn.Module, load_path: str, strict: bool = True, param_key: Optional[str] = 'params'):
        """Load weights saved by BasicSR (``params``/``params_ema``) or by official code (``state_dict``).

        A missing ``param_key`` falls back to the first known wrapper key; ``module.`` prefixes are removed.
        """
        if not osp.isfile(load_path):
            raise FileNotFoundError(f'Pretrained network file not found: {load_path}')
        checkpoint = torch.load(load_path, map_location='cpu', weights_only=True)
        key = param_key if param_key in checkpoint else None
        state = unwrap_state_dict(checkpoint, key)
        bare = self.get_bare_model(net)
        get_root_logger().info(f'Loading {bare.__class__.__name__} from {load_path} [key: {key or "auto"}].')
        check_state_dict_fits(bare, state, strict, what=load_path)
        bare.load_state_dict(state, strict=strict)

    def init_training_settings(self) -> None:
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
        self.setup_optimizers()
        self.setup_schedulers()

    def build_losses(self, train_opt: Dict[str, Any]) -> 'OrderedDict[str, nn.Module]':
        """Reconstruction losses from ``train.pixel_opt`` / ``train.perceptual_opt``, keyed by log name."""
        return OrderedDict((log_name, build_loss(train_opt[section]).to(self.device))
                           for section, log_name in LOSS_SECTIONS if train_opt.get(section))

    def setup_optimizers(self) -> None:
        optim_opt = dict(self.opt['train']['optim_g'])
        params = [p for p in self.net_g.parameters() if p.requires_grad]
        self.optimizer_g = self.get_optimizer(optim_opt.pop('type'), params, **optim_opt)
        self.optimizers.append(self.optimizer_g)

    def get_optimizer(self, optim_type: str, params, lr: float, **kwargs) -> torch.optim.Optimizer:
        """Any optimiser of :data:`OPTIMIZERS` (BasicSR 1.4.2 only knows Adam)."""
        if optim_type not in OPTIMIZERS:
            raise NotImplementedError(f'Optimizer {optim_type!r} is not supported; choose one of {OPTIMIZERS}')
        return getattr(torch.optim, optim_type)(params, lr, **kwargs)

    # ------------------------------------------------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------------------------------------------------
    def feed_data(self, data: Dict[str, Any]) -> None:
        """Take a batch: ``lq`` (B, N, 6, H, W) frames and, when present, ``gt`` (B, 3, H, W) linear HDR."""
        self.lq = data['lq'].to(self.device)
        self.exposures = data.get('exposures')  # (B, N) relative exposure times, kept on the CPU for region metrics
        if 'gt' in data:
            self.gt = data['gt'].to(self.device)

    def reconstruction_loss(self, output: torch.Tensor, gt: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, Any]]:
        """L_rec = Σ configured losses(output, gt); returns the total and each logged term."""
        terms = OrderedDict((name, loss(output, gt)) for name, loss in self.rec_losses.items())
        return sum(terms.values()), terms

    def optimize_parameters(self, current_iter: int) -> None:
        self.optimizer_g.zero_grad()
        self.output = forward_frames(self.net_g, self.lq)
        l_rec, terms = self.reconstruction_loss(self.output, self.gt)
        l_rec.backward()
        self.optimizer_g.step()
        self.log_dict = self.reduce_loss_dict(OrderedDict(l_rec=l_rec, **terms))
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay_at(current_iter))

    def ema_decay_at(self, current_iter: int) -> float:
        """The EMA decay of this iteration: ``train.ema_decay``, or with ``train.ema_warmup: true``
        ``min(ema_decay, (1 + t) / (10 + t))``, so that the average covers about the last ``t / 10`` iterations early on
        instead of still holding the initial weights (at decay 0.999 a fixed-decay EMA keeps e^-1.2 = 30 % of the
        random initialisation after 1,200 iterations)."""
        if not self.opt['train'].get('ema_warmup', False):
            return self.ema_decay
        return min(self.ema_decay, (1 + current_iter) / (10 + current_iter))

    def save(self, epoch: int, current_iter: int) -> None:
        if hasattr(self, 'net_g_ema'):
            self.save_network([self.net_g, self.net_g_ema], 'net_g', current_iter, param_key=['params', 'params_ema'])
        else:
            self.save_network(self.net_g, 'net_g', current_iter)
        self.save_training_state(epoch, current_iter)

    def save_network(self, net, net_label: str, current_iter: int, param_key='params') -> None:
        """BasicSR's ``save_network`` (bare models, ``module.`` stripped, CPU tensors), written atomically by rank 0."""
        if self.opt.get('rank', 0) != 0:
            return
        nets = net if isinstance(net, list) else [net]
        keys = param_key if isinstance(param_key, list) else [param_key]
        if len(nets) != len(keys):
            raise ValueError(f'save_network: {len(nets)} networks but {len(keys)} param keys')
        state = {key: unwrap_state_dict({k: v.cpu() for k, v in self.get_bare_model(n).state_dict().items()})
                 for n, key in zip(nets, keys)}
        label = 'latest' if current_iter == -1 else current_iter
        atomic_save(state, osp.join(self.opt['path']['models'], f'{net_label}_{label}.pth'))

    def save_training_state(self, epoch: int, current_iter: int) -> None:
        """Optimisers, schedulers, the global RNGs and :meth:`extra_training_state`, written atomically, so that a
        resumed run continues exactly where this one was (the data order:
        :mod:`basicsr_skt.utils.resumable_sampler`). Rank 0
        writes; under DDP the other ranks' generators are not saved (their draws differ after a resume)."""
        if current_iter == -1 or self.opt.get('rank', 0) != 0:
            return
        state = {
            'epoch': epoch,
            'iter': current_iter,
            'optimizers': [o.state_dict() for o in self.optimizers],
            'schedulers': [s.state_dict() for s in self.schedulers],
            'rng': capture_rng_state(),
            **self.extra_training_state(),
        }
        atomic_save(state, osp.join(self.opt['path']['training_states'], f'{current_iter}.state'))

    def extra_training_state(self) -> Dict[str, Any]:
        """Model-specific entries of the training state (subclasses add theirs)."""
        return {}

    def resume_training(self, resume_state: Dict[str, Any]) -> None:
        """Optimisers and schedulers (BasicSR), and the RNG states saved with them (older states have none).

        The training sampler restores them again right before the first sample of the resumed epoch, whose consumed
        batches it skips (:class:`~basicsr_skt.utils.resumable_sampler.ResumableSampler`, set up by the pipeline).
        """
        super().resume_training(resume_state)
        rng_state = resume_state.get('rng')
        if rng_state is not None:
            restore_rng_state(rng_state)

    def validation(self, dataloader, current_iter: int, tb_logger, save_img: bool = False) -> None:
        """BasicSR's validation, leaving every global random generator as it found it (so that training draws, and
        thus results, do not depend on ``val_freq``, and a resumed run matches an uninterrupted one)."""
        with preserved_rng_state():
            super().validation(dataloader, current_iter, tb_logger, save_img)

    # ------------------------------------------------------------------------------------------------------------
    # Inference
    # ------------------------------------------------------------------------------------------------------------
    def inference_network(self) -> nn.Module:
        """The EMA ORM when there is one, else the ORM; unwrapped from (Distributed)DataParallel, because under DDP
        only rank 0 validates and a wrapped forward would wait for the other ranks to synchronise buffers."""
        return self.net_g_ema if hasattr(self, 'net_g_ema') else self.get_bare_model(self.net_g)

    def test(self) -> None:
        """Predict ``self.output`` for the fed frames in eval mode; the network's train mode is restored.

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

    def synchronize(self) -> None:
        """Wait for queued GPU work (CUDA only; a no-op on the CPU)."""
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

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
        val_opt = self.opt.get('val') or {}
        multiple = val_opt.get('pad_multiple', 1)
        if val_opt.get('tile') is not None:
            return tiled_forward(
                lambda frames: forward_frames(net, frames),
                lq,
                val_opt['tile'],
                val_opt.get('tile_overlap', DEFAULT_TILE_OVERLAP),
                pad_multiple=multiple)
        if multiple <= 1:
            return forward_frames(net, lq)
        b, n, c, h, w = lq.shape
        padded, _ = pad_to_multiple(lq.reshape(b, n * c, h, w), multiple)
        output = forward_frames(net, padded.reshape(b, n, c, *padded.shape[-2:]))
        return crop_to(output, h, w)

    # ------------------------------------------------------------------------------------------------------------
    # Validation
    # ------------------------------------------------------------------------------------------------------------
    def dist_validation(self, dataloader, current_iter: int, tb_logger, save_img: bool) -> None:
        if self.opt['rank'] == 0:
            self.nondist_validation(dataloader, current_iter, tb_logger, save_img)

    def nondist_validation(self, dataloader, current_iter: int, tb_logger, save_img: bool) -> None:
        dataset_name = dataloader.dataset.opt['name']
        metric_opts = self.opt['val'].get('metrics') or {}
        if metric_opts:
            self._initialize_best_metric_results(dataset_name)
        self.scene_metrics: 'OrderedDict[str, Dict[str, float]]' = OrderedDict()
        self.scene_seconds: 'OrderedDict[str, float]' = OrderedDict()
        self.skipped_metrics: Dict[str, str] = OrderedDict()
        num_tb_images = self.opt['val'].get('num_tb_images', 2)
        pbar = tqdm(total=len(dataloader), unit='scene') if self.opt['val'].get('pbar', False) else None
        for idx, val_data in enumerate(dataloader):
            scene = val_data['scene'][0]
            self.feed_data(val_data)
            self.test()
            self.scene_seconds[scene] = self.infer_seconds
            pred, gt = self.current_arrays()
            if gt is not None and metric_opts:
                self.scene_metrics[scene] = self.compute_metrics(pred, gt, metric_opts)
            if save_img:
                self.save_visuals(scene, pred, current_iter, dataset_name)
            if gt is not None and self.wants_figure(scene, idx):
                self.save_figure(scene, self.current_ldrs(), pred, gt, current_iter, dataset_name)
            if tb_logger is not None and idx < num_tb_images:
                self.log_tb_images(tb_logger, scene, pred, gt, current_iter)
            self.release_batch()
            if pbar is not None:
                pbar.update(1)
                pbar.set_description(f'Val {scene}')
        if pbar is not None:
            pbar.close()
        if self.scene_metrics:
            self.drop_skipped_metrics()
            self.metric_results = self.average_metrics(self.scene_metrics)
            for metric, value in self.metric_results.items():
                self._update_best_metric_result(dataset_name, metric, value, current_iter)
            self._log_validation_metric_values(current_iter, dataset_name, tb_logger)

    def current_arrays(self) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """First item of the batch as float32 H×W×3 BGR arrays (prediction, GT or None)."""

        def to_array(t: torch.Tensor) -> np.ndarray:
            return t[0].detach().float().cpu().permute(1, 2, 0).numpy()

        return to_array(self.output), (to_array(self.gt) if hasattr(self, 'gt') else None)

    def current_ldrs(self) -> List[np.ndarray]:
        """The LDR frames of the first batch item (the ``L`` half of each frame's channels), float32 H×W×3 BGR."""
        return [frame[3:6].detach().float().cpu().permute(1, 2, 0).numpy() for frame in self.lq[0]]

    def compute_metrics(self, pred: np.ndarray, gt: np.ndarray, metric_opts: Dict[str, Any]) -> Dict[str, float]:
        """Every configured metric on float HDR arrays (``val.metrics.<name>.type`` from METRIC_REGISTRY).

        A metric that raises :class:`MetricUnavailableError` (LPIPS without its offline weights) is logged once as a
        warning, recorded in ``self.skipped_metrics`` and left out for the rest of the validation run.

        Args:
            pred: H×W×3 float32 linear HDR prediction, BGR.
            gt: H×W×3 float32 linear HDR ground truth, BGR.
            metric_opts: ``val.metrics``: name -> options with ``type``.

        Returns:
            name -> value for every configured metric that is available, in configuration order.
        """
        skipped = getattr(self, 'skipped_metrics', None)
        if skipped is None:
            skipped = self.skipped_metrics = OrderedDict()
        values: 'OrderedDict[str, float]' = OrderedDict()
        for name, metric_opt in metric_opts.items():
            if name in skipped:
                continue
            inputs = self.metric_inputs(pred, gt)
            wanted = metric_frame_inputs(metric_opt['type'])
            if wanted:  # region metrics: the scene's LDR frames and exposure times
                inputs.update((key, value) for key, value in self.frame_inputs().items() if key in wanted)
            try:
                values[name] = float(calculate_metric(inputs, metric_opt))
            except MetricUnavailableError as err:
                skipped[name] = str(err)
                get_root_logger().warning(f'Metric {name!r} skipped for this run: {err}')
        return values

    def metric_inputs(self, pred: np.ndarray, gt: np.ndarray) -> Dict[str, Any]:
        """Keyword arguments of every metric function: ``img`` and ``img2`` (subclasses add per-scene data, e.g. the
        RAW colour metadata of :class:`~basicsr_skt.models.raw_hdr_model.RawHDRModel`)."""
        return dict(img=pred, img2=gt)

    def frame_inputs(self) -> Dict[str, Any]:
        """``ldrs`` (the first batch item's LDR frames, H×W×3 float32 BGR) and ``exposures`` (its exposure times, or
        None when the dataset gives none) for metrics that declare them (:mod:`basicsr_skt.metrics.region_metric`)."""
        exposures = getattr(self, 'exposures', None)
        return dict(ldrs=self.current_ldrs(), exposures=None if exposures is None else exposures[0].numpy())

    def drop_skipped_metrics(self) -> None:
        """Remove metrics skipped part-way from the scenes computed before (every scene keeps the same columns)."""
        for values in self.scene_metrics.values():
            for name in getattr(self, 'skipped_metrics', {}):
                values.pop(name, None)

    @staticmethod
    def average_metrics(scene_metrics: Dict[str, Dict[str, float]]) -> 'OrderedDict[str, float]':
        names = next(iter(scene_metrics.values())).keys()

        def mean(values: List[float]) -> float:  # a region metric is NaN for scenes without that region
            defined = [v for v in values if not np.isnan(v)]
            return float(np.mean(defined)) if defined else float('nan')

        return OrderedDict((m, mean([v[m] for v in scene_metrics.values()])) for m in names)

    def save_visuals(self, scene: str, pred: np.ndarray, current_iter: int, dataset_name: str) -> None:
        """Write the prediction as ``.hdr`` (linear, OpenCV RGBE; negative values clipped to 0), optionally as
        float32 ``.exr`` (``val.save_exr``, unclipped) and a μ-law tone-mapped 8-bit PNG."""
        stem = self.visual_path(scene, current_iter, dataset_name)
        write_hdr(f'{stem}.hdr', np.maximum(pred, 0))
        if self.opt['val'].get('save_exr', False):
            write_hdr(f'{stem}.exr', pred)
        tone_mapped = mu_law(np.clip(pred, 0, 1), self.opt['val'].get('mu', 5000.0))
        cv2.imwrite(f'{stem}_mu.png', np.round(tone_mapped * 255).astype(np.uint8))

    def wants_figure(self, scene: str, index: int) -> bool:
        """Whether ``val.figure_scenes`` (a list of scene names, or a count N: the first N scenes) selects a scene."""
        selection: Union[None, int, Sequence[str]] = self.opt['val'].get('figure_scenes')
        if selection is None:
            return False
        if isinstance(selection, bool) or not isinstance(selection, (int, list, tuple)):
            raise ValueError(f'val.figure_scenes must be a list of scene names or a count, got {selection!r}')
        return index < selection if isinstance(selection, int) else scene in selection

    def save_figure(self, scene: str, ldrs: Sequence[np.ndarray], pred: np.ndarray, gt: np.ndarray, current_iter: int,
                    dataset_name: str) -> str:
        """Write ``<stem>_figure.png``: LDR frames, μ-law prediction and GT, error heat map, zoom on the worst crop.

        Args:
            scene: Scene name.
            ldrs: N float32 H×W×3 BGR LDR frames in [0, 1] (reference = middle).
            pred: H×W×3 float32 linear HDR prediction, BGR.
            gt: H×W×3 float32 linear HDR ground truth, BGR.
            current_iter: Iteration (names the file in training).
            dataset_name: Dataset name (folder in test runs).

        Returns:
            The written path; the image size is ``figures.comparison_figure_size(N, H, W)``.
        """
        path = f'{self.visual_path(scene, current_iter, dataset_name)}_figure.png'
        os.makedirs(osp.dirname(path), exist_ok=True)
        figure = comparison_figure(ldrs, pred, gt, mu=self.opt['val'].get('mu', 5000.0))
        if not cv2.imwrite(path, figure):
            raise OSError(f'Cannot write figure {path}')
        return path

    def visual_path(self, scene: str, current_iter: int, dataset_name: str) -> str:
        """Path stem of a scene's saved outputs (BasicSR's layout: per scene in training, per dataset in test)."""
        root = self.opt['path']['visualization']
        if self.opt['is_train']:
            return osp.join(root, scene, f'{scene}_{current_iter}')
        suffix = self.opt['val'].get('suffix') or self.opt['name']
        return osp.join(root, dataset_name, f'{scene}_{suffix}')

    def log_tb_images(self, tb_logger, scene: str, pred: np.ndarray, gt: Optional[np.ndarray], current_iter: int):
        """μ-law prediction (and GT) to tensorboard, RGB, CHW in [0, 1]."""
        mu = self.opt['val'].get('mu', 5000.0)
        images = [pred] if gt is None else [pred, gt]
        strip = np.concatenate([mu_law(np.clip(img, 0, 1), mu) for img in images], axis=1)
        tb_logger.add_image(f'val/{scene}', strip[..., ::-1].transpose(2, 0, 1).copy(), current_iter)

    def release_batch(self) -> None:
        for name in ('lq', 'gt', 'output', 'exposures'):
            if hasattr(self, name):
                delattr(self, name)
        if self.device.type == 'cuda':
            torch.cuda.empty_cache()

    def _log_validation_metric_values(self, current_iter: int, dataset_name: str, tb_logger) -> None:
        """Log a per-scene table (Markdown) with the mean row and best values; scalars go to tensorboard."""
        table = self.metrics_table(dataset_name)
        get_root_logger().info(f'Validation {dataset_name} @ iter {current_iter}\n{table}')
        if not self.opt['is_train']:
            self.write_metrics_files(dataset_name, table)
        if tb_logger:
            for metric, value in self.metric_results.items():
                tb_logger.add_scalar(f'metrics/{dataset_name}/{metric}', value, current_iter)

    def write_metrics_files(self, dataset_name: str, table: str) -> None:
        """Test runs: ``<results_root>/<dataset>_metrics.{md,csv}`` with the per-scene values, ``time_s`` and the
        mean row (CSV: 6 decimals, header ``scene,<metric names...>,time_s``)."""
        root = self.opt['path']['results_root']
        with open(osp.join(root, f'{dataset_name}_metrics.md'), 'w') as f:
            f.write(table + '\n')
        columns = self.table_columns()
        with open(osp.join(root, f'{dataset_name}_metrics.csv'), 'w') as f:
            f.write(','.join(['scene'] + columns) + '\n')
            for scene, values in self.table_rows():
                f.write(','.join([scene] + [f'{values[m]:.6f}' for m in columns]) + '\n')

    def table_columns(self) -> List[str]:
        """Metric names in configuration order, then ``time_s`` when scenes were timed."""
        timed = bool(getattr(self, 'scene_seconds', None))
        return list(self.metric_results) + ([TIME_COLUMN] if timed else [])

    def table_rows(self) -> List[Tuple[str, Dict[str, float]]]:
        """(scene, values) per scene and ``('mean', ...)`` last; values hold the metrics and, when timed, ``time_s``
        (inference seconds; the mean row has the mean over the same scenes)."""
        seconds = getattr(self, 'scene_seconds', None) or {}
        rows = [(scene, dict(values)) for scene, values in self.scene_metrics.items()]
        mean = dict(self.metric_results)
        if seconds:
            for scene, values in rows:
                values[TIME_COLUMN] = seconds[scene]
            mean[TIME_COLUMN] = float(np.mean([seconds[scene] for scene, _ in rows]))
        return rows + [('mean', mean)]

    def metrics_table(self, dataset_name: Optional[str] = None) -> str:
        """Markdown table: one row per scene, the mean, and (in training) the best mean so far with its iteration.

        Metrics have 4 decimals, ``time_s`` (inference seconds per scene, no "best") 3.
        """
        columns = self.table_columns()
        lines = ['| scene | ' + ' | '.join(columns) + ' |', '|---' * (len(columns) + 1) + '|']
        for scene, values in self.table_rows():
            cells = [f'{values[m]:.3f}' if m == TIME_COLUMN else f'{values[m]:.4f}' for m in columns]
            lines.append(f'| {"**mean**" if scene == "mean" else scene} | ' + ' | '.join(cells) + ' |')
        best = getattr(self, 'best_metric_results', {}).get(dataset_name) if self.opt['is_train'] else None
        if best:
            cells = ['-' if m == TIME_COLUMN else f'{best[m]["val"]:.4f} ({best[m]["iter"]})' for m in columns]
            lines.append('| best (iter) | ' + ' | '.join(cells) + ' |')
        return '\n'.join(lines)

    def get_current_visuals(self) -> 'OrderedDict[str, torch.Tensor]':
        out = OrderedDict(lq=self.lq.detach().cpu(), result=self.output.detach().cpu())
        if hasattr(self, 'gt'):
            out['gt'] = self.gt.detach().cpu()
        return out
