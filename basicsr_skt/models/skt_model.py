"""``SKTModel``: Semantic Knowledge Transfer — an ORM trained with a training-only semantic teacher (SPGRM + SKAM).

Student (the ORM, ``network_g``) loss, once the distillation weight w(iter) has warmed up::

    L = L_rec(f_O, Y) + w · (λ_content · L_content + λ_colour · L_colour + λ_skam · L_SKAM)

Teacher (SPGRM, ``network_t``) loss: L_rec(f_S, Y), with f_S = SPGRM(sg[f_O], reference frame (or all frames), SKB).
The λs are the ``loss_weight`` of ``skt.content_opt`` / ``skt.colour_opt`` / ``skt.skam_opt``; a term is off when its
section is absent. With ``skt.teacher_ema_decay > 0`` (joint mode) the distillation targets come from an EMA copy of
the teacher, which moves more slowly than the ORM it corrects.
At inference only the ORM runs: ``net_g`` checkpoints are plain ORM state dicts. Validation is :class:`HDRModel`'s,
plus, when the validation batches carry priors (or the teacher uses none), the teacher's metrics on the same scenes
(``teacher_<metric>``; ``teacher0_<metric>`` for the same teacher with its priors zeroed):
:class:`~basicsr_skt.models.skt_validation.TeacherValidation`, a side predictor of the validation loop.
"""
import contextlib
import copy
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

from basicsr.archs import build_network
from basicsr.losses import build_loss
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY
from basicsr_skt.inference.orm import forward_frames
from basicsr_skt.models.hdr_model import ORMModel
from basicsr_skt.models.model_options import SKTOptions
from basicsr_skt.models.skt_validation import TeacherValidation
from basicsr_skt.utils.feature_tap import FeatureTap
from basicsr_skt.utils.masks import random_patch_mask, semantic_mask
from basicsr_skt.utils.schedules import distill_weight, mask_ratio_schedule
from basicsr_skt.utils.tonemap import DEFAULT_MU, mu_law


def freeze(net: nn.Module) -> nn.Module:
    """Eval mode and no gradients: a network that is used but never optimised."""
    net.eval()
    net.requires_grad_(False)
    return net


def batch_psnr_mu(pred: torch.Tensor, gt: torch.Tensor, mu: float = DEFAULT_MU) -> torch.Tensor:
    """PSNR-μ of a whole batch (one MSE over all items), for monitoring only."""
    mse = torch.mean((mu_law(pred.detach(), mu) - mu_law(gt, mu))**2)
    return -10 * torch.log10(mse.clamp_min(1e-12))


def gradient_norm(grads: List[Optional[torch.Tensor]]) -> torch.Tensor:
    """Euclidean norm of a gradient given per parameter (None = zero)."""
    return torch.as_tensor(sum(g.square().sum() for g in grads if g is not None)).sqrt()


def gradient_cosine(grads_a: List[Optional[torch.Tensor]], grads_b: List[Optional[torch.Tensor]]) -> torch.Tensor:
    """Cosine between two gradients given per parameter (None = zero); 0 when either is zero."""
    dot = sum((a * b).sum() for a, b in zip(grads_a, grads_b) if a is not None and b is not None)
    norm_a = sum(a.square().sum() for a in grads_a if a is not None)
    norm_b = sum(b.square().sum() for b in grads_b if b is not None)
    denominator = (torch.as_tensor(norm_a) * torch.as_tensor(norm_b)).sqrt()
    return torch.as_tensor(dot).detach() / denominator.detach().clamp_min(1e-30)


@MODEL_REGISTRY.register()
class SKTModel(ORMModel):
    """ORM (:class:`~basicsr_skt.models.hdr_model.ORMModel`) + SPGRM teacher + SKAM heads; ``skt.mode`` = ``joint``
    (default) | ``staged_teacher`` | ``staged_student``.

    Networks follow BasicSR's ``network_<x>`` convention (each with ``path.pretrain_network_<x>``,
    ``strict_load_<x>``, ``param_key_<x>``, saved as ``net_<x>_<iter>.pth``, reloaded by ``--auto_resume``):

    ==================  =====================================================================================
    ``network_g``       the ORM (:class:`HDRModel`); ``net_g`` files are plain ORM state dicts
    ``network_t``       the SPGRM teacher (training only); ``params_ema`` too with ``skt.teacher_ema_decay``
    ``network_skam``    the SKAM heads (training only; e.g. ``type: SKAM``, ``orm_channels``,
                        ``teacher_channels``, ``latent_dim``): built when ``skt.skam_opt`` is set and the mode
                        trains the ORM (``joint``, ``staged_student``), ignored otherwise. It was ``skt.skam``
                        before; that key is now an error naming this one.
    ==================  =====================================================================================

    Options (``skt:``, parsed once into :class:`~basicsr_skt.models.model_options.SKTOptions`, ``self.skt``, whose
    fields list every key with its default): ``mode``; ``orm_tap`` (ORM module name, or a list of names, whose output
    SKAM reads; ``name:input`` reads the module's input, e.g. ``conv_after_body:input``); ``mask`` (the SKAM mask:
    type, patch size, ratio schedule over the distillation period, which starts at ``distill_warmup_iter``);
    ``distill_warmup_iter``, ``ramp_iter`` (distillation weight); ``content_opt``, ``colour_opt``, ``skam_opt``
    (losses); ``teacher_input``; ``teacher_ema_decay``; ``val_teacher``; ``val_teacher_zeroed_priors``;
    ``diagnostics.grad_cosine_freq`` (every N iterations the cosine of each distillation term's gradient with the
    reconstruction gradient on the ORM's parameters, logged as ``cos_<term>``). ``train.optim_t`` is the teacher's
    optimiser (default: a copy of ``optim_g``). Batches may carry ``skb_embedding`` (B, C, H, W) and ``skb_labels``
    (B, H, W).
    """

    def __init__(self, opt: Dict[str, Any]):
        self.skt = SKTOptions.parse(opt.get('skt'))
        SKTOptions.warn_unknown_keys(opt.get('skt'))
        self.last_grad_cosines: Dict[str, torch.Tensor] = OrderedDict()
        super().__init__(opt)
        self.setup_orm(opt, trainable=self.trains_student or not self.opt['is_train'])
        if self.is_train:
            self.init_training_settings()
        self.teacher_validation = TeacherValidation(self)
        self.side_predictors.append(self.teacher_validation)

    @property
    def trains_teacher(self) -> bool:
        return self.skt.trains_teacher

    @property
    def trains_student(self) -> bool:
        return self.skt.trains_student

    @property
    def teacher_uses_semantics(self) -> bool:
        return bool(getattr(self.get_bare_model(self.net_t), 'use_semantics', False))

    @classmethod
    def checkpoint_networks(cls, opt: Dict[str, Any]) -> List[str]:
        """``net_g``, ``net_t`` and, when SKAM heads are trained (``skt.skam_opt`` in a mode that trains the ORM),
        ``net_skam``: the labels :meth:`save` writes."""
        return ['g', 't'] + (['skam'] if SKTOptions.parse(opt.get('skt')).trains_skam else [])

    # ------------------------------------------------------------------------------------------------------------
    # Set-up
    # ------------------------------------------------------------------------------------------------------------
    def init_training_settings(self) -> None:
        self.net_t = self.place_network(build_network(self.opt['network_t']), trainable=self.trains_teacher)
        self.load_pretrained('t', self.net_t)
        self.build_teacher_ema()
        self.distill_losses = self.build_distill_losses() if self.trains_student else OrderedDict()
        if 'l_skam' in self.distill_losses:
            self.build_skam()
        self.reload_on_resume = []  # what BasicSR's resume does not reload (HDRBaseModel.resume_training does)
        if hasattr(self, 'net_skam'):
            self.reload_on_resume.append(('skam', self.net_skam, 'params'))
        if hasattr(self, 'net_t_ema'):
            self.reload_on_resume.append(('t', self.net_t_ema, 'params_ema'))
        self.setup_orm_training()
        self.setup_optimizers()
        self.setup_schedulers()
        if self.skt.mode == 'staged_student':
            if self.opt['path'].get('pretrain_network_t') is None:
                raise ValueError('skt.mode staged_student needs a trained teacher: set path.pretrain_network_t')
            if self.opt['path'].get('pretrain_network_g') is None:
                get_root_logger().warning('staged_student without path.pretrain_network_g trains the ORM from scratch; '
                                          'set it to the ORM the teacher was trained on (and compare with the '
                                          'fine-tuning control, options/train_hdrtransformer_finetune_control.yml)')
            freeze(self.net_t)
        if self.skt.mode == 'staged_teacher':
            if self.opt['path'].get('pretrain_network_g') is None:
                get_root_logger().warning('staged_teacher without path.pretrain_network_g: the frozen ORM is random')
            freeze(self.net_g)

    def build_teacher_ema(self) -> None:
        """``net_t_ema``: a frozen EMA copy of the teacher that gives the distillation targets (joint mode only)."""
        if self.skt.teacher_ema_decay > 0:  # joint mode only (checked by SKTOptions)
            self.net_t_ema = freeze(copy.deepcopy(self.get_bare_model(self.net_t)))

    def build_distill_losses(self) -> 'OrderedDict[str, nn.Module]':
        return OrderedDict((log_name, build_loss(loss_opt).to(self.device))
                           for log_name, loss_opt in self.skt.distill_losses().items())

    def build_skam(self) -> None:
        """SKAM heads and the forward hooks that read the ORM's features (the ORM's code is untouched)."""
        if not self.skt.orm_tap or not self.opt.get('network_skam'):
            raise ValueError('skt.skam_opt is set, so skt.orm_tap (an ORM module name) and network_skam (the SKAM '
                             'heads: type: SKAM and its options) are required')
        self.orm_taps = [FeatureTap(self.get_bare_model(self.net_g), name) for name in self.skt.orm_tap]
        self.net_skam = self.place_network(build_network(self.opt['network_skam']))
        self.load_pretrained('skam', self.net_skam)
        patch = self.skt.mask.patch_size
        radius = self.get_bare_model(self.net_skam).receptive_radius
        if self.skt.mask.type == 'random_patch' and patch > radius:
            get_root_logger().warning(
                f'skt.mask.patch_size {patch} exceeds the SKAM generator reach of {radius} latent cells: hidden '
                'positions deep inside a patch see no visible context '
                '(set network_skam.generator_layers >= patch_size)')

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

    # ------------------------------------------------------------------------------------------------------------
    # Training step
    # ------------------------------------------------------------------------------------------------------------
    def optimize_parameters(self, current_iter: int) -> None:
        self.output, orm_features = self.forward_student()
        teacher_output, teacher_features = self.forward_teacher(self.output.detach())
        log = OrderedDict()
        if self.trains_teacher:
            log.update(self.update_teacher(teacher_output))
        if self.trains_student:
            target_output, target_features = self.distillation_targets(current_iter, teacher_output, teacher_features)
            log.update(self.update_student(current_iter, orm_features, target_output, target_features))
        log.update(self.monitor(current_iter, teacher_output))
        self.log_dict = self.reduce_loss_dict(log)
        if self.ema_decay > 0 and self.trains_student:
            self.model_ema(decay=self.ema_decay_at(current_iter))

    def forward_student(self) -> Tuple[torch.Tensor, Optional[List[torch.Tensor]]]:
        """f_O = ORM(frames), and the tapped ORM features (one (B, C, H, W) map per tap) when SKAM is on."""
        with torch.set_grad_enabled(self.trains_student):
            if not hasattr(self, 'orm_taps'):
                return forward_frames(self.net_g, self.lq), None
            with contextlib.ExitStack() as stack:
                for tap in self.orm_taps:
                    stack.enter_context(tap)
                output = forward_frames(self.net_g, self.lq)
            features = [tap.pop() for tap in self.orm_taps]
        for tap, feature in zip(self.orm_taps, features):
            if feature.dim() != 4:
                raise ValueError(f'skt.orm_tap {tap.module_name!r} gives a {feature.dim()}-D tensor (tokens?); SKAM '
                                 'needs a (B, C, H, W) map: tap a conv, or a module input with the suffix ":input"')
        return output, features

    def teacher_frames(self, lq: torch.Tensor) -> torch.Tensor:
        """SPGRM's frame input: the reference (middle) frame (B, C, H, W) or all frames stacked (B, N * C, H, W)."""
        if self.skt.teacher_input == 'all_frames':
            return lq.flatten(1, 2)
        return lq[:, lq.shape[1] // 2]

    def forward_teacher(self,
                        orm_output: torch.Tensor,
                        net: Optional[nn.Module] = None,
                        train: Optional[bool] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """f_S = SPGRM(sg[f_O], frames, SKB) and its fused features (B, C_t, H, W).

        Args:
            orm_output: f_O, (B, 3, H, W) (detached inside SPGRM).
            net: The teacher to run (default ``net_t``; e.g. ``net_t_ema``).
            train: Whether to build a graph (default: the teacher is trained by this model and ``net`` is ``net_t``).
        """
        net = self.net_t if net is None else net
        if train is None:
            train = self.trains_teacher and net is self.net_t
        if getattr(self.get_bare_model(net), 'use_semantics', False):
            for key in ('skb_embedding', 'skb_labels'):
                self.require_skb(key, 'SPGRM with semantic priors (network_t.use_semantics: true)')
        with torch.set_grad_enabled(train):
            result = net(orm_output, self.teacher_frames(self.lq), self.skb_embedding, self.skb_labels)
        return result['output'], result['features']

    def update_teacher(self, teacher_output: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One optimiser step of SPGRM on L_rec(f_S, Y) (then the EMA teacher follows, if any)."""
        l_teacher, _ = self.reconstruction_loss(teacher_output, self.gt)
        self.optimizer_t.zero_grad()
        l_teacher.backward()
        self.optimizer_t.step()
        if hasattr(self, 'net_t_ema'):
            self.teacher_ema_step()
        return OrderedDict(l_t_rec=l_teacher.detach())

    @torch.no_grad()
    def teacher_ema_step(self) -> None:
        """``θ_ema = d · θ_ema + (1 - d) · θ`` for every parameter and floating buffer of the teacher."""
        live = self.get_bare_model(self.net_t).state_dict()
        for name, value in self.net_t_ema.state_dict().items():
            if value.is_floating_point():
                decay = self.skt.teacher_ema_decay
                value.mul_(decay).add_(live[name].detach(), alpha=1 - decay)
            else:
                value.copy_(live[name])

    def distillation_targets(self, current_iter: int, teacher_output: torch.Tensor,
                             teacher_features: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """sg[f_S] and sg[teacher features] the student distils from: the live teacher's, or the EMA teacher's."""
        if hasattr(self, 'net_t_ema') and self.distill_weight(current_iter) > 0:
            return self.forward_teacher(self.output.detach(), self.net_t_ema, train=False)
        return teacher_output.detach(), teacher_features.detach()

    def update_student(self, current_iter: int, orm_features: Optional[List[torch.Tensor]],
                       teacher_output: torch.Tensor, teacher_features: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One optimiser step of the ORM (and SKAM heads) on L_rec + w · Σ λ · L_distill."""
        l_rec, rec_terms = self.reconstruction_loss(self.output, self.gt)
        distill = self.distillation_terms(current_iter, orm_features, teacher_output, teacher_features)
        if self.diagnostics_due(current_iter) and distill:
            self.last_grad_cosines = self.gradient_cosines(l_rec, distill)
        l_student = l_rec + sum(distill.values())
        self.optimizer_g.zero_grad()
        l_student.backward()
        self.optimizer_g.step()
        log = OrderedDict(l_rec=l_rec.detach())
        log.update((name, value.detach()) for name, value in list(rec_terms.items()) + list(distill.items()))
        log.update(self.last_grad_cosines)
        return log

    def distillation_terms(self, current_iter: int, orm_features: Optional[List[torch.Tensor]],
                           teacher_output: torch.Tensor,
                           teacher_features: torch.Tensor) -> 'OrderedDict[str, torch.Tensor]':
        """Weighted distillation losses w(iter) · λ · L (empty during the warm-up)."""
        weight = self.distill_weight(current_iter)
        terms = OrderedDict()
        if weight == 0:
            return terms
        if 'l_content' in self.distill_losses:
            terms['l_content'] = self.distill_losses['l_content'](self.output, teacher_output, gt=self.gt)
        if 'l_colour' in self.distill_losses:
            terms['l_colour'] = self.distill_losses['l_colour'](
                self.output, teacher_output, self.colour_labels(), gt=self.gt)
        if 'l_skam' in self.distill_losses:
            mask = self.last_skam_mask = self.skam_mask(current_iter, teacher_features)
            terms['l_skam'] = self.distill_losses['l_skam'](self.net_skam(orm_features, teacher_features, mask))
        return OrderedDict((name, weight * value) for name, value in terms.items())

    def colour_labels(self) -> Optional[torch.Tensor]:
        """The SKB segments for the colour term, or None (fixed grid) when its ``regions`` is ``grid``, or ``auto``
        with a teacher without semantics: a ``no_semantics`` run then reads no label map (derived from the GT)."""
        regions = getattr(self.distill_losses['l_colour'], 'regions', 'labels')
        if regions == 'grid' or (regions == 'auto' and not self.teacher_uses_semantics):
            return None
        return self.require_skb('skb_labels', 'the colour distillation term (skt.colour_opt, regions: labels)')

    def distill_weight(self, current_iter: int) -> float:
        return distill_weight(current_iter, 1.0, self.skt.distill_warmup_iter, self.skt.ramp_iter)

    def current_mask_ratio(self, current_iter: int) -> float:
        """SKAM mask ratio; the linear ramp runs over the distillation period, from ``skt.distill_warmup_iter`` on."""
        mask = self.skt.mask
        return mask_ratio_schedule(current_iter, self.opt['train']['total_iter'], mask.ratio_max, mask.schedule,
                                   mask.ramp_fraction, self.skt.distill_warmup_iter, mask.ratio_min)

    def skam_mask(self, current_iter: int, teacher_features: torch.Tensor) -> torch.Tensor:
        """Keep-mask M (B, 1, h, w) of {0, 1} on SKAM's latent grid; SKAM also uses 1 − M."""
        ratio = self.current_mask_ratio(current_iter)
        skam = self.get_bare_model(self.net_skam)
        b, _, height, width = teacher_features.shape
        h, w = skam.latent_size(height, width)
        if self.skt.mask.type == 'semantic':
            labels = self.require_skb('skb_labels', 'semantic SKAM masks (skt.mask.type: semantic)')
            if (h, w) != (height, width):
                labels = labels[:, ::skam.latent_stride, ::skam.latent_stride]
            return semantic_mask(labels, ratio).to(teacher_features.dtype)
        return random_patch_mask(
            b, h, w, self.skt.mask.patch_size, ratio, device=teacher_features.device).to(teacher_features.dtype)

    def require_skb(self, key: str, needed_by: str) -> torch.Tensor:
        value = getattr(self, key, None)
        if value is None:
            raise ValueError(f'{needed_by} needs {key!r} in the batch, but scenes {self.batch_scenes} have no semantic '
                             'priors: run scripts/make_semantic_priors.py on the dataset and enable `skb` in its '
                             'options, or remove the term')
        return value

    # ------------------------------------------------------------------------------------------------------------
    # Diagnostics
    # ------------------------------------------------------------------------------------------------------------
    def diagnostics_due(self, current_iter: int) -> bool:
        freq = self.skt.diagnostics.grad_cosine_freq
        return freq > 0 and current_iter % freq == 0

    def gradient_cosines(self, l_rec: torch.Tensor, distill: Dict[str,
                                                                  torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
        """Per distillation term (as weighted in the loss), on the ORM's parameters: ``cos_<term>``, the cosine of its
        gradient with L_rec's, and ``gnr_<term>``, the ratio of the two gradients' norms.

        cos +1: the term only re-weights the reconstruction gradient; ~0: it adds a new direction; < 0: it pulls
        against the reconstruction. gnr: how hard the term pulls compared with L_rec (0.1: a tenth as hard). Costs
        one extra backward per term (graphs are retained for the real step).
        """
        params = [p for p in self.get_bare_model(self.net_g).parameters() if p.requires_grad]
        rec = torch.autograd.grad(l_rec, params, retain_graph=True, allow_unused=True)
        values: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
        for name, term in distill.items():
            grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
            values[f'cos_{name}'] = gradient_cosine(grads, rec)
            values[f'gnr_{name}'] = gradient_norm(grads).detach() / gradient_norm(rec).detach().clamp_min(1e-30)
        return values

    def monitor(self, current_iter: int, teacher_output: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Logged alongside the losses: teacher-minus-student PSNR-μ on the batch, w(iter), mask ratio and the
        SKAM context share (hidden positions that see visible ORM latent; from the last mask)."""
        values = OrderedDict(gap_psnr_mu=batch_psnr_mu(teacher_output, self.gt) - batch_psnr_mu(self.output, self.gt))
        values['distill_weight'] = torch.tensor(float(self.distill_weight(current_iter)))
        if hasattr(self, 'net_skam'):
            values['mask_ratio'] = torch.tensor(self.current_mask_ratio(current_iter))
            if self.distill_weight(current_iter) > 0 and getattr(self, 'last_skam_mask', None) is not None:
                values['skam_context_share'] = self.get_bare_model(self.net_skam).context_share(self.last_skam_mask)
        return values

    # ------------------------------------------------------------------------------------------------------------
    # Checkpoints
    # ------------------------------------------------------------------------------------------------------------
    def save(self, epoch: int, current_iter: int) -> None:
        """``net_g`` (plain ORM), ``net_t`` (SPGRM; ``params_ema`` too with an EMA teacher), ``net_skam`` (SKAM
        heads), then the training state."""
        if hasattr(self, 'net_t_ema'):
            self.save_network([self.net_t, self.net_t_ema], 'net_t', current_iter, param_key=['params', 'params_ema'])
        else:
            self.save_network(self.net_t, 'net_t', current_iter)
        if hasattr(self, 'net_skam'):
            self.save_network(self.net_skam, 'net_skam', current_iter)
        self.save_orm(current_iter)
        self.save_training_state(epoch, current_iter)
