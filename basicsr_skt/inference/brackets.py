"""Reading real exposure brackets for a trained HDR network: frames, exposure times, reference frame.

Used by ``scripts/inference.py``; every step is a plain function so other tools can reuse it.

* **Frames** are read like the training data (:func:`~basicsr_skt.utils.hdr_io.read_ldr`: ``uint8 / 255`` or
  ``uint16 / 65535``, BGR, ``cv2.IMREAD_UNCHANGED``), then turned upright with their EXIF orientation
  (:func:`~basicsr_skt.inference.exif.apply_orientation`). All frames of a bracket must have the same size.
* **Exposure times** come from the command line (seconds such as ``1/100`` or EV stops), from an exposure file
  (Kalantari's ``exposure.txt``: one EV per frame in file-name order, ``t = 2 ** ev``) or from each file's EXIF
  ``ExposureTime`` (:func:`~basicsr_skt.inference.exif.read_exif`; frames whose ``FNumber`` or ``ISOSpeedRatings``
  differ trigger a warning, as the network assumes only the exposure time changes). Frames are sorted from the
  shortest to the longest exposure. Times are made relative (:data:`EV_ORIGINS`): to the shortest frame, as in
  Kalantari'17 (whose ``exposure.txt`` starts at EV 0) and thus as the official checkpoints were trained, or - for
  an exposure file - exactly as written, which is what :class:`~basicsr_skt.data.HDRMultiExposureDataset` does, so
  a scene folder gives the same network input as validation.
* **Network input** per frame: ``concat(L ** gamma / t, L)``
  (:func:`~basicsr_skt.utils.hdr_io.network_input`) with the camera response assumed to be ``L ** gamma``
  (``gamma = 2.2`` as the training data; camera JPEGs are not linear, so this is an assumption).
* **Reference**: the reference frame sits in the middle slot (``N // 2``), where the ORMs expect it.
"""
import fnmatch
import math
import os
import re
import warnings
from dataclasses import dataclass
from fractions import Fraction
from os import path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from basicsr_skt.inference.exif import apply_orientation, exposure_settings_warning, read_exif
from basicsr_skt.utils.hdr_io import exposure_times, read_exposure_values, read_ldr_raw
from basicsr_skt.utils.scan import natural_key
from basicsr_skt.utils.scene_checks import check_exposure_order, check_same_bit_depth, check_same_channels

__all__ = [
    'LDR_SUFFIXES', 'EV_ORIGINS', 'NOT_FRAME_PATTERNS', 'Bracket', 'parse_exposure_time', 'is_exposure_time',
    'is_number', 'parse_response', 'list_frames', 'is_not_frame', 'read_bracket'
]

#: File suffixes (case-insensitive) taken as LDR frames when a folder is given.
LDR_SUFFIXES = ('.tif', '.tiff', '.png', '.jpg', '.jpeg')
#: How exposure times are made relative. ``auto``: an exposure file as written (``t = 2 ** ev``, like the dataset),
#: seconds (EXIF, ``--exposures``) and command-line EVs relative to the shortest frame (Kalantari'17).
EV_ORIGINS = ('auto', 'shortest', 'reference', 'as-given')


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


def is_exposure_time(text: str) -> bool:
    """Whether ``text`` parses as an exposure time (:func:`parse_exposure_time`)."""
    try:
        parse_exposure_time(text)
    except ValueError:
        return False
    return True


def is_number(text: str) -> bool:
    """Whether ``text`` parses as a float (an EV stop)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


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
#: (``skb_preview.png``, ``bracket_preview.png``, ``raw_preview.png``) and the outputs of ``scripts/inference.py``.
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
