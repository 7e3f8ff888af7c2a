"""Procedural multi-exposure HDR scenes in the Kalantari'17 layout, for demos and tests (no download needed).

Each scene is rendered as linear radiance (BGR, float32) on a canvas a few pixels larger than the image:

* smooth illumination gradients, textured background, sharp-edged shapes (flat, checker or striped) with cast shadows;
* a bright "window" (radiance 1.2-4x the reference white level, clipped in the reference frame but recoverable from
  the short exposure) and 1-3 small light sources at 5-50x the white level (clipped in every frame);
* a textured object that moves between frames, plus a global camera shift of a few pixels for every non-reference
  frame. The reference frame (the middle one) has no shift; the ground truth is aligned to it.

Radiance is scaled so that the reference exposure is well exposed (median luminance of ``H * t_ref`` about 0.2), so
the GT lies mostly in [0, 1] like Kalantari's GT: only the window, lights and their glow exceed 1 (typically 2-8 % of
the pixels, see :attr:`DemoScene.fraction_above_one`). Frames follow a gamma camera:
``L_i = clip(s_i, 0, 1) ** (1 / gamma)`` with sensor signal ``s_i = H_i * t_i`` plus Poisson-Gaussian noise
(variance ``shot_noise * s + read_noise ** 2``), quantised to 16 bits. ``t_i = 2 ** ev_i``.

Files written per scene (``<out>/Training/demo_train_000``, ``<out>/Test/demo_val_000``, ...; with test scenes
``<out>/Validation/demo_val_000`` and ``<out>/Test/demo_test_000``): ``input_1.tif`` ...
``input_N.tif`` (uint16 BGR TIFF, shortest exposure first), ``exposure.txt`` (one EV per line) and ``HDRImg.hdr``.
Everything is deterministic given the seed: the same seed gives byte-identical files.
"""
import os
import re
import shutil
from dataclasses import dataclass, field
from os import path as osp
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np

from basicsr_skt.utils.hdr_io import write_hdr
from basicsr_skt.utils.tonemap import luminance

#: Kalantari's exposure convention (EVs relative to the shortest frame): the demo's scenes (scripts/make_demo_data.py),
#: so that the GT is <= 1 wherever the shortest frame is unclipped and PSNR-l is meaningful for a sigmoid-ended ORM.
KALANTARI_EVS = (0.0, 2.0, 4.0)
SPLITS = (('Training', 'demo_train', 0), ('Test', 'demo_val', 1))  # (folder, scene prefix, seed stream)
#: The layout with separate validation and test scenes (``num_test > 0``): validation scenes keep their seed stream,
#: so ``Validation/demo_val_000`` equals the ``Test/demo_val_000`` of :data:`SPLITS`.
SPLITS_WITH_TEST = (('Training', 'demo_train', 0), ('Validation', 'demo_val', 1), ('Test', 'demo_test', 2))


@dataclass(frozen=True)
class DemoSceneConfig:
    """Rendering parameters of a demo scene.

    Attributes:
        height: Image height in pixels.
        width: Image width in pixels.
        evs: EV stop per frame, shortest first; exposure time ``t = 2 ** ev``; reference = middle frame.
        gamma: Camera response exponent: ``L = s ** (1 / gamma)``.
        max_shift: Largest global camera shift (pixels, per axis) of a non-reference frame.
        object_speed: Range of the moving object's displacement per frame step (pixels).
        shot_noise: Poisson part of the sensor noise: variance per unit of linear signal.
        read_noise: Gaussian part of the sensor noise: standard deviation in linear units.
        median_level: Target median luminance of the reference exposure's linear signal.
    """
    height: int = 128
    width: int = 192
    evs: Tuple[float, ...] = (-2.0, 0.0, 2.0)
    gamma: float = 2.2
    max_shift: int = 3
    object_speed: Tuple[float, float] = (3.0, 7.0)
    shot_noise: float = 1e-4
    read_noise: float = 5e-4
    median_level: float = 0.2

    def __post_init__(self):
        if self.height < 32 or self.width < 32:
            raise ValueError(f'Demo scenes need at least 32 x 32 pixels, got {self.height} x {self.width}')
        if len(self.evs) < 1:
            raise ValueError('Demo scenes need at least one exposure (evs)')
        if list(self.evs) != sorted(self.evs):
            raise ValueError(f'evs must be sorted from the shortest to the longest exposure, got {list(self.evs)}')

    @property
    def ref_index(self) -> int:
        """Index of the reference (middle) frame."""
        return len(self.evs) // 2


@dataclass
class DemoScene:
    """One rendered scene.

    Attributes:
        gt: float32 ``H x W x 3`` BGR linear radiance aligned with the reference frame (noise-free).
        frames: uint16 ``H x W x 3`` BGR LDR frames, shortest exposure first.
        evs: EV stop per frame.
        shifts: ``(dy, dx)`` camera shift of each frame in pixels (``(0, 0)`` for the reference).
        object_offsets: ``(dy, dx)`` displacement of the moving object in each frame relative to the reference.
        motion_mask: bool ``H x W``: reference-frame pixels covered by the moving object in any frame once the
            camera shift is undone (everything else is static up to the global shift).
    """
    gt: np.ndarray
    frames: List[np.ndarray]
    evs: Tuple[float, ...]
    shifts: List[Tuple[int, int]] = field(default_factory=list)
    object_offsets: List[Tuple[int, int]] = field(default_factory=list)
    motion_mask: Optional[np.ndarray] = None

    @property
    def fraction_above_one(self) -> float:
        """Fraction of GT pixels whose largest channel exceeds 1 (what a sigmoid output cannot reach)."""
        return float(np.mean(self.gt.max(axis=2) > 1.0))


def scene_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    """Independent generator per (seed, split, scene): adding scenes never changes the existing ones."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(stream), int(index)]))


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int, channels: int = 1) -> np.ndarray:
    """Band-limited noise in [-1, 1]: a coarse random grid upsampled with bicubic interpolation. Shape H x W x C."""
    grid_h = max(2, cells)
    grid_w = max(2, round(cells * width / height))
    grid = rng.uniform(-1.0, 1.0, size=(grid_h, grid_w, channels)).astype(np.float32)
    noise = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(noise.reshape(height, width, channels), -1.0, 1.0)


def _illumination(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth lighting: a linear gradient in a random direction times low-frequency variation. Shape H x W x 1."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    ramp = (np.cos(angle) * xx / width + np.sin(angle) * yy / height)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    light = rng.uniform(0.3, 0.6) + rng.uniform(0.6, 1.4) * ramp
    return (light[:, :, None] * (1.0 + 0.25 * _smooth_noise(rng, height, width, 3))).astype(np.float32)


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A multiplicative texture in about [0.3, 1.3]: flat, checkerboard, stripes or fine noise. Shape H x W x 1."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    kind = rng.integers(4)
    if kind == 0:
        return np.ones((height, width, 1), np.float32)
    if kind == 1:
        cell = int(rng.integers(3, 9))
        checker = ((yy // cell + xx // cell) % 2).astype(np.float32)
        return (0.45 + 0.8 * checker)[:, :, None]
    if kind == 2:
        angle = rng.uniform(0.0, np.pi)
        period = rng.uniform(4.0, 12.0)
        phase = (np.cos(angle) * xx + np.sin(angle) * yy) * (2.0 * np.pi / period)
        return (0.8 + 0.45 * np.sign(np.sin(phase)))[:, :, None].astype(np.float32)
    return (0.8 + 0.45 * _smooth_noise(rng, height, width, max(4, height // 4))).astype(np.float32)


def _shape_mask(rng: np.random.Generator, height: int, width: int, size: float, margin: int) -> np.ndarray:
    """A sharp-edged rectangle, disc or polygon of about ``size`` pixels centred at least ``margin`` pixels inside
    the canvas, as a bool H x W mask."""
    mask = np.zeros((height, width), np.uint8)
    cy, cx = rng.uniform(margin, height - margin), rng.uniform(margin, width - margin)
    kind = rng.integers(3)
    if kind == 0:
        h, w = rng.uniform(0.5, 1.0, size=2) * size
        cv2.rectangle(mask, (int(cx - w), int(cy - h)), (int(cx + w), int(cy + h)), 1, thickness=-1)
    elif kind == 1:
        cv2.circle(mask, (int(cx), int(cy)), int(rng.uniform(0.5, 1.0) * size), 1, thickness=-1)
    else:
        num = int(rng.integers(3, 7))
        angles = np.sort(rng.uniform(0.0, 2.0 * np.pi, size=num))
        radii = rng.uniform(0.5, 1.2, size=num) * size
        points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1).astype(np.int32)
        cv2.fillPoly(mask, [points], 1)
    return mask.astype(bool)


def _shift_mask(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate a bool mask by whole pixels (content moving out of the frame is dropped)."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = mask[max(-dy, 0):h - max(dy, 0),
                                                                     max(-dx, 0):w - max(dx, 0)]
    return out


def _static_reflectance_and_light(rng: np.random.Generator, height: int, width: int, size: int,
                                  margin: int) -> np.ndarray:
    """Background plus shapes with cast shadows: ``illumination * reflectance``, H x W x 3, arbitrary scale.

    Shapes are about ``size`` pixels large and centred in the canvas minus ``margin`` (the image area).
    """
    light = _illumination(rng, height, width)
    base_colour = rng.uniform(0.25, 0.7, size=3).astype(np.float32)
    reflectance = base_colour * (1.0 + 0.2 * _smooth_noise(rng, height, width, max(4, height // 8), channels=3))
    reflectance = reflectance * _texture(rng, height, width)**0.3
    shadow_dy, shadow_dx = (int(v) for v in rng.integers(3, 9, size=2) * rng.choice([-1, 1], size=2))
    shadow_factor = rng.uniform(0.08, 0.3)
    for _ in range(int(rng.integers(5, 10))):
        mask = _shape_mask(rng, height, width, rng.uniform(0.08, 0.22) * size, margin)
        shadow = _shift_mask(mask, shadow_dy, shadow_dx) & ~mask
        light[shadow] *= shadow_factor
        colour = rng.uniform(0.05, 0.9, size=3).astype(np.float32)
        reflectance[mask] = (colour * _texture(rng, height, width))[mask]
    return np.clip(reflectance, 0.02, 0.95) * light


def _exposure_scale(radiance: np.ndarray, config: DemoSceneConfig) -> float:
    """Scale that makes the reference exposure well exposed: median at ``median_level``, p97 at most 0.9."""
    luma = luminance(radiance)
    t_ref = 2.0**config.evs[config.ref_index]
    scale = min(config.median_level / float(np.median(luma)), 0.9 / float(np.percentile(luma, 97)))
    return scale / t_ref


def _add_window(rng: np.random.Generator, radiance: np.ndarray, config: DemoSceneConfig, margin: int) -> None:
    """A bright textured rectangle inside the image area (the canvas minus ``margin``): clipped in the reference, below
    the clipping point of the shortest frame."""
    height, width = config.height, config.width
    t_ref, t_min = 2.0**config.evs[config.ref_index], 2.0**config.evs[0]
    low = 1.2 / t_ref
    high = max(low, 0.8 / t_min)
    h, w = int(rng.uniform(0.15, 0.25) * height), int(rng.uniform(0.15, 0.3) * width)
    y0, x0 = margin + int(rng.integers(0, height - h)), margin + int(rng.integers(0, width - w))
    tint = rng.uniform(0.8, 1.0, size=3).astype(np.float32)
    clouds = 0.75 + 0.25 * _smooth_noise(rng, h, w, 3)
    level = rng.uniform(low, high)
    radiance[y0:y0 + h, x0:x0 + w] = level * tint * clouds


def _add_lights(rng: np.random.Generator, radiance: np.ndarray, config: DemoSceneConfig, margin: int) -> None:
    """1-3 small discs at 5-50x the reference white level inside the image area, each with a faint Gaussian glow
    (peak 0.2-0.6 of the white level)."""
    t_ref = 2.0**config.evs[config.ref_index]
    yy, xx = np.mgrid[0:radiance.shape[0], 0:radiance.shape[1]].astype(np.float32)
    for _ in range(int(rng.integers(1, 4))):
        cy = margin + rng.uniform(0.1, 0.9) * config.height
        cx = margin + rng.uniform(0.1, 0.9) * config.width
        radius = rng.uniform(1.5, 4.0)
        level = rng.uniform(5.0, 50.0) / t_ref
        colour = rng.uniform(0.7, 1.0, size=3).astype(np.float32)
        dist2 = (yy - cy)**2 + (xx - cx)**2
        glow = rng.uniform(0.2, 0.6) / t_ref * np.exp(-dist2 / (2.0 * (2.5 * radius)**2))
        radiance += glow[:, :, None] * colour
        disc = dist2 <= radius**2
        radiance[disc] = level * colour


def _moving_object(rng: np.random.Generator, size: int, level: float) -> Tuple[np.ndarray, np.ndarray]:
    """A textured, sharp-edged disc or square: (radiance patch ``s x s x 3``, bool mask ``s x s``)."""
    mask = np.zeros((size, size), np.uint8)
    if rng.integers(2):
        cv2.circle(mask, (size // 2, size // 2), size // 2 - 1, 1, thickness=-1)
    else:
        mask[1:-1, 1:-1] = 1
    colour = rng.uniform(0.1, 0.9, size=3).astype(np.float32)
    patch = level * colour * _texture(rng, size, size)
    return patch.astype(np.float32), mask.astype(bool)


def _paste(canvas: np.ndarray, patch: np.ndarray, mask: np.ndarray, top: int, left: int) -> np.ndarray:
    """Copy of ``canvas`` with ``patch`` pasted under ``mask`` at (top, left); the patch must fit."""
    out = canvas.copy()
    size_y, size_x = mask.shape
    region = out[top:top + size_y, left:left + size_x]
    region[mask] = patch[mask]
    return out


def _motion(rng: np.random.Generator, config: DemoSceneConfig) -> Tuple[List[Tuple[int, int]], List[Tuple[int, int]]]:
    """Per-frame camera shifts (non-zero except the reference) and object offsets (linear motion)."""
    num, ref = len(config.evs), config.ref_index
    shifts, offsets = [], []
    angle = rng.uniform(0.0, 2.0 * np.pi)
    speed = rng.uniform(*config.object_speed)
    for i in range(num):
        if i == ref or config.max_shift == 0:
            shifts.append((0, 0))
        else:
            shift = (0, 0)
            while shift == (0, 0):
                shift = tuple(int(v) for v in rng.integers(-config.max_shift, config.max_shift + 1, size=2))
            shifts.append(shift)
        offsets.append((int(round((i - ref) * speed * np.sin(angle))), int(round((i - ref) * speed * np.cos(angle)))))
    return shifts, offsets


def add_sensor_noise(rng: np.random.Generator, signal: np.ndarray, shot_noise: float, read_noise: float) -> np.ndarray:
    """Poisson-Gaussian sensor noise (Gaussian approximation), then saturation.

    Args:
        rng: Noise source.
        signal: Linear sensor signal (radiance x exposure time), float64, 1.0 = saturation.
        shot_noise: Variance per unit of signal (the Poisson part).
        read_noise: Standard deviation of the signal-independent (Gaussian) part.

    Returns:
        float64 noisy signal clipped to [0, 1] (same shape).
    """
    std = np.sqrt(shot_noise * np.clip(signal, 0.0, 1.0) + read_noise**2)
    return np.clip(signal + std * rng.standard_normal(signal.shape), 0.0, 1.0)


def quantise_16bit(ldr: np.ndarray) -> np.ndarray:
    """LDR values in [0, 1] -> uint16 codes (round to nearest)."""
    return np.round(ldr * 65535.0).astype(np.uint16)


def capture_frame(rng: np.random.Generator, radiance: np.ndarray, exposure_time: float,
                  response: Callable[[np.ndarray], np.ndarray], shot_noise: float, read_noise: float) -> np.ndarray:
    """Simulated camera: exposure, Poisson-Gaussian noise, saturation, response curve, 16-bit quantisation.

    Args:
        rng: Noise source.
        radiance: Linear radiance ``H x W x 3`` (BGR), any float dtype.
        exposure_time: ``t``; the sensor signal is ``radiance * t`` (1.0 saturates).
        response: Camera response mapping the clipped linear signal in [0, 1] onto LDR values in [0, 1]
            (e.g. ``s ** (1 / 2.2)``).
        shot_noise: Poisson part of the noise (variance per unit of signal).
        read_noise: Gaussian part of the noise (standard deviation).

    Returns:
        uint16 ``H x W x 3`` frame.
    """
    noisy = add_sensor_noise(rng, radiance.astype(np.float64) * exposure_time, shot_noise, read_noise)
    return quantise_16bit(response(noisy))


def gamma_response(gamma: float) -> Callable[[np.ndarray], np.ndarray]:
    """The response ``L = s ** (1 / gamma)`` of a gamma camera."""
    return lambda signal: signal**(1.0 / gamma)


def _expose(rng: np.random.Generator, radiance: np.ndarray, exposure_time: float,
            config: DemoSceneConfig) -> np.ndarray:
    """Gamma camera with Poisson-Gaussian noise and 16-bit quantisation: radiance H x W x 3 -> uint16 frame."""
    return capture_frame(rng, radiance, exposure_time, gamma_response(config.gamma), config.shot_noise,
                         config.read_noise)


def render_scene(rng: np.random.Generator, config: DemoSceneConfig = DemoSceneConfig()) -> DemoScene:
    """Render one multi-exposure scene.

    Args:
        rng: Source of all randomness (use :func:`scene_rng` for reproducible datasets).
        config: Image size, EVs, camera and motion parameters.

    Returns:
        The scene: noise-free GT radiance aligned with the reference frame, uint16 frames and the motion used.
    """
    height, width, num = config.height, config.width, len(config.evs)
    obj_size = max(8, min(height, width) // 6)
    margin = config.max_shift + int(np.ceil(config.object_speed[1] * num)) + obj_size
    canvas_h, canvas_w = height + 2 * margin, width + 2 * margin
    radiance = _static_reflectance_and_light(rng, canvas_h, canvas_w, min(height, width), margin)
    radiance = radiance * np.float32(_exposure_scale(radiance[margin:-margin, margin:-margin], config))
    _add_window(rng, radiance, config, margin)
    _add_lights(rng, radiance, config, margin)
    patch, obj_mask = _moving_object(rng, obj_size, float(np.median(luminance(radiance))) * 2.0)
    shifts, offsets = _motion(rng, config)
    obj_top = margin + int(rng.integers(0, height - obj_size))
    obj_left = margin + int(rng.integers(0, width - obj_size))

    def crop_frame(index: int) -> np.ndarray:
        (dy, dx), (oy, ox) = shifts[index], offsets[index]
        scene = _paste(radiance, patch, obj_mask, obj_top + oy, obj_left + ox)
        return scene[margin + dy:margin + dy + height, margin + dx:margin + dx + width]

    frames = [_expose(rng, crop_frame(i), 2.0**ev, config) for i, ev in enumerate(config.evs)]
    motion_mask = np.zeros((canvas_h, canvas_w), bool)
    for oy, ox in offsets:
        motion_mask[obj_top + oy:obj_top + oy + obj_size, obj_left + ox:obj_left + ox + obj_size] |= obj_mask
    gt = np.ascontiguousarray(crop_frame(config.ref_index), dtype=np.float32)
    return DemoScene(
        gt=gt,
        frames=frames,
        evs=tuple(float(ev) for ev in config.evs),
        shifts=shifts,
        object_offsets=offsets,
        motion_mask=motion_mask[margin:-margin, margin:-margin].copy())


def _write_bytes(path: str, data: bytes) -> None:
    with open(path, 'wb') as f:
        f.write(data)


def write_scene(scene: DemoScene, folder: str) -> None:
    """Write a scene in the Kalantari layout: ``input_1.tif`` ... ``input_N.tif``, ``exposure.txt``, ``HDRImg.hdr``.

    Args:
        scene: A rendered scene (anything with ``frames``, ``evs`` and ``gt`` like :class:`DemoScene`, e.g. a
            synthetic bracket).
        folder: Scene folder (created if needed).
    """
    os.makedirs(folder, exist_ok=True)
    for index, frame in enumerate(scene.frames, start=1):
        ok, encoded = cv2.imencode('.tif', frame)
        if not ok:
            raise ValueError(f'OpenCV failed to encode {osp.join(folder, f"input_{index}.tif")}')
        _write_bytes(osp.join(folder, f'input_{index}.tif'), encoded.tobytes())
    _write_bytes(osp.join(folder, 'exposure.txt'), ''.join(f'{ev:g}\n' for ev in scene.evs).encode('ascii'))
    write_hdr(osp.join(folder, 'HDRImg.hdr'), scene.gt)


def demo_splits(num_test: int = 0) -> Tuple[Tuple[str, str, int], ...]:
    """(folder, scene prefix, seed stream) of each split: :data:`SPLITS` without test scenes, else
    :data:`SPLITS_WITH_TEST` (training, validation and held-out test scenes in three folders)."""
    return SPLITS_WITH_TEST if num_test > 0 else SPLITS


def foreign_entries(out_dir: str, num_test: int = 0) -> List[str]:
    """Entries of the split folders (``<out>/Training``, ``<out>/Test``; also ``<out>/Validation`` with test scenes)
    that are not demo scenes of that split (``demo_train_*`` / ``demo_val_*`` / ``demo_test_*``).

    Generated scenes written beside them would silently become part of that (real) dataset.
    """
    found = []
    for folder, _, _ in demo_splits(num_test):
        split = osp.join(out_dir, folder)
        # demo scenes of either layout are ours (Test/ holds demo_val_* or demo_test_*): --force replaces them
        prefixes = tuple(f'{prefix}_' for name, prefix, _ in SPLITS + SPLITS_WITH_TEST if name == folder)
        if osp.isdir(split):
            found += [
                f'{folder}/{name}' for name in sorted(os.listdir(split))
                if not name.startswith('.') and not name.startswith(prefixes)
            ]
    return found


def _existing_demo_scenes(out_dir: str) -> List[str]:
    """Demo scene folders already under ``out_dir`` (only names this module generates, in either layout)."""
    found = []
    for folder, prefix, _ in sorted(set(SPLITS) | set(SPLITS_WITH_TEST)):
        split_dir = osp.join(out_dir, folder)
        if osp.isdir(split_dir):
            pattern = re.compile(rf'{prefix}_\d+$')
            found += [osp.join(split_dir, name) for name in sorted(os.listdir(split_dir)) if pattern.match(name)]
    return found


def demo_scene_jobs(out_dir: str,
                    num_train: int,
                    num_val: int,
                    seed: int,
                    num_test: int = 0) -> List[Tuple[str, np.random.Generator]]:
    """The (scene folder, generator) pairs that :func:`make_demo_dataset` renders, in order."""
    jobs = []
    for (folder, prefix, stream), count in zip(demo_splits(num_test), (num_train, num_val, num_test)):
        for index in range(count):
            jobs.append((osp.join(out_dir, folder, f'{prefix}_{index:03d}'), scene_rng(seed, stream, index)))
    return jobs


def make_demo_dataset(out_dir: str,
                      num_train: int = 4,
                      num_val: int = 2,
                      config: DemoSceneConfig = DemoSceneConfig(),
                      seed: int = 0,
                      force: bool = False,
                      progress: bool = False,
                      num_test: int = 0) -> Dict[str, object]:
    """Render and write a demo dataset: ``<out_dir>/Training/demo_train_XXX`` and ``<out_dir>/Test/demo_val_XXX``,
    or, with ``num_test > 0``, ``Training/demo_train_XXX``, ``Validation/demo_val_XXX`` and ``Test/demo_test_XXX``.

    Args:
        out_dir: Dataset root.
        num_train: Number of training scenes.
        num_val: Number of validation scenes (written to ``Test/``, or to ``Validation/`` when ``num_test > 0``).
        config: Rendering parameters.
        seed: Base seed; every scene has its own stream derived from (seed, split, index).
        force: Delete existing ``demo_train_*`` / ``demo_val_*`` / ``demo_test_*`` folders first. Without it,
            existing demo scenes raise.
        progress: Show a tqdm progress bar.
        num_test: Number of held-out test scenes (``Test/demo_test_XXX``, their own seed stream); 0 keeps the
            two-folder layout.

    Returns:
        ``{'scenes': [scene folders], 'fraction_above_one': mean fraction of GT pixels > 1,
        'fraction_long_clipped': mean fraction of long-exposure pixels with a saturated channel}``.

    Raises:
        FileExistsError: Demo scenes exist under ``out_dir`` and ``force`` is False.
        ValueError: Negative scene counts.
    """
    if min(num_train, num_val, num_test) < 0:
        raise ValueError(f'Scene counts must be >= 0, got num_train={num_train}, num_val={num_val}, '
                         f'num_test={num_test}')
    existing = _existing_demo_scenes(out_dir)
    if existing and not force:
        raise FileExistsError(f'{len(existing)} demo scenes already exist under {out_dir} (e.g. {existing[0]}); '
                              'use force=True (--force) to regenerate them')
    for folder in existing:
        shutil.rmtree(folder)
    jobs = demo_scene_jobs(out_dir, num_train, num_val, seed, num_test)
    if progress:
        from tqdm import tqdm
        jobs = tqdm(jobs, desc='demo scenes', unit='scene')
    folders, above_one, clipped = [], [], []
    for folder, rng in jobs:
        scene = render_scene(rng, config)
        write_scene(scene, folder)
        folders.append(folder)
        above_one.append(scene.fraction_above_one)
        clipped.append(float(np.mean(scene.frames[-1].max(axis=2) == 65535)))
    return {
        'scenes': folders,
        'fraction_above_one': float(np.mean(above_one)) if above_one else 0.0,
        'fraction_long_clipped': float(np.mean(clipped)) if clipped else 0.0,
    }
