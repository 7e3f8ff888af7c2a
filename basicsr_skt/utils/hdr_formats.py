"""Every legal Radiance RGBE and PFM variant: header parsing, scanline orientation, exposure, and a PFM writer.

OpenCV's Radiance reader accepts only files that start with ``#?RADIANCE`` / ``#?RGBE``, carry a ``FORMAT=`` line and
store ``-Y H +X W`` scanlines; it ignores ``EXPOSURE=`` and ``COLORCORR=``. This module parses the header itself
(following the Radiance file-format notes):

* The header is the lines up to the first empty line. Lines before the ``#?`` identifier line (written by some
  programs) are skipped; ``FORMAT=`` may be absent (``32-bit_rle_rgbe`` is the default).
* ``EXPOSURE=`` lines are cumulative: the stored values were multiplied by every one of them, so radiance is the
  stored value divided by their product. ``COLORCORR=`` (three factors for R, G, B) works the same way per channel.
* The resolution line gives the scanline order: ``[-+]Y N [-+]X M`` stores ``N`` scanlines of ``M`` pixels (rows),
  ``[-+]X M [-+]Y N`` stores ``M`` scanlines of ``N`` pixels (columns). ``-Y`` runs top to bottom and ``+Y`` bottom to
  top (Radiance's Y axis points up); ``+X`` runs left to right and ``-X`` right to left. ``-Y N +X M`` is the
  standard order, and all eight are legal.

The pixel data (new-style run-length encoded, flat, or old-style run-length encoded) is decoded by OpenCV with a
normalised header (fast, and the same conversion ``byte * 2 ** (e - 136)`` as before), except old-style run-length
data, which OpenCV cannot read and is expanded here with numpy. The image is then turned into the standard
orientation and divided by the exposure.

PFM (Portable Float Map, ``PF`` colour / ``Pf`` greyscale): a header of three whitespace-terminated tokens (identifier,
``width height``, scale), then float32 rows **bottom to top**, little endian when the scale is negative, big endian
otherwise. The magnitude of the scale is not applied: readers disagree on it (the netpbm description calls it a unit;
OpenCV divides by it, OpenImageIO multiplies), so samples are returned as stored.

Imports nothing above ``basicsr_skt.utils``.
"""
import re
from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np

from basicsr_skt.utils.errors import UserInputError

#: Radiance formats this reader decodes (``FORMAT=`` value); XYZE files must be converted first.
RGBE_FORMAT = '32-bit_rle_rgbe'
#: Headers longer than this are not Radiance headers (real ones are a few hundred bytes; command histories more).
MAX_RADIANCE_HEADER_BYTES = 1 << 20
RESOLUTION_PATTERN = re.compile(rb'^([-+])([XY])\s+(\d+)\s+([-+])([XY])\s+(\d+)\s*$')


@dataclass(frozen=True)
class RadianceHeader:
    """What a Radiance header says about the pixels that follow it.

    Attributes:
        data_offset: Index of the first byte of pixel data in the file.
        height: Image height in pixels (the ``Y`` size).
        width: Image width in pixels (the ``X`` size).
        rows_are_scanlines: True for ``[-+]Y N [-+]X M`` (scanlines are rows), False for column scanlines.
        top_to_bottom: ``-Y``: pixels / scanlines along Y run from the top down.
        left_to_right: ``+X``: pixels / scanlines along X run from left to right.
        exposure: Product of the ``EXPOSURE=`` values (1 when absent).
        color_correction: Product of the ``COLORCORR=`` values, R, G, B (ones when absent).
        standard: The file is already what OpenCV reads as is (identifier first, ``FORMAT=`` present, ``-Y H +X W``).
    """
    data_offset: int
    height: int
    width: int
    rows_are_scanlines: bool
    top_to_bottom: bool
    left_to_right: bool
    exposure: float
    color_correction: Tuple[float, float, float]
    standard: bool

    @property
    def scanline_shape(self) -> Tuple[int, int]:
        """``(number of scanlines, pixels per scanline)`` as stored."""
        return (self.height, self.width) if self.rows_are_scanlines else (self.width, self.height)

    @property
    def resolution_line(self) -> str:
        """The resolution line as written in the file (e.g. ``'+X 640 -Y 480'``)."""
        y_axis = f'{"-" if self.top_to_bottom else "+"}Y {self.height}'
        x_axis = f'{"+" if self.left_to_right else "-"}X {self.width}'
        return f'{y_axis} {x_axis}' if self.rows_are_scanlines else f'{x_axis} {y_axis}'


def _header_numbers(line: bytes, count: int, name: str, path: str) -> Tuple[float, ...]:
    """The ``count`` positive numbers after ``NAME=`` on a header line."""
    try:
        values = tuple(float(text) for text in line.split(b'=', 1)[1].split())
    except ValueError:
        values = ()
    if len(values) != count or not all(np.isfinite(v) and v > 0 for v in values):
        raise UserInputError(f'Radiance file {path}: header line {line.decode("latin-1")!r} must give {count} '
                             f'positive number(s) after {name}=; fix the header or re-save the file')
    return values


def parse_radiance_header(buffer: bytes, path: str) -> RadianceHeader:
    """Parse the text header and resolution line of a Radiance RGBE file.

    Args:
        buffer: The whole file (or at least its header and resolution line).
        path: File name used in messages.

    Returns:
        The parsed header (see :class:`RadianceHeader`).

    Raises:
        UserInputError: Not a Radiance file (no ``#?`` identifier and no ``FORMAT=`` line), an XYZE or other
            unsupported ``FORMAT=``, a bad ``EXPOSURE=`` / ``COLORCORR=`` value, or a missing or malformed
            resolution line. The message names the file.
    """
    head = bytes(buffer[:MAX_RADIANCE_HEADER_BYTES])
    lines, position, magic_seen = [], 0, False
    while True:  # the header lines and the resolution line (not the pixel data: it may hold many newlines)
        newline = head.find(b'\n', position)
        if newline < 0:
            raise UserInputError(f'Cannot decode Radiance file {path}: the header or the resolution line does not end '
                                 f'within the first {MAX_RADIANCE_HEADER_BYTES} bytes (truncated, or not a .hdr file)')
        lines.append(head[position:newline].rstrip(b'\r'))
        position = newline + 1
        # The header ends at the first empty line after the #? line; lines before the #? line (or, without one,
        # up to an empty line followed by a resolution line) are part of it too.
        if len(lines) >= 2 and not lines[-2].strip() and (magic_seen or RESOLUTION_PATTERN.match(lines[-1])):
            break
        magic_seen = magic_seen or (len(lines) >= 2 and lines[-2].startswith(b'#?'))
    magic_index: Optional[int] = next((i for i, line in enumerate(lines) if line.startswith(b'#?')), None)
    start = 0 if magic_index is None else magic_index + 1
    exposure, color_correction, file_format, has_format_line = 1.0, np.ones(3), RGBE_FORMAT, False
    for line in lines[start:-2]:
        if line.startswith(b'FORMAT='):
            file_format, has_format_line = line[len(b'FORMAT='):].strip().decode('latin-1'), True
        elif line.startswith(b'EXPOSURE='):
            exposure *= _header_numbers(line, 1, 'EXPOSURE', path)[0]
        elif line.startswith(b'COLORCORR='):
            color_correction = color_correction * np.array(_header_numbers(line, 3, 'COLORCORR', path))
    if magic_index is None and not has_format_line:
        raise UserInputError(f'Cannot decode image file {path}: not a Radiance RGBE file (no #?RADIANCE line and no '
                             'FORMAT= line in the header)')
    if file_format != RGBE_FORMAT:
        hint = (' (CIE XYZ primaries): convert it to RGB first, e.g. with Radiance\'s `ra_xyze -r in.hdr out.hdr`'
                if file_format == '32-bit_rle_xyze' else '')
        raise UserInputError(f'Radiance file {path} has FORMAT={file_format}; only {RGBE_FORMAT} is read{hint}')
    match = RESOLUTION_PATTERN.match(lines[-1])
    if match is None or match.group(2) == match.group(5):
        raise UserInputError(f'Cannot decode Radiance file {path}: bad resolution line '
                             f'{lines[-1][:80].decode("latin-1")!r} (expected e.g. "-Y 1000 +X 1500")')
    first_sign, first_axis, first_size, second_sign, _, second_size = match.groups()
    sizes = {first_axis: int(first_size), match.group(5): int(second_size)}
    signs = {first_axis: first_sign, match.group(5): second_sign}
    if min(sizes.values()) < 1:
        raise UserInputError(f'Cannot decode Radiance file {path}: the resolution line gives an empty image')
    data_offset = position
    rows_are_scanlines = first_axis == b'Y'
    standard = (magic_index == 0 and has_format_line and rows_are_scanlines and signs[b'Y'] == b'-'
                and signs[b'X'] == b'+' and b'\r' not in head[:data_offset])
    return RadianceHeader(data_offset=data_offset, height=sizes[b'Y'], width=sizes[b'X'],
                          rows_are_scanlines=rows_are_scanlines, top_to_bottom=signs[b'Y'] == b'-',
                          left_to_right=signs[b'X'] == b'+', exposure=float(exposure),
                          color_correction=tuple(float(v) for v in color_correction), standard=standard)


def _is_new_rle(data: np.ndarray, scanline_length: int) -> bool:
    """Whether the first scanline starts with the new-style run-length marker ``2 2 hi lo``."""
    return (8 <= scanline_length < 0x8000 and data.size >= 4 and data[0] == 2 and data[1] == 2
            and data[2] < 0x80 and (int(data[2]) << 8 | int(data[3])) == scanline_length)


def decode_old_rle(data: np.ndarray, num_pixels: int, path: str) -> np.ndarray:
    """Expand old-style Radiance run-length data: a pixel ``1 1 1 n`` repeats the previous pixel ``n`` times.

    Consecutive repeat pixels form one count, least significant byte first (``n1 + 256 * n2 + ...``).

    Args:
        data: The pixel bytes after the resolution line (uint8).
        num_pixels: Pixels the image holds.
        path: File name used in messages.

    Returns:
        uint8 array ``num_pixels x 4`` of RGBE pixels in file order.

    Raises:
        UserInputError: The data holds fewer pixels than the image, starts with a repeat, or repeats past the
            image's last pixel.
    """
    pixels = data[:data.size // 4 * 4].reshape(-1, 4)
    repeat = (pixels[:, 0] == 1) & (pixels[:, 1] == 1) & (pixels[:, 2] == 1)
    if repeat.size and repeat[0]:
        raise UserInputError(f'Cannot decode Radiance file {path}: run-length data starts with a repeat (corrupt)')
    group = np.cumsum(~repeat) - 1  # index of the literal pixel each repeat refers to
    literal_index = np.flatnonzero(~repeat)
    run_position = np.arange(repeat.size) - literal_index[group] - 1  # 0 for the first repeat after a literal
    shifts = np.minimum(run_position[repeat], 6) * 8
    counts = np.ones(literal_index.size, np.int64)
    # Clipped to the image size, so that corrupt counts can neither overflow nor allocate beyond the image.
    np.add.at(counts, group[repeat], np.minimum(pixels[repeat, 3].astype(np.int64) << shifts, num_pixels))
    total = np.cumsum(counts)
    if total.size == 0 or total[-1] < num_pixels:
        raise UserInputError(f'Cannot decode Radiance file {path}: the pixel data ends after '
                             f'{0 if total.size == 0 else int(total[-1])} of {num_pixels} pixels (truncated)')
    used = int(np.searchsorted(total, num_pixels)) + 1
    if total[used - 1] != num_pixels:
        raise UserInputError(f'Cannot decode Radiance file {path}: a run-length repeat runs past the last of the '
                             f'{num_pixels} pixels (corrupt data)')
    return np.repeat(pixels[literal_index[:used]], counts[:used], axis=0)


def _rgbe_to_bgr(pixels: np.ndarray) -> np.ndarray:
    """RGBE bytes ``... x 4`` to float32 BGR radiance, ``byte * 2 ** (e - 136)`` (OpenCV's conversion)."""
    scale = np.ldexp(np.float32(1.0), pixels[..., 3].astype(np.int32) - 136).astype(np.float32)
    scale[pixels[..., 3] == 0] = 0.0
    return pixels[..., 2::-1].astype(np.float32) * scale[..., None]


def decode_radiance(buffer: np.ndarray, path: str) -> np.ndarray:
    """Decode a Radiance RGBE file of any legal variant into standard-orientation float32 BGR radiance.

    Args:
        buffer: The whole file as uint8.
        path: File name used in messages.

    Returns:
        float32 ``H x W x 3`` BGR, top row first, stored values divided by the exposure (and colour correction).

    Raises:
        UserInputError: Unsupported format, bad header, or truncated / corrupt pixel data (the message names the
            file).
    """
    header = parse_radiance_header(buffer, path)
    scanlines, scanline_length = header.scanline_shape
    data = buffer[header.data_offset:]
    num_pixels = scanlines * scanline_length
    if _is_new_rle(data, scanline_length) or data.size >= 4 * num_pixels:
        # New-style RLE or flat data: OpenCV decodes it once the header says "-Y scanlines +X length".
        if not header.standard:
            normalised = f'#?RADIANCE\nFORMAT={RGBE_FORMAT}\n\n-Y {scanlines} +X {scanline_length}\n'.encode()
            buffer = np.concatenate([np.frombuffer(normalised, np.uint8), data])
        try:
            img = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
        except cv2.error as err:
            raise UserInputError(f'Cannot decode image file {path}: {err}') from err
        if img is None:
            raise UserInputError(f'Cannot decode image file {path}: unknown format or corrupt data')
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.float32:
            raise UserInputError(f'HDR image {path} decoded as {img.dtype} {img.shape}; expected float32 radiance')
    else:
        img = _rgbe_to_bgr(decode_old_rle(data, num_pixels, path).reshape(scanlines, scanline_length, 4))
    if not header.rows_are_scanlines:
        img = img.transpose(1, 0, 2)
    if not header.top_to_bottom:
        img = img[::-1]
    if not header.left_to_right:
        img = img[:, ::-1]
    divisor = header.exposure * np.array(header.color_correction[::-1], np.float64)  # BGR order
    if np.any(divisor != 1.0):
        img = img / divisor.astype(np.float32)
    return np.ascontiguousarray(img, dtype=np.float32)


def decode_pfm(buffer: np.ndarray, path: str) -> np.ndarray:
    """Decode a PFM file (colour ``PF`` or greyscale ``Pf``, either endianness).

    Args:
        buffer: The whole file as uint8.
        path: File name used in messages.

    Returns:
        float32 ``H x W x 3`` BGR (greyscale replicated), top row first; samples as stored (the scale's magnitude
        is not applied, see the module notes).

    Raises:
        UserInputError: Bad header or fewer samples than the header announces (the message names the file).
    """
    head = bytes(buffer[:256])
    match = re.match(rb'(P[Ff])\s(\d+)\s+(\d+)\s([-+]?[0-9.eE+-]+)\s', head)
    if match is None:
        raise UserInputError(f'Cannot decode PFM file {path}: the header must be "PF" or "Pf", width height, and a '
                             'non-zero scale, each followed by white space')
    identifier, width, height = match.group(1), int(match.group(2)), int(match.group(3))
    try:
        scale = float(match.group(4))
    except ValueError:
        scale = 0.0
    if scale == 0.0 or not np.isfinite(scale) or width < 1 or height < 1:
        raise UserInputError(f'Cannot decode PFM file {path}: bad size {width} x {height} or scale '
                             f'{match.group(4).decode("latin-1")!r} (must be non-zero)')
    channels = 3 if identifier == b'PF' else 1
    count = width * height * channels
    data = buffer[match.end():]
    if data.size < 4 * count:
        raise UserInputError(f'Cannot decode PFM file {path}: {data.size} bytes of samples, expected '
                             f'{4 * count} for {width} x {height} x {channels} (truncated)')
    dtype = np.dtype('<f4') if scale < 0 else np.dtype('>f4')
    samples = np.frombuffer(data[:4 * count].tobytes(), dtype=dtype).astype(np.float32)
    img = samples.reshape(height, width, channels)[::-1]  # rows are stored bottom to top
    img = np.repeat(img, 3, axis=2) if channels == 1 else img[:, :, ::-1]
    return np.ascontiguousarray(img)


def encode_pfm(img: np.ndarray) -> bytes:
    """Encode a float32 BGR image as a little-endian colour PFM (scale -1, rows bottom to top, RGB samples).

    Args:
        img: ``H x W x 3`` BGR float array.

    Returns:
        The file's bytes.
    """
    height, width = img.shape[:2]
    header = f'PF\n{width} {height}\n-1.0\n'.encode()
    return header + np.ascontiguousarray(img[::-1, :, ::-1], dtype='<f4').tobytes()
