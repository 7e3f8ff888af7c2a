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
from basicsr_skt.losses.hdr_loss import MuLawL1Loss
from basicsr_skt.losses.loss_util import check_reduction
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


#: Penalties ρ(d) of a distillation difference d (μ-law domain): ``'l1'`` |d|, ``'charbonnier'`` sqrt(d² + ε²) - ε
#: (L2-like below ε, so its gradient carries the size of the difference, L1-like above), ``'l2'`` d².
CRITERIA = ('l1', 'charbonnier', 'l2')
#: Gates of a distillation term: ``'none'``; ``'hard'`` (distil only where the teacher is closer to the GT: with an
#: L1 penalty its gradient is then the reconstruction gradient, re-weighted; docs/method.md §4b); ``'soft'``
#: (a confidence weight ``sigmoid((e_O - e_S) / τ)`` of the two errors to the GT, in (0, 1)).
GATES = ('none', 'hard', 'soft')


def _gate_name(gate: Union[bool, str]) -> str:
    """``True`` -> ``'hard'``, ``False``/``None`` -> ``'none'`` (the boolean form of earlier configs); else checked."""
    if gate is True:
        return 'hard'
    if gate is False or gate is None:
        return 'none'
    if gate not in GATES:
        raise ValueError(f'Unknown gate {gate!r}; expected one of {GATES} (or a bool: true = hard)')
    return gate


def _check_criterion(criterion: str, eps: float, gate_temperature: float) -> None:
    """The pull's criterion and its Charbonnier eps, and the soft gate's temperature (shared by both output terms)."""
    if gate_temperature <= 0:
        raise ValueError(f'gate_temperature must be > 0, got {gate_temperature}')
    if criterion not in CRITERIA:
        raise ValueError(f'Unknown criterion {criterion!r}; expected one of {CRITERIA}')
    if criterion == 'charbonnier' and eps <= 0:
        raise ValueError(f'charbonnier needs eps > 0, got {eps}')


def penalty(diff: torch.Tensor, criterion: str = 'l1', eps: float = 1e-2) -> torch.Tensor:
    """Element-wise ρ(d) of :data:`CRITERIA`; every one is 0 at d = 0 and >= 0.

    Args:
        diff: Differences d (any shape), typically in [-1, 1] (μ-law images).
        criterion: ``'l1'``, ``'charbonnier'`` or ``'l2'``.
        eps: ε of the Charbonnier penalty (> 0).

    Returns:
        ρ(d), same shape.
    """
    if criterion == 'l1':
        return diff.abs()
    if criterion == 'l2':
        return diff.square()
    return (diff.square() + eps * eps).sqrt() - eps


def confidence_gate(student_error: torch.Tensor, teacher_error: torch.Tensor, gate: str,
                    temperature: float) -> Optional[torch.Tensor]:
    """Weight of a distillation term from the student's and the teacher's errors to the GT (no gradient).

    Args:
        student_error: e_O >= 0 (any shape), e.g. |T(f_O) - T(Y)|.
        teacher_error: e_S, same shape.
        gate: ``'none'`` (returns None), ``'hard'`` (1 where e_S < e_O, else 0) or ``'soft'``
            (``sigmoid((e_O - e_S) / temperature)``: 0.5 where both are equally wrong, -> 1 where the teacher is
            much better, -> 0 where it is much worse).
        temperature: τ of the soft gate (> 0), in the units of the errors (μ-law values).

    Returns:
        Weights in [0, 1] of the errors' shape, or None for ``'none'``.
    """
    if gate == 'none':
        return None
    with torch.no_grad():
        if gate == 'hard':
            return (teacher_error < student_error).to(student_error.dtype)
        return torch.sigmoid((student_error - teacher_error) / temperature)


def teacher_better_mask(student: torch.Tensor,
                        teacher: torch.Tensor,
                        gt: torch.Tensor,
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
    """Content self-distillation ``mean(g · ρ(T(f_O) - t))`` toward ``t = α·sg[T(f_S)] + (1 - α)·T(Y)``.

    The defaults (``criterion='l1'``, ``gate=False``, ``alpha=1``) are the plain term ``|T(f_O) - sg[T(f_S)]|_1`` of
    docs/method.md §3. ``gate='hard'`` (or ``True``) distils only the elements where the teacher is closer to the GT
    than the student (:func:`teacher_better_mask`); with the L1 penalty its gradient is then exactly the gradient of
    the reconstruction L1 on those elements (both signs agree), so the teacher's values never reach the ORM
    (docs/method.md §4b). ``gate='soft'`` weighs every element by :func:`confidence_gate`; ``criterion='charbonnier'``
    or ``'l2'`` makes the gradient carry the size of ``T(f_O) - t``, i.e. the teacher's values. ``alpha < 1`` blends
    the GT into the target. The mean runs over all elements in every case.

    Args:
        loss_weight: Multiplier of the loss (λ_content; a warm-up schedule is applied by the model).
        reduction: ``'none'`` (element-wise, (B, C, H, W)), ``'mean'`` or ``'sum'``.
        mu: μ of the tone mapping.
        gate: ``'none'``/``False``, ``'hard'``/``True`` or ``'soft'`` (see :data:`GATES`); gates need ``gt``.
        criterion: Penalty ρ, one of :data:`CRITERIA`.
        eps: ε of the Charbonnier penalty (μ-law units).
        gate_temperature: τ of the soft gate (μ-law units).
        alpha: Weight α in [0, 1] of the teacher in the target; ``alpha < 1`` needs ``gt``.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean',
                 mu: float = DEFAULT_MU,
                 gate: Union[bool, str] = False,
                 criterion: str = 'l1',
                 eps: float = 1e-2,
                 gate_temperature: float = 1e-2,
                 alpha: float = 1.0) -> None:
        super().__init__(loss_weight, reduction, mu)
        self.gate = _gate_name(gate)
        _check_criterion(criterion, eps, gate_temperature)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f'alpha must be in [0, 1], got {alpha}')
        self.criterion = criterion
        self.eps = eps
        self.gate_temperature = gate_temperature
        self.alpha = alpha

    @property
    def needs_gt(self) -> bool:
        return self.gate != 'none' or self.alpha < 1

    def forward(self,
                student: torch.Tensor,
                teacher: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                gt: Optional[torch.Tensor] = None,
                **kwargs) -> torch.Tensor:
        """Compute ``loss_weight * reduce(g · ρ(T(student) - t))``.

        Args:
            student: f_O, (B, C, H, W) linear HDR (gradient flows here).
            teacher: f_S, same shape (detached inside).
            weight: Optional element-wise weights ((B, C, H, W) or (B, 1, H, W)), BasicSR's convention (a weighted
                mean); not combinable with a gate.
            gt: Y, same shape; required by a gate and by ``alpha < 1``.

        Returns:
            A scalar, or (B, C, H, W) for ``reduction='none'``.
        """
        _check_same_shape(student, teacher)
        teacher = teacher.detach()
        if not self.needs_gt and self.criterion == 'l1':
            return super().forward(student, teacher, weight)
        if self.needs_gt and gt is None:
            raise ValueError(f'ContentDistillLoss(gate={self.gate!r}, alpha={self.alpha}) needs gt')
        if self.gate != 'none' and weight is not None:
            raise ValueError('ContentDistillLoss with a gate takes no weight')
        student_tm, teacher_tm = mu_law(student, self.mu), mu_law(teacher, self.mu)
        target = teacher_tm
        if self.needs_gt:
            gt_tm = mu_law(gt, self.mu)
            target = self.alpha * teacher_tm + (1 - self.alpha) * gt_tm
        values = penalty(student_tm - target, self.criterion, self.eps)
        if self.gate != 'none':
            errors = (student_tm.detach() - gt_tm).abs(), (teacher_tm - gt_tm).abs()
            values = values * confidence_gate(*errors, self.gate, self.gate_temperature)
        elif weight is not None:
            return self.loss_weight * weight_reduce_loss(values, weight, self.reduction)
        return self.loss_weight * _reduce(values, self.reduction)


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


#: Regions of the colour term: ``'labels'`` (the SKB segments passed in), ``'grid'`` (a fixed grid of
#: ``grid_size`` px cells: no input derived from the GT or the priors, for the ``no_semantics`` ablation), ``'auto'``
#: (the labels when given, else the grid).
COLOUR_REGIONS = ('labels', 'grid', 'auto')


def grid_labels(batch: int, height: int, width: int, cell: int, device: Optional[torch.device] = None) -> torch.Tensor:
    """Label map of a fixed grid: pixel (y, x) gets id ``(y // cell) * ceil(width / cell) + x // cell``.

    Returns:
        int64 (B, H, W); border cells are cut to the image.
    """
    if cell < 1:
        raise ValueError(f'grid cell must be >= 1 px, got {cell}')
    cols = -(-width // cell)
    ys = torch.arange(height, device=device) // cell
    xs = torch.arange(width, device=device) // cell
    return (ys[:, None] * cols + xs[None, :]).expand(batch, height, width).contiguous()


@LOSS_REGISTRY.register()
class ColourDistillLoss(nn.Module):
    """Colour self-distillation: per-region mean colours plus a per-pixel angular term.

    Per batch item b, with t_O = T(f_O), t_S = sg[T(f_S)] and Ω_k the pixels of region k:

        l_b = Σ_k g_k w_k · mean_c ρ(mean_{Ω_k} t_O - mean_{Ω_k} t_S)  +  β · mean_pixels g_p (1 - cos∠(t_O, t_S))

    with w_k = |Ω_k| / Σ_j |Ω_j| over the regions present in the item (so the weights sum to 1), ρ a penalty of
    :data:`CRITERIA` (``'l1'`` by default: the per-region L1 is then averaged over the C channels, so that for images
    constant within each region the first term equals :class:`ContentDistillLoss`'s mean) and g the gates (1 without
    a gate). Regions are the SKB segments (``regions='labels'``) or a fixed grid (``'grid'``; ``'auto'``: labels when
    given). The background label 0 (small segments merged by the SKB) counts as one segment by default;
    ``ignore_background=True`` drops it from the colour term (its pixels keep the angular term; an item with
    background only then has colour term 0). The angle is :func:`angular_error_map` (eps-safe).

    Gates (need ``gt``): ``'hard'``/``True`` keeps the regions whose teacher mean is closer to the GT's (channel-mean
    L1) and the pixels whose teacher angle to the GT is smaller; with ρ = L1 the region term's gradient is then the
    gradient of the same term toward the GT means (the teacher's values do not reach the ORM). ``'soft'`` uses
    :func:`confidence_gate` of the same errors (τ ``gate_temperature`` for the means; the angles use the same τ).

    Args:
        loss_weight: Multiplier of the loss (λ_colour).
        reduction: ``'none'`` (one value per item, (B,)), ``'mean'`` (over items) or ``'sum'``.
        mu: μ of the tone mapping.
        beta: Weight β of the angular term.
        eps: Stabiliser of the cosine.
        ignore_background: Leave label 0 out of the region-colour term.
        gate: ``'none'``/``False``, ``'hard'``/``True`` or ``'soft'``.
        criterion: Penalty ρ of the region means, one of :data:`CRITERIA`.
        charbonnier_eps: ε of the Charbonnier penalty (μ-law units).
        gate_temperature: τ of the soft gate (μ-law units).
        regions: One of :data:`COLOUR_REGIONS`.
        grid_size: Cell side in pixels of the ``'grid'`` regions.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean',
                 mu: float = DEFAULT_MU,
                 beta: float = 0.1,
                 eps: float = 1e-6,
                 ignore_background: bool = False,
                 gate: Union[bool, str] = False,
                 criterion: str = 'l1',
                 charbonnier_eps: float = 1e-2,
                 gate_temperature: float = 1e-2,
                 regions: str = 'labels',
                 grid_size: int = 16) -> None:
        super().__init__()
        check_reduction(reduction)
        _check_criterion(criterion, charbonnier_eps, gate_temperature)
        if regions not in COLOUR_REGIONS:
            raise ValueError(f'Unknown regions {regions!r}; expected one of {COLOUR_REGIONS}')
        self.loss_weight = loss_weight
        self.reduction = reduction
        self.mu = mu
        self.beta = beta
        self.eps = eps
        self.ignore_background = ignore_background
        self.gate = _gate_name(gate)
        self.criterion = criterion
        self.charbonnier_eps = charbonnier_eps
        self.gate_temperature = gate_temperature
        self.regions = regions
        self.grid_size = grid_size

    @property
    def needs_labels(self) -> bool:
        return self.regions == 'labels'

    def region_labels(self, image: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        """The label map the region term uses for an image (B, C, H, W): ``labels`` or a fixed grid."""
        if self.regions == 'grid' or (self.regions == 'auto' and labels is None):
            b, _, h, w = image.shape
            return grid_labels(b, h, w, self.grid_size, image.device)
        if labels is None:
            raise ValueError("ColourDistillLoss(regions='labels') needs the segment labels; use regions: grid (or "
                             'auto) for a colour term without semantic priors')
        return labels

    def segment_term(self,
                     student_tm: torch.Tensor,
                     teacher_tm: torch.Tensor,
                     labels: torch.Tensor,
                     gate: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Area-weighted ρ (channel mean) between per-region mean colours; (B, C, H, W) x 2 -> (B,).

        ``gate`` (B, K) of weights in [0, 1] scales regions (after the area weights are computed over all of them).
        """
        means_s, counts = segment_means(student_tm, labels)
        means_t, _ = segment_means(teacher_tm, labels, num_segments=means_s.shape[1])
        if self.ignore_background:
            counts = torch.cat([torch.zeros_like(counts[:, :1]), counts[:, 1:]], dim=1)
        weights = counts / counts.sum(dim=1, keepdim=True).clamp_min(1)
        if gate is not None:
            weights = weights * gate.to(weights.dtype)
        return (weights * penalty(means_s - means_t, self.criterion, self.charbonnier_eps).mean(dim=2)).sum(dim=1)

    def forward(self,
                student: torch.Tensor,
                teacher: torch.Tensor,
                labels: Optional[torch.Tensor] = None,
                gt: Optional[torch.Tensor] = None,
                **kwargs) -> torch.Tensor:
        """Compute ``loss_weight * reduce_b(l_b)``.

        Args:
            student: f_O, (B, 3, H, W) linear HDR (gradient flows here).
            teacher: f_S, same shape (detached inside).
            labels: (B, H, W) (or (B, 1, H, W)) integer segment ids >= 0 of the same crop (the SKB label map);
                required for ``regions='labels'``, ignored for ``'grid'``.
            gt: Y, same shape; required with a gate.

        Returns:
            A scalar, or (B,) for ``reduction='none'``.
        """
        _check_same_shape(student, teacher)
        labels = self.region_labels(student, labels)
        student_tm = mu_law(student, self.mu)
        teacher_tm = mu_law(teacher.detach(), self.mu)
        angular = angular_error_map(student_tm, teacher_tm, self.eps)
        segment_gate = None
        if self.gate != 'none':
            if gt is None:
                raise ValueError(f'ColourDistillLoss(gate={self.gate!r}) needs gt')
            with torch.no_grad():
                gt_tm = mu_law(gt, self.mu)
                angular = angular * confidence_gate(
                    angular_error_map(student_tm, gt_tm, self.eps), angular_error_map(teacher_tm, gt_tm, self.eps),
                    self.gate, self.gate_temperature)
                means_gt, _ = segment_means(gt_tm, labels)
                means_s, _ = segment_means(student_tm, labels, num_segments=means_gt.shape[1])
                means_t, _ = segment_means(teacher_tm, labels, num_segments=means_gt.shape[1])
                segment_gate = confidence_gate((means_s - means_gt).abs().mean(dim=2),
                                               (means_t - means_gt).abs().mean(dim=2), self.gate, self.gate_temperature)
        segment = self.segment_term(student_tm, teacher_tm, labels, segment_gate)
        per_item = segment + self.beta * angular.flatten(1).mean(dim=1)
        return self.loss_weight * _reduce(per_item, self.reduction)


#: Positions SKAMLoss averages over: ``'all'`` (the first implementation) or ``'hidden'`` (only those each pass
#: hides, docs/method.md §4: a visible position is a copy task, not a prediction).
SKAM_POSITIONS = ('all', 'hidden')


def _masked_reduce(values: torch.Tensor, hidden: Optional[torch.Tensor], reduction: str) -> torch.Tensor:
    """Reduce (B, d, h, w) values over all positions (``hidden`` None) or the hidden ones ((B, 1, h, w) of {0, 1})."""
    if hidden is None:
        return weight_reduce_loss(values, None, reduction)
    values = values * hidden
    if reduction == 'mean':
        return values.sum() / (hidden.sum() * values.shape[1]).clamp_min(1)
    return _reduce(values, reduction)


@LOSS_REGISTRY.register()
class SKAMLoss(nn.Module):
    """SKAM alignment loss ``|G(X_M) - sg[Z_S]|_1 + |G(X_{1-M}) - sg[Z_S]|_1``, over all or only hidden positions.

    Args:
        loss_weight: Multiplier of the loss (λ_skam).
        reduction: ``'none'`` (element-wise sum of both terms, (B, d, h, w)), ``'mean'`` (each term averaged, then
            added) or ``'sum'``.
        positions: ``'all'`` or ``'hidden'`` (the pass with keep-mask M is scored where M = 0, its complement where
            M = 1; needs the mask, i.e. SKAM's output dict with ``'mask'`` or the ``mask`` argument).
    """

    def __init__(self, loss_weight: float = 1.0, reduction: str = 'mean', positions: str = 'all') -> None:
        super().__init__()
        check_reduction(reduction)
        if positions not in SKAM_POSITIONS:
            raise ValueError(f'Unknown positions {positions!r}; expected one of {SKAM_POSITIONS}')
        self.loss_weight = loss_weight
        self.reduction = reduction
        self.positions = positions

    def forward(self,
                pred: Union[Dict[str, torch.Tensor], torch.Tensor],
                pred_complement: Optional[torch.Tensor] = None,
                target: Optional[torch.Tensor] = None,
                mask: Optional[torch.Tensor] = None,
                **kwargs) -> torch.Tensor:
        """Compute the loss from SKAM's output dict or from the tensors.

        Args:
            pred: G(X_M), (B, d, h, w); or the dict returned by ``SKAM.forward`` (keys ``'pred'``,
                ``'pred_complement'``, ``'target'``, ``'mask'``), in which case the other arguments must be None.
            pred_complement: G(X_{1-M}), same shape.
            target: Z_S, same shape (detached inside).
            mask: M, (B, 1, h, w) of {0, 1}, 1 = visible; needed for ``positions='hidden'``.

        Returns:
            A scalar, or (B, d, h, w) for ``reduction='none'``.
        """
        if isinstance(pred, dict):
            if pred_complement is not None or target is not None or mask is not None:
                raise ValueError('Pass either the SKAM output dict or the tensors, not both')
            pred, pred_complement, target, mask = (pred['pred'], pred['pred_complement'], pred['target'],
                                                   pred.get('mask'))
        if pred_complement is None or target is None:
            raise ValueError('SKAMLoss needs pred, pred_complement and target')
        hidden = (None, None)
        if self.positions == 'hidden':
            if mask is None:
                raise ValueError("SKAMLoss(positions='hidden') needs the mask")
            mask = mask.to(pred.dtype)
            hidden = (1 - mask, mask)
        target = target.detach()
        terms = [_masked_reduce((p - target).abs(), h, self.reduction) for p, h in zip((pred, pred_complement), hidden)]
        return self.loss_weight * (terms[0] + terms[1])
