"""EXIF of bracket frames: exposure time, orientation and the settings that should not change within a bracket.

Tags are read with Pillow's EXIF API (JPEG, TIFF, PNG ``eXIf``, WebP). Frames are decoded by OpenCV with
``cv2.IMREAD_UNCHANGED``, which ignores the EXIF orientation, so :func:`apply_orientation` turns them upright with
Pillow's ``ImageOps.exif_transpose``. Frames whose ``FNumber`` or ``ISOSpeedRatings`` differ get a warning
(:func:`exposure_settings_warning`): the network assumes that only the exposure time changes.
"""
import struct
from fractions import Fraction
from os import path as osp
from typing import Dict, Optional, Sequence

import numpy as np
from PIL import ExifTags, Image, ImageOps

__all__ = ['EXIF_TAGS', 'read_exif', 'apply_orientation', 'exposure_settings_warning']

#: EXIF tags :func:`read_exif` returns (Pillow's names), looked up in IFD0 and then in the Exif IFD.
EXIF_TAGS = ('ExposureTime', 'Orientation', 'FNumber', 'ISOSpeedRatings')
#: Tags that should be equal in every frame of a bracket (only the exposure time is meant to change).
_CONSTANT_TAGS = ('FNumber', 'ISOSpeedRatings')


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
