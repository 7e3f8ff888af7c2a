"""Training on labelled and pseudo-labelled samples together: the loss weights and sample selections that
``HDRModel`` and ``SKTModel`` apply when a batch carries ``labeled`` (B,) and ``weight`` (B, 1, H, W)
(:class:`~basicsr_skt.data.pseudo_label_dataset.SemiSupervisedHDRDataset`).

Reconstruction loss of a batch of B samples, per configured loss ``ℓ`` (element-wise, its ``loss_weight`` included)::

    L_rec = 1/B Σ_i mean_{c,p} w_i(p) · ℓ_i(c, p),   w_i = 1 (labelled),  w_i = λ_u · c_i (pseudo-labelled)

with ``λ_u = train.unlabeled_weight`` (default 1) and ``c_i`` the sample's confidence map. A loss that gives one
value per sample (the perceptual loss) is weighted by the mean of ``w_i``. Samples enter as a sum divided by the
batch size, so λ_u = 0 removes the pseudo-labelled samples' terms exactly (what remains is the labelled samples'
share of the batch), and a batch of labelled samples gives the plain mean of ``HDRModel``. The teacher's own loss
(SKT) uses the labelled samples only: a pseudo label is the teacher's own earlier output.

The SKT distillation terms are computed on the samples chosen by ``skt.distill_samples`` (content and colour) and
``skt.skam_samples`` (SKAM; default: the same): ``all`` (default, and for batches without ``labeled``), ``labeled`` or
``unlabeled``; a term on a subset S of the batch is its value on S times |S| / B (0 when S is empty).
"""
from typing import Dict, Optional, Tuple

import torch

__all__ = [
    'DEFAULT_UNLABELED_WEIGHT', 'SAMPLE_SELECTIONS', 'loss_weight_map', 'weighted_mean', 'select_samples',
    'take', 'batch_labels'
]

#: ``train.unlabeled_weight`` when the option is absent.
DEFAULT_UNLABELED_WEIGHT = 1.0
#: Values of ``skt.distill_samples`` / ``skt.skam_samples``.
SAMPLE_SELECTIONS = ('all', 'labeled', 'unlabeled')


def loss_weight_map(labeled: torch.Tensor, confidence: torch.Tensor, unlabeled_weight: float) -> torch.Tensor:
    """Per-pixel loss weights: 1 for labelled samples, ``unlabeled_weight · confidence`` for pseudo-labelled ones.

    Args:
        labeled: (B,) bool.
        confidence: (B, 1, H, W) in [0, 1] (ones for labelled samples).
        unlabeled_weight: λ_u >= 0.

    Returns:
        (B, 1, H, W) float weights.
    """
    if unlabeled_weight < 0:
        raise ValueError(f'train.unlabeled_weight must be >= 0, got {unlabeled_weight}')
    mask = labeled.to(torch.bool).view(-1, 1, 1, 1)
    return torch.where(mask, torch.ones_like(confidence), confidence * unlabeled_weight)


def weighted_mean(elementwise: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``1/B Σ_i mean(w_i · ℓ_i)``: an element-wise loss (B, C, H, W) weighted per pixel (weights broadcast over C),
    or a per-sample loss (B,) weighted by each sample's mean weight."""
    if elementwise.dim() == 4:
        return (elementwise * weight).mean()
    if elementwise.dim() == 1:
        return (elementwise * weight.flatten(1).mean(dim=1)).mean()
    raise ValueError(f'A loss with reduction "none" gave shape {tuple(elementwise.shape)}; weighting needs '
                     '(B, C, H, W) or (B,)')


def select_samples(selection: str, labeled: Optional[torch.Tensor]) -> Tuple[Optional[torch.Tensor], float]:
    """Batch indices of the selected samples and their share |S| / B.

    Returns:
        ``(None, 1.0)`` for every sample (``all``, or a batch without ``labeled``), else ``(indices (|S|,), |S| / B)``.
    """
    if selection == 'all' or labeled is None:
        return None, 1.0
    mask = labeled.to(torch.bool)
    if selection == 'unlabeled':
        mask = ~mask
    indices = mask.nonzero(as_tuple=True)[0]
    return indices, float(indices.numel()) / float(labeled.numel())


def take(value: Optional[torch.Tensor], indices: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """``value[indices]`` along the batch axis (``value`` itself for None indices or None value)."""
    return value if indices is None or value is None else value[indices]


def batch_labels(data: Dict[str, object],
                 device: torch.device) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """``(labeled (B,) bool, weight (B, 1, H, W))`` of a batch on ``device``, or ``(None, None)`` when it has no
    ``labeled`` entry (a labelled-only dataset, validation)."""
    if 'labeled' not in data:
        return None, None
    labeled = torch.as_tensor(data['labeled']).to(device=device, dtype=torch.bool).view(-1)
    weight = data.get('weight')
    if weight is None:
        raise ValueError('A batch with "labeled" needs "weight" (B, 1, H, W) too (SemiSupervisedHDRDataset gives both)')
    return labeled, weight.to(device)
