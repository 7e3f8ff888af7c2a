"""Running a trained SKT teacher (SPGRM) outside training: its frame input, whole images or tiles, priors on or off.

The teacher refines an ORM's output with the semantic priors: ``SPGRM(f_O, frames, embedding, labels)``. Used by
:mod:`basicsr_skt.inference.pseudo_labels`; :meth:`SKTModel.teacher_frames` is :func:`teacher_frames`.
"""
import contextlib
from typing import Callable, Iterator, Optional

import torch
from torch import nn
from torch.nn import functional as F

from basicsr_skt.inference.orm import DEFAULT_TILE_OVERLAP
from basicsr_skt.utils.tiling import tiled_forward

__all__ = ['TEACHER_INPUTS', 'teacher_frames', 'run_teacher', 'priors_off']

#: What SPGRM sees besides the ORM's output and the priors (``skt.teacher_input``): the reference frame's input
#: channels, or all frames' (set ``network_t.ref_channels`` to N x 6 for the latter).
TEACHER_INPUTS = ('reference', 'all_frames')


def teacher_frames(lq: torch.Tensor, teacher_input: str = 'reference') -> torch.Tensor:
    """SPGRM's frame input from (B, N, C, H, W) frames: the reference (middle) frame (B, C, H, W), or with
    ``all_frames`` every frame stacked (B, N * C, H, W)."""
    if teacher_input not in TEACHER_INPUTS:
        raise ValueError(f'skt.teacher_input must be one of {TEACHER_INPUTS}, got {teacher_input!r}')
    if teacher_input == 'all_frames':
        return lq.flatten(1, 2)
    return lq[:, lq.shape[1] // 2]


@contextlib.contextmanager
def priors_off(teacher: nn.Module) -> Iterator[nn.Module]:
    """Run SPGRM with its semantic input zeroed (``use_semantics`` off) inside the block."""
    previous = teacher.use_semantics
    teacher.use_semantics = False
    try:
        yield teacher
    finally:
        teacher.use_semantics = previous


def run_teacher(teacher: Callable[..., dict],
                orm_output: torch.Tensor,
                frames: torch.Tensor,
                embedding: Optional[torch.Tensor],
                labels: Optional[torch.Tensor],
                tile: Optional[int] = None,
                overlap: int = DEFAULT_TILE_OVERLAP) -> torch.Tensor:
    """The teacher's result on whole images or on overlapping tiles (the caller chooses eval mode and no_grad).

    Args:
        teacher: SPGRM (or any network with its call signature returning ``{'output': ...}``).
        orm_output: (B, 3, H, W) ORM result, linear BGR.
        frames: (B, C_f, H, W) frame input (:func:`teacher_frames`).
        embedding: (B, C_e, h, w) prior embedding (resampled to (H, W) if it is not), or None without semantics.
        labels: (B, H, W) integer segment labels, or None without semantics.
        tile: Tile side in pixels; None: the whole image. With tiles the inputs are cut identically
            (:func:`~basicsr_skt.utils.tiling.tiled_forward`); segment means are then per tile (an approximation).
        overlap: Minimum overlap of neighbouring tiles.

    Returns:
        (B, 3, H, W) teacher result.
    """
    semantic = embedding is not None and labels is not None and bool(getattr(teacher, 'use_semantics', True))
    parts = [orm_output, frames.to(orm_output.dtype)]
    if semantic:
        embedding = embedding.to(orm_output.dtype)
        if embedding.shape[-2:] != orm_output.shape[-2:]:
            embedding = F.interpolate(embedding, size=orm_output.shape[-2:], mode='bilinear', align_corners=False)
        parts += [embedding, labels.reshape(orm_output.shape[0], 1, *orm_output.shape[-2:]).to(orm_output.dtype)]
    splits = [p.shape[1] for p in parts]

    def run(packed: torch.Tensor) -> torch.Tensor:
        pieces = packed[:, 0].split(splits, dim=1)
        emb, lab = (pieces[2], pieces[3][:, 0].round().long()) if semantic else (None, None)
        return teacher(pieces[0], pieces[1], emb, lab)['output']

    packed = torch.cat(parts, dim=1)[:, None]
    if tile is None:
        return run(packed)
    return tiled_forward(run, packed, tile, overlap)
