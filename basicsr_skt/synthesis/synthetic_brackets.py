"""Multi-exposure brackets simulated from real HDR photographs, written in the Kalantari'17 layout.

A radiance map (``.hdr`` / ``.exr``, relative scale) becomes one scene by simulating a hand-held capture:

1. **Size**: an image whose long side exceeds ``max_size`` is rescaled (area interpolation) or cropped (random window)
   to it, plus a margin of ``margin`` pixels on every side that the camera motion may bring into view.
2. **Exposure normalisation**: radiance is scaled so that the ``percentile``-th percentile of the brightest channel
   of the reference exposure ``H * t_ref`` lands at ``target`` (the shared photographs span 7-31 stops with highlights
   up to 10^4 x their 99th percentile: a fixed scale would leave most of them black or white). With
   ``ref_clipped_share = (lo, hi)`` a share ``f ~ U(lo, hi)`` is drawn per scene instead and the reference is exposed
   so that about ``f`` of its pixels saturate (percentile ``100 (1 - f)`` at level 1): a bright reference like real
   brackets with windows and sky. The fraction of GT pixels above 1 (what a sigmoid-ended network cannot reach) is
   reported per scene. **Exposure convention**: with Kalantari's EVs relative to the *shortest* frame
   (``evs = (0, 2, 4)``, ``t = 2 ** ev``) the GT is the radiance on the shortest frame's scale, so it stays <= 1
   wherever the shortest frame is unclipped, also where the reference clips; with EVs relative to the reference
   (``(-2, 0, 2)``, the old default) every clipped reference pixel has GT > 1.
3. **Misalignment**: every non-reference frame sees the scene through a random homography (each image corner moved by
   up to ``max_shift`` pixels: translation, rotation, zoom and perspective), and an elliptical region moves by
   ``object_speed`` pixels per frame step (local motion; the background it uncovers is filled smoothly from its
   surroundings). The reference frame (the middle one) has neither; the GT is the reference view's radiance.
   ``occluder`` places the region so that, in a non-reference frame, it covers pixels that are clipped (``'clipped'``:
   the object hides them in the shortest frame, the only one that could show them) or near black (``'dark'``: it
   hides them in the longest frame) in the reference: *missing content*, shown by no frame
   (:attr:`SyntheticBracket.missing_mask`). ``'mixed'`` draws random / clipped / dark placement per scene,
   ``'covering'`` clipped / dark (every scene has an occluder over clipped or near-black content). With
   ``object_motion='linear'`` the region moves at a constant velocity, so at the sizes a 256-px image allows its
   positions in consecutive frames overlap and only a crescent of content is hidden; ``'free'`` draws the region's
   position in every frame independently (a fast object, or one that moves back and forth between exposures), the
   covering frame's position where it hides the most, the other positions where they do not overlap it.
4. **Camera**: exposure ``t = 2 ** ev``, Poisson-Gaussian noise (both terms times a per-scene gain drawn
   log-uniformly from ``noise_gain``), saturation at 1, a response curve (gamma, or a measured-style S-curve on top of
   it, see :class:`CameraResponse`) and 16-bit quantisation — the steps of
   :func:`basicsr_skt.synthesis.demo_scenes.capture_frame`.

Files per scene (``<out>/<image stem>/``): ``input_1.tif`` ... ``input_N.tif`` (uint16 BGR, shortest exposure first),
``exposure.txt``, ``HDRImg.hdr`` (GT, aligned with the reference), ``bracket_info.json`` (every parameter drawn, the
homographies, the normalisation scale, the clipping statistics and the shares of saturated, near-black, motion and
missing-content reference pixels) and ``bracket_preview.png`` (the frames and the
μ-law tone-mapped GT side by side). Everything is deterministic given the seed and the image's file name.
"""
import glob
import json
import os
import shutil
import zlib
from dataclasses import asdict, dataclass, field
from os import path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from basicsr_skt.synthesis.demo_scenes import capture_frame, scene_rng, write_scene
from basicsr_skt.synthesis.moving_region import (DARK_LEVEL, MovingRegion, fill_smoothly, missing_content,
                                                 moving_region, scene_with_region_at)
from basicsr_skt.utils.hdr_io import HDR_SUFFIXES, read_hdr
from basicsr_skt.utils.tonemap import mu_law

SEED_STREAM = 2  # seed stream of synthetic brackets (the demo scenes use 0 and 1)
RESPONSES = ('gamma', 's_curve')
RESIZE_MODES = ('rescale', 'crop')
OCCLUDERS = ('none', 'clipped', 'dark', 'mixed', 'covering')
OBJECT_MOTIONS = ('linear', 'free')
INFO_NAME = 'bracket_info.json'
PREVIEW_NAME = 'bracket_preview.png'


class CameraResponse:
    """Camera response curve: linear sensor signal ``s`` in [0, 1] -> LDR value ``L`` in [0, 1], and its inverse.

    ``'gamma'``: ``L = s ** (1 / gamma)`` (what the HDR networks assume). ``'s_curve'``: the gamma curve followed by
    a contrast S-curve ``L = g ** a / (g ** a + (1 - g) ** a)`` with ``g = s ** (1 / gamma)`` and ``a = strength``:
    darker shadows and compressed highlights like measured camera curves (e.g. DoRF), so a network that linearises
    with ``L ** 2.2`` sees a realistic response mismatch. Both are monotonic with closed-form inverses.

    Args:
        kind: ``'gamma'`` or ``'s_curve'``.
        gamma: Gamma exponent.
        strength: S-curve exponent ``a`` (> 0; 1 gives back the gamma curve).
    """

    def __init__(self, kind: str = 'gamma', gamma: float = 2.2, strength: float = 1.4):
        if kind not in RESPONSES:
            raise ValueError(f'Camera response must be one of {RESPONSES}, got {kind!r}')
        if gamma <= 0 or strength <= 0:
            raise ValueError(f'Camera response needs gamma > 0 and strength > 0, got {gamma}, {strength}')
        self.kind, self.gamma, self.strength = kind, float(gamma), float(strength)

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        encoded = np.clip(signal, 0.0, 1.0)**(1.0 / self.gamma)
        if self.kind == 'gamma':
            return encoded
        high, low = encoded**self.strength, (1.0 - encoded)**self.strength
        return high / (high + low)

    def inverse(self, ldr: np.ndarray) -> np.ndarray:
        """LDR values in [0, 1] (any float array) -> linear signal in [0, 1] (float64)."""
        ldr = np.clip(np.asarray(ldr, dtype=np.float64), 0.0, 1.0)
        if self.kind == 's_curve':
            high, low = ldr**(1.0 / self.strength), (1.0 - ldr)**(1.0 / self.strength)
            ldr = high / (high + low)
        return ldr**self.gamma


@dataclass(frozen=True)
class BracketConfig:
    """Capture simulation parameters.

    Attributes:
        evs: EV stop per frame, shortest first; ``t = 2 ** ev``; reference = middle frame.
        response: ``'gamma'`` or ``'s_curve'`` (see :class:`CameraResponse`).
        gamma: Gamma exponent of the response.
        s_curve_strength: S-curve exponent (``response='s_curve'`` only).
        percentile: Percentile of the reference exposure's brightest channel used for normalisation.
        target: Linear level (1 = saturation) that this percentile is scaled to.
        shot_noise: Poisson part of the sensor noise (variance per unit of signal).
        read_noise: Gaussian part of the sensor noise (standard deviation).
        max_size: Longest side of the output images; larger photographs are rescaled or cropped.
        resize: ``'rescale'`` (whole photograph, area interpolation) or ``'crop'`` (random window at full resolution).
        max_shift: Camera motion: largest displacement of an image corner in a non-reference frame (pixels).
        object_size: Local motion: range of the moving ellipse's semi-axes as a fraction of the shorter image side.
        object_speed: Range of the moving region's displacement per frame step (pixels); (0, 0) disables it.
        ref_clipped_share: ``(lo, hi)``: expose the reference so that a share ``U(lo, hi)`` of its pixels saturate
            (replaces ``percentile`` / ``target``); None keeps the percentile normalisation.
        max_gt_above_one: With ``ref_clipped_share``: the exposure is lowered where needed so that at most this share
            of GT pixels exceeds 1 (the drawn clipped share is then not reached; the measured one is reported).
        noise_gain: ``(lo, hi)``: per-scene factor on both noise terms, drawn log-uniformly ((1, 1): fixed noise).
        occluder: Placement of the moving region: ``'none'`` (random), ``'clipped'``, ``'dark'``, ``'mixed'`` or
            ``'covering'`` (see the module docstring).
        object_motion: ``'linear'`` (constant velocity ``object_speed``) or ``'free'`` (independent positions per
            frame; ``object_speed`` is then unused except that ``(0, 0)`` disables local motion).
    """
    evs: Tuple[float, ...] = (-2.0, 0.0, 2.0)
    response: str = 'gamma'
    gamma: float = 2.2
    s_curve_strength: float = 1.4
    percentile: float = 97.0
    target: float = 0.8
    shot_noise: float = 1e-4
    read_noise: float = 5e-4
    max_size: int = 1500
    resize: str = 'rescale'
    max_shift: float = 8.0
    object_size: Tuple[float, float] = (0.06, 0.14)
    object_speed: Tuple[float, float] = (4.0, 12.0)
    ref_clipped_share: Optional[Tuple[float, float]] = None
    max_gt_above_one: float = 0.02
    noise_gain: Tuple[float, float] = (1.0, 1.0)
    occluder: str = 'none'
    object_motion: str = 'linear'

    def __post_init__(self):
        if len(self.evs) < 1 or list(self.evs) != sorted(self.evs):
            raise ValueError(f'evs must be sorted from the shortest to the longest exposure, got {list(self.evs)}')
        if self.resize not in RESIZE_MODES:
            raise ValueError(f'resize must be one of {RESIZE_MODES}, got {self.resize!r}')
        if not 0 < self.percentile <= 100 or not self.target > 0:
            raise ValueError(f'Need 0 < percentile <= 100 and target > 0, got {self.percentile}, {self.target}')
        if self.max_size < 32 or self.max_shift < 0 or min(self.object_speed) < 0:
            raise ValueError('max_size must be >= 32, max_shift and object_speed >= 0')
        share = self.ref_clipped_share
        if share is not None and not (len(share) == 2 and 0 <= share[0] <= share[1] < 1):
            raise ValueError(f'ref_clipped_share must be (lo, hi) with 0 <= lo <= hi < 1, got {share}')
        if not (len(self.noise_gain) == 2 and 0 < self.noise_gain[0] <= self.noise_gain[1]):
            raise ValueError(f'noise_gain must be (lo, hi) with 0 < lo <= hi, got {self.noise_gain}')
        if self.occluder not in OCCLUDERS:
            raise ValueError(f'occluder must be one of {OCCLUDERS}, got {self.occluder!r}')
        if self.object_motion not in OBJECT_MOTIONS:
            raise ValueError(f'object_motion must be one of {OBJECT_MOTIONS}, got {self.object_motion!r}')
        CameraResponse(self.response, self.gamma, self.s_curve_strength)

    @property
    def ref_index(self) -> int:
        return len(self.evs) // 2

    @property
    def margin(self) -> int:
        """Pixels around the output that camera motion can bring into view."""
        return int(np.ceil(self.max_shift)) + 2

    def camera_response(self) -> CameraResponse:
        return CameraResponse(self.response, self.gamma, self.s_curve_strength)


@dataclass
class SyntheticBracket:
    """One simulated capture.

    Attributes:
        gt: float32 ``H x W x 3`` BGR linear radiance seen by the reference frame (normalised scale).
        frames: uint16 ``H x W x 3`` BGR frames, shortest exposure first.
        evs: EV per frame.
        homographies: Per frame, a 3 x 3 matrix mapping frame pixel coordinates ``(x, y, 1)`` to the reference pixel
            they show (identity for the reference): ``frame_i(p) ~ gt(H_i p)`` outside the moving region.
        object_offsets: ``(dy, dx)`` displacement of the moving region per frame (reference coordinates).
        motion_mask: bool ``H x W``: reference pixels covered by the moving region in any frame.
        scale: Factor applied to the photograph's radiance (exposure normalisation).
        info: Everything drawn and measured, as written to ``bracket_info.json``.
        missing_mask: bool ``H x W``: background pixels of the reference (outside the moving region there) that are
            saturated or near black in the reference and, in every other frame, covered by the moving region or
            saturated / near black too: content that no frame shows.
    """
    gt: np.ndarray
    frames: List[np.ndarray]
    evs: Tuple[float, ...]
    homographies: List[np.ndarray]
    object_offsets: List[Tuple[int, int]]
    motion_mask: np.ndarray
    scale: float
    info: Dict[str, object] = field(default_factory=dict)
    missing_mask: Optional[np.ndarray] = None

    @property
    def fraction_above_one(self) -> float:
        """Fraction of GT pixels whose largest channel exceeds 1."""
        return float(np.mean(self.gt.max(axis=2) > 1.0))


# ------------------------------------------------------------------------------------------------------ steps
def fit_to_size(radiance: np.ndarray, max_size: int, margin: int, resize: str, rng: np.random.Generator) -> np.ndarray:
    """The canvas: the photograph limited to ``max_size + 2 * margin`` on its long side (rescaled or cropped)."""
    height, width = radiance.shape[:2]
    limit = max_size + 2 * margin
    if max(height, width) <= limit:
        return radiance
    if resize == 'crop':
        new_h, new_w = min(height, limit), min(width, limit)
        top, left = int(rng.integers(0, height - new_h + 1)), int(rng.integers(0, width - new_w + 1))
        return radiance[top:top + new_h, left:left + new_w]
    factor = limit / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(radiance, size, interpolation=cv2.INTER_AREA)


def exposure_scale(radiance: np.ndarray, exposure_time: float, percentile: float, target: float) -> float:
    """Scale ``k`` such that the ``percentile`` of the brightest channel of ``k * radiance * exposure_time`` is
    ``target`` (the brightest channel, not luminance: sensors saturate per channel, and a blue sky has a low
    luminance but a high blue value).

    Raises:
        ValueError: The image is black (no positive value).
    """
    brightest = radiance.max(axis=2)
    level = float(np.percentile(brightest, percentile))
    if level <= 0:  # mostly black (e.g. a star field): use the positive pixels
        positive = brightest[brightest > 0]
        if positive.size == 0:
            raise ValueError('The HDR image is black: nothing to normalise')
        level = float(np.percentile(positive, percentile))
    return target / (level * exposure_time)


def random_homography(rng: np.random.Generator, height: int, width: int, max_shift: float) -> np.ndarray:
    """A homography near the identity: the four image corners move by at most ``max_shift`` pixels per axis
    (a common translation plus independent corner jitter: rotation, zoom, perspective).

    Returns:
        float64 3 x 3 matrix mapping frame pixel coordinates to reference pixel coordinates.
    """
    corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32)
    shift = rng.uniform(-0.6, 0.6, size=2) * max_shift
    jitter = rng.uniform(-0.4, 0.4, size=(4, 2)) * max_shift
    moved = (corners + shift + jitter).astype(np.float32)
    return cv2.getPerspectiveTransform(corners, moved).astype(np.float64)


# ------------------------------------------------------------------------------------------------------ scene
def simulate_bracket(radiance: np.ndarray, config: BracketConfig, rng: np.random.Generator) -> SyntheticBracket:
    """Simulate a hand-held multi-exposure capture of a radiance map.

    Args:
        radiance: float32 ``H x W x 3`` BGR linear radiance (any scale), e.g. from :func:`read_hdr`.
        config: Capture parameters.
        rng: Source of all randomness (see :func:`bracket_rng`).

    Returns:
        The frames, the GT aligned with the reference frame, and every parameter drawn.
    """
    margin = config.margin
    canvas = fit_to_size(np.asarray(radiance, np.float32), config.max_size, margin, config.resize, rng)
    if min(canvas.shape[:2]) <= 2 * margin + 16:
        raise ValueError(f'Image of {canvas.shape[1]} x {canvas.shape[0]} pixels is too small for a margin of '
                         f'{margin} pixels (max_shift={config.max_shift})')
    height, width = canvas.shape[0] - 2 * margin, canvas.shape[1] - 2 * margin
    times = [2.0**ev for ev in config.evs]
    ref = config.ref_index
    percentile, target, clipped_share = config.percentile, config.target, None
    if config.ref_clipped_share is not None:
        clipped_share = float(rng.uniform(*config.ref_clipped_share))
        percentile, target = 100.0 * (1.0 - clipped_share), 1.0
    output_area = canvas[margin:margin + height, margin:margin + width]
    scale = exposure_scale(output_area, times[ref], percentile, target)
    if clipped_share is not None and config.max_gt_above_one < 1:  # GT <= 1 on all but max_gt_above_one
        scale = min(scale, exposure_scale(output_area, 1.0, 100.0 * (1.0 - config.max_gt_above_one), 1.0))
    canvas = canvas * np.float32(scale)
    homographies = [
        np.eye(3) if i == ref or config.max_shift == 0 else random_homography(rng, height, width, config.max_shift)
        for i in range(len(config.evs))
    ]
    placement = config.occluder
    if placement in ('mixed', 'covering'):
        placement = str(rng.choice(['none', 'clipped', 'dark'] if placement == 'mixed' else ['clipped', 'dark']))
    cover = None
    if placement != 'none' and len(times) > 1:
        brightest = canvas.max(axis=2) * times[ref]
        clipped, dark = brightest >= 1.0, brightest < DARK_LEVEL
        if config.occluder in ('mixed', 'covering') and placement == 'dark' and dark.mean() < 0.005:
            placement = 'clipped'  # (almost) nothing near black to hide: hide highlights instead
        cover = (clipped, 0) if placement == 'clipped' else (dark, len(times) - 1)
    region = moving_region(rng, canvas.shape[:2], margin, len(times), ref, config.object_size, config.object_speed,
                           config.object_motion, cover)
    background = None
    if region is not None:
        background = fill_smoothly(
            canvas, region.mask, sigma=max(2.0, 0.5 * float(min(region.params['semi_axes_yx']))))
    gain = 1.0
    if config.noise_gain[0] < config.noise_gain[1]:
        gain = float(np.exp(rng.uniform(np.log(config.noise_gain[0]), np.log(config.noise_gain[1]))))
    elif config.noise_gain[0] != 1.0:
        gain = float(config.noise_gain[0])
    to_canvas = np.array([[1.0, 0.0, margin], [0.0, 1.0, margin], [0.0, 0.0, 1.0]])
    response = config.camera_response()
    frames, views = [], []
    for i, t in enumerate(times):
        scene = canvas if region is None else scene_with_region_at(canvas, background, region, region.offsets[i])
        if i == ref or config.max_shift == 0:
            view = scene[margin:margin + height, margin:margin + width]
        else:
            view = cv2.warpPerspective(
                scene,
                to_canvas @ homographies[i], (width, height),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REFLECT)
        views.append(view)
        frames.append(capture_frame(rng, view, t, response, gain * config.shot_noise, gain * config.read_noise))
    gt = np.ascontiguousarray(views[ref], dtype=np.float32)
    motion_mask = np.zeros((height, width), bool)
    offsets = [(0, 0)] * len(times) if region is None else region.offsets
    if region is not None:
        inner = region.mask[margin:margin + height, margin:margin + width]
        for dy, dx in offsets:
            motion_mask |= np.roll(inner, (dy, dx), axis=(0, 1))
    bracket = SyntheticBracket(gt, frames, tuple(float(ev) for ev in config.evs), homographies, offsets, motion_mask,
                               float(scale))
    inner = None if region is None else region.mask[margin:margin + height, margin:margin + width]
    bracket.missing_mask = missing_content(gt, times, ref, inner, offsets)
    bracket.info = _describe(bracket, config, region)
    bracket.info.update(clipped_share_drawn=clipped_share, noise_gain=gain, occluder_placement=placement)
    return bracket


def occluded_somewhere(bracket: SyntheticBracket, config: BracketConfig) -> np.ndarray:
    """bool ``H x W``: reference pixels that some non-reference frame shows unclipped and not near black, or would,
    were the moving region not in front of them (missing content caused by the occluder, not by the dynamic range)."""
    brightest = bracket.gt.max(axis=2)
    usable = np.zeros(brightest.shape, bool)
    for i, ev in enumerate(bracket.evs):
        if i != config.ref_index:
            signal = brightest * 2.0**ev
            usable |= (signal < 1.0) & (signal >= DARK_LEVEL)
    return usable


def _describe(bracket: SyntheticBracket, config: BracketConfig, region: Optional[MovingRegion]) -> Dict[str, object]:
    saturated = [float(np.mean(frame.max(axis=2) == 65535)) for frame in bracket.frames]
    ref = config.ref_index
    ref_signal = bracket.gt.max(axis=2) * 2.0**bracket.evs[ref]
    return {
        'format': 2,
        'config': asdict(config),
        'image_size': list(bracket.gt.shape[:2]),
        'scale': bracket.scale,
        'fraction_gt_above_one': bracket.fraction_above_one,
        'gt_max': float(bracket.gt.max()),
        'fraction_saturated': saturated,
        'fraction_ref_saturated': saturated[ref],
        'fraction_ref_dark': float(np.mean(ref_signal < DARK_LEVEL)),
        'fraction_motion': float(np.mean(bracket.motion_mask)),
        'fraction_missing': float(np.mean(bracket.missing_mask)) if bracket.missing_mask is not None else 0.0,
        'fraction_missing_occluded': float(np.mean(bracket.missing_mask & occluded_somewhere(bracket, config))),
        'fraction_gt_above_one_where_ref_saturated': float(np.mean(bracket.gt.max(axis=2)[bracket.frames[ref].max(
            axis=2) == 65535] > 1.0)) if saturated[ref] > 0 else 0.0,
        'homographies_frame_to_reference': [np.round(h, 9).tolist() for h in bracket.homographies],
        'object_offsets_yx': [list(o) for o in bracket.object_offsets],
        'moving_region': None if region is None else region.params,
    }


def scene_shares(info: Dict[str, object]) -> Dict[str, float]:
    """Shares of reference pixels from a scene's ``bracket_info``: ``{'saturated', 'dark', 'motion', 'missing',
    'missing_occluded'}``."""
    return {
        'saturated': float(info['fraction_ref_saturated']),
        'dark': float(info['fraction_ref_dark']),
        'motion': float(info['fraction_motion']),
        'missing': float(info['fraction_missing']),
        'missing_occluded': float(info['fraction_missing_occluded'])
    }


def bracket_rng(seed: int, name: str) -> np.random.Generator:
    """Generator of one scene, from the seed and the photograph's name (adding photographs changes no scene)."""
    return scene_rng(seed, SEED_STREAM, zlib.crc32(name.encode('utf-8')))


def preview_image(bracket: SyntheticBracket, width: int = 320) -> np.ndarray:
    """8-bit BGR preview: the frames, then the μ-law tone-mapped GT (clipped to [0, 1]), side by side."""
    height = max(1, round(bracket.gt.shape[0] * width / bracket.gt.shape[1]))
    tiles = [(frame // 257).astype(np.uint8) for frame in bracket.frames]
    tiles.append(np.round(mu_law(np.clip(bracket.gt, 0.0, 1.0)) * 255).astype(np.uint8))
    tiles = [cv2.resize(tile, (width, height), interpolation=cv2.INTER_AREA) for tile in tiles]
    return np.concatenate(tiles, axis=1)


def write_bracket(bracket: SyntheticBracket, folder: str) -> None:
    """Write the scene (Kalantari layout), ``bracket_info.json`` and ``bracket_preview.png``."""
    write_scene(bracket, folder)
    with open(osp.join(folder, INFO_NAME), 'w', encoding='utf-8') as f:
        json.dump(bracket.info, f, indent=1)
    ok, encoded = cv2.imencode('.png', preview_image(bracket))
    if not ok:
        raise ValueError(f'OpenCV failed to encode {osp.join(folder, PREVIEW_NAME)}')
    with open(osp.join(folder, PREVIEW_NAME), 'wb') as f:
        f.write(encoded.tobytes())


def list_hdr_images(input_dir: str, names: Optional[Sequence[str]] = None) -> List[str]:
    """``.hdr`` / ``.pic`` / ``.exr`` / ``.pfm`` files of a folder, sorted; ``names`` selects by file stem."""
    if not osp.isdir(input_dir):
        raise ValueError(f'Input {input_dir} is not a folder of HDR images')
    paths = sorted(
        p for p in glob.glob(osp.join(glob.escape(input_dir), '*'))
        if osp.splitext(p)[1].lower() in HDR_SUFFIXES)
    if names:
        by_stem = {osp.splitext(osp.basename(p))[0]: p for p in paths}
        missing = [name for name in names if name not in by_stem]
        if missing:
            raise ValueError(f'HDR image(s) {missing} not found in {input_dir} (have {sorted(by_stem)})')
        paths = [by_stem[name] for name in names]
    if not paths:
        raise ValueError(f'No .hdr / .pic / .exr / .pfm images in {input_dir}')
    return paths


def make_synthetic_dataset(input_dir: str,
                           out_dir: str,
                           config: BracketConfig = BracketConfig(),
                           seed: int = 0,
                           names: Optional[Sequence[str]] = None,
                           force: bool = False,
                           progress: bool = False) -> Dict[str, object]:
    """Simulate one scene per HDR photograph of ``input_dir`` into ``out_dir/<stem>/``.

    Args:
        input_dir: Folder of ``.hdr`` / ``.exr`` radiance maps.
        out_dir: Output split folder (one sub-folder per scene), e.g. ``datasets/synthetic/Training``.
        config: Capture parameters.
        seed: Base seed; each scene's generator also depends on its file name.
        names: File stems to use (default: every image).
        force: Replace existing scene folders of the same names. Without it, an existing one raises before anything
            is written.
        progress: Show a tqdm progress bar.

    Returns:
        ``{'scenes': [folders], 'fraction_gt_above_one': {scene: fraction}, 'shares': {scene: scene_shares(...)},
        'mean_fraction_gt_above_one': float}``.

    Raises:
        FileExistsError: A scene folder exists and ``force`` is False.
        ValueError: No images, unknown names, unreadable or black images.
    """
    paths = list_hdr_images(input_dir, names)
    folders = [osp.join(out_dir, osp.splitext(osp.basename(p))[0]) for p in paths]
    existing = [folder for folder in folders if osp.exists(folder)]
    if existing and not force:
        raise FileExistsError(f'{len(existing)} scene folder(s) already exist (e.g. {existing[0]}); use force=True '
                              '(--force) to replace them')
    jobs = list(zip(paths, folders))
    if progress:
        from tqdm import tqdm
        jobs = tqdm(jobs, desc='synthetic brackets', unit='scene')
    fractions, shares = {}, {}
    for path, folder in jobs:
        name = osp.basename(folder)
        bracket = simulate_bracket(read_hdr(path), config, bracket_rng(seed, name))
        bracket.info.update(source=osp.basename(path), seed=seed)
        if osp.exists(folder):
            shutil.rmtree(folder)
        os.makedirs(folder)
        write_bracket(bracket, folder)
        fractions[name] = bracket.fraction_above_one
        shares[name] = scene_shares(bracket.info)
    return {
        'scenes': folders,
        'fraction_gt_above_one': fractions,
        'shares': shares,
        'mean_fraction_gt_above_one': float(np.mean(list(fractions.values()))),
    }
