"""Running a trained HDR network on real exposure brackets: frames, exposure times, network input, display images.

Used by ``scripts/inference.py``; every step is a plain function so other tools can reuse it.

* **Frames** are read like the training data (:func:`~basicsr_skt.utils.hdr_io.read_ldr`: ``uint8 / 255`` or
  ``uint16 / 65535``, BGR, ``cv2.IMREAD_UNCHANGED``), then turned upright with their EXIF orientation (OpenCV does
  not do that with ``IMREAD_UNCHANGED``). All frames of a bracket must have the same size.
* **Exposure times** come from the command line (seconds such as ``1/100`` or EV stops), from an exposure file
  (Kalantari's ``exposure.txt``: one EV per frame in file-name order, ``t = 2 ** ev``) or from each file's EXIF
  ``ExposureTime`` (JPEG APP1, TIFF IFDs, PNG ``eXIf``; parsed here, no extra dependency). Frames are sorted from the
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
import inspect
import math
import os
import re
import struct
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from os import path as osp
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torch import nn

from basicsr_skt.utils.checkpoint import check_state_dict_fits
from basicsr_skt.utils.figures import GAP, hstack_with_gaps, label_band, to_uint8
from basicsr_skt.utils.hdr_io import exposure_times, ldr_to_linear, read_exposure_values, read_ldr
from basicsr_skt.utils.padding import crop_to, pad_to_multiple
from basicsr_skt.utils.tiling import tiled_forward
from basicsr_skt.utils.tonemap import DEFAULT_MU, mu_law

__all__ = [
    'LDR_SUFFIXES', 'EV_ORIGINS', 'Bracket', 'read_exif', 'parse_exposure_time', 'parse_response', 'apply_orientation',
    'list_frames', 'read_bracket', 'network_input', 'expected_frames', 'predict', 'load_network_weights', 'luminance',
    'log_average_luminance', 'mu_law_display', 'reinhard', 'comparison_strip', 'write_png'
]

#: File suffixes (case-insensitive) taken as LDR frames when a folder is given.
LDR_SUFFIXES = ('.tif', '.tiff', '.png', '.jpg', '.jpeg')
#: How exposure times are made relative. ``auto``: an exposure file as written (``t = 2 ** ev``, like the dataset),
#: seconds (EXIF, ``--exposures``) and command-line EVs relative to the shortest frame (Kalantari'17).
EV_ORIGINS = ('auto', 'shortest', 'reference', 'as-given')
#: EXIF tags read by :func:`read_exif` (tag number -> name).
EXIF_TAGS = {0x829A: 'ExposureTime', 0x0112: 'Orientation', 0x829D: 'FNumber', 0x8827: 'ISOSpeedRatings'}
_EXIF_IFD_POINTER = 0x8769
#: Bytes per value of each TIFF field type (BYTE, ASCII, SHORT, LONG, RATIONAL, SBYTE, UNDEFINED, SSHORT, SLONG,
#: SRATIONAL, FLOAT, DOUBLE, IFD).
_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_JPEG_SOS, _JPEG_EOI, _JPEG_APP1 = 0xDA, 0xD9, 0xE1
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
#: Rec. 709 luminance weights in BGR order.
_LUMA_BGR = np.array([0.0722, 0.7152, 0.2126], dtype=np.float32)


# ----------------------------------------------------------------------------------------------------------------
# EXIF
# ----------------------------------------------------------------------------------------------------------------
def _tiff_value(block: bytes, order: str, field_type: int, count: int, raw: bytes) -> Optional[object]:
    """Decode a TIFF field's first value (numbers only); None for types we do not need."""
    size = _TIFF_TYPE_SIZES.get(field_type)
    if size is None or count < 1:
        return None
    if size * count <= 4:
        data = raw
    else:
        offset = struct.unpack(order + 'I', raw)[0]
        data = block[offset:offset + size]
        if len(data) < size:
            raise ValueError('EXIF value outside the block')
    if field_type in (5, 10):  # (S)RATIONAL
        num, den = struct.unpack(order + ('II' if field_type == 5 else 'ii'), data[:8])
        return Fraction(num, den) if den else None
    formats = {1: 'B', 3: 'H', 4: 'I', 6: 'b', 7: 'B', 8: 'h', 9: 'i', 11: 'f', 12: 'd', 13: 'I'}
    return struct.unpack(order + formats[field_type], data[:size])[0] if field_type in formats else None


def _read_ifd(block: bytes, order: str, offset: int, tags: Dict[str, object]) -> Optional[int]:
    """Collect :data:`EXIF_TAGS` of the IFD at ``offset`` into ``tags``; return the Exif sub-IFD offset if any."""
    count = struct.unpack(order + 'H', block[offset:offset + 2])[0]
    exif_ifd = None
    for index in range(count):
        start = offset + 2 + 12 * index
        tag, field_type, num = struct.unpack(order + 'HHI', block[start:start + 8])
        raw = block[start + 8:start + 12]
        if len(raw) < 4:
            raise ValueError('truncated IFD')
        if tag == _EXIF_IFD_POINTER:
            exif_ifd = struct.unpack(order + 'I', raw)[0]
        elif tag in EXIF_TAGS and EXIF_TAGS[tag] not in tags:
            value = _tiff_value(block, order, field_type, num, raw)
            if value is not None:
                tags[EXIF_TAGS[tag]] = value
    return exif_ifd


def _parse_tiff_block(block: bytes) -> Dict[str, object]:
    """Tags of a TIFF structure (a TIFF file, or the payload of a JPEG ``Exif`` segment): IFD0 and its Exif IFD."""
    if block[:4] not in (b'II*\x00', b'MM\x00*'):
        return {}
    order = '<' if block[:2] == b'II' else '>'
    tags: Dict[str, object] = {}
    exif_ifd = _read_ifd(block, order, struct.unpack(order + 'I', block[4:8])[0], tags)
    if exif_ifd:
        _read_ifd(block, order, exif_ifd, tags)
    return tags


def _jpeg_exif_block(data: bytes) -> Optional[bytes]:
    """The TIFF payload of a JPEG's ``APP1 Exif`` segment, or None."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (_JPEG_SOS, _JPEG_EOI):
            return None
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = struct.unpack('>H', data[pos + 2:pos + 4])[0]
        payload = data[pos + 4:pos + 2 + length]
        if marker == _JPEG_APP1 and payload.startswith(b'Exif\x00\x00'):
            return payload[6:]
        pos += 2 + length
    return None


def _png_exif_block(data: bytes) -> Optional[bytes]:
    """The payload of a PNG ``eXIf`` chunk (a TIFF structure), or None."""
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, chunk = struct.unpack('>I4s', data[pos:pos + 8])
        if chunk == b'eXIf':
            return data[pos + 8:pos + 8 + length]
        if chunk in (b'IDAT', b'IEND'):
            return None
        pos += 12 + length
    return None


def read_exif(path: str) -> Dict[str, object]:
    """Read the few EXIF tags inference needs from a JPEG, TIFF or PNG file.

    Args:
        path: Image file.

    Returns:
        ``{name: value}`` for the tags of :data:`EXIF_TAGS` that are present: ``ExposureTime`` and ``FNumber`` as
        :class:`fractions.Fraction` (seconds, f-stops), ``Orientation`` (1-8) and ``ISOSpeedRatings`` as int.
        Empty when the file has no (or unparsable) EXIF data.

    Raises:
        ValueError: The file cannot be read.
    """
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as err:
        raise ValueError(f'Cannot read image file {path}: {err}') from err
    if data[:2] == b'\xff\xd8':
        block = _jpeg_exif_block(data)
    elif data[:8] == _PNG_SIGNATURE:
        block = _png_exif_block(data)
    else:
        block = data
    if not block:
        return {}
    try:
        return _parse_tiff_block(block)
    except (struct.error, ValueError, ZeroDivisionError):
        return {}  # corrupt EXIF: treat as absent (the caller then asks for exposure times explicitly)


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an image as stored into its upright view, given its EXIF ``Orientation``.

    Args:
        img: ``H x W x C`` array as decoded (OpenCV ignores EXIF orientation with ``IMREAD_UNCHANGED``).
        orientation: EXIF value 1-8 (1: upright; 3: rotated 180; 6: rotate 90 clockwise to view; 8: 90
            counter-clockwise; 2, 4, 5, 7: the mirrored variants). Other values leave the image unchanged.

    Returns:
        A contiguous upright copy (``W x H x C`` for orientations 5-8), or ``img`` itself for orientation 1.
    """
    transforms = {
        2: lambda x: x[:, ::-1],
        3: lambda x: x[::-1, ::-1],
        4: lambda x: x[::-1],
        5: lambda x: x.transpose(1, 0, 2),
        6: lambda x: x.transpose(1, 0, 2)[:, ::-1],
        7: lambda x: x[::-1, ::-1].transpose(1, 0, 2),
        8: lambda x: x.transpose(1, 0, 2)[::-1],
    }
    transform = transforms.get(int(orientation))
    return img if transform is None else np.ascontiguousarray(transform(img))


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
def _natural_key(text: str) -> List[object]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r'(\d+)', text)]


def list_frames(folder: str) -> List[str]:
    """LDR frame files (:data:`LDR_SUFFIXES`, hidden files skipped) directly inside ``folder``, in natural name order.

    Natural order (``input_2`` before ``input_10``) is the order of Kalantari's ``exposure.txt`` lines.
    """
    names = [
        name for name in os.listdir(folder) if not name.startswith('.')
        and osp.splitext(name)[1].lower() in LDR_SUFFIXES and osp.isfile(osp.join(folder, name))
    ]
    return [osp.join(folder, name) for name in sorted(names, key=_natural_key)]


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


def _read_frame(path: str, orientation: object, max_side: Optional[int]) -> Tuple[np.ndarray, Tuple[int, int]]:
    """Upright float32 BGR frame, downscaled to ``max_side``, and its upright (H, W) before downscaling."""
    frame = read_ldr(path)
    if isinstance(orientation, int):
        frame = apply_orientation(frame, orientation)
    original = (frame.shape[0], frame.shape[1])
    if max_side and max(original) > max_side:
        scale = max_side / max(original)
        size = (max(1, round(original[1] * scale)), max(1, round(original[0] * scale)))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return frame, original


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
    times, abs_seconds, source, auto_origin = _resolve_exposures(paths, exifs, seconds, evs, exposure_file)
    if not np.all(np.isfinite(times) & (times > 0)):
        raise ValueError(f'Scene {name!r}: exposure times must be positive and finite, got {times.tolist()}')
    by_time = sorted(range(len(paths)), key=lambda i: times[i])  # stable: equal times keep the given order
    order = [by_time[i] for i in _network_order(len(paths), reference)]
    ref_file_index = order[len(order) // 2]
    origin = auto_origin if ev_origin == 'auto' else ev_origin
    divisor = {'shortest': times.min(), 'reference': times[ref_file_index], 'as-given': 1.0}[origin]
    read = [_read_frame(paths[i], exifs[i].get('Orientation'), max_side) for i in order]
    frames = [frame for frame, _ in read]
    for i, (frame, size) in zip(order, read):
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
def luminance(img: np.ndarray) -> np.ndarray:
    """Rec. 709 luminance ``0.2126 R + 0.7152 G + 0.0722 B`` of a linear ``H x W x 3`` **BGR** image -> ``H x W``."""
    return np.asarray(img, dtype=np.float32) @ _LUMA_BGR


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
