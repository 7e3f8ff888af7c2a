"""Running a trained HDR network on real exposure brackets: frames, exposure times, network input, display images.

Used by ``scripts/inference.py``; every step is a plain function so other tools can reuse it.

* **Frames** are read like the training data (:func:`~basicsr_skt.utils.hdr_io.read_ldr`: ``uint8 / 255`` or
  ``uint16 / 65535``, BGR, ``cv2.IMREAD_UNCHANGED``), then turned upright with their EXIF orientation through
  Pillow's ``ImageOps.exif_transpose`` (OpenCV does not do that with ``IMREAD_UNCHANGED``). All frames of a bracket
  must have the same size.
* **Exposure times** come from the command line (seconds such as ``1/100`` or EV stops), from an exposure file
  (Kalantari's ``exposure.txt``: one EV per frame in file-name order, ``t = 2 ** ev``) or from each file's EXIF
  ``ExposureTime`` (read with Pillow's EXIF API from JPEG, TIFF, PNG or WebP; frames whose ``FNumber`` or
  ``ISOSpeedRatings`` differ trigger a warning, as the network assumes only the exposure time changes). Frames are
  sorted from the
  shortest to the longest exposure. Times are made relative (:data:`EV_ORIGINS`): to the shortest frame, as in
  Kalantari'17 (whose ``exposure.txt`` starts at EV 0) and thus as the official checkpoints were trained, or - for
  an exposure file - exactly as written, which is what :class:`~basicsr_skt.data.HDRMultiExposureDataset` does, so
  a scene folder gives the same network input as validation.
* **Network input** per frame: ``concat(L ** gamma / t, L)`` (6 channels, BGR) with the camera response assumed to be
  ``L ** gamma`` (``gamma = 2.2`` as the training data; camera JPEGs are not linear, so this is an assumption).
* **Inference**: the reference frame sits in the middle slot (``N // 2``); whole image reflect-padded to a multiple
  (:func:`~basicsr_skt.utils.padding.pad_to_multiple`) or overlapped tiles
  (:func:`~basicsr_skt.utils.tiling.tiled_forward`).
* **Display**: μ-law of the prediction clipped to [0, 1] (as the papers' figures), Reinhard'02's global operator
  keyed by the log-average luminance, and a labelled strip of the input frames and the results.
"""
import fnmatch
import inspect
import math
import os
import re
import struct
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from os import path as osp
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps
from torch import nn

from basicsr_skt.utils.checkpoint import check_state_dict_fits
from basicsr_skt.utils.figures import GAP, hstack_with_gaps, label_band, to_uint8
from basicsr_skt.utils.hdr_io import exposure_times, ldr_to_linear, read_exposure_values, read_ldr_raw
from basicsr_skt.utils.input_checks import check_exposure_order, check_same_bit_depth, check_same_channels
from basicsr_skt.utils.padding import crop_to, pad_to_multiple
from basicsr_skt.utils.scan import natural_key
from basicsr_skt.utils.tiling import tiled_forward
from basicsr_skt.utils.tonemap import DEFAULT_MU, luminance, mu_law

__all__ = [
    'LDR_SUFFIXES', 'EV_ORIGINS', 'Bracket', 'read_exif', 'exposure_settings_warning', 'parse_exposure_time',
    'parse_response', 'apply_orientation', 'list_frames', 'read_bracket', 'network_input', 'expected_frames', 'predict',
    'load_network_weights', 'luminance', 'log_average_luminance', 'mu_law_display', 'reinhard', 'comparison_strip',
    'write_png'
]

#: File suffixes (case-insensitive) taken as LDR frames when a folder is given.
LDR_SUFFIXES = ('.tif', '.tiff', '.png', '.jpg', '.jpeg')
#: How exposure times are made relative. ``auto``: an exposure file as written (``t = 2 ** ev``, like the dataset),
#: seconds (EXIF, ``--exposures``) and command-line EVs relative to the shortest frame (Kalantari'17).
EV_ORIGINS = ('auto', 'shortest', 'reference', 'as-given')
#: EXIF tags :func:`read_exif` returns (Pillow's names), looked up in IFD0 and then in the Exif IFD.
EXIF_TAGS = ('ExposureTime', 'Orientation', 'FNumber', 'ISOSpeedRatings')
#: Tags that should be equal in every frame of a bracket (only the exposure time is meant to change).
_CONSTANT_TAGS = ('FNumber', 'ISOSpeedRatings')


# ----------------------------------------------------------------------------------------------------------------
# EXIF
# ----------------------------------------------------------------------------------------------------------------
def _exif_value(name: str, value: object) -> Optional[object]:
    """A Pillow EXIF value as :func:`read_exif` returns it: rationals -> Fraction, Orientation / ISO -> int."""
    if isinstance(value, tuple):  # ISOSpeedRatings may hold several values; the first is the speed
        value = value[0] if value else None
    if value is None:
        return None
    try:
        if name in ('ExposureTime', 'FNumber'):
            numerator, denominator = getattr(value, 'numerator', None), getattr(value, 'denominator', None)
            if numerator is None or not denominator:
                return None
            return Fraction(int(numerator), int(denominator))
        return int(value)
    except (TypeError, ValueError):  # a malformed value (e.g. bytes): treated as absent
        return None


def read_exif(path: str) -> Dict[str, object]:
    """Read the few EXIF tags inference needs with Pillow (JPEG, TIFF, PNG ``eXIf``, WebP).

    Args:
        path: Image file.

    Returns:
        ``{name: value}`` for the tags of :data:`EXIF_TAGS` that are present: ``ExposureTime`` and ``FNumber`` as
        :class:`fractions.Fraction` (seconds, f-stops), ``Orientation`` (1-8) and ``ISOSpeedRatings`` as int.
        Empty when the file has no EXIF data, or data (or a format) Pillow cannot parse.

    Raises:
        ValueError: The file cannot be opened.
    """
    if not osp.isfile(path):
        raise ValueError(f'Cannot read image file {path}: no such file')
    try:
        with Image.open(path) as img:
            exif = img.getexif()
            tags = {**dict(exif.get_ifd(ExifTags.IFD.Exif)), **dict(exif)}  # IFD0 first, as EXIF_TAGS says
    except (OSError, SyntaxError, ValueError, TypeError, struct.error, ZeroDivisionError):
        return {}  # unknown format or corrupt EXIF: treat as absent (the caller then asks for exposure times)
    values = {}
    for name in EXIF_TAGS:
        value = _exif_value(name, tags.get(getattr(ExifTags.Base, name)))
        if value is not None:
            values[name] = value
    return values


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an image as stored into its upright view, given its EXIF ``Orientation``, with Pillow's transpose helper.

    ``ImageOps.exif_transpose`` is applied to an image of pixel indices carrying ``orientation``; the frame (any
    dtype and channel count, which Pillow images cannot all hold) is then gathered through those indices.

    Args:
        img: ``H x W`` or ``H x W x C`` array as decoded (OpenCV ignores EXIF orientation with ``IMREAD_UNCHANGED``).
        orientation: EXIF value 1-8 (1: upright; 3: rotated 180; 6: rotate 90 clockwise to view; 8: 90
            counter-clockwise; 2, 4, 5, 7: the mirrored variants). Other values leave the image unchanged.

    Returns:
        A contiguous upright copy (``W x H (x C)`` for orientations 5-8), or ``img`` itself for orientation 1 or an
        unknown value.
    """
    orientation = int(orientation)
    if not 2 <= orientation <= 8:
        return img
    height, width = img.shape[:2]
    index = Image.fromarray(np.arange(height * width, dtype=np.int32).reshape(height, width))
    index.getexif()[ExifTags.Base.Orientation] = orientation
    upright = np.asarray(ImageOps.exif_transpose(index))
    return np.ascontiguousarray(img.reshape(height * width, *img.shape[2:])[upright])


def exposure_settings_warning(paths: Sequence[str], exifs: Sequence[Dict[str, object]]) -> Optional[str]:
    """A warning text when frames of one bracket have different ``FNumber`` or ``ISOSpeedRatings``, else None.

    Args:
        paths: Frame files.
        exifs: :func:`read_exif` of each frame (tags missing in a frame are not compared).

    Returns:
        E.g. ``'FNumber differs between frames (a.jpg: 4, b.jpg: 5.6); ...'``, or None when they agree.
    """
    problems = []
    for name in _CONSTANT_TAGS:
        found = {osp.basename(p): exif[name] for p, exif in zip(paths, exifs) if name in exif}
        if len(set(found.values())) > 1:
            listed = ', '.join(f'{file}: {float(value):g}' for file, value in found.items())
            problems.append(f'{name} differs between frames ({listed})')
    if not problems:
        return None
    return ('; '.join(problems) + ': the network assumes frames that differ only in exposure time, so brightness '
            'ratios (and depth of field / noise) may not match the exposure times')


# ----------------------------------------------------------------------------------------------------------------
# Command-line values
# ----------------------------------------------------------------------------------------------------------------
def parse_exposure_time(text: str) -> float:
    """Parse an exposure time in seconds: ``'1/100'``, ``'0.01'``, ``'2'``, ``'1/6s'``.

    Args:
        text: A positive decimal number or fraction, optionally followed by ``s``.

    Returns:
        The time in seconds (> 0).

    Raises:
        ValueError: Not a positive finite number or fraction.
    """
    cleaned = str(text).strip().lower().rstrip('s').strip()
    try:
        value = float(Fraction(cleaned))
    except (ValueError, ZeroDivisionError):
        value = float('nan')
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f'Exposure time {text!r} is not a positive number of seconds such as 1/100 or 0.01 (use --ev '
                         'for EV stops)')
    return value


def parse_response(name: str) -> float:
    """Camera response name -> exponent ``gamma`` of the assumed response ``L ** gamma``.

    Args:
        name: ``'gamma2.2'`` (the training data's assumption; any ``gamma<number>``) or ``'linear'`` (``gamma = 1``,
            for frames that are already linear, e.g. developed from RAW without a tone curve).

    Returns:
        ``gamma`` (> 0).

    Raises:
        ValueError: Unknown name.
    """
    if name == 'linear':
        return 1.0
    match = re.fullmatch(r'gamma(\d+(?:\.\d*)?|\.\d+)', name)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"Unknown camera response {name!r}; expected 'linear' or 'gamma<exponent>' such as gamma2.2")
    return float(match.group(1))


# ----------------------------------------------------------------------------------------------------------------
# Brackets
# ----------------------------------------------------------------------------------------------------------------
def list_frames(folder: str) -> List[str]:
    """LDR frame files (:data:`LDR_SUFFIXES`; hidden files and :data:`NOT_FRAME_PATTERNS` skipped) directly inside
    ``folder``, in natural name order.

    Natural order (``input_2`` before ``input_10``) is the order of Kalantari's ``exposure.txt`` lines.
    """
    names = [
        name for name in os.listdir(folder) if not name.startswith('.') and not is_not_frame(name)
        and osp.splitext(name)[1].lower() in LDR_SUFFIXES and osp.isfile(osp.join(folder, name))
    ]
    return [osp.join(folder, name) for name in sorted(names, key=lambda name: natural_key(name, ignore_case=True))]


#: Image files our tools write into scene folders that are never frames: semantic-prior and bracket previews
#: (``skb_preview.png``, ``bracket_preview.png``, ``raw_preview.png``) and this module's own outputs.
NOT_FRAME_PATTERNS = ('skb_*', '*_preview.*', '*_mulaw.png', '*_reinhard.png', '*_compare.png')


def is_not_frame(name: str) -> bool:
    """Whether a file name matches :data:`NOT_FRAME_PATTERNS` (case-insensitive), so :func:`list_frames` skips it."""
    return any(fnmatch.fnmatch(name.lower(), pattern) for pattern in NOT_FRAME_PATTERNS)


@dataclass
class Bracket:
    """One scene's frames ready for a network, in **network order**: shortest to longest exposure, except that the
    reference frame is moved to the middle slot ``N // 2`` when another one than the middle is chosen.

    Attributes:
        name: Scene name (used for output file names).
        paths: Frame files, network order.
        frames: float32 ``H x W x 3`` BGR frames in [0, 1], upright, network order.
        times: float64 ``(N,)`` relative exposure times used for ``L ** gamma / t``, network order.
        seconds: Absolute exposure times in seconds where known (EXIF, ``--exposures``), else None.
        ref_index: Index of the reference frame in network order (always ``N // 2``).
        exposure_source: Where the times came from: ``'exif'``, ``'exposures'``, ``'ev'`` or the exposure file path.
        ev_origin: The origin actually used: ``'shortest'``, ``'reference'`` or ``'as-given'``.
        original_size: ``(H, W)`` of the frames before any downscaling.
    """
    name: str
    paths: List[str]
    frames: List[np.ndarray]
    times: np.ndarray
    seconds: Optional[List[float]]
    ref_index: int
    exposure_source: str
    ev_origin: str
    original_size: Tuple[int, int]

    @property
    def evs(self) -> List[float]:
        """``log2(times)``: EV of each frame (network order) relative to the chosen origin."""
        return [float(np.log2(t)) for t in self.times]


def _exposures_from_exif(paths: Sequence[str], exifs: Sequence[Dict[str, object]]) -> List[float]:
    missing = [osp.basename(p) for p, exif in zip(paths, exifs) if not exif.get('ExposureTime')]
    if missing:
        raise ValueError(f'Missing exposure information: no EXIF ExposureTime in {missing}. Give the times with '
                         '--exposures (seconds, e.g. --exposures 1/100 1/25 1/6, one per frame in the order given / '
                         'in file-name order) or --ev (EV stops, e.g. --ev -2 0 2), or put an exposure.txt (one EV per '
                         'line, file-name order) beside the frames')
    return [float(exif['ExposureTime']) for exif in exifs]


def _resolve_exposures(paths: Sequence[str], exifs: Sequence[Dict[str, object]], seconds: Optional[Sequence[float]],
                       evs: Optional[Sequence[float]],
                       exposure_file: Optional[str]) -> Tuple[np.ndarray, Optional[List[float]], str, str]:
    """(times in file order, seconds or None, source, origin for 'auto') from the first source available."""
    if seconds is not None and evs is not None:
        raise ValueError('Give exposure times either in seconds (--exposures) or as EV stops (--ev), not both')
    given = [('exposures', seconds), ('ev', evs)]
    for source, values in given:
        if values is not None and len(values) != len(paths):
            raise ValueError(f'--{source} has {len(values)} values but there are {len(paths)} frames '
                             f'({[osp.basename(p) for p in paths]}); give one per frame')
    if seconds is not None:
        return np.asarray(seconds, np.float64), [float(s) for s in seconds], 'exposures', 'shortest'
    if evs is not None:
        return np.power(2.0, np.asarray(evs, np.float64)), None, 'ev', 'shortest'
    if exposure_file is not None:
        values = read_exposure_values(exposure_file)
        if len(values) != len(paths):
            raise ValueError(f'Exposure file {exposure_file} has {len(values)} values but there are {len(paths)} '
                             f'frames ({[osp.basename(p) for p in paths]}); it needs one EV per frame in file-name '
                             'order')
        # float32 like hdr_io.exposure_times, so a scene folder gives exactly the dataset's network input
        times = exposure_times(values).astype(np.float64)
        return times, None, exposure_file, 'as-given'
    exif_seconds = _exposures_from_exif(paths, exifs)
    return np.asarray(exif_seconds, np.float64), exif_seconds, 'exif', 'shortest'


def _network_order(num_frames: int, reference: Optional[int]) -> List[int]:
    """Sorted-frame indices in network order: the reference moved to the middle slot ``N // 2``."""
    ref = num_frames // 2 if reference is None else reference
    if not -num_frames <= ref < num_frames:
        raise ValueError(f'--reference {reference} is out of range for {num_frames} frames (0 = shortest exposure, '
                         f'{num_frames - 1} = longest)')
    ref %= num_frames
    others = [i for i in range(num_frames) if i != ref]
    return others[:num_frames // 2] + [ref] + others[num_frames // 2:]


def _read_frame(path: str, orientation: object,
                max_side: Optional[int]) -> Tuple[np.ndarray, Tuple[int, int], np.dtype]:
    """Upright float32 BGR frame, downscaled to ``max_side``, its upright (H, W) before downscaling, and its stored
    dtype (for the scene's bit-depth check)."""
    raw, white_level = read_ldr_raw(path)
    frame = raw.astype(np.float32) / np.float32(white_level)  # exactly read_ldr
    if isinstance(orientation, int):
        frame = apply_orientation(frame, orientation)
    original = (frame.shape[0], frame.shape[1])
    if max_side and max(original) > max_side:
        scale = max_side / max(original)
        size = (max(1, round(original[1] * scale)), max(1, round(original[0] * scale)))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return frame, original, raw.dtype


def read_bracket(paths: Sequence[str],
                 name: str,
                 seconds: Optional[Sequence[float]] = None,
                 evs: Optional[Sequence[float]] = None,
                 exposure_file: Optional[str] = None,
                 ev_origin: str = 'auto',
                 reference: Optional[int] = None,
                 max_side: Optional[int] = None) -> Bracket:
    """Read a bracket and its exposure times, sorted and normalised for a network.

    Exposure sources, first available wins: ``seconds``, ``evs``, ``exposure_file``, the files' EXIF
    ``ExposureTime``. Values given explicitly or in the exposure file follow the order of ``paths``.

    Args:
        paths: ``N >= 2`` frame files (8/16-bit TIFF, PNG, JPEG), any order.
        name: Scene name.
        seconds: Exposure time per frame in seconds.
        evs: EV stop per frame (``t = 2 ** ev``).
        exposure_file: Kalantari-style file with one EV per frame, in the order of ``paths``.
        ev_origin: One of :data:`EV_ORIGINS`: ``shortest`` (``t / t_min``, Kalantari), ``reference``
            (``t / t_ref``), ``as-given`` (``t`` as given: seconds, or ``2 ** ev``) or ``auto`` (an exposure file as
            written, like the training dataset; everything else relative to the shortest).
        reference: Index of the reference frame in exposure order (0 = shortest; negative counts from the longest);
            default the middle one, ``N // 2``.
        max_side: Downscale frames (area interpolation) so that their longer side is at most this many pixels.

    Returns:
        The :class:`Bracket`.

    Raises:
        ValueError: Fewer than 2 frames, an unreadable file, missing or invalid exposure information, a bad
            ``reference`` or ``ev_origin``, or frames of different sizes. Messages name the files.
    """
    paths = [str(p) for p in paths]
    if len(paths) < 2:
        raise ValueError(f'Scene {name!r}: a bracket needs at least 2 frames of different exposures, got {len(paths)}: '
                         f'{paths}')
    if ev_origin not in EV_ORIGINS:
        raise ValueError(f'ev_origin must be one of {EV_ORIGINS}, got {ev_origin!r}')
    for path in paths:
        if not osp.isfile(path):
            raise ValueError(f'Scene {name!r}: frame {path} does not exist')
    exifs = [read_exif(path) for path in paths]
    settings_warning = exposure_settings_warning(paths, exifs)
    if settings_warning:
        warnings.warn(f'Scene {name!r}: {settings_warning}', stacklevel=2)
    times, abs_seconds, source, auto_origin = _resolve_exposures(paths, exifs, seconds, evs, exposure_file)
    if not np.all(np.isfinite(times) & (times > 0)):
        raise ValueError(f'Scene {name!r}: exposure times must be positive and finite, got {times.tolist()}')
    by_time = sorted(range(len(paths)), key=lambda i: times[i])  # stable: equal times keep the given order
    check_exposure_order(name, times[by_time], [osp.basename(paths[i]) for i in by_time], f'exposures ({source})')
    if source == exposure_file and any(b <= a for a, b in zip(times[:-1], times[1:])):
        warnings.warn(f'Scene {name!r}: exposure file {exposure_file} does not increase in file-name order '
                      f'({[osp.basename(p) for p in paths]}: {times.tolist()}); assumed it lists one value per frame '
                      'in that order and sorted the frames by exposure time: check that each value belongs to its '
                      'frame')
    order = [by_time[i] for i in _network_order(len(paths), reference)]
    ref_file_index = order[len(order) // 2]
    origin = auto_origin if ev_origin == 'auto' else ev_origin
    divisor = {'shortest': times.min(), 'reference': times[ref_file_index], 'as-given': 1.0}[origin]
    read = [_read_frame(paths[i], exifs[i].get('Orientation'), max_side) for i in order]
    frames = [frame for frame, _, _ in read]
    names = [osp.basename(paths[i]) for i in order]
    check_same_bit_depth(name, names, [stored for _, _, stored in read])
    check_same_channels(name, names, frames)
    for i, (frame, size, _) in zip(order, read):
        if size != read[0][1]:
            raise ValueError(f'Scene {name!r}: frame {osp.basename(paths[i])} is {size[1]} x {size[0]} but '
                             f'{osp.basename(paths[order[0]])} is {read[0][1][1]} x {read[0][1][0]}; all frames must '
                             'have the same size (and orientation)')
    return Bracket(
        name=name,
        paths=[paths[i] for i in order],
        frames=frames,
        times=times[order] / divisor,
        seconds=None if abs_seconds is None else [abs_seconds[i] for i in order],
        ref_index=len(order) // 2,
        exposure_source=source,
        ev_origin=origin,
        original_size=read[0][1])


def network_input(frames: Sequence[np.ndarray], times: Sequence[float], gamma: float = 2.2) -> torch.Tensor:
    """Stack frames into the ORM input ``concat(L ** gamma / t, L)`` per frame, as the training dataset does.

    Args:
        frames: ``N`` float32 ``H x W x 3`` BGR frames ``L`` in [0, 1].
        times: ``N`` relative exposure times ``t`` (> 0).
        gamma: Exponent of the assumed camera response (2.2 as in Kalantari'17; 1 for linear frames).

    Returns:
        float32 tensor ``(N, 6, H, W)``: channels 0-2 ``L ** gamma / t`` (linear radiance estimate, >= 0), channels
        3-5 ``L`` in [0, 1]; BGR.
    """
    stacked = []
    for frame, t in zip(frames, times):
        ldr = np.asarray(frame, dtype=np.float32)
        linear = ldr_to_linear(ldr, np.float32(t), gamma)
        stacked.append(np.concatenate([linear, ldr], axis=2).transpose(2, 0, 1))
    return torch.from_numpy(np.ascontiguousarray(np.stack(stacked)))


# ----------------------------------------------------------------------------------------------------------------
# Networks
# ----------------------------------------------------------------------------------------------------------------
def expected_frames(net: nn.Module) -> Optional[int]:
    """Number of frame tensors ``net.forward`` takes (positional parameters), or None when it takes ``*args``."""
    params = list(inspect.signature(net.forward).parameters.values())
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return None
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty)


def load_network_weights(net: nn.Module, state: Mapping[str, torch.Tensor], source: str = 'checkpoint') -> None:
    """Load ``state`` into ``net`` strictly, with an error naming the first key that does not fit.

    Args:
        net: The network built from the registry.
        state: Bare state dict (see :func:`~basicsr_skt.utils.checkpoint.unwrap_state_dict`).
        source: Checkpoint name for messages.

    Raises:
        ValueError: The message of :func:`~basicsr_skt.utils.checkpoint.check_state_dict_fits` (first missing,
            unexpected or mis-shaped key and the counts), with a hint about the architecture options.
    """
    try:
        check_state_dict_fits(net, state, strict=True, what=source)
    except RuntimeError as err:
        raise ValueError(f'{err}. With scripts/inference.py: check --arch and --arch-opt (or --config)') from err
    net.load_state_dict(OrderedDict(state), strict=True)


@torch.no_grad()
def predict(net: Callable[..., torch.Tensor],
            lq: torch.Tensor,
            device: torch.device,
            pad_multiple: int = 8,
            tile: Optional[int] = None,
            tile_overlap: int = 32) -> torch.Tensor:
    """Run an ORM on one bracket, whole image (reflect-padded) or in overlapped tiles.

    Args:
        net: Network taking one ``(B, 6, h, w)`` tensor per frame (reference in the middle), in eval mode, on
            ``device``.
        lq: ``(N, 6, H, W)`` input of :func:`network_input` (any device).
        device: Where to run.
        pad_multiple: Pad H and W to multiples of this (8: HDR-Transformer's window) and crop the output back.
        tile: Tile side in pixels for :func:`~basicsr_skt.utils.tiling.tiled_forward`; None: whole image.
        tile_overlap: Minimum overlap of neighbouring tiles (< ``tile``).

    Returns:
        float32 ``(3, H, W)`` linear HDR prediction, BGR, on the CPU (a sigmoid-ended ORM gives [0, 1]).

    Raises:
        ValueError: Bad tiling arguments or a network output of the wrong shape.
    """
    frames = lq[None].to(device)
    height, width = frames.shape[-2:]

    def run(x: torch.Tensor) -> torch.Tensor:
        return net(*x.unbind(1))

    if tile:
        output = tiled_forward(run, frames, tile, tile_overlap, pad_multiple=pad_multiple)
    else:
        padded = pad_to_multiple(frames, pad_multiple)[0] if pad_multiple > 1 else frames
        output = run(padded)
        expected = (1, 3) + tuple(padded.shape[-2:])
        if not isinstance(output, torch.Tensor) or tuple(output.shape) != expected:
            got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise ValueError(f'The network returned {got}; expected a (B, 3, H, W) image {expected}')
        output = crop_to(output, height, width)
    return output[0].float().cpu()


# ----------------------------------------------------------------------------------------------------------------
# Display
# ----------------------------------------------------------------------------------------------------------------
def log_average_luminance(img: np.ndarray, eps: float = 1e-6) -> float:
    """Reinhard'02's key statistic ``exp(mean(log(eps + Y)))`` of a linear BGR image (negatives count as 0)."""
    lum = np.maximum(luminance(img), 0.0).astype(np.float64)
    return float(np.exp(np.mean(np.log(eps + lum))))


def mu_law_display(hdr: np.ndarray, mu: float = DEFAULT_MU) -> np.ndarray:
    """μ-law tone mapping as in the HDR papers' figures: ``T(clip(H, 0, 1))``.

    Args:
        hdr: Linear ``H x W x 3`` image (a network's output lies in [0, 1]).
        mu: μ (5000).

    Returns:
        float32 ``H x W x 3`` display image in [0, 1] (same channel order).
    """
    return mu_law(np.clip(np.asarray(hdr, dtype=np.float32), 0.0, 1.0), mu).astype(np.float32)


def reinhard(hdr: np.ndarray, key: float = 0.18, white: Optional[float] = None, gamma: float = 2.2) -> np.ndarray:
    """Reinhard et al. 2002 global operator with the exposure set from image statistics, then display-encoded.

    ``Ls = key / Lavg * Y`` (``Lavg``: :func:`log_average_luminance`), ``Ld = Ls (1 + Ls / white²) / (1 + Ls)``,
    colours scaled by ``Ld / Y``, clipped to [0, 1] and raised to ``1 / gamma``.

    Args:
        hdr: Linear ``H x W x 3`` BGR image (any positive scale: the result does not depend on it).
        key: Target middle grey (0.18: the "normal" key of the paper).
        white: Smallest scaled luminance mapped to white; default the image's largest ``Ls`` (eq. 4 with
            ``L_white = max Ls``).
        gamma: Display encoding exponent (2.2).

    Returns:
        float32 ``H x W x 3`` BGR display image in [0, 1].
    """
    img = np.maximum(np.asarray(hdr, dtype=np.float32), 0.0)
    lum = luminance(img)
    scaled = (key / log_average_luminance(img)) * lum
    white = float(scaled.max()) if white is None else float(white)
    white = max(white, 1e-6)
    display_lum = scaled * (1.0 + scaled / white**2) / (1.0 + scaled)
    ratio = np.where(lum > 0, display_lum / np.maximum(lum, 1e-12), 0.0).astype(np.float32)
    out = np.clip(img * ratio[..., None], 0.0, 1.0)
    return np.power(out, 1.0 / gamma).astype(np.float32)


def comparison_strip(tiles: Sequence[Tuple[str, np.ndarray]], height: Optional[int] = 360) -> np.ndarray:
    """A labelled row of images (input frames, results) separated by white ``GAP`` columns.

    Args:
        tiles: ``(label, image)`` pairs; images float ``H x W x 3`` BGR in [0, 1], all of the same size.
        height: Tile height in pixels (tiles resized with area interpolation, aspect ratio kept); None: as is.

    Returns:
        uint8 BGR image of height ``h + LABEL_HEIGHT`` and width ``n * w + (n - 1) * GAP``, where ``h x w`` is the
        (resized) tile size.
    """
    images = [to_uint8(img) for _, img in tiles]
    if height and images[0].shape[0] != height:
        width = max(1, round(images[0].shape[1] * height / images[0].shape[0]))
        images = [cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA) for img in images]
    labelled = [np.concatenate([label_band(img.shape[1], label), img]) for (label, _), img in zip(tiles, images)]
    return hstack_with_gaps(labelled, GAP)


def write_png(path: str, img: np.ndarray) -> None:
    """Write a uint8 BGR image as PNG (any path, parent folders created). ``ValueError`` if encoding fails."""
    parent = osp.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    ok, encoded = cv2.imencode('.png', img)
    if not ok:
        raise ValueError(f'OpenCV failed to encode {path}')
    with open(path, 'wb') as f:
        f.write(encoded.tobytes())
