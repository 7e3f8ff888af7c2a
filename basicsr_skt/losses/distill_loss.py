"""Distillation losses of SKT (docs/method.md §3-§4): content and colour self-distillation, and the SKAM loss.

All images are linear HDR, BGR, channels first (B, 3, H, W), values >= 0 (typically [0, 1]); the losses compare their
μ-law tone maps T(·). The *student* is the ORM output f_O, the *teacher* SPGRM's output f_S; the teacher side is
always detached inside the loss (``sg[·]``), so it never receives a gradient from these terms.
"""
from typing import Dict, Optional, Union

import torch
from torch import nn

from basicsr.losses.loss_util import weight_reduce_loss
from basicsr.utils.registry import LOSS_REGISTRY
from basicsr_skt.losses.hdr_loss import MuLawL1Loss, _check_reduction
from basicsr_skt.utils.masks import segment_means
from basicsr_skt.utils.tonemap import DEFAULT_MU, mu_law


def _check_same_shape(student: torch.Tensor, teacher: torch.Tensor) -> None:
    if student.shape != teacher.shape:
        raise ValueError(f'student and teacher shapes differ: {tuple(student.shape)} vs {tuple(teacher.shape)}')


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == 'mean':
        return values.mean()
    if reduction == 'sum':
        return values.sum()
    return values


def teacher_better_mask(student: torch.Tensor, teacher: torch.Tensor, gt: torch.Tensor,
                        mu: float = DEFAULT_MU) -> torch.Tensor:
    """Where the teacher is closer to the ground truth than the student: ``|T(f_S) - T(Y)| < |T(f_O) - T(Y)|``.

    Args:
        student: f_O, (B, C, H, W) linear HDR.
        teacher: f_S, same shape.
        gt: Y, same shape.
        mu: μ of the tone mapping.

    Returns:
        (B, C, H, W) float mask of {0, 1}, without gradient.
    """
    with torch.no_grad():
        target = mu_law(gt, mu)
        return ((mu_law(teacher, mu) - target).abs() < (mu_law(student, mu) - target).abs()).to(student.dtype)


@LOSS_REGISTRY.register()
class ContentDistillLoss(MuLawL1Loss):
    """Content self-distillation ``|T(f_O) - sg[T(f_S)]|_1``, optionally gated by where the teacher is right.

    With ``gate=True`` (needs the GT in ``forward``) only the elements where the teacher is closer to the GT than the
    student are distilled (:func:`teacher_better_mask`); the mean still runs over all elements. Ungated, a teacher
    that corrects a *previous* student (SPGRM learns on the detached ORM output while the ORM moves) pulls the ORM
    against its own reconstruction gradient wherever it overshoots.

    Args:
        loss_weight: Multiplier of the loss (λ_content; a warm-up schedule is applied by the model).
        reduction: ``'none'`` (element-wise, (B, C, H, W)), ``'mean'`` or ``'sum'``.
        mu: μ of the tone mapping.
        gate: Distil only where the teacher beats the student.
    """

    def __init__(self, loss_weight: float = 1.0, reduction: str = 'mean', mu: float = DEFAULT_MU,
                 gate: bool = False) -> None:
        super().__init__(loss_weight, reduction, mu)
        self.gate = gate

    def forward(self,
                student: torch.Tensor,
                teacher: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                gt: Optional[torch.Tensor] = None,
                **kwargs) -> torch.Tensor:
        """Compute ``loss_weight * reduce(|T(student) - T(teacher.detach())|)`` (times the gate).

        Args:
            student: f_O, (B, C, H, W) linear HDR (gradient flows here).
            teacher: f_S, same shape (detached inside).
            weight: Optional element-wise weights ((B, C, H, W) or (B, 1, H, W)), BasicSR's convention; not
                combinable with ``gate``.
            gt: Y, same shape; required when ``gate`` is on.

        Returns:
            A scalar, or (B, C, H, W) for ``reduction='none'``.
        """
        _check_same_shape(student, teacher)
        if not self.gate:
            return super().forward(student, teacher.detach(), weight)
        if gt is None or weight is not None:
            raise ValueError('ContentDistillLoss(gate=True) needs gt and takes no weight')
        mask = teacher_better_mask(student, teacher.detach(), gt, self.mu)
        diff = (mu_law(student, self.mu) - mu_law(teacher.detach(), self.mu)).abs() * mask
        return self.loss_weight * _reduce(diff, self.reduction)


def angular_error_map(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-pixel ``1 - cos`` of the angle between the colour vectors of two images.

    The cosine is that of the vectors extended by one constant component ``sqrt(eps)``:
    ``cos = (a . b + eps) / sqrt((|a|^2 + eps) (|b|^2 + eps))``. It is smooth everywhere, lies in [-1, 1], is exactly
    1 for identical vectors (black pixels included: two zero vectors give 1, not 0) and ~0 for orthogonal unit vectors.

    Args:
        pred: (B, C, H, W).
        target: (B, C, H, W).
        eps: The extension's squared length (> 0).

    Returns:
        (B, H, W) values in [0, 2].
    """
    dot = (pred * target).sum(dim=1)
    norms = ((pred.square().sum(dim=1) + eps) * (target.square().sum(dim=1) + eps)).sqrt()
    return 1 - (dot + eps) / norms


@LOSS_REGISTRY.register()
class ColourDistillLoss(nn.Module):
    """Colour self-distillation: per-segment mean colours plus a per-pixel angular term.

    Per batch item b, with t_O = T(f_O), t_S = sg[T(f_S)] and Ω_k the pixels with label k:

        l_b = Σ_k w_k · mean_c |mean_{Ω_k} t_O - mean_{Ω_k} t_S|  +  β · mean_pixels (1 - cos∠(t_O, t_S))

    with w_k = |Ω_k| / Σ_j |Ω_j| over the segments present in the item (so the weights sum to 1). The per-segment L1
    is averaged over the C channels (L1 / C), so that for images constant within each segment the first term equals
    :class:`ContentDistillLoss`'s mean. The background label 0 (small segments merged by the SKB) counts as one
    segment by default; ``ignore_background=True`` drops it from the colour term (its pixels keep the angular term;
    an item with background only then has colour term 0). The angle is :func:`angular_error_map` (eps-safe).

    Args:
        loss_weight: Multiplier of the loss (λ_colour).
        reduction: ``'none'`` (one value per item, (B,)), ``'mean'`` (over items) or ``'sum'``.
        mu: μ of the tone mapping.
        beta: Weight β of the angular term.
        eps: Stabiliser of the cosine.
        ignore_background: Leave label 0 out of the segment-colour term.
        gate: Distil only segments / pixels where the teacher is closer to the GT than the student (needs ``gt``).
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean',
                 mu: float = DEFAULT_MU,
                 beta: float = 0.1,
                 eps: float = 1e-6,
                 ignore_background: bool = False,
                 gate: bool = False) -> None:
        super().__init__()
        _check_reduction(reduction)
        self.loss_weight = loss_weight
        self.reduction = reduction
        self.mu = mu
        self.beta = beta
        self.eps = eps
        self.ignore_background = ignore_background
        self.gate = gate

    def segment_term(self,
                     student_tm: torch.Tensor,
                     teacher_tm: torch.Tensor,
                     labels: torch.Tensor,
                     gate: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Area-weighted L1 (channel mean) between per-segment mean colours; (B, C, H, W) x 2 -> (B,).

        ``gate`` (B, K) of bools zeroes segments (after the area weights are computed over all of them).
        """
        means_s, counts = segment_means(student_tm, labels)
        means_t, _ = segment_means(teacher_tm, labels, num_segments=means_s.shape[1])
        if self.ignore_background:
            counts = torch.cat([torch.zeros_like(counts[:, :1]), counts[:, 1:]], dim=1)
        weights = counts / counts.sum(dim=1, keepdim=True).clamp_min(1)
        if gate is not None:
            weights = weights * gate.to(weights.dtype)
        return (weights * (means_s - means_t).abs().mean(dim=2)).sum(dim=1)

    def forward(self,
                student: torch.Tensor,
                teacher: torch.Tensor,
                labels: torch.Tensor,
                gt: Optional[torch.Tensor] = None,
                **kwargs) -> torch.Tensor:
        """Compute ``loss_weight * reduce_b(l_b)``.

        Args:
            student: f_O, (B, 3, H, W) linear HDR (gradient flows here).
            teacher: f_S, same shape (detached inside).
            labels: (B, H, W) (or (B, 1, H, W)) integer segment ids >= 0 of the same crop (the SKB label map).
            gt: Y, same shape; required with ``gate``: segments whose teacher mean colour is not closer to the GT's
                than the student's get weight 0, and so do pixels whose teacher angle to the GT is not smaller.

        Returns:
            A scalar, or (B,) for ``reduction='none'``.
        """
        _check_same_shape(student, teacher)
        student_tm = mu_law(student, self.mu)
        teacher_tm = mu_law(teacher.detach(), self.mu)
        angular = angular_error_map(student_tm, teacher_tm, self.eps)
        segment_gate = None
        if self.gate:
            if gt is None:
                raise ValueError('ColourDistillLoss(gate=True) needs gt')
            with torch.no_grad():
                gt_tm = mu_law(gt, self.mu)
                angular = angular * (angular_error_map(teacher_tm, gt_tm, self.eps) < angular_error_map(
                    student_tm, gt_tm, self.eps)).to(angular.dtype)
                means_gt, _ = segment_means(gt_tm, labels)
                means_s, _ = segment_means(student_tm, labels, num_segments=means_gt.shape[1])
                means_t, _ = segment_means(teacher_tm, labels, num_segments=means_gt.shape[1])
                segment_gate = ((means_t - means_gt).abs().mean(dim=2) < (means_s - means_gt).abs().mean(dim=2))
        segment = self.segment_term(student_tm, teacher_tm, labels, segment_gate)
        per_item = segment + self.beta * angular.flatten(1).mean(dim=1)
        return self.loss_weight * _reduce(per_item, self.reduction)


@LOSS_REGISTRY.register()
class SKAMLoss(nn.Module):
    """SKAM alignment loss ``|G(X_M) - sg[Z_S]|_1 + |G(X_{1-M}) - sg[Z_S]|_1``.

    Args:
        loss_weight: Multiplier of the loss (λ_skam).
        reduction: ``'none'`` (element-wise sum of both terms, (B, d, h, w)), ``'mean'`` (each term averaged, then
            added) or ``'sum'``.
    """

    def __init__(self, loss_weight: float = 1.0, reduction: str = 'mean') -> None:
        super().__init__()
        _check_reduction(reduction)
        self.loss_weight = loss_weight
        self.reduction = reduction

    def forward(self,
                pred: Union[Dict[str, torch.Tensor], torch.Tensor],
                pred_complement: Optional[torch.Tensor] = None,
                target: Optional[torch.Tensor] = None,
                **kwargs) -> torch.Tensor:
        """Compute the loss from SKAM's output dict or from the three tensors.

        Args:
            pred: G(X_M), (B, d, h, w); or the dict returned by ``SKAM.forward`` (keys ``'pred'``,
                ``'pred_complement'``, ``'target'``), in which case the other two arguments must be None.
            pred_complement: G(X_{1-M}), same shape.
            target: Z_S, same shape (detached inside).

        Returns:
            A scalar, or (B, d, h, w) for ``reduction='none'``.
        """
        if isinstance(pred, dict):
            if pred_complement is not None or target is not None:
                raise ValueError('Pass either the SKAM output dict or the three tensors, not both')
            pred, pred_complement, target = pred['pred'], pred['pred_complement'], pred['target']
        if pred_complement is None or target is None:
            raise ValueError('SKAMLoss needs pred, pred_complement and target')
        target = target.detach()
        terms = [weight_reduce_loss((p - target).abs(), None, self.reduction) for p in (pred, pred_complement)]
        return self.loss_weight * (terms[0] + terms[1])
