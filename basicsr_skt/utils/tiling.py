"""Memory-bounded full-resolution inference: run a network on overlapping tiles and blend them without seams.

A 1500 x 1000 test image through the official HDR-Transformer needs about 15 GB of activations on a CPU; running
it tile by tile bounds the memory by the tile size. Tiles overlap by at least ``overlap`` pixels; inside each
overlap the two neighbours are cross-faded with a raised-cosine step over the *central half* of the overlap, so every
tile is ignored within a quarter of the overlap of its interior edges (where its output suffers from the missing
context) and the weights of all tiles sum to one at every pixel.

Exactness: a network whose output pixel depends only on inputs within ``r`` pixels (receptive field ``2 r + 1``,
e.g. ``r = 3`` for three 3 x 3 convolutions) gives the same result tiled and whole whenever ``overlap >= 4 r``
(up to float rounding). Networks with global context (attention over large windows, channel attention pooled over
the image) only approximate the whole-image result; larger overlaps reduce the difference.

Tiles are processed one at a time; the output accumulator lives on the frames' device.
"""
import math
from typing import Callable, List, Optional, Sequence

import torch

from basicsr_skt.utils.padding import crop_to, pad_to_multiple

__all__ = ['tile_starts', 'blend_weights', 'tiled_forward']


def _check_int(name: str, value: object, minimum: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f'{name} must be an integer, got {value!r}')
    if value < minimum:
        raise ValueError(f'{name} must be >= {minimum}, got {value}')


def _check_tiling(tile: int, overlap: int) -> None:
    _check_int('tile', tile, 1)
    _check_int('overlap', overlap, 0)
    if overlap >= tile:
        raise ValueError(f'overlap must be smaller than tile (tiles must advance), got overlap={overlap}, tile={tile}')


def tile_starts(length: int, tile: int, overlap: int, align: int = 1) -> List[int]:
    """Start offsets of tiles covering ``[0, length)`` along one axis, consecutive tiles overlapping >= ``overlap``.

    Tiles advance by a fixed step ``tile - overlap`` (rounded down to a multiple of ``align`` when that keeps it
    positive, so tiles start on the window grid of a window-attention network); the last tile is placed flush with
    the end, so every tile lies inside the image and the last overlap may be larger than requested. An axis no
    longer than ``tile`` is covered by a single tile at 0 (of length ``length``).

    Args:
        length: Axis length in pixels (>= 1).
        tile: Tile length (>= 1).
        overlap: Minimum overlap of consecutive tiles (0 <= overlap < tile).
        align: Preferred multiple for the step and thus for all starts except the last (>= 1).

    Returns:
        Strictly increasing starts; the first is 0, the last is ``max(length - tile, 0)``.

    Raises:
        ValueError: Non-integer arguments, ``length < 1``, ``tile < 1``, ``overlap < 0``, ``overlap >= tile`` or
            ``align < 1``.
    """
    _check_int('length', length, 1)
    _check_tiling(tile, overlap)
    _check_int('align', align, 1)
    if length <= tile:
        return [0]
    step = tile - overlap
    if step >= align:
        step -= step % align
    last = length - tile
    return list(range(0, last, step)) + [last]


def _smooth_step(t: torch.Tensor, half_width: float) -> torch.Tensor:
    """Raised-cosine step from 0 (``t <= -half_width``) to 1 (``t >= half_width``), 0.5 at 0; hard step if width 0."""
    if half_width <= 0:
        return (torch.sign(t) + 1) / 2
    phase = ((t + half_width) / (2 * half_width)).clamp(0, 1)
    return 0.5 - 0.5 * torch.cos(math.pi * phase)


def _seams(starts: Sequence[int], size: int) -> List[float]:
    """Cross-fade centre of each pair of consecutive tiles: the middle of their overlap."""
    return [(starts[i + 1] + starts[i] + size) / 2 for i in range(len(starts) - 1)]


def _half_widths(starts: Sequence[int], size: int, seams: Sequence[float]) -> List[float]:
    """Half width of each cross-fade: a quarter of the overlap, shrunk so that neighbouring fades never meet."""
    widths = []
    for i, seam in enumerate(seams):
        half = (starts[i] + size - starts[i + 1]) / 4
        if i > 0:
            half = min(half, (seam - seams[i - 1]) / 2)
        if i + 1 < len(seams):
            half = min(half, (seams[i + 1] - seam) / 2)
        widths.append(half)
    return widths


def blend_weights(starts: Sequence[int], size: int, length: int) -> torch.Tensor:
    """1-D blending weights of tiles of ``size`` pixels at ``starts`` on an axis of ``length`` pixels.

    Tile ``i`` gets ``F_{i-1}(x) - F_i(x)`` where ``F_i`` is a raised-cosine step centred on the middle of the
    overlap of tiles ``i`` and ``i + 1`` spanning the central half of that overlap (``F_{-1} = 1``, ``F_last = 0``):
    the sum over tiles telescopes to exactly one, weights lie in [0, 1], each tile is 1 away from its overlaps
    and 0 within a quarter of an overlap of its interior edges. Outer image borders keep weight 1. The 2-D weight of
    a tile is the outer product of its row and column weights (still a partition of unity).

    Args:
        starts: Strictly increasing tile starts covering the axis (e.g. from :func:`tile_starts`).
        size: Tile length; every tile lies inside the axis (``start + size <= length``).
        length: Axis length.

    Returns:
        float64 tensor of shape (len(starts), size) on the CPU; row ``i`` is the weight of tile ``i`` at pixels
        ``starts[i] ... starts[i] + size - 1``.

    Raises:
        ValueError: Empty or non-increasing starts, tiles outside the axis, or gaps between tiles.
    """
    _check_int('size', size, 1)
    starts = list(starts)
    if not starts or starts[0] != 0 or starts[-1] + size != length:
        raise ValueError(f'Tiles of size {size} at {starts} do not span [0, {length}) from edge to edge')
    for prev, nxt in zip(starts, starts[1:]):
        if not prev < nxt <= prev + size:
            raise ValueError(f'Tile starts must increase and leave no gaps (size {size}), got {starts}')
    seams = _seams(starts, size)
    halves = _half_widths(starts, size, seams)
    weights = torch.empty(len(starts), size, dtype=torch.float64)
    for i, start in enumerate(starts):
        centres = torch.arange(size, dtype=torch.float64) + (start + 0.5)
        rise = _smooth_step(centres - seams[i - 1], halves[i - 1]) if i > 0 else torch.ones_like(centres)
        fall = _smooth_step(centres - seams[i], halves[i]) if i < len(seams) else torch.zeros_like(centres)
        weights[i] = rise - fall
    return weights


def _check_frames(frames: torch.Tensor, out_channels: Optional[int], pad_multiple: int) -> None:
    if not isinstance(frames, torch.Tensor) or frames.dim() != 5:
        shape = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
        raise ValueError(f'frames must be a (B, N, C, H, W) tensor, got {shape}')
    if min(frames.shape) < 1:
        raise ValueError(f'frames must not be empty, got shape {tuple(frames.shape)}')
    if out_channels is not None:
        _check_int('out_channels', out_channels, 1)
    _check_int('pad_multiple', pad_multiple, 1)


def _run_tile(run: Callable[[torch.Tensor], torch.Tensor], frames: torch.Tensor, pad_multiple: int,
              out_channels: Optional[int]) -> torch.Tensor:
    """Reflect-pad one (B, N, C, h, w) tile to ``pad_multiple``, run it and crop the (B, out_channels, h, w) result
    (``out_channels`` None: any channel count)."""
    height, width = frames.shape[-2:]
    padded = pad_to_multiple(frames, pad_multiple)[0] if pad_multiple > 1 else frames
    output = run(padded)
    if out_channels is None and isinstance(output, torch.Tensor) and output.dim() == 4:
        out_channels = output.shape[1]
    expected = (frames.shape[0], out_channels) + tuple(padded.shape[-2:])
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != expected:
        got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ValueError(f'run must map a (B, N, C, h, w) tile to (B, out_channels, h, w) = {expected}, got {got}')
    return crop_to(output, height, width)


def tiled_forward(run: Callable[[torch.Tensor], torch.Tensor],
                  frames: torch.Tensor,
                  tile: int,
                  overlap: int,
                  pad_multiple: int = 1,
                  out_channels: Optional[int] = 3) -> torch.Tensor:
    """Run ``run`` on overlapping tiles of ``frames`` one at a time and blend the outputs into a full image.

    Call it under ``torch.no_grad()`` for inference. Tiles are ``tile x tile`` (an axis shorter than ``tile`` is
    taken whole, so small images run in one piece), start on multiples of ``pad_multiple`` where possible (see
    :func:`tile_starts`) and stay inside the image. A tile whose height or width is not a multiple of
    ``pad_multiple`` is reflect-padded at the bottom/right before ``run`` and its output cropped back; choose
    ``tile`` as a multiple of ``pad_multiple`` to avoid that. Outputs are combined with :func:`blend_weights`
    as a running weighted mean, so an identity-like ``run`` returns its input exactly.

    Args:
        run: Maps a (B, N, C, h, w) tile to a (B, out_channels, h, w) tensor, e.g.
            ``lambda x: net(*x.unbind(1))`` for an HDR network taking one (B, C, h, w) tensor per frame.
        frames: (B, N, C, H, W) input, e.g. N = 3 exposures of C = 6 channels ``concat(L ** 2.2 / t, L)``.
        tile: Tile side length in pixels (>= 1).
        overlap: Minimum overlap of neighbouring tiles in pixels (0 <= overlap < tile); about four times the
            network's receptive radius makes a local network exact.
        pad_multiple: Size multiple ``run`` needs (e.g. the window size 8 of HDR-Transformer; >= 1).
        out_channels: Channels of ``run``'s output; None: those of the first tile (e.g. a RAW ORM's 4 packed
            channels), every later tile must match.

    Returns:
        (B, out_channels, H, W) tensor on ``frames.device``, dtype of ``run``'s output promoted to at least float32.

    Raises:
        ValueError: Bad arguments (``tile < 1``, ``overlap < 0``, ``overlap >= tile``, ``pad_multiple < 1``,
            ``out_channels < 1``, ``frames`` not 5-D) or ``run`` returning the wrong shape.
    """
    _check_tiling(tile, overlap)
    _check_frames(frames, out_channels, pad_multiple)
    height, width = frames.shape[-2:]
    tile_h, tile_w = min(tile, height), min(tile, width)
    rows, cols = tile_starts(height, tile, overlap, pad_multiple), tile_starts(width, tile, overlap, pad_multiple)
    row_weights, col_weights = blend_weights(rows, tile_h, height), blend_weights(cols, tile_w, width)
    output = weight_sum = None
    for i, top in enumerate(rows):
        for j, left in enumerate(cols):
            pred = _run_tile(run, frames[..., top:top + tile_h, left:left + tile_w], pad_multiple, out_channels)
            if output is None:
                out_channels = pred.shape[1]
                dtype = torch.promote_types(pred.dtype, torch.float32)
                output = torch.zeros(frames.shape[0], out_channels, height, width, dtype=dtype, device=frames.device)
                weight_sum = torch.zeros(height, width, dtype=dtype, device=frames.device)
            weight = torch.outer(row_weights[i], col_weights[j]).to(dtype=output.dtype, device=frames.device)
            _accumulate(output[..., top:top + tile_h, left:left + tile_w],
                        weight_sum[top:top + tile_h, left:left + tile_w], pred.to(output), weight)
    return output


def _accumulate(mean: torch.Tensor, weight_sum: torch.Tensor, value: torch.Tensor, weight: torch.Tensor) -> None:
    """In-place running weighted mean: ``mean += (value - mean) * weight / (weight_sum + weight)``.

    ``lerp`` leaves ``mean`` bit-identical where ``value == mean`` and copies ``value`` exactly where a pixel gets
    its first positive weight (fraction 1); pixels without weight so far keep fraction 0.
    """
    weight_sum += weight
    fraction = torch.where(weight_sum > 0, weight / weight_sum.clamp_min(torch.finfo(weight_sum.dtype).tiny),
                           torch.zeros_like(weight))
    mean.lerp_(value, fraction)
