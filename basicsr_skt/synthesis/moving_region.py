"""Local motion of the synthetic brackets: a moving ellipse, where it is in every frame, and what it hides.

The region is the radiance inside an ellipse at its reference position, displaced per frame (constant velocity, or an
independent position per frame with ``motion='free'``) over a background whose uncovered part is filled smoothly from
its surroundings. :func:`missing_content` marks the reference pixels that no frame shows. Used by
:mod:`basicsr_skt.synthesis.synthetic_brackets`; see its module docstring for the capture recipe.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

#: Linear level (brightest channel) below which a pixel counts as near black.
DARK_LEVEL = 0.005


def ellipse_mask(height: int, width: int, centre: Tuple[float, float], axes: Tuple[float, float],
                 angle: float) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(
        mask, (int(round(centre[1])), int(round(centre[0]))), (int(round(axes[1])), int(round(axes[0]))),
        angle,
        0,
        360,
        1,
        thickness=-1)
    return mask.astype(bool)


def fill_smoothly(radiance: np.ndarray, hole: np.ndarray, sigma: float) -> np.ndarray:
    """Copy of ``radiance`` whose ``hole`` pixels are a normalised Gaussian average of the pixels around it."""
    ys, xs = np.nonzero(hole)
    pad = int(np.ceil(3 * sigma))
    top, left = max(0, ys.min() - pad), max(0, xs.min() - pad)
    bottom, right = min(hole.shape[0], ys.max() + pad + 1), min(hole.shape[1], xs.max() + pad + 1)
    keep = (~hole[top:bottom, left:right]).astype(np.float32)
    window = radiance[top:bottom, left:right]
    blurred = cv2.GaussianBlur(window * keep[:, :, None], (0, 0), sigma)
    weight = cv2.GaussianBlur(keep, (0, 0), sigma)[:, :, None]
    filled = radiance.copy()
    region = filled[top:bottom, left:right]
    inside = hole[top:bottom, left:right]
    region[inside] = (blurred / np.maximum(weight, 1e-6))[inside]
    return filled


@dataclass
class MovingRegion:
    mask: np.ndarray  # canvas coordinates, reference position
    offsets: List[Tuple[int, int]]
    params: Dict[str, object]


def moving_region(rng: np.random.Generator,
                  canvas_shape: Tuple[int, int],
                  margin: int,
                  num_frames: int,
                  ref: int,
                  size: Tuple[float, float],
                  speed: Tuple[float, float],
                  motion: str = 'linear',
                  cover: Optional[Tuple[np.ndarray, int]] = None) -> Optional[MovingRegion]:
    """An ellipse inside the output area and its integer displacement per frame (None when disabled).

    Args:
        rng: Source of randomness.
        canvas_shape: ``(H, W)`` of the canvas (output plus ``margin`` on every side).
        margin: Canvas margin in pixels.
        num_frames: Frames of the bracket.
        ref: Index of the reference frame.
        size: Range of the ellipse's semi-axes as a fraction of the output's shorter side.
        speed: Range of the displacement per frame step in pixels (``motion='linear'``); ``(0, 0)`` disables motion.
        motion: ``'linear'`` (constant velocity) or ``'free'`` (:func:`free_region`).
        cover: ``(target, frame)``: a bool canvas map and a frame index; the centre is the best of 256 random
            candidates at covering ``target`` with the region's position in ``frame`` (None: one random centre).
    """
    if max(speed) <= 0:
        return None
    height, width = canvas_shape[0] - 2 * margin, canvas_shape[1] - 2 * margin
    num = num_frames
    semi = rng.uniform(*size, size=2) * min(height, width)
    angle = float(rng.uniform(0.0, 180.0))
    if motion == 'free':
        return free_region(rng, canvas_shape, margin, num, ref, semi, angle, cover)
    direction = rng.uniform(0.0, 2.0 * np.pi)
    step = rng.uniform(*speed)
    offsets = [(int(round((i - ref) * step * np.sin(direction))), int(round((i - ref) * step * np.cos(direction))))
               for i in range(num)]
    reach = max(semi) + max(max(abs(dy), abs(dx)) for dy, dx in offsets) + 1
    if 2 * reach >= min(height, width):
        return None  # image too small for local motion
    if cover is None:
        centre = (margin + rng.uniform(reach, height - reach), margin + rng.uniform(reach, width - reach))
        covered_share = None
    else:
        target, frame = cover
        box = (2 * int(round(semi[1])) + 1, 2 * int(round(semi[0])) + 1)  # (width, height) of the local mean
        density = cv2.boxFilter(target.astype(np.float32), -1, box, borderType=cv2.BORDER_CONSTANT)
        ys = margin + rng.uniform(reach, height - reach, size=256)
        xs = margin + rng.uniform(reach, width - reach, size=256)
        dy, dx = offsets[frame]
        scores = density[np.round(ys).astype(int) + dy, np.round(xs).astype(int) + dx]
        best = int(np.argmax(scores))
        centre, covered_share = (float(ys[best]), float(xs[best])), float(scores[best])
    mask = ellipse_mask(canvas_shape[0], canvas_shape[1], centre, (semi[0], semi[1]), angle)
    params = {
        'centre_yx': [centre[0] - margin, centre[1] - margin],
        'semi_axes_yx': semi.tolist(),
        'angle': angle,
        'speed': step,
        'direction': direction
    }
    if covered_share is not None:
        params['target_share_under_box'] = covered_share
    return MovingRegion(mask, offsets, params)


def free_region(rng: np.random.Generator, canvas_shape: Tuple[int, int], margin: int, num: int, ref: int,
                semi: np.ndarray, angle: float, cover: Optional[Tuple[np.ndarray, int]]) -> Optional[MovingRegion]:
    """The ellipse of :func:`moving_region` with an independent position in every frame (``object_motion='free'``).

    The position in the covering frame is the best of 256 random candidates at covering ``cover``'s target; the
    reference position and the other frames' positions are random candidates whose ellipse does not overlap the
    covering (respectively the reference) position, so that everything the region hides in a frame is shown by the
    reference, or by nothing where the reference is clipped or near black. Without ``cover`` every non-reference
    position only avoids the reference one.
    """
    height, width = canvas_shape[0] - 2 * margin, canvas_shape[1] - 2 * margin
    radius = float(max(semi)) + 1.0
    if 4 * radius >= max(height, width) or 2 * radius >= min(height, width):
        return None  # image too small for two disjoint positions
    ys = margin + rng.uniform(radius, height - radius, size=256)
    xs = margin + rng.uniform(radius, width - radius, size=256)
    order = rng.permutation(256)

    def apart_from(centre: Tuple[float, float]) -> Tuple[float, float]:
        """The first candidate (random order) whose ellipse does not overlap one at ``centre`` (else the farthest)."""
        distance = np.hypot(ys[order] - centre[0], xs[order] - centre[1])
        pick = order[int(np.argmax(distance >= 2 * radius))] if np.any(distance >= 2 * radius) else order[
            int(np.argmax(distance))]
        return float(ys[pick]), float(xs[pick])

    centres: List[Optional[Tuple[float, float]]] = [None] * num
    covered_share = None
    if cover is not None:
        target, frame = cover
        box = (2 * int(round(semi[1])) + 1, 2 * int(round(semi[0])) + 1)  # (width, height) of the local mean
        density = cv2.boxFilter(target.astype(np.float32), -1, box, borderType=cv2.BORDER_CONSTANT)
        scores = density[np.round(ys).astype(int), np.round(xs).astype(int)]
        best = int(np.argmax(scores))
        centres[frame], covered_share = (float(ys[best]), float(xs[best])), float(scores[best])
        centres[ref] = apart_from(centres[frame])
    else:
        centres[ref] = float(ys[order[0]]), float(xs[order[0]])
    for i in range(num):
        if centres[i] is None:
            centres[i] = apart_from(centres[ref])
    offsets = [(int(round(c[0] - centres[ref][0])), int(round(c[1] - centres[ref][1]))) for c in centres]
    mask = ellipse_mask(canvas_shape[0], canvas_shape[1], centres[ref], (semi[0], semi[1]), angle)
    steps = [float(np.hypot(*o)) for o in offsets]
    params = {
        'motion': 'free',
        'centre_yx': [centres[ref][0] - margin, centres[ref][1] - margin],
        'centres_yx': [[c[0] - margin, c[1] - margin] for c in centres],
        'semi_axes_yx': semi.tolist(),
        'angle': angle,
        'speed': max(steps),
        'direction': float(np.arctan2(*offsets[0])) if steps[0] > 0 else 0.0
    }
    if covered_share is not None:
        params['target_share_under_box'] = covered_share
    return MovingRegion(mask, offsets, params)


def scene_with_region_at(radiance: np.ndarray, background: np.ndarray, region: MovingRegion,
                         offset: Tuple[int, int]) -> np.ndarray:
    """The canvas with the moving region displaced by ``offset`` over the filled background."""
    if offset == (0, 0):
        return radiance
    dy, dx = offset
    scene = background.copy()
    ys, xs = np.nonzero(region.mask)
    scene[ys + dy, xs + dx] = radiance[ys, xs]
    return scene


def missing_content(gt: np.ndarray, times: Sequence[float], ref: int, object_mask: Optional[np.ndarray],
                    offsets: Sequence[Tuple[int, int]]) -> np.ndarray:
    """Reference pixels whose content no frame shows.

    A background pixel (outside the moving region's reference position) is missing when its signal ``gt * t_ref`` is
    saturated (brightest channel >= 1) or near black (< :data:`DARK_LEVEL`) and, in every other frame ``i``, the
    moving region covers it (its mask shifted by ``offsets[i]``) or ``gt * t_i`` is saturated or near black too.
    Camera motion is ignored: it moves what a frame shows, not whether the frame shows it.

    Args:
        gt: float32 ``H x W x 3`` reference radiance.
        times: Exposure time per frame.
        ref: Index of the reference frame.
        object_mask: bool ``H x W`` moving region at its reference position (None: no local motion).
        offsets: ``(dy, dx)`` of the region per frame.

    Returns:
        bool ``H x W``.
    """
    brightest = gt.max(axis=2)

    def unusable(t: float) -> np.ndarray:
        signal = brightest * t
        return (signal >= 1.0) | (signal < DARK_LEVEL)

    missing = unusable(times[ref])
    if object_mask is not None:
        missing &= ~object_mask
    for i, t in enumerate(times):
        if i == ref:
            continue
        hidden = unusable(t)
        if object_mask is not None:
            hidden |= np.roll(object_mask, offsets[i], axis=(0, 1))
        missing &= hidden
    return missing
