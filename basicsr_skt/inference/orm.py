"""Running an ORM on stacked frames at full resolution: the one pad-or-tile dispatch of the project.

Every caller (validation in :class:`~basicsr_skt.models.HDRModel`, ``scripts/inference.py``,
``scripts/make_semantic_priors.py --source orm``, ``benchmarks/bench_inference.py``) goes through :func:`run_orm`:

* **whole image**: the frames are reflect-padded to multiples of ``pad_multiple``
  (:func:`~basicsr_skt.utils.padding.pad_to_multiple`; 1: the arch pads itself), run in one forward and the output
  cropped back;
* **tiles** (``tile`` set): overlapping ``tile x tile`` tiles blended without seams
  (:func:`~basicsr_skt.utils.tiling.tiled_forward`), which bounds the memory by the tile size.
"""
import inspect
from typing import Callable, Optional

import torch
from torch import nn

from basicsr_skt.utils.amp import autocast, float_outputs
from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.padding import crop_to, pad_to_multiple
from basicsr_skt.utils.tiling import tiled_forward

__all__ = ['DEFAULT_TILE_OVERLAP', 'forward_frames', 'run_orm', 'predict', 'expected_frames', 'resolve_device']

#: Default overlap of neighbouring tiles in pixels (4 x the 8-pixel attention window of HDR-Transformer).
DEFAULT_TILE_OVERLAP = 32


def forward_frames(net: Callable[..., torch.Tensor], lq: torch.Tensor) -> torch.Tensor:
    """Run an ORM on stacked frames.

    Args:
        net: HDR network whose ``forward`` takes one (B, C, H, W) tensor per frame (reference = middle).
        lq: (B, N, C, H, W) frames, C = 6 for [L**γ/t, L] in BGR order.

    Returns:
        (B, 3, H, W) linear HDR prediction, BGR, typically in [0, 1].
    """
    return net(*lq.unbind(dim=1))


def run_orm(net: Callable[..., torch.Tensor],
            lq: torch.Tensor,
            pad_multiple: int = 1,
            tile: Optional[int] = None,
            overlap: int = DEFAULT_TILE_OVERLAP,
            out_channels: Optional[int] = 3,
            amp: Optional[str] = None) -> torch.Tensor:
    """Full-resolution prediction of an ORM: whole image (reflect-padded) or overlapping tiles.

    The caller chooses eval mode and ``torch.no_grad()``; the frames stay on their device.

    Args:
        net: Network taking one (B, C, h, w) tensor per frame (reference in the middle), on ``lq``'s device.
        lq: (B, N, C, H, W) frames ``concat(L ** γ / t, L)``, BGR, LDR part in [0, 1].
        pad_multiple: Whole image: reflect-pad H and W to multiples of this and crop the output back (<= 1: no
            padding, the arch pads itself). Tiles: tiles start on multiples of this where possible and each tile is
            padded to it.
        tile: Tile side in pixels (>= 1); None: the whole image in one forward.
        overlap: Minimum overlap of neighbouring tiles in pixels (0 <= overlap < ``tile``; tiles only).
        out_channels: Channels the output must have (3: a BGR image); None accepts any (e.g. a RAW ORM's 4 packed
            Bayer planes).
        amp: ``'bf16'`` | ``'fp16'``: the forward passes run under autocast (:mod:`basicsr_skt.utils.amp`; the
            caller checks the device with :func:`~basicsr_skt.utils.amp.check_amp_device`); None: float32.

    Returns:
        (B, out_channels, H, W) linear HDR prediction, BGR for sRGB ORMs (a sigmoid-ended ORM gives [0, 1]), on
        ``lq``'s device; float32 with ``amp`` too.

    Raises:
        ValueError: Bad tiling arguments, or a network output that is not a (B, 3, H', W') tensor of the (padded)
            input's batch and size.
    """
    if amp is not None:
        with autocast(amp, lq.device):
            return float_outputs(run_orm(net, lq, pad_multiple, tile, overlap, out_channels))
    if tile is not None:
        return tiled_forward(lambda frames: forward_frames(net, frames), lq, tile, overlap, pad_multiple=pad_multiple,
                             out_channels=out_channels)
    if pad_multiple <= 1:
        return _checked(forward_frames(net, lq), lq, out_channels)
    b, n, c, h, w = lq.shape
    padded, _ = pad_to_multiple(lq.reshape(b, n * c, h, w), pad_multiple)
    frames = padded.reshape(b, n, c, *padded.shape[-2:])
    return crop_to(_checked(forward_frames(net, frames), frames, out_channels), h, w)


def _checked(output: object, frames: torch.Tensor, channels: Optional[int]) -> torch.Tensor:
    """``output`` when it is a (B, channels, H, W) tensor of ``frames``' batch and size (any channel count when
    ``channels`` is None), else ``ValueError``."""
    shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None
    expected = (frames.shape[0], channels if channels is not None else shape and shape[1]) + tuple(frames.shape[-2:])
    if shape is None or len(shape) != 4 or shape != expected:
        got = shape if shape is not None else type(output).__name__
        label = 'C' if channels is None else channels
        raise ValueError(f'The network returned {got}; expected a (B, {label}, H, W) image {expected}')
    return output


@torch.no_grad()
def predict(net: Callable[..., torch.Tensor],
            lq: torch.Tensor,
            device: torch.device,
            pad_multiple: int = 8,
            tile: Optional[int] = None,
            tile_overlap: int = DEFAULT_TILE_OVERLAP,
            amp: Optional[str] = None) -> torch.Tensor:
    """Run an ORM on one bracket through :func:`run_orm`, without gradients, and bring the result to the CPU.

    Args:
        net: Network taking one ``(B, 6, h, w)`` tensor per frame (reference in the middle), in eval mode, on
            ``device``.
        lq: ``(N, 6, H, W)`` frames of :func:`~basicsr_skt.utils.hdr_io.network_input` (tensor, any device).
        device: Where to run.
        pad_multiple: Pad H and W to multiples of this (8: HDR-Transformer's window) and crop the output back.
        tile: Tile side in pixels for :func:`~basicsr_skt.utils.tiling.tiled_forward`; None: whole image.
        tile_overlap: Minimum overlap of neighbouring tiles (< ``tile``).
        amp: ``'bf16'`` | ``'fp16'`` autocast (:func:`run_orm`); None: float32.

    Returns:
        float32 ``(3, H, W)`` linear HDR prediction, BGR, on the CPU (a sigmoid-ended ORM gives [0, 1]).

    Raises:
        ValueError: Bad tiling arguments or a network output of the wrong shape.
    """
    return run_orm(net, lq[None].to(device), pad_multiple, tile or None, tile_overlap, amp=amp)[0].float().cpu()


def expected_frames(net: nn.Module) -> Optional[int]:
    """Number of frame tensors ``net.forward`` takes (positional parameters), or None when it takes ``*args``."""
    params = list(inspect.signature(net.forward).parameters.values())
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return None
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty)


def resolve_device(name: str, option: str = '--device') -> torch.device:
    """The ``torch.device`` a ``--device`` option names, checked before any work starts (the one resolver of the
    scripts).

    Args:
        name: ``'auto'`` (CUDA when available, else the CPU), ``'cpu'``, ``'cuda'``, ``'cuda:<index>'``, ``'mps'``.
        option: The option, for the message.

    Returns:
        The device.

    Raises:
        UserInputError: Not a device name, or CUDA (that CUDA index, MPS) not available here.
    """
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise UserInputError(f'{option} {name!r} is not a device; use auto, cpu, cuda or cuda:<index>') from None
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            raise UserInputError(f'{option} {name}: CUDA is not available here; use {option} cpu or auto')
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserInputError(f'{option} {name}: this machine has {torch.cuda.device_count()} CUDA device(s) '
                                 f'(indices 0..{torch.cuda.device_count() - 1})')
    elif device.type == 'mps' and not (hasattr(torch.backends, 'mps') and torch.backends.mps.is_available()):
        raise UserInputError(f'{option} {name}: MPS is not available here; use {option} cpu or auto')
    elif device.type not in ('cpu', 'cuda', 'mps'):
        raise UserInputError(f'{option} {name}: unsupported device type {device.type!r}; use auto, cpu or cuda')
    return device
