"""Reading and writing LDR brackets, HDR radiance maps and exposure files.

Conventions (see the project's HDR notes):

* Every image is returned as a float32 ``H x W x 3`` array in **BGR** order, as OpenCV reads it.
* LDR frames are normalised by their bit depth: ``uint8 / 255`` and ``uint16 / 65535``, so values lie in [0, 1].
  They are always read with ``cv2.IMREAD_UNCHANGED`` (OpenCV's default flags silently reduce 16-bit files to 8 bits).
* HDR images are linear radiance (non-negative, finite). ``.hdr`` / ``.pic`` (Radiance RGBE, every legal variant: the
  eight scanline orientations, header lines before ``#?RADIANCE``, ``EXPOSURE=`` / ``COLORCORR=``, run-length encoded
  or flat) are parsed by :mod:`basicsr_skt.utils.hdr_formats` and decoded by OpenCV; ``.exr`` goes through the
  ``OpenEXR`` package (3.x API; half, float or uint channels, scanline or tiled, multi-part, any data window), so no
  ``OPENCV_IO_ENABLE_OPENEXR`` switch is needed; ``.pfm`` (colour or greyscale, either endianness) is read and written
  by :mod:`basicsr_skt.utils.hdr_formats`.
* Exposure files hold one EV stop per line; the exposure time is ``t = 2 ** ev``.

Every reader raises ``ValueError`` naming the file when it cannot be read or holds invalid data.
"""
import os
from os import path as osp
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch

from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.hdr_formats import decode_pfm, decode_radiance, encode_pfm

LDR_WHITE_LEVELS = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}
RGBE_SUFFIXES = ('.hdr', '.pic')
EXR_SUFFIXES = ('.exr', )
PFM_SUFFIXES = ('.pfm', )
#: Every HDR file suffix :func:`read_hdr` and :func:`write_hdr` handle.
HDR_SUFFIXES = RGBE_SUFFIXES + EXR_SUFFIXES + PFM_SUFFIXES

ArrayOrTensor = Union[np.ndarray, torch.Tensor]


def _read_bytes(path: str) -> np.ndarray:
    """Read a whole file as a uint8 buffer (works with non-ASCII paths, unlike ``cv2.imread``)."""
    try:
        with open(path, 'rb') as f:
            return np.frombuffer(f.read(), dtype=np.uint8)
    except OSError as err:
        raise ValueError(f'Cannot read image file {path}: {err}') from err


def _nonempty_bytes(path: str) -> np.ndarray:
    """:func:`_read_bytes`, refusing an empty file."""
    buffer = _read_bytes(path)
    if buffer.size == 0:
        raise ValueError(f'Cannot read image file {path}: the file is empty')
    return buffer


def _decode_with_opencv(path: str) -> np.ndarray:
    """Decode an image file with OpenCV at its native bit depth; ``ValueError`` naming the file on failure."""
    buffer = _nonempty_bytes(path)
    try:
        img = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as err:
        raise ValueError(f'Cannot decode image file {path}: {err}') from err
    if img is None:
        raise ValueError(f'Cannot decode image file {path}: unknown format or corrupt data')
    return img


def _to_three_channels(img: np.ndarray, path: str) -> np.ndarray:
    """Grayscale -> 3 identical channels, BGRA -> BGR (alpha dropped)."""
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3:
        raise ValueError(f'Image {path} has unsupported shape {img.shape}')
    channels = img.shape[2]
    if channels == 1:
        return np.repeat(img, 3, axis=2)
    if channels in (3, 4):
        return img[:, :, :3]
    raise ValueError(f'Image {path} has {channels} channels; expected 1 (gray), 3 (BGR) or 4 (BGRA)')


def read_ldr_raw(path: str) -> Tuple[np.ndarray, int]:
    """Read an LDR frame at its stored bit depth, without normalisation.

    Useful to keep decoded frames in memory at half the size of float32 and normalise only a crop.

    Args:
        path: An 8- or 16-bit image file OpenCV can decode (TIFF, PNG, JPEG, ...).

    Returns:
        ``(img, white_level)``: ``img`` is a uint8 or uint16 ``H x W x 3`` BGR array (grayscale replicated to 3
        channels, alpha dropped) and ``white_level`` is 255 or 65535, so ``img / white_level`` lies in [0, 1].

    Raises:
        ValueError: The file is missing, unreadable or corrupt, or not 8/16-bit.
    """
    img = _decode_with_opencv(path)
    white_level = LDR_WHITE_LEVELS.get(img.dtype)
    if white_level is None:
        raise ValueError(f'LDR image {path} has dtype {img.dtype}; expected 8-bit (uint8) or 16-bit (uint16) data')
    return np.ascontiguousarray(_to_three_channels(img, path)), white_level


def read_ldr(path: str) -> np.ndarray:
    """Read an 8- or 16-bit LDR frame as float32 BGR in [0, 1].

    Args:
        path: Image file (16-bit TIFF/PNG as in Kalantari'17, or 8-bit PNG/JPEG).

    Returns:
        float32 array ``H x W x 3``, BGR, values in [0, 1] (``uint16 / 65535`` or ``uint8 / 255``).

    Raises:
        ValueError: The file is missing, unreadable or corrupt, or not 8/16-bit.
    """
    img, white_level = read_ldr_raw(path)
    return img.astype(np.float32) / np.float32(white_level)


def _exr_channel(channels: dict, name: str, path: str) -> np.ndarray:
    """One full-resolution EXR channel (half, float or uint) as float32."""
    channel = channels[name]
    if channel.xSampling != 1 or channel.ySampling != 1:
        raise UserInputError(
            f'EXR file {path}: channel {name!r} is subsampled; only full-resolution channels are supported')
    return np.asarray(channel.pixels, dtype=np.float32)


def _exr_image_channels(channels: dict, path: str) -> Optional[np.ndarray]:
    """B, G, R (or Y replicated) of one EXR part as float32 ``h x w x 3``; None when the part has neither."""
    if all(name in channels for name in 'BGR'):
        return np.stack([_exr_channel(channels, name, path) for name in 'BGR'], axis=2)
    if 'Y' in channels and not ({'RY', 'BY'} & set(channels)):
        return np.repeat(_exr_channel(channels, 'Y', path)[:, :, None], 3, axis=2)
    return None


def _place_in_display_window(pixels: np.ndarray, header: dict) -> np.ndarray:
    """Put the data window's pixels into the display window: zeros where no data, data outside it dropped."""
    (data_x0, data_y0), (data_x1, data_y1) = (np.asarray(corner).tolist() for corner in header['dataWindow'])
    (disp_x0, disp_y0), (disp_x1, disp_y1) = (np.asarray(corner).tolist() for corner in header['displayWindow'])
    if (data_x0, data_y0, data_x1, data_y1) == (disp_x0, disp_y0, disp_x1, disp_y1):
        return pixels
    out = np.zeros((disp_y1 - disp_y0 + 1, disp_x1 - disp_x0 + 1, 3), np.float32)
    x0, y0, x1, y1 = max(data_x0, disp_x0), max(data_y0, disp_y0), min(data_x1, disp_x1), min(data_y1, disp_y1)
    if x0 <= x1 and y0 <= y1:
        out[y0 - disp_y0:y1 - disp_y0 + 1, x0 - disp_x0:x1 - disp_x0 + 1] = \
            pixels[y0 - data_y0:y1 - data_y0 + 1, x0 - data_x0:x1 - data_x0 + 1]
    return out


def _read_exr(path: str) -> np.ndarray:
    """Decode an EXR file into float32 BGR with the ``OpenEXR`` package.

    The image is the first part (of a multi-part file) with R, G, B channels (or a luminance-only Y channel), in its
    display window: pixels outside the data window are 0, data outside the display window is dropped. Half, float
    and uint channels, scanline and tiled parts (level 0 of a mipmap) are read alike.
    """
    import OpenEXR  # imported here: only EXR users pay for it

    if not osp.isfile(path):
        raise ValueError(f'Cannot read image file {path}: no such file')
    found = []
    try:
        with OpenEXR.File(path, separate_channels=True) as exr:
            if not exr.parts:  # what OpenEXR makes of a file cut inside its header or offset table
                raise ValueError(f'Cannot decode EXR file {path} (truncated or corrupt): no readable part')
            for part in exr.parts:
                if part.type() in (OpenEXR.deepscanline, OpenEXR.deeptile):
                    found.append(f'{part.name() or "part"} (deep data)')
                    continue
                pixels = _exr_image_channels(part.channels, path)
                if pixels is not None:
                    return _place_in_display_window(pixels, part.header)
                found.append(f'{part.name() or "part"}: {sorted(part.channels)}')
    except ValueError as err:
        if path in str(err):  # ours (subsampled channel): already names the file
            raise
        # OpenEXR reports a truncated file as "Invalid part index '0': file has 0 parts", without the file name.
        raise ValueError(f'Cannot decode EXR file {path} (truncated or corrupt): {err}') from err
    except Exception as err:  # OpenEXR raises RuntimeError / its own errors for corrupt files
        raise ValueError(f'Cannot decode EXR file {path}: {err}') from err
    channels = found[0].split(': ', 1)[-1] if len(found) == 1 else '; '.join(found)
    raise UserInputError(f'EXR file {path} has channels {channels}; expected R, G, B (or luminance-only Y) in one '
                         'part. Luminance/chroma (Y, RY, BY) files must be converted to RGB first; deep data is not '
                         'an image.')


def _check_radiance(img: np.ndarray, path: str, allow_negative: bool) -> None:
    """Raise ``ValueError`` naming the file and the count of NaN/Inf (or negative) values."""
    num_bad = int(img.size - np.count_nonzero(np.isfinite(img)))
    if num_bad:
        raise ValueError(f'HDR image {path} has {num_bad} NaN/Inf values: fix or replace the file (a GT must be '
                         'finite radiance)')
    if not allow_negative:
        num_negative = int(np.count_nonzero(img < 0))
        if num_negative:
            raise ValueError(f'HDR image {path} has {num_negative} negative values (radiance must be >= 0): clip '
                             'them to 0 and save the file again, or read it with read_hdr(..., allow_negative=True)')


def read_hdr(path: str, allow_negative: bool = False) -> np.ndarray:
    """Read a linear HDR radiance map.

    Args:
        path: ``.hdr`` / ``.pic`` (Radiance RGBE, any of the eight scanline orientations, stored values divided by
            the header's ``EXPOSURE=`` / ``COLORCORR=`` factors), ``.exr`` (the first part with R, G, B channels,
            or a luminance-only Y channel replicated to 3 channels; half, float or uint; the display window, zeros
            outside the data window) or ``.pfm`` (colour or greyscale, either endianness).
        allow_negative: Accept negative values (possible in EXR files) instead of raising.

    Returns:
        float32 array ``H x W x 3``, BGR, linear radiance (relative scale as stored; not normalised).

    Raises:
        ValueError: Unsupported extension, missing/unreadable/corrupt file, an unsupported variant (XYZE Radiance,
            luminance/chroma or deep EXR), NaN/Inf values, or negative values while ``allow_negative`` is False.
            The message names the file (and the count of bad values or the variant).
    """
    suffix = osp.splitext(path)[1].lower()
    if suffix in RGBE_SUFFIXES:
        img = decode_radiance(_nonempty_bytes(path), path)
    elif suffix in EXR_SUFFIXES:
        img = _read_exr(path)
    elif suffix in PFM_SUFFIXES:
        img = decode_pfm(_nonempty_bytes(path), path)
    else:
        raise ValueError(f'Unsupported HDR file {path}: expected one of {HDR_SUFFIXES}')
    img = np.ascontiguousarray(img, dtype=np.float32)
    _check_radiance(img, path, allow_negative)
    return img


def _write_exr(path: str, img: np.ndarray, half: bool) -> None:
    """Write float32 (or half) B, G, R channels with ZIP compression."""
    import OpenEXR

    dtype = np.float16 if half else np.float32
    channels = {name: np.ascontiguousarray(img[:, :, index], dtype=dtype) for index, name in enumerate('BGR')}
    header = {'compression': OpenEXR.ZIP_COMPRESSION, 'type': OpenEXR.scanlineimage}
    with OpenEXR.File(header, channels) as exr:
        exr.write(path)


def write_hdr(path: str, img: np.ndarray, half: bool = False) -> None:
    """Write a linear HDR image, creating parent folders.

    Args:
        path: Output file: ``.hdr`` / ``.pic`` (Radiance RGBE via OpenCV, standard ``-Y H +X W`` run-length encoded
            scanlines, about 1 % relative precision, values must be non-negative), ``.exr`` (OpenEXR, ZIP
            compression) or ``.pfm`` (little-endian colour PFM, float32, rows bottom to top as the format says).
        img: ``H x W x 3`` BGR (or ``H x W`` gray) linear radiance, finite.
        half: For ``.exr``: store 16-bit half floats instead of float32. Ignored for ``.hdr`` and ``.pfm``.

    Raises:
        ValueError: Unsupported extension or shape, NaN/Inf values, negative values for RGBE, or encoding failure.
    """
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'write_hdr({path}): expected an H x W x 3 image, got shape {img.shape}')
    num_bad = int(img.size - np.count_nonzero(np.isfinite(img)))
    if num_bad:
        raise ValueError(f'write_hdr({path}): image has {num_bad} NaN/Inf values')
    suffix = osp.splitext(path)[1].lower()
    if suffix not in HDR_SUFFIXES:
        raise ValueError(f'Unsupported HDR file {path}: expected one of {HDR_SUFFIXES}')
    parent = osp.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    if suffix in EXR_SUFFIXES:
        _write_exr(path, img, half)
        return
    if suffix in PFM_SUFFIXES:
        with open(path, 'wb') as f:
            f.write(encode_pfm(img))
        return
    num_negative = int(np.count_nonzero(img < 0))
    if num_negative:
        raise ValueError(f'write_hdr({path}): RGBE cannot store the {num_negative} negative values; clip them first '
                         'or write .exr')
    ok, encoded = cv2.imencode('.hdr', np.ascontiguousarray(img))
    if not ok:
        raise ValueError(f'write_hdr({path}): OpenCV failed to encode the image')
    with open(path, 'wb') as f:
        f.write(encoded.tobytes())


def read_exposure_values(path: str) -> List[float]:
    """Read EV stops, one number per line (blank lines ignored), as in Kalantari'17's ``exposure.txt``.

    Args:
        path: Text file.

    Returns:
        The EV values in file order (one per LDR frame, shortest exposure first in Kalantari's data).

    Raises:
        ValueError: Missing/unreadable file, or a line that is not a finite number (message names file and line).
    """
    try:
        with open(path, 'r', encoding='utf-8') as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f'Cannot read exposure file {path}: {err}') from err
    values = []
    for line_number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            value = float('nan')
        if not np.isfinite(value):
            raise ValueError(f'Exposure file {path}, line {line_number}: expected one EV number, got {text!r}')
        values.append(value)
    return values


def exposure_times(evs: Sequence[float]) -> np.ndarray:
    """Exposure times ``t = 2 ** ev``.

    Args:
        evs: EV stops, e.g. ``[-2, 0, 2]`` or Kalantari's ``[0, 3, 6]``.

    Returns:
        float32 array of shape ``(len(evs),)``.
    """
    with np.errstate(over='ignore'):  # an absurd EV becomes inf, which callers report with the file name
        return np.power(2.0, np.asarray(evs, dtype=np.float64)).astype(np.float32)


def ldr_to_linear(ldr: ArrayOrTensor, exposure_time: Union[float, ArrayOrTensor], gamma: float = 2.2) -> ArrayOrTensor:
    """Map an LDR frame to the linear HDR domain: ``H = L ** gamma / t``.

    Args:
        ldr: LDR values in [0, 1] (numpy array or tensor of any shape).
        exposure_time: ``t`` (scalar, or broadcastable to ``ldr``).
        gamma: Camera response exponent (2.2 as in Kalantari'17 / HDR-Transformer).

    Returns:
        Same type, shape and dtype as ``ldr``: linear radiance estimate (>= 0).
    """
    linear = ldr**gamma / exposure_time
    if isinstance(ldr, np.ndarray) and np.issubdtype(ldr.dtype, np.floating):
        linear = linear.astype(ldr.dtype, copy=False)  # a float64 numpy scalar t must not promote float32 data
    return linear


def network_input(ldrs: Union[np.ndarray, Sequence[np.ndarray]],
                  times: Sequence[float],
                  gamma: float = 2.2,
                  out: Optional[np.ndarray] = None) -> np.ndarray:
    """Stack LDR frames into an ORM's input: per frame ``concat(L ** gamma / t, L)``, channels first.

    The linear part is :func:`ldr_to_linear` computed in float32 in place (no temporaries of the frame size), so the
    result equals ``np.concatenate([ldr_to_linear(L, np.float32(t), gamma), L])`` per frame, bit for bit.

    Args:
        ldrs: ``N`` frames ``L`` of shape ``H x W x 3`` (BGR; a sequence or an ``(N, H, W, 3)`` array): float in
            [0, 1], or uint8 / uint16 as stored (normalised by the bit depth like :func:`read_ldr`:
            ``uint8 / 255``, ``uint16 / 65535``).
        times: ``N`` relative exposure times ``t`` (> 0).
        gamma: Exponent of the assumed camera response (2.2 as in Kalantari'17; 1 for linear frames).
        out: Optional float32 array of shape ``(N, 6, H, W)`` to write into (e.g. a preallocated batch slot).

    Returns:
        float32 ``(N, 6, H, W)`` array (``out`` when given): channels 0-2 ``L ** gamma / t`` (linear radiance
        estimate, >= 0), channels 3-5 ``L`` in [0, 1]; BGR.

    Raises:
        ValueError: No frames, frames of different sizes or not ``H x W x 3``, a count of ``times`` that differs
            from the frame count, an integer dtype other than uint8 / uint16, or an ``out`` of another shape or
            dtype.
    """
    frames = [np.asarray(frame) for frame in ldrs]
    if not frames:
        raise ValueError('network_input needs at least one frame')
    if len(times) != len(frames):
        raise ValueError(f'network_input got {len(frames)} frames but {len(times)} exposure times')
    height, width = frames[0].shape[:2]
    for frame in frames:
        if frame.shape != (height, width, 3):
            raise ValueError(f'network_input needs H x W x 3 frames of one size, got {frame.shape} and '
                             f'{frames[0].shape}')
    shape = (len(frames), 6, height, width)
    if out is None:
        out = np.empty(shape, np.float32)
    elif out.shape != shape or out.dtype != np.float32:
        raise ValueError(f'out must be a float32 array of shape {shape}, got {out.dtype} {out.shape}')
    for index, (frame, t) in enumerate(zip(frames, times)):
        ldr, linear = out[index, 3:], out[index, :3]
        if np.issubdtype(frame.dtype, np.integer):
            if frame.dtype not in LDR_WHITE_LEVELS:
                raise ValueError(f'network_input reads uint8 or uint16 frames (or float in [0, 1]), got {frame.dtype}')
            np.divide(frame.transpose(2, 0, 1), np.float32(LDR_WHITE_LEVELS[frame.dtype]), out=ldr)
        else:
            np.copyto(ldr, frame.transpose(2, 0, 1), casting='same_kind')
        np.power(ldr, np.float32(gamma), out=linear)
        np.divide(linear, np.float32(t), out=linear)
    return out
