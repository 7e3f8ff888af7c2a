"""Label-map helpers and the complementary masks of SKAM (pure tensor functions, no learned parameters).

Label maps are int tensors (B, H, W) of segment ids >= 0 (the SKB convention: 0 = background, i.e. merged small
segments; 1..K segments). Masks follow one convention everywhere: **M = 1 means visible (kept), M = 0 hidden**;
the complementary mask is ``1 - M``, so M and 1 - M together show every position exactly once.

Randomness comes only from the optional ``torch.Generator`` (a CPU generator; results are moved to ``device``), so
masks are reproducible from a seed and independent of the global RNG when a generator is given.
"""
import math
from typing import Optional, Tuple

import torch


# ----------------------------------------------------------------------------------------------------------------------
# Label-map statistics
# ----------------------------------------------------------------------------------------------------------------------
def _check_labels(labels: torch.Tensor) -> torch.Tensor:
    """Validate a (B, H, W) (or (B, 1, H, W)) integer label map and return it as int64 (B, H, W)."""
    if labels.dim() == 4 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.dim() != 3:
        raise ValueError(f'Expected labels of shape (B, H, W), got {tuple(labels.shape)}')
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f'Labels must be an integer tensor, got {labels.dtype}')
    labels = labels.long()
    if labels.numel() and int(labels.min()) < 0:
        raise ValueError('Labels must be >= 0')
    return labels


def _flat_segment_index(labels: torch.Tensor, num_segments: int) -> torch.Tensor:
    """(B*H*W,) index ``b * num_segments + label`` so that segments of different batch items never share a slot."""
    offsets = torch.arange(labels.shape[0], device=labels.device).view(-1, 1, 1) * num_segments
    return (labels + offsets).reshape(-1)


def segment_means(values: torch.Tensor,
                  labels: torch.Tensor,
                  num_segments: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-item, per-segment mean of an image (differentiable w.r.t. ``values``).

    Args:
        values: (B, C, H, W) float image (any range).
        labels: (B, H, W) (or (B, 1, H, W)) integer segment ids >= 0.
        num_segments: Number of id slots N; ``None`` uses ``labels.max() + 1``. Ids must be < N.

    Returns:
        ``(means, counts)``: means (B, N, C), the mean of ``values`` over the pixels of each segment (0 for ids absent
        from an item), and counts (B, N), the pixel count of each segment (same dtype as ``values``).
    """
    labels = _check_labels(labels)
    b, c, h, w = values.shape
    if labels.shape != (b, h, w):
        raise ValueError(f'labels {tuple(labels.shape)} do not match values {tuple(values.shape)}')
    n = int(labels.max()) + 1 if num_segments is None else int(num_segments)
    if labels.numel() and int(labels.max()) >= n:
        raise ValueError(f'Label {int(labels.max())} does not fit num_segments={n}')
    index = _flat_segment_index(labels, n)
    pixels = values.permute(0, 2, 3, 1).reshape(-1, c)
    sums = values.new_zeros(b * n, c).index_add(0, index, pixels)
    counts = values.new_zeros(b * n).index_add(0, index, values.new_ones(index.shape[0]))
    means = sums / counts.clamp_min(1).unsqueeze(1)
    return means.view(b, n, c), counts.view(b, n)


def broadcast_segment_values(segment_values: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Paint every pixel with the value of its segment (the inverse of pooling by segment).

    Args:
        segment_values: (B, N, C) one C-vector per segment id.
        labels: (B, H, W) integer segment ids in [0, N).

    Returns:
        (B, C, H, W) with ``out[b, :, y, x] = segment_values[b, labels[b, y, x]]``.
    """
    labels = _check_labels(labels)
    b, n, c = segment_values.shape
    index = _flat_segment_index(labels, n)
    painted = segment_values.reshape(b * n, c)[index]
    return painted.view(b, labels.shape[1], labels.shape[2], c).permute(0, 3, 1, 2).contiguous()


def segment_mean_map(values: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Replace every pixel of ``values`` (B, C, H, W) by the mean of its segment; returns (B, C, H, W)."""
    means, _ = segment_means(values, labels)
    return broadcast_segment_values(means, labels)


def label_boundaries(labels: torch.Tensor) -> torch.Tensor:
    """Boundary map of a label map: pixels whose label differs from at least one of their 4-neighbours.

    Both pixels on either side of a label change are marked; neighbours outside the image are ignored.

    Args:
        labels: (B, H, W) (or (B, 1, H, W)) integer segment ids.

    Returns:
        float32 (B, 1, H, W) with values in {0, 1} (1 = boundary).
    """
    labels = _check_labels(labels)
    edge = torch.zeros_like(labels, dtype=torch.bool)
    vertical = labels[:, 1:, :] != labels[:, :-1, :]
    horizontal = labels[:, :, 1:] != labels[:, :, :-1]
    edge[:, 1:, :] |= vertical
    edge[:, :-1, :] |= vertical
    edge[:, :, 1:] |= horizontal
    edge[:, :, :-1] |= horizontal
    return edge.unsqueeze(1).float()


# ----------------------------------------------------------------------------------------------------------------------
# Complementary masks (M = 1 visible, 0 hidden)
# ----------------------------------------------------------------------------------------------------------------------
def _check_ratio(ratio: float) -> None:
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f'ratio must be in [0, 1], got {ratio}')


def num_hidden(ratio: float, total: int) -> int:
    """How many of ``total`` units a mask with ``ratio`` hides: ``floor(ratio * total + 0.5)`` (half rounds up)."""
    _check_ratio(ratio)
    return min(total, int(math.floor(ratio * total + 0.5)))


def random_patch_mask(batch: int,
                      height: int,
                      width: int,
                      patch: int = 8,
                      ratio: float = 0.5,
                      generator: Optional[torch.Generator] = None,
                      device: Optional[torch.device] = None) -> torch.Tensor:
    """Random patch mask: exactly :func:`num_hidden` ``(ratio, num_patches)`` patches hidden per batch item.

    The map is tiled into ``ceil(height / patch) x ceil(width / patch)`` patches of ``patch x patch`` pixels (patches
    at the bottom/right border are cut to the map and still count as one patch each). Each item hides its own
    uniformly random set of patches, so the hidden *pixel* fraction equals ``ratio`` up to rounding and border patches.

    Args:
        batch: B.
        height: H of the map the mask applies to.
        width: W of that map.
        patch: Patch side in pixels (>= 1).
        ratio: Fraction of patches hidden, in [0, 1].
        generator: Optional CPU generator for reproducible masks.
        device: Device of the result.

    Returns:
        float32 (B, 1, H, W) of {0, 1}: 1 = visible, 0 = hidden; ``1 - M`` is the complementary mask.
    """
    if patch < 1:
        raise ValueError(f'patch must be >= 1, got {patch}')
    rows, cols = math.ceil(height / patch), math.ceil(width / patch)
    total = rows * cols
    hidden = num_hidden(ratio, total)
    order = torch.rand(batch, total, generator=generator).argsort(dim=1)  # a random permutation per item
    grid = torch.ones(batch, total)
    grid.scatter_(1, order[:, :hidden], 0.0)
    grid = grid.view(batch, 1, rows, cols)
    mask = grid.repeat_interleave(patch, dim=2).repeat_interleave(patch, dim=3)[:, :, :height, :width]
    return mask.contiguous().to(device)


def semantic_mask(labels: torch.Tensor,
                  ratio: float = 0.5,
                  generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Semantic mask: hide whole segments, in random order, until at least ``ratio`` of the pixels is hidden.

    Per item, the segments present (background id 0 included, as one segment) are shuffled and hidden one after the
    other; hiding stops at the first segment that brings the hidden pixel count to ``>= ceil(ratio * H * W)``. So
    ``ratio = 0`` hides nothing, ``ratio = 1`` hides everything, and a segment is always entirely visible or entirely
    hidden (the hidden fraction may overshoot ``ratio`` by up to one segment).

    Args:
        labels: (B, H, W) (or (B, 1, H, W)) integer segment ids >= 0, at the size the mask applies to.
        ratio: Minimum hidden pixel fraction, in [0, 1].
        generator: Optional CPU generator for reproducible masks.

    Returns:
        float32 (B, 1, H, W) of {0, 1} on the labels' device: 1 = visible, 0 = hidden.
    """
    _check_ratio(ratio)
    labels = _check_labels(labels)
    b, h, w = labels.shape
    target = math.ceil(ratio * h * w - 1e-9)  # pixels that must be hidden (guard against float noise)
    masks = []
    for item in labels.cpu():
        ids, counts = torch.unique(item, return_counts=True)
        order = torch.rand(ids.numel(), generator=generator).argsort()
        cumulative = counts[order].cumsum(0)
        num_segments_hidden = int((cumulative < target).sum()) + 1 if target > 0 else 0
        hidden_ids = ids[order[:num_segments_hidden]]
        masks.append((~torch.isin(item, hidden_ids)).float())
    return torch.stack(masks).unsqueeze(1).to(labels.device)
