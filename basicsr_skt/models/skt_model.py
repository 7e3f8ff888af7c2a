"""``SKTModel``: Semantic Knowledge Transfer — an ORM trained with a training-only semantic teacher (SPGRM + SKAM).

Student (the ORM, ``network_g``) loss, once the distillation weight w(iter) has warmed up::

    L = L_rec(f_O, Y) + w · (λ_content · L_content + λ_colour · L_colour + λ_skam · L_SKAM)

Teacher (SPGRM, ``network_t``) loss: L_rec(f_S, Y), with f_S = SPGRM(sg[f_O], reference frame, SKB). The λs are the
``loss_weight`` of ``skt.content_opt`` / ``skt.colour_opt`` / ``skt.skam_opt``; a term is off when its section is
absent.
At inference only the ORM runs: ``net_g`` checkpoints are plain ORM state dicts. Validation is :class:`HDRModel`'s.
"""
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from basicsr.archs import build_network
from basicsr.losses import build_loss
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY
from basicsr_skt.models.hdr_model import HDRModel, forward_frames
from basicsr_skt.utils.feature_tap import FeatureTap
from basicsr_skt.utils.input_checks import SKT_KEYS, SKT_MASK_KEYS, warn_unknown_keys
from basicsr_skt.utils.masks import random_patch_mask, semantic_mask
from basicsr_skt.utils.schedules import distill_weight, mask_ratio_schedule
from basicsr_skt.utils.tonemap import mu_law

MODES = ('joint', 'staged_teacher', 'staged_student')
#: Distillation terms: (section under ``skt``, log name).
DISTILL_SECTIONS = (('content_opt', 'l_content'), ('colour_opt', 'l_colour'), ('skam_opt', 'l_skam'))


def freeze(net: nn.Module) -> nn.Module:
    """Eval mode and no gradients: a network that is used but never optimised."""
    net.eval()
    net.requires_grad_(False)
    return net


def batch_psnr_mu(pred: torch.Tensor, gt: torch.Tensor, mu: float = 5000.0) -> torch.Tensor:
    """PSNR-μ of a whole batch (one MSE over all items), for monitoring only."""
    mse = torch.mean((mu_law(pred.detach(), mu) - mu_law(gt, mu))**2)
    return -10 * torch.log10(mse.clamp_min(1e-12))


@MODEL_REGISTRY.register()
class SKTModel(HDRModel):
    """ORM + SPGRM teacher + SKAM heads; ``skt.mode`` = ``joint`` (default) | ``staged_teacher`` | ``staged_student``.

    Options (``skt:``): ``mode``; ``orm_tap`` (ORM module name whose output SKAM reads, e.g. ``conv_after_body``);
    ``skam`` (SKAM arch options); ``mask`` (``type: random_patch | semantic``, ``patch_size`` 8, ``ratio_max`` 0.5,
    ``schedule: linear | constant``, ``ramp_fraction`` 0.5); ``warmup_iter``, ``ramp_iter`` (distillation weight);
    ``content_opt``, ``colour_opt``, ``skam_opt`` (losses). ``train.optim_t`` is the teacher's optimiser (default: a
    copy of ``optim_g``). Batches may carry ``skb_embedding`` (B, C, H, W) and ``skb_labels`` (B, H, W).
    """

    def __init__(self, opt: Dict[str, Any]):
        self.skt_opt: Dict[str, Any] = dict(opt.get('skt') or {})
        self.mode = self.skt_opt.get('mode', 'joint')
        if self.mode not in MODES:
            raise ValueError(f'skt.mode must be one of {MODES}, got {self.mode!r}')
        warn_unknown_keys('skt', self.skt_opt, SKT_KEYS)
        warn_unknown_keys('skt.mask', self.skt_opt.get('mask'), SKT_MASK_KEYS)
        super().__init__(opt)

    @property
    def trains_teacher(self) -> bool:
        return self.mode in ('joint', 'staged_teacher')

    @property
    def trains_student(self) -> bool:
        return self.mode in ('joint', 'staged_student')

    @property
    def trains_orm(self) -> bool:
        return self.trains_student or not self.opt['is_train']

    # ------------------------------------------------------------------------------------------------------------
    # Set-up
    # ------------------------------------------------------------------------------------------------------------
    def init_training_settings(self) -> None:
        self.net_t = self.place_network(build_network(self.opt['network_t']), trainable=self.trains_teacher)
        self.load_pretrained('t', self.net_t)
        self.distill_losses = self.build_distill_losses() if self.trains_student else OrderedDict()
        if 'l_skam' in self.distill_losses:
            self.build_skam()
        super().init_training_settings()
        if self.mode == 'staged_student':
            if self.opt['path'].get('pretrain_network_t') is None:
                raise ValueError('skt.mode staged_student needs a trained teacher: set path.pretrain_network_t')
            freeze(self.net_t)
        if self.mode == 'staged_teacher':
            if self.opt['path'].get('pretrain_network_g') is None:
                get_root_logger().warning('staged_teacher without path.pretrain_network_g: the frozen ORM is random')
            freeze(self.net_g)

    def build_distill_losses(self) -> 'OrderedDict[str, nn.Module]':
        return OrderedDict((log_name, build_loss(self.skt_opt[section]).to(self.device))
                           for section, log_name in DISTILL_SECTIONS if self.skt_opt.get(section))

    def build_skam(self) -> None:
        """SKAM heads and the forward hook that reads the ORM's features (the ORM's code is untouched)."""
        if not self.skt_opt.get('orm_tap') or not self.skt_opt.get('skam'):
            raise ValueError('skt.skam_opt is set, so skt.orm_tap (an ORM module name) and skt.skam (SKAM options) '
                             'are required')
        self.orm_tap = FeatureTap(self.get_bare_model(self.net_g), self.skt_opt['orm_tap'])
        self.net_skam = self.place_network(build_network(self.skt_opt['skam']))
        self.load_pretrained('skam', self.net_skam)

    def setup_optimizers(self) -> None:
        train_opt = self.opt['train']
        if self.trains_student:
            params = [p for p in self.net_g.parameters() if p.requires_grad]
            if hasattr(self, 'net_skam'):
                params += [p for p in self.net_skam.parameters() if p.requires_grad]
            self.optimizer_g = self.build_optimizer(train_opt['optim_g'], params)
        if self.trains_teacher:
            self.optimizer_t = self.build_optimizer(
                train_opt.get('optim_t', train_opt['optim_g']), list(self.net_t.parameters()))

    def build_optimizer(self, optim_opt: Dict[str, Any], params) -> torch.optim.Optimizer:
        optim_opt = dict(optim_opt)
        optimizer = self.get_optimizer(optim_opt.pop('type'), params, **optim_opt)
        self.optimizers.append(optimizer)
        return optimizer

    # ------------------------------------------------------------------------------------------------------------
    # Training step
    # ------------------------------------------------------------------------------------------------------------
    def feed_data(self, data: Dict[str, Any]) -> None:
        super().feed_data(data)
        self.batch_scenes = list(data.get('scene', []))
        for key in ('skb_embedding', 'skb_labels'):
            setattr(self, key, data[key].to(self.device) if key in data else None)

    def optimize_parameters(self, current_iter: int) -> None:
        self.output, orm_features = self.forward_student()
        teacher_output, teacher_features = self.forward_teacher(self.output.detach())
        log = OrderedDict()
        if self.trains_teacher:
            log.update(self.update_teacher(teacher_output))
        if self.trains_student:
            log.update(self.update_student(current_iter, orm_features, teacher_output.detach(), teacher_features))
        log.update(self.monitor(current_iter, teacher_output))
        self.log_dict = self.reduce_loss_dict(log)
        if self.ema_decay > 0 and self.trains_student:
            self.model_ema(decay=self.ema_decay)

    def forward_student(self) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """f_O = ORM(frames), and the tapped ORM features when SKAM is on."""
        with torch.set_grad_enabled(self.trains_student):
            if not hasattr(self, 'orm_tap'):
                return forward_frames(self.net_g, self.lq), None
            with self.orm_tap:
                output = forward_frames(self.net_g, self.lq)
            return output, self.orm_tap.pop()

    def forward_teacher(self, orm_output: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """f_S = SPGRM(sg[f_O], reference frame, SKB) and its fused features (B, C_t, H, W)."""
        reference = self.lq[:, self.lq.shape[1] // 2]
        if getattr(self.get_bare_model(self.net_t), 'use_semantics', False):
            for key in ('skb_embedding', 'skb_labels'):
                self.require_skb(key, 'SPGRM with semantic priors (network_t.use_semantics: true)')
        with torch.set_grad_enabled(self.trains_teacher):
            result = self.net_t(orm_output, reference, self.skb_embedding, self.skb_labels)
        return result['output'], result['features']

    def update_teacher(self, teacher_output: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One optimiser step of SPGRM on L_rec(f_S, Y)."""
        l_teacher, _ = self.reconstruction_loss(teacher_output, self.gt)
        self.optimizer_t.zero_grad()
        l_teacher.backward()
        self.optimizer_t.step()
        return OrderedDict(l_t_rec=l_teacher.detach())

    def update_student(self, current_iter: int, orm_features: Optional[torch.Tensor], teacher_output: torch.Tensor,
                       teacher_features: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One optimiser step of the ORM (and SKAM heads) on L_rec + w · Σ λ · L_distill."""
        l_rec, rec_terms = self.reconstruction_loss(self.output, self.gt)
        distill = self.distillation_terms(current_iter, orm_features, teacher_output, teacher_features)
        l_student = l_rec + sum(distill.values())
        self.optimizer_g.zero_grad()
        l_student.backward()
        self.optimizer_g.step()
        return OrderedDict(l_rec=l_rec.detach(), **{k: v.detach() for k, v in {**rec_terms, **distill}.items()})

    def distillation_terms(self, current_iter: int, orm_features: Optional[torch.Tensor], teacher_output: torch.Tensor,
                           teacher_features: torch.Tensor) -> 'OrderedDict[str, torch.Tensor]':
        """Weighted distillation losses w(iter) · λ · L (empty during the warm-up)."""
        weight = self.distill_weight(current_iter)
        terms = OrderedDict()
        if weight == 0:
            return terms
        if 'l_content' in self.distill_losses:
            terms['l_content'] = self.distill_losses['l_content'](self.output, teacher_output, gt=self.gt)
        if 'l_colour' in self.distill_losses:
            labels = self.require_skb('skb_labels', 'the colour distillation term (skt.colour_opt)')
            terms['l_colour'] = self.distill_losses['l_colour'](self.output, teacher_output, labels, gt=self.gt)
        if 'l_skam' in self.distill_losses:
            mask = self.skam_mask(current_iter, teacher_features)
            terms['l_skam'] = self.distill_losses['l_skam'](self.net_skam(orm_features, teacher_features, mask))
        return OrderedDict((name, weight * value) for name, value in terms.items())

    def distill_weight(self, current_iter: int) -> float:
        return distill_weight(current_iter, 1.0, self.skt_opt.get('warmup_iter', 0), self.skt_opt.get('ramp_iter', 0))

    def current_mask_ratio(self, current_iter: int) -> float:
        mask_opt = self.skt_opt.get('mask') or {}
        return mask_ratio_schedule(current_iter, self.opt['train']['total_iter'], mask_opt.get('ratio_max', 0.5),
                                   mask_opt.get('schedule', 'linear'), mask_opt.get('ramp_fraction', 0.5))

    def skam_mask(self, current_iter: int, teacher_features: torch.Tensor) -> torch.Tensor:
        """Keep-mask M (B, 1, h, w) of {0, 1} at the teacher's feature size; SKAM also uses 1 − M."""
        mask_opt = self.skt_opt.get('mask') or {}
        ratio = self.current_mask_ratio(current_iter)
        b, _, h, w = teacher_features.shape
        if mask_opt.get('type', 'random_patch') == 'semantic':
            labels = self.require_skb('skb_labels', 'semantic SKAM masks (skt.mask.type: semantic)')
            return semantic_mask(labels, ratio).to(teacher_features.dtype)
        return random_patch_mask(
            b, h, w, mask_opt.get('patch_size', 8), ratio, device=teacher_features.device).to(teacher_features.dtype)

    def require_skb(self, key: str, needed_by: str) -> torch.Tensor:
        value = getattr(self, key, None)
        if value is None:
            raise ValueError(f'{needed_by} needs {key!r} in the batch, but scenes {self.batch_scenes} have no semantic '
                             'priors: run scripts/make_semantic_priors.py on the dataset and enable `skb` in its '
                             'options, or remove the term')
        return value

    def monitor(self, current_iter: int, teacher_output: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Logged alongside the losses: teacher-minus-student PSNR-μ on the batch, w(iter), mask ratio."""
        values = OrderedDict(gap_psnr_mu=batch_psnr_mu(teacher_output, self.gt) - batch_psnr_mu(self.output, self.gt))
        values['distill_weight'] = torch.tensor(float(self.distill_weight(current_iter)))
        if hasattr(self, 'net_skam'):
            values['mask_ratio'] = torch.tensor(self.current_mask_ratio(current_iter))
        return values

    # ------------------------------------------------------------------------------------------------------------
    # Checkpoints
    # ------------------------------------------------------------------------------------------------------------
    def save(self, epoch: int, current_iter: int) -> None:
        """``net_g`` (plain ORM), ``net_t`` (SPGRM), ``net_skam`` (SKAM heads), then the training state."""
        self.save_network(self.net_t, 'net_t', current_iter)
        if hasattr(self, 'net_skam'):
            self.save_network(self.net_skam, 'net_skam', current_iter)
        super().save(epoch, current_iter)

    def resume_training(self, resume_state: Dict[str, Any]) -> None:
        """Optimisers and schedulers (BasicSR), plus the SKAM heads, which live under ``skt`` and so are not among
        the ``network_*`` that BasicSR's resume reloads."""
        super().resume_training(resume_state)
        if hasattr(self, 'net_skam'):
            path = osp.join(self.opt['path']['models'], f'net_skam_{resume_state["iter"]}.pth')
            self.load_network(self.net_skam, path, strict=True, param_key='params')
