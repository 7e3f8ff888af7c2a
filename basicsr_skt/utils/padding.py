"""Pad images to a multiple of a block size (window, stride) and crop network outputs back.

Window-attention networks need H and W to be multiples of their window size; a 1500 x 1000 test image is therefore
padded on the bottom/right edges (e.g. to 1504 x 1000 for windows of 8) and the output cropped to the original size.
"""
from typing import Tuple

import torch
import torch.nn.functional as F

PAD_MODES = ('reflect', 'replicate', 'constant', 'circular')


def pad_amount(size: int, multiple: int) -> int:
    """Return how much to add to ``size`` to reach the next multiple of ``multiple`` (0 if it already is one)."""
    if multiple < 1:
        raise ValueError(f'multiple must be >= 1, got {multiple}')
    return (multiple - size % multiple) % multiple


def _pad_last_dim(x: torch.Tensor, amount: int, mode: str, dim: int) -> torch.Tensor:
    """Pad one spatial dimension (``dim`` is -1 for W or -2 for H) of a 4-D tensor at its end."""
    if amount == 0:
        return x
    if mode == 'reflect' and amount >= x.shape[dim]:
        mode = 'replicate'  # reflection needs amount < size; tiny inputs repeat their edge instead
    pad = (0, amount, 0, 0) if dim == -1 else (0, 0, 0, amount)
    return F.pad(x, pad, mode=mode)


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = 'reflect') -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Pad the last two dimensions of ``x`` at the bottom and right up to multiples of ``multiple``.

    Reflection (the default) mirrors the image without repeating the edge row/column. It needs the padding of a
    dimension to be smaller than that dimension's size; where it is not (inputs smaller than about ``multiple``),
    that dimension is padded with ``'replicate'`` instead (its edge value repeated). ``'constant'`` pads with zeros.

    Args:
        x: Tensor of shape (..., H, W) with at least 2 dimensions, any dtype/device supported by ``F.pad``; values
            are not changed, only extended.
        multiple: Target block size (>= 1), e.g. the window size of a transformer.
        mode: One of ``'reflect'``, ``'replicate'``, ``'constant'`` or ``'circular'``.

    Returns:
        ``(padded, (h, w))``: the padded tensor of shape (..., H', W') with H' and W' the smallest multiples of
        ``multiple`` not below H and W (``x`` itself when nothing is needed), and the original (H, W) for
        :func:`crop_to`.

    Raises:
        ValueError: unknown ``mode``, ``multiple < 1`` or fewer than 2 dimensions.
    """
    if mode not in PAD_MODES:
        raise ValueError(f'Unknown pad mode {mode!r}; expected one of {PAD_MODES}')
    if x.dim() < 2:
        raise ValueError(f'Expected a tensor of shape (..., H, W), got shape {tuple(x.shape)}')
    h, w = x.shape[-2:]
    pad_h, pad_w = pad_amount(h, multiple), pad_amount(w, multiple)
    if pad_h == 0 and pad_w == 0:
        return x, (h, w)
    lead = x.shape[:-2]
    x4 = x.reshape(-1, 1, h, w)  # F.pad's reflect/replicate modes want (N, C, H, W)
    x4 = _pad_last_dim(x4, pad_w, mode, dim=-1)
    x4 = _pad_last_dim(x4, pad_h, mode, dim=-2)  # padding is separable: W first, then H (padded W included)
    return x4.reshape(*lead, h + pad_h, w + pad_w), (h, w)


def crop_to(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Crop the last two dimensions of ``x`` to its top-left ``h`` x ``w`` region (undoes :func:`pad_to_multiple`).

    Args:
        x: Tensor of shape (..., H', W') with H' >= h and W' >= w.
        h: Height to keep.
        w: Width to keep.

    Returns:
        A view of shape (..., h, w).

    Raises:
        ValueError: the requested size is larger than the tensor.
    """
    if x.shape[-2] < h or x.shape[-1] < w:
        raise ValueError(f'Cannot crop a tensor of spatial size {tuple(x.shape[-2:])} to ({h}, {w})')
    return x[..., :h, :w]
