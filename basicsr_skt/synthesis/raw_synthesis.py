"""Synthetic BracketIRE-format RAW scenes from real HDR photographs (or procedural radiance), by inverting the display
pipeline. **Synthetic data**: a test bed for the RAW path on real image content, not a substitute for BracketIRE.

Per photograph (float32 BGR linear radiance, Rec.709 primaries, relative scale):

1. **Camera**: a random white balance and colour matrix (:func:`~basicsr_skt.utils.raw_pipeline.random_camera`);
   the radiance is taken as linear sRGB and mapped to camera RGB, ``ccm^-1 · rgb / wb`` (colours outside the camera
   gamut, i.e. negative camera values, are clipped to 0: those pixels do not round-trip exactly).
2. **Capture** (reused from :mod:`basicsr_skt.synthesis.synthetic_brackets`): size limit, exposure normalisation (the
   ``percentile`` of the reference frame's brightest channel at ``target``), a random homography per non-reference
   frame and a moving region, exposure times ``ratio ** (i - ref)``, Poisson-Gaussian noise and clipping at 1 per
   exposure, all on the full-resolution camera RGB with a linear response (gamma 1).
3. **Sensor**: each frame is sampled on the RGGB mosaic and re-quantised to ``black_level + s * (white_level -
   black_level)`` (uint16, 14-bit by default); the noise being independent per pixel and channel, sampling after
   adding it equals adding it per photosite. The GT is the noise-free reference view, mosaicked, float32, in units of
   the reference frame's white level (black level removed).

Files per scene (``<out>/<stem>/``, the layout of ``BracketIRERawDataset``): ``raw_1.npy`` ... ``raw_N.npy`` (uint16
mosaics, shortest exposure first), ``raw_gt.npy`` (float32 mosaic), ``metadata.npy`` (``np.save`` of a dict: ``wb``,
``ccm``, ``black_level``, ``white_level``, ``exposures`` (``ratio ** i``), ``ref_index``, ``cfa``, ``synthetic``),
``raw_info.json`` (every drawn parameter and clipping statistics) and ``raw_preview.png``. Deterministic given the
seed and the photograph's file name (or the procedural scene index).
"""
import json
import math
import os
import shutil
import zlib
from dataclasses import asdict, dataclass
from os import path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from basicsr_skt.synthesis.demo_scenes import DemoSceneConfig, render_scene, scene_rng
from basicsr_skt.synthesis.synthetic_brackets import BracketConfig, list_hdr_images, simulate_bracket
from basicsr_skt.utils.hdr_io import read_hdr
from basicsr_skt.utils.raw_pipeline import (BRACKETIRE_RATIO, bin_to_rgb, linear_srgb_to_camera, mosaic_rgb, pack_bayer,
                                            random_camera, raw_to_display, srgb_gamma)

SEED_STREAM = 3  # seed stream of RAW brackets (demo scenes use 0 and 1, sRGB synthetic brackets 2)
PROCEDURAL_STREAM = 4  # procedural radiance maps (no input photographs)
INFO_NAME = 'raw_info.json'
PREVIEW_NAME = 'raw_preview.png'


@dataclass(frozen=True)
class RawBracketConfig:
    """RAW capture parameters.

    Attributes:
        num_frames: Frames per scene (reference = ``num_frames // 2``).
        ratio: Exposure ratio between neighbouring frames.
        black_level: Sensor black level (digital numbers).
        white_level: Sensor saturation level (digital numbers, <= 65535).
        percentile: Percentile of the reference exposure's brightest channel used for normalisation.
        target: Linear level (1 = saturation) that this percentile is scaled to.
        shot_noise: Poisson part of the sensor noise (variance per unit of signal).
        read_noise: Gaussian part of the sensor noise (standard deviation, units of the white level).
        max_size: Longest side of the output mosaic; larger photographs are rescaled.
        max_shift: Camera motion: largest corner displacement of a non-reference frame (pixels).
        object_speed: Displacement range of the moving region per frame step (pixels); (0, 0) disables it.
    """
    num_frames: int = 5
    ratio: float = BRACKETIRE_RATIO
    black_level: int = 512
    white_level: int = 16383
    percentile: float = 97.0
    target: float = 0.8
    shot_noise: float = 1e-4
    read_noise: float = 5e-4
    max_size: int = 1000
    max_shift: float = 4.0
    object_speed: Tuple[float, float] = (2.0, 6.0)

    def __post_init__(self):
        if self.num_frames < 1 or not self.ratio > 1:
            raise ValueError(f'Need num_frames >= 1 and ratio > 1, got {self.num_frames}, {self.ratio}')
        if not 0 <= self.black_level < self.white_level <= 65535:
            raise ValueError(f'Need 0 <= black_level < white_level <= 65535, got {self.black_level}, '
                             f'{self.white_level}')
        self.bracket_config()

    @property
    def ref_index(self) -> int:
        return self.num_frames // 2

    def exposures(self) -> List[float]:
        """Exposure time per frame, ``ratio ** i`` (the shortest is 1)."""
        return [float(self.ratio**i) for i in range(self.num_frames)]

    def bracket_config(self) -> BracketConfig:
        """The capture simulation of :mod:`synthetic_brackets` with a linear response and EVs of ``ratio``."""
        step = math.log2(self.ratio)
        return BracketConfig(
            evs=tuple(step * (i - self.ref_index) for i in range(self.num_frames)),
            response='gamma',
            gamma=1.0,
            percentile=self.percentile,
            target=self.target,
            shot_noise=self.shot_noise,
            read_noise=self.read_noise,
            max_size=self.max_size,
            resize='rescale',
            max_shift=self.max_shift,
            object_speed=tuple(self.object_speed))


@dataclass
class RawBracket:
    """One simulated RAW capture.

    Attributes:
        frames: uint16 (H, W) RGGB mosaics, shortest exposure first (black level included).
        gt: float32 (H, W) mosaic of the reference view's linear camera RAW (reference units, black level removed).
        metadata: The ``metadata.npy`` dict.
        info: Everything drawn and measured (``raw_info.json``).
    """
    frames: List[np.ndarray]
    gt: np.ndarray
    metadata: Dict[str, object]
    info: Dict[str, object]


def _even(img: np.ndarray) -> np.ndarray:
    return img[:img.shape[0] // 2 * 2, :img.shape[1] // 2 * 2]


def to_sensor(frame16: np.ndarray, black_level: int, white_level: int) -> np.ndarray:
    """uint16 full-range linear RGB frame (H, W, 3) -> uint16 RGGB mosaic ``round(black + s * (white - black))``."""
    signal = mosaic_rgb(frame16).astype(np.float64) / 65535.0
    return np.round(black_level + signal * (white_level - black_level)).astype(np.uint16)


def simulate_raw_bracket(radiance_bgr: np.ndarray, config: RawBracketConfig, rng: np.random.Generator) -> RawBracket:
    """Simulate a hand-held RAW exposure bracket of a radiance map.

    Args:
        radiance_bgr: float32 (H, W, 3) BGR linear radiance (Rec.709 primaries, any scale).
        config: Capture parameters.
        rng: Source of all randomness (see :func:`raw_bracket_rng`).

    Returns:
        The frames, the GT mosaic, the metadata and the parameters drawn.
    """
    camera = random_camera(rng)
    camera_rgb = linear_srgb_to_camera(np.asarray(radiance_bgr, np.float32)[..., ::-1], camera['wb'], camera['ccm'])
    bracket = simulate_bracket(camera_rgb, config.bracket_config(), rng)
    frames = [to_sensor(_even(frame), config.black_level, config.white_level) for frame in bracket.frames]
    gt = np.ascontiguousarray(mosaic_rgb(_even(bracket.gt)), np.float32)
    metadata = {
        **camera,
        'black_level': float(config.black_level),
        'white_level': float(config.white_level),
        'exposures': config.exposures(),
        'ref_index': config.ref_index,
        'cfa': 'RGGB',
        'synthetic': True,
    }
    saturated = [float(np.mean(frame >= config.white_level)) for frame in frames]
    info = {
        'format': 1,
        'config': asdict(config),
        'camera': camera,
        'mosaic_size': list(gt.shape),
        'scale': bracket.scale,
        'fraction_gt_above_16': float(np.mean(gt > 16.0)),
        'gt_max': float(gt.max()),
        'fraction_saturated': saturated,
        'homographies_frame_to_reference': bracket.info['homographies_frame_to_reference'],
        'object_offsets_yx': bracket.info['object_offsets_yx'],
        'moving_region': bracket.info['moving_region'],
    }
    return RawBracket(frames, gt, metadata, info)


def raw_bracket_rng(seed: int, name: str) -> np.random.Generator:
    """Generator of one scene, from the seed and the photograph's name (adding photographs changes no scene)."""
    return scene_rng(seed, SEED_STREAM, zlib.crc32(name.encode('utf-8')))


def procedural_radiance(seed: int, index: int, height: int = 96, width: int = 144) -> np.ndarray:
    """A procedural radiance map (the demo scenes' renderer: shapes, a bright window, light sources), float32 BGR."""
    return render_scene(scene_rng(seed, PROCEDURAL_STREAM, index), DemoSceneConfig(height=height, width=width)).gt


def preview_image(bracket: RawBracket, width: int = 240) -> np.ndarray:
    """8-bit BGR preview: each frame (sRGB gamma of its normalised RAW), then the μ-law GT (/16), side by side."""
    meta = bracket.metadata
    black, white = float(meta['black_level']), float(meta['white_level'])
    tiles = []
    for frame in bracket.frames:
        x = np.clip((pack_bayer(frame).astype(np.float32) - black) /
                    (white - black), 0, 1) * np.float32(np.asarray(meta['wb'], np.float32))
        rgb = np.clip(np.einsum('...j,ij->...i', bin_to_rgb(x), np.asarray(meta['ccm'], np.float32)), 0, 1)
        tiles.append(srgb_gamma(rgb))
    tiles.append(
        raw_to_display(pack_bayer(bracket.gt) / 16.0, meta['wb'], meta['ccm'], bits=None, full_resolution=False))
    height = max(1, round(tiles[0].shape[0] * width / tiles[0].shape[1]))
    tiles = [
        cv2.resize(np.round(t[..., ::-1] * 255).astype(np.uint8), (width, height), interpolation=cv2.INTER_AREA)
        for t in tiles
    ]
    return np.concatenate(tiles, axis=1)


def write_raw_bracket(bracket: RawBracket, folder: str) -> None:
    """Write one scene in the BracketIRE layout (see the module docstring)."""
    os.makedirs(folder, exist_ok=True)
    for index, frame in enumerate(bracket.frames):
        np.save(osp.join(folder, f'raw_{index + 1}.npy'), frame)
    np.save(osp.join(folder, 'raw_gt.npy'), bracket.gt)
    np.save(osp.join(folder, 'metadata.npy'), np.array(bracket.metadata, dtype=object), allow_pickle=True)
    with open(osp.join(folder, INFO_NAME), 'w', encoding='utf-8') as f:
        json.dump(bracket.info, f, indent=1)
    ok, encoded = cv2.imencode('.png', preview_image(bracket))
    if not ok:
        raise ValueError(f'OpenCV failed to encode {osp.join(folder, PREVIEW_NAME)}')
    with open(osp.join(folder, PREVIEW_NAME), 'wb') as f:
        f.write(encoded.tobytes())


def make_raw_dataset(out_dir: str,
                     input_dir: Optional[str] = None,
                     config: RawBracketConfig = RawBracketConfig(),
                     seed: int = 0,
                     names: Optional[Sequence[str]] = None,
                     procedural: int = 0,
                     procedural_size: Tuple[int, int] = (96, 144),
                     force: bool = False,
                     progress: bool = False) -> Dict[str, object]:
    """One RAW scene per HDR photograph of ``input_dir`` (or ``procedural`` generated radiance maps).

    Args:
        out_dir: Output split folder (one sub-folder per scene).
        input_dir: Folder of ``.hdr`` / ``.exr`` radiance maps; None with ``procedural > 0``.
        config: Capture parameters.
        seed: Base seed.
        names: File stems to use (default: every image).
        procedural: Number of procedural scenes ``raw_synth_000`` ... (instead of photographs).
        procedural_size: (height, width) of the procedural radiance maps (before the motion margin is removed).
        force: Replace existing scene folders of the same names; without it an existing one raises first.
        progress: Show a tqdm progress bar.

    Returns:
        ``{'scenes': [folders], 'fraction_gt_above_16': {scene: fraction}}``.

    Raises:
        FileExistsError: A scene folder exists and ``force`` is False.
        ValueError: No input, unknown names, unreadable or black images.
    """
    if (input_dir is None) == (procedural <= 0):
        raise ValueError('Give exactly one of input_dir (photographs) and procedural > 0 (generated scenes)')
    if input_dir is not None:
        paths = list_hdr_images(input_dir, names)
        jobs = [(osp.splitext(osp.basename(p))[0], p) for p in paths]
    else:
        jobs = [(f'raw_synth_{i:03d}', i) for i in range(procedural)]
    folders = [osp.join(out_dir, name) for name, _ in jobs]
    existing = [folder for folder in folders if osp.exists(folder)]
    if existing and not force:
        raise FileExistsError(f'{len(existing)} scene folder(s) already exist (e.g. {existing[0]}); use force=True '
                              '(--force) to replace them')
    if progress:
        from tqdm import tqdm
        jobs = tqdm(jobs, desc='RAW brackets', unit='scene')
    fractions = {}
    for (name, source), folder in zip(jobs, folders):
        if isinstance(source, str):
            radiance, rng = read_hdr(source), raw_bracket_rng(seed, name)
        else:
            radiance = procedural_radiance(seed, source, *procedural_size)
            rng = scene_rng(seed, SEED_STREAM, source)
        bracket = simulate_raw_bracket(radiance, config, rng)
        bracket.info.update(source=osp.basename(source) if isinstance(source, str) else 'procedural', seed=seed)
        if osp.exists(folder):
            shutil.rmtree(folder)
        write_raw_bracket(bracket, folder)
        fractions[name] = bracket.info['fraction_gt_above_16']
    return {'scenes': folders, 'fraction_gt_above_16': fractions}
