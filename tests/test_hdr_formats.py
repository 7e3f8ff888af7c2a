"""Every legal HDR file reads: Radiance orientations / headers / exposure / encodings, EXR variants, PFM.

Each test writes its variant itself (numpy bytes for RGBE and PFM, the OpenEXR package for EXR; never the reader under
test) from known, non-symmetric pixel values, so a flip, a transpose, a channel swap or a missed scale shows.
"""
import itertools
from pathlib import Path
from typing import List, Tuple

import cv2
import numpy as np
import pytest

from basicsr_skt.synthesis.synthetic_brackets import list_hdr_images
from basicsr_skt.utils.errors import UserInputError, is_user_error, run_cli
from basicsr_skt.utils.hdr_io import read_hdr, write_hdr
from helpers import load_script

HEIGHT, WIDTH = 9, 12  # both >= 8, so column scanlines are run-length encoded too


# ---------------------------------------------------------------- test writers (independent of the reader)
def _rgbe_pixels(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """Known RGBE bytes ``H x W x 4`` (R, G, B, E): every pixel different, runs of equal bytes for RLE."""
    y, x = np.mgrid[0:height, 0:width]
    red = 1 + y * width + x  # unique per pixel: shows any flip or transpose
    green = np.where(x < width // 2, 200, 60 + y)  # runs along a row
    blue = np.full_like(red, 90)  # one long run
    exponent = 130 + (x + 2 * y) % 5
    return np.stack([red, green, blue, exponent], axis=2).astype(np.uint8)


def _expected_bgr(rgbe: np.ndarray) -> np.ndarray:
    """Radiance of RGBE bytes as the reader defines it: ``byte * 2 ** (e - 136)``, BGR, float64."""
    scale = np.array([[2.0**(int(e) - 136) for e in row] for row in rgbe[..., 3]])
    return rgbe[..., 2::-1].astype(np.float64) * scale[..., None]


def _file_position(axis: str, sign: str, index: int, height: int, width: int) -> Tuple[str, int]:
    """Image coordinate of the ``index``-th step along a Radiance axis: -Y runs down, +Y up, +X right, -X left."""
    if axis == 'Y':
        return 'y', index if sign == '-' else height - 1 - index
    return 'x', index if sign == '+' else width - 1 - index


def _scanlines(rgbe: np.ndarray, resolution: str) -> List[np.ndarray]:
    """The stored scanlines (each ``n x 4``) of an image for a resolution line like ``'+X 12 -Y 9'``."""
    height, width = rgbe.shape[:2]
    slow_sign, slow_axis, fast_sign, fast_axis = resolution[0], resolution[1], *resolution.split()[2][:2]
    slow_count = height if slow_axis == 'Y' else width
    fast_count = height if fast_axis == 'Y' else width
    lines = []
    for s in range(slow_count):
        line = []
        for p in range(fast_count):
            coords = dict([_file_position(slow_axis, slow_sign, s, height, width),
                           _file_position(fast_axis, fast_sign, p, height, width)])
            line.append(rgbe[coords['y'], coords['x']])
        lines.append(np.array(line, np.uint8))
    return lines


def _rle_channel(values: np.ndarray) -> bytes:
    """New-style run-length encoding of one channel: runs ``128 + n, v`` (n >= 3), literals ``n, v1 .. vn``."""
    out, i, n = bytearray(), 0, len(values)
    while i < n:
        run = 1
        while i + run < n and run < 127 and values[i + run] == values[i]:
            run += 1
        if run >= 3:
            out += bytes([128 + run, values[i]])
            i += run
            continue
        start = i
        while i < n and i - start < 128 and not (i + 2 < n and values[i] == values[i + 1] == values[i + 2]):
            i += 1
        out += bytes([i - start]) + bytes(values[start:i].tolist())
    return bytes(out)


def _rgbe_file(rgbe: np.ndarray, resolution: str, encoding: str = 'rle', header: bytes = None) -> bytes:
    """A Radiance file: header, resolution line, scanlines flat or run-length encoded (new style)."""
    if header is None:
        header = b'#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n'
    data = bytearray()
    for line in _scanlines(rgbe, resolution):
        if encoding == 'flat':
            data += line.tobytes()
        else:
            data += bytes([2, 2, len(line) >> 8, len(line) & 255])
            for channel in range(4):
                data += _rle_channel(line[:, channel])
    return header + b'\n' + resolution.encode() + b'\n' + bytes(data)


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


ORIENTATIONS = [f'{a} {b}' for a, b in itertools.product(('-Y 9', '+Y 9'), ('+X 12', '-X 12'))]
ORIENTATIONS += [f'{b} {a}' for a, b in itertools.product(('-Y 9', '+Y 9'), ('+X 12', '-X 12'))]


# ---------------------------------------------------------------- Radiance RGBE
def test_the_test_writer_matches_opencv_on_the_standard_orientation(tmp_path):
    """Anchor: OpenCV (the decoder before this reader) reads the test writer's standard files as expected."""
    rgbe = _rgbe_pixels()
    for encoding in ('flat', 'rle'):
        path = _write(tmp_path / f'{encoding}.hdr', _rgbe_file(rgbe, '-Y 9 +X 12', encoding))
        np.testing.assert_array_equal(cv2.imread(path, cv2.IMREAD_UNCHANGED), _expected_bgr(rgbe).astype(np.float32))


@pytest.mark.parametrize('encoding', ['rle', 'flat'])
@pytest.mark.parametrize('resolution', ORIENTATIONS)
def test_every_radiance_orientation_reads_upright(tmp_path, resolution, encoding):
    assert len(set(ORIENTATIONS)) == 8
    rgbe = _rgbe_pixels()
    path = _write(tmp_path / 'img.hdr', _rgbe_file(rgbe, resolution, encoding))
    img = read_hdr(path)
    assert img.shape == (HEIGHT, WIDTH, 3) and img.dtype == np.float32
    np.testing.assert_array_equal(img, _expected_bgr(rgbe).astype(np.float32))


@pytest.mark.parametrize('header', [
    b'# written by a camera tool\n#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n',  # a line before the identifier
    b'\xef\xbb\xbfcomment\n\n#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n',  # junk and an empty line before it
    b'#?RGBE\nFORMAT=32-bit_rle_rgbe\n',  # the other identifier
    b'#?RADIANCE\n',  # no FORMAT= line (RGBE is the default)
    b'FORMAT=32-bit_rle_rgbe\n',  # no identifier line at all
    b'#?RADIANCE\nSOFTWARE=x\nGAMMA=1.0\nPRIMARIES=0.64 0.33 0.3 0.6 0.15 0.06 0.3127 0.329\n\tpcomb -s 2 a.hdr\n'
    b'VIEW= -vtv -vp 0 0 0\nFORMAT=32-bit_rle_rgbe\n',  # other variables and a command line
    b'#?RADIANCE\r\nFORMAT=32-bit_rle_rgbe\r\n\r',  # header written in text mode on Windows (CR LF)
], ids=['line-before', 'junk-and-blank-before', 'rgbe-magic', 'no-format', 'no-magic', 'other-variables', 'crlf'])
def test_radiance_headers_found_in_the_wild(tmp_path, header):
    rgbe = _rgbe_pixels()
    path = _write(tmp_path / 'img.pic', _rgbe_file(rgbe, '-Y 9 +X 12', 'rle', header=header))
    np.testing.assert_array_equal(read_hdr(path), _expected_bgr(rgbe).astype(np.float32))


def test_exposure_and_colorcorr_lines_are_divided_out(tmp_path):
    """Radiance: stored = radiance x every EXPOSURE (cumulative) x every COLORCORR (per primary R, G, B)."""
    rgbe = _rgbe_pixels()
    header = (b'#?RADIANCE\nEXPOSURE=4\nFORMAT=32-bit_rle_rgbe\nEXPOSURE= 0.5\nCOLORCORR=1 2 0.25\n'
              b'COLORCORR=1 1 2\n')
    path = _write(tmp_path / 'exposed.hdr', _rgbe_file(rgbe, '+X 12 +Y 9', 'rle', header=header))
    expected = _expected_bgr(rgbe) / (4 * 0.5) / np.array([0.25 * 2, 2, 1])  # BGR divisors: B 0.5, G 2, R 1
    np.testing.assert_allclose(read_hdr(path), expected, rtol=1e-6)


def test_old_style_run_length_encoding(tmp_path):
    """Old RLE: a pixel 1 1 1 n repeats the previous one n times; consecutive repeats add n * 256 ** k."""
    width = 300
    literal = np.array([[10, 20, 30, 130], [40, 50, 60, 131], [70, 80, 90, 132]], np.uint8)
    data = (literal[0].tobytes() + bytes([1, 1, 1, 3])  # pixels 0-3
            + literal[1].tobytes() + bytes([1, 1, 1, 38, 1, 1, 1, 1])  # pixels 4 .. 4 + 38 + 256 = 298
            + literal[2].tobytes())  # pixel 299
    second_row = np.tile(literal[::-1], (100, 1))  # 300 literal pixels, no repeat
    path = _write(tmp_path / 'old.hdr', b'#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 300\n' + data
                  + second_row.tobytes()[:-4] + bytes([1, 1, 1, 1]))  # last pixel as a repeat of the one before
    expected_rgbe = np.concatenate([np.repeat(literal[:1], 4, 0), np.repeat(literal[1:2], 295, 0), literal[2:],
                                    second_row[:-1], second_row[-2:-1]]).reshape(2, width, 4)
    np.testing.assert_array_equal(read_hdr(path), _expected_bgr(expected_rgbe).astype(np.float32))
    # Damaged: a repeat count that runs past the image (255 + 255 * 256 + ... pixels), or a repeat with nothing before
    overrun = _write(tmp_path / 'overrun.hdr', b'#?RADIANCE\n\n-Y 2 +X 300\n' + literal[0].tobytes()
                     + bytes([1, 1, 1, 255] * 9))
    with pytest.raises(UserInputError, match=r'overrun.hdr: a run-length repeat runs past the last of the 600 pixels'):
        read_hdr(overrun)
    leading = _write(tmp_path / 'leading.hdr', b'#?RADIANCE\n\n-Y 2 +X 300\n' + bytes([1, 1, 1, 9]) + data)
    with pytest.raises(UserInputError, match=r'leading.hdr: run-length data starts with a repeat'):
        read_hdr(leading)


def test_unsupported_and_bad_radiance_files_get_one_clear_message(tmp_path):
    rgbe = _rgbe_pixels()
    xyze = _write(tmp_path / 'xyz.hdr', _rgbe_file(rgbe, '-Y 9 +X 12', header=b'#?RADIANCE\nFORMAT=32-bit_rle_xyze\n'))
    with pytest.raises(UserInputError, match=r'xyz.hdr has FORMAT=32-bit_rle_xyze.*convert it to RGB') as info:
        read_hdr(xyze)
    assert is_user_error(info.value)
    bad_exposure = _write(tmp_path / 'zero.hdr', _rgbe_file(rgbe, '-Y 9 +X 12', header=b'#?RADIANCE\nEXPOSURE=0\n'))
    with pytest.raises(UserInputError, match=r'zero.hdr: header line .EXPOSURE=0. must give 1 positive'):
        read_hdr(bad_exposure)
    bad_resolution = _write(tmp_path / 'res.hdr', _rgbe_file(rgbe, '-Y 9 +X 12').replace(b'+X 12', b'+Y 12'))
    with pytest.raises(UserInputError, match=r'res.hdr: bad resolution line .-Y 9 \+Y 12.'):
        read_hdr(bad_resolution)
    not_radiance = _write(tmp_path / 'png.hdr', cv2.imencode('.png', np.zeros((4, 4), np.uint8))[1].tobytes())
    with pytest.raises(ValueError, match=r'png.hdr'):
        read_hdr(not_radiance)
    whole = _rgbe_file(rgbe, '+X 12 -Y 9')
    for cut in (len(whole) - 5, len(whole) - 9 * 12 * 4 // 2):
        truncated = _write(tmp_path / f'cut{cut}.hdr', whole[:cut])
        with pytest.raises(ValueError, match=f'cut{cut}.hdr'):
            read_hdr(truncated)
    flat = _rgbe_file(rgbe, '-Y 9 +X 12', 'flat')
    with pytest.raises(UserInputError, match=r'flat.hdr: the pixel data ends after 107 of 108 pixels \(truncated\)'):
        read_hdr(_write(tmp_path / 'flat.hdr', flat[:-4]))


def test_an_unsupported_variant_is_one_message_at_the_command_line(tmp_path, capsys):
    """House style: a script stops with one line naming the file and the variant; run_cli gives exit 2."""
    photos = tmp_path / 'photos'
    photos.mkdir()
    xyze = _write(photos / 'xyz.hdr',
                  _rgbe_file(_rgbe_pixels(), '-Y 9 +X 12', header=b'#?RADIANCE\nFORMAT=32-bit_rle_xyze\n'))
    assert run_cli(lambda: read_hdr(xyze), argv=[]) == 2
    err = capsys.readouterr().err
    assert 'error: Radiance file' in err and 'xyz.hdr has FORMAT=32-bit_rle_xyze' in err and 'Traceback' not in err
    script = load_script('make_synthetic_brackets')
    assert script.main(['--input', str(photos), '--out', str(tmp_path / 'out')]) == 1
    err = capsys.readouterr().err
    last_line = err.strip().splitlines()[-1]  # after the progress bar
    assert last_line.startswith('error: ') and 'xyz.hdr has FORMAT=32-bit_rle_xyze' in last_line and 'ra_xyze -r' in err
    _write(photos / 'b.pfm', _pfm_file(np.ones((4, 4, 3), np.float32), True))
    (photos / 'notes.txt').write_text('not an image')
    assert [Path(p).name for p in list_hdr_images(str(photos))] == ['b.pfm', 'xyz.hdr']


def test_write_hdr_output_reads_back_in_every_orientation(tmp_path):
    """write_hdr's standard file, re-labelled by rewriting its scanlines in each orientation, reads the same."""
    img = np.random.default_rng(5).uniform(0.01, 50, (HEIGHT, WIDTH, 3)).astype(np.float32)
    write_hdr(str(tmp_path / 'std.hdr'), img)
    standard = read_hdr(str(tmp_path / 'std.hdr'))
    raw = (tmp_path / 'std.hdr').read_bytes()
    assert raw.startswith(b'#?RADIANCE') and b'-Y 9 +X 12\n' in raw
    rgbe = _rgbe_from_float(standard)
    np.testing.assert_array_equal(_expected_bgr(rgbe).astype(np.float32), standard)
    for resolution in ORIENTATIONS:
        path = _write(tmp_path / 'o.hdr', _rgbe_file(rgbe, resolution, 'flat'))
        np.testing.assert_array_equal(read_hdr(path), standard)


def _rgbe_from_float(img: np.ndarray) -> np.ndarray:
    """Exact RGBE bytes of values that came out of an RGBE file (BGR float32 -> R, G, B, E)."""
    _, exponent = np.frexp(img.max(axis=2).astype(np.float64))  # peak = f * 2 ** exponent, f in [0.5, 1)
    exponent = np.where(img.max(axis=2) > 0, exponent, -128).astype(np.int64)
    mantissa = np.rint(img[..., ::-1] / np.ldexp(1.0, exponent - 8)[..., None]).astype(np.int64)
    return np.concatenate([mantissa, (exponent + 128)[..., None]], axis=2).astype(np.uint8)


# ---------------------------------------------------------------- OpenEXR
def _planes(height: int = HEIGHT, width: int = WIDTH) -> dict:
    """R, G, B planes with a different value at every pixel and channel."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return {'R': 1 + y * width + x, 'G': 1000 + 2 * x, 'B': 0.5 + 3 * y}


def _bgr(planes: dict) -> np.ndarray:
    return np.stack([planes['B'], planes['G'], planes['R']], axis=2).astype(np.float32)


def _write_exr(path: Path, channels: dict, **header) -> str:
    import OpenEXR
    header = {'compression': OpenEXR.ZIP_COMPRESSION, 'type': OpenEXR.scanlineimage, **header}
    with OpenEXR.File(header, dict(channels)) as exr:  # a copy: the package turns the arrays into Channel objects
        exr.write(str(path))
    return str(path)


@pytest.mark.parametrize('dtype', [np.float16, np.float32, np.uint32])
def test_exr_half_float_and_uint_channels(tmp_path, dtype):
    planes = {name: plane.astype(dtype) for name, plane in _planes().items()}
    path = _write_exr(tmp_path / 'img.exr', planes)
    np.testing.assert_array_equal(read_hdr(path), _bgr({k: v.astype(np.float32) for k, v in planes.items()}))


def test_exr_tiled(tmp_path):
    import OpenEXR
    tiles = OpenEXR.TileDescription()
    tiles.xSize, tiles.ySize = 4, 4  # 9 x 12 pixels: partial tiles at the right and bottom edges
    path = _write_exr(tmp_path / 'tiled.exr', _planes(), type=OpenEXR.tiledimage, tiles=tiles)
    with OpenEXR.File(path) as exr:  # it really is tiled
        assert exr.header()['type'] == OpenEXR.tiledimage
    np.testing.assert_array_equal(read_hdr(path), _bgr(_planes()))


def test_exr_multi_part_reads_the_first_part_with_rgb(tmp_path):
    import OpenEXR
    depth = OpenEXR.Part({'type': OpenEXR.scanlineimage}, {'Z': np.ones((HEIGHT, WIDTH), np.float32)}, name='depth')
    beauty = OpenEXR.Part({'type': OpenEXR.scanlineimage}, _planes(), name='beauty')
    other = OpenEXR.Part({'type': OpenEXR.scanlineimage}, {k: v * 0 for k, v in _planes().items()}, name='other')
    with OpenEXR.File([depth, beauty, other]) as exr:
        exr.write(str(tmp_path / 'multi.exr'))
    np.testing.assert_array_equal(read_hdr(str(tmp_path / 'multi.exr')), _bgr(_planes()))
    with OpenEXR.File([depth]) as exr:
        exr.write(str(tmp_path / 'depth.exr'))
    with pytest.raises(UserInputError, match=r"depth.exr has channels \['Z'\]; expected R, G, B"):
        read_hdr(str(tmp_path / 'depth.exr'))


def test_exr_data_window_inside_and_beyond_the_display_window(tmp_path):
    def window(x0, y0, x1, y1):
        return (np.array([x0, y0], np.int32), np.array([x1, y1], np.int32))

    planes = _planes(4, 5)  # data: 5 wide, 4 high at (2, 3) inside a 12 x 9 display window
    path = _write_exr(tmp_path / 'inside.exr', planes, dataWindow=window(2, 3, 6, 6),
                      displayWindow=window(0, 0, WIDTH - 1, HEIGHT - 1))
    expected = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    expected[3:7, 2:7] = _bgr(planes)
    np.testing.assert_array_equal(read_hdr(path), expected)
    # Overscan: data from (-1, -2) to (12, 9) around a display window (0, 0)-(11, 8) starting off the origin too.
    planes = _planes(12, 14)
    path = _write_exr(tmp_path / 'overscan.exr', planes, dataWindow=window(-1, -2, 12, 9),
                      displayWindow=window(0, 0, WIDTH - 1, HEIGHT - 1))
    np.testing.assert_array_equal(read_hdr(path), _bgr(planes)[2:2 + HEIGHT, 1:1 + WIDTH])
    planes = _planes()
    path = _write_exr(tmp_path / 'shifted.exr', planes, dataWindow=window(10, 20, 10 + WIDTH - 1, 20 + HEIGHT - 1),
                      displayWindow=window(10, 20, 10 + WIDTH - 1, 20 + HEIGHT - 1))
    np.testing.assert_array_equal(read_hdr(path), _bgr(planes))


# ---------------------------------------------------------------- PFM
def _pfm_file(img_rgb: np.ndarray, little_endian: bool, scale: float = 1.0, separator: bytes = b'\n') -> bytes:
    """A PFM file: PF (H x W x 3) or Pf (H x W), rows bottom to top."""
    identifier = b'PF' if img_rgb.ndim == 3 else b'Pf'
    height, width = img_rgb.shape[:2]
    sign = -1 if little_endian else 1
    header = identifier + separator + f'{width} {height}'.encode() + separator + f'{sign * scale}'.encode() + b'\n'
    return header + img_rgb[::-1].astype('<f4' if little_endian else '>f4').tobytes()


@pytest.mark.parametrize('little_endian', [True, False])
@pytest.mark.parametrize('colour', [True, False])
def test_pfm_both_endiannesses_colour_and_greyscale(tmp_path, little_endian, colour):
    planes = _planes()
    rgb = np.stack([planes['R'], planes['G'], planes['B']], axis=2) if colour else planes['R']
    path = _write(tmp_path / 'img.pfm', _pfm_file(rgb, little_endian))
    img = read_hdr(path)
    expected = _bgr(planes) if colour else np.repeat(planes['R'][:, :, None], 3, axis=2)
    np.testing.assert_array_equal(img, expected)
    assert img[0, 1, 2] == 2.0 and img[1, 0, 2] == WIDTH + 1  # top row first, left to right


def test_pfm_header_with_spaces_and_scale_magnitude_not_applied(tmp_path):
    rgb = np.stack([_planes()['R']] * 3, axis=2)
    path = _write(tmp_path / 'spaces.pfm', _pfm_file(rgb, True, scale=4.0, separator=b' '))
    np.testing.assert_array_equal(read_hdr(path), rgb)


def test_write_hdr_pfm_bytes_and_round_trip(tmp_path):
    img = _bgr(_planes())
    write_hdr(str(tmp_path / 'out.pfm'), img)
    raw = (tmp_path / 'out.pfm').read_bytes()
    header = f'PF\n{WIDTH} {HEIGHT}\n-1.0\n'.encode()
    assert raw.startswith(header) and len(raw) == len(header) + HEIGHT * WIDTH * 12
    stored = np.frombuffer(raw[len(header):], '<f4').reshape(HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(stored[::-1, :, ::-1], img)  # bottom row first, RGB samples
    np.testing.assert_array_equal(read_hdr(str(tmp_path / 'out.pfm')), img)


def test_bad_pfm_files_name_the_file(tmp_path):
    whole = _pfm_file(np.ones((3, 4, 3), np.float32), True)
    with pytest.raises(UserInputError, match=r'cut.pfm: 140 bytes of samples, expected 144'):
        read_hdr(_write(tmp_path / 'cut.pfm', whole[:-4]))
    with pytest.raises(UserInputError, match=r'scale.pfm: bad size 4 x 3 or scale .0.'):
        read_hdr(_write(tmp_path / 'scale.pfm', b'PF\n4 3\n0\n' + whole[-144:]))
    with pytest.raises(UserInputError, match=r'p6.pfm: the header must be "PF" or "Pf"'):
        read_hdr(_write(tmp_path / 'p6.pfm', b'P6\n4 3\n255\n' + bytes(36)))


# ---------------------------------------------------------------- real files
def test_shared_files_read_identically_to_the_previous_readers(shared_dir):
    """The new header parsing changes nothing for standard files: bit-identical to OpenCV / OpenEXR directly."""
    import OpenEXR
    hdr_files = sorted((shared_dir / 'data' / 'hdr').glob('*.hdr'))
    assert len(hdr_files) >= 19
    for path in hdr_files:
        np.testing.assert_array_equal(read_hdr(str(path)), cv2.imread(str(path), cv2.IMREAD_UNCHANGED),
                                      err_msg=str(path))
    for path in sorted((shared_dir / 'data' / 'exr').glob('*.exr')):
        with OpenEXR.File(str(path), separate_channels=True) as exr:
            direct = np.stack([np.asarray(exr.channels()[c].pixels, np.float32) for c in 'BGR'], axis=2)
        np.testing.assert_array_equal(read_hdr(str(path)), direct, err_msg=str(path))
