"""HDR / LDR image I/O: bit-depth normalisation, round trips, real EXR/HDR files and error messages."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from basicsr_skt.utils.hdr_io import (exposure_times, ldr_to_linear, read_exposure_values, read_hdr, read_ldr,
                                      read_ldr_raw, write_hdr)


def _random_radiance(seed: int, height: int = 24, width: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.uniform(0.0, 1.0, (height, width, 3)) * rng.choice([0.01, 1.0, 40.0],
                                                                   (height, width, 1))).astype(np.float32)


def _write_exr_raw(path: Path, channels: dict) -> None:
    """Write an EXR with OpenEXR directly (bypassing write_hdr's checks)."""
    import OpenEXR
    header = {'compression': OpenEXR.ZIP_COMPRESSION, 'type': OpenEXR.scanlineimage}
    with OpenEXR.File(header, channels) as exr:
        exr.write(str(path))


# ---------------------------------------------------------------- LDR
def test_read_ldr_16bit_tiff_exact(tmp_path):
    img = np.random.default_rng(0).integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    img[0, 0] = [0, 65535, 12345]
    path = str(tmp_path / 'frame.tif')
    assert cv2.imwrite(path, img)
    out = read_ldr(path)
    assert out.dtype == np.float32 and out.shape == (20, 30, 3)
    np.testing.assert_array_equal(out, img.astype(np.float32) / np.float32(65535))
    assert out[0, 0, 0] == 0.0 and out[0, 0, 1] == 1.0
    raw, white = read_ldr_raw(path)
    assert white == 65535 and raw.dtype == np.uint16
    np.testing.assert_array_equal(raw, img)


def test_read_ldr_8bit_png_normalised_by_255(tmp_path):
    img = np.random.default_rng(1).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    img[0, 0] = [0, 255, 128]
    path = str(tmp_path / 'frame.png')
    assert cv2.imwrite(path, img)
    out = read_ldr(path)
    np.testing.assert_array_equal(out, img.astype(np.float32) / np.float32(255))
    assert out[0, 0].tolist() == pytest.approx([0.0, 1.0, 128 / 255])


def test_read_ldr_gray_and_alpha(tmp_path):
    gray = np.arange(12 * 10, dtype=np.uint16).reshape(12, 10) * 500
    gray_path = str(tmp_path / 'gray.png')
    assert cv2.imwrite(gray_path, gray)
    out = read_ldr(gray_path)
    assert out.shape == (12, 10, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], gray / np.float32(65535))
    bgra = np.random.default_rng(2).integers(0, 256, (8, 9, 4), dtype=np.uint8)
    bgra_path = str(tmp_path / 'bgra.png')
    assert cv2.imwrite(bgra_path, bgra)
    np.testing.assert_array_equal(read_ldr(bgra_path), bgra[:, :, :3] / np.float32(255))


def test_read_ldr_bad_files_name_the_file(tmp_path):
    corrupt = tmp_path / 'corrupt.tif'
    corrupt.write_bytes(b'II*\x00 this is not a tiff at all' * 4)
    with pytest.raises(ValueError, match='corrupt.tif'):
        read_ldr(str(corrupt))
    with pytest.raises(ValueError, match='missing.png'):
        read_ldr(str(tmp_path / 'missing.png'))
    empty = tmp_path / 'empty.png'
    empty.write_bytes(b'')
    with pytest.raises(ValueError, match='empty.png'):
        read_ldr(str(empty))
    float_tiff = str(tmp_path / 'float.tif')
    assert cv2.imwrite(float_tiff, np.ones((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match='float.tif.*float32'):
        read_ldr(float_tiff)


# ---------------------------------------------------------------- HDR
def test_hdr_round_trip_within_rgbe_tolerance(tmp_path):
    img = _random_radiance(3)
    path = tmp_path / 'sub' / 'dir' / 'img.hdr'  # parent folders are created
    write_hdr(str(path), img)
    out = read_hdr(str(path))
    assert out.dtype == np.float32 and out.shape == img.shape
    # RGBE shares one 8-bit exponent per pixel: error <= 2**-8 of the pixel's largest channel (plus rounding).
    tolerance = img.max(axis=2, keepdims=True) / 128.0
    assert np.all(np.abs(out - img) <= tolerance)
    big = img.max(axis=2) > 0
    assert np.median(np.abs(out - img)[big] / img.max(axis=2, keepdims=True).repeat(3, 2)[big]) < 0.005


def test_exr_round_trip_float32_exact_and_half(tmp_path):
    img = _random_radiance(4)
    write_hdr(str(tmp_path / 'full.exr'), img)
    np.testing.assert_array_equal(read_hdr(str(tmp_path / 'full.exr')), img)
    write_hdr(str(tmp_path / 'half.exr'), img, half=True)
    np.testing.assert_array_equal(read_hdr(str(tmp_path / 'half.exr')), img.astype(np.float16).astype(np.float32))


def test_exr_channel_order_is_bgr(tmp_path):
    height, width = 5, 6
    planes = {name: np.full((height, width), value, np.float32) for name, value in (('R', 3.0), ('G', 2.0), ('B', 1.0))}
    _write_exr_raw(tmp_path / 'rgb.exr', planes)
    assert read_hdr(str(tmp_path / 'rgb.exr'))[0, 0].tolist() == [1.0, 2.0, 3.0]
    _write_exr_raw(tmp_path / 'y.exr', {'Y': np.full((height, width), 0.5, np.float32)})
    np.testing.assert_array_equal(read_hdr(str(tmp_path / 'y.exr')), np.full((height, width, 3), 0.5, np.float32))
    _write_exr_raw(tmp_path / 'depth.exr', {'Z': np.ones((height, width), np.float32)})
    with pytest.raises(ValueError, match=r'depth.exr.*channels'):
        read_hdr(str(tmp_path / 'depth.exr'))


def test_read_hdr_rejects_nan_inf_and_negative(tmp_path):
    planes = {name: np.ones((4, 5), np.float32) for name in 'RGB'}
    planes['G'][0, :2] = np.nan
    planes['B'][1, 1] = np.inf
    _write_exr_raw(tmp_path / 'nan.exr', planes)
    with pytest.raises(ValueError, match=r'nan.exr has 3 NaN/Inf'):
        read_hdr(str(tmp_path / 'nan.exr'))
    planes = {name: np.ones((4, 5), np.float32) for name in 'RGB'}
    planes['R'][2, 3] = -0.5
    _write_exr_raw(tmp_path / 'neg.exr', planes)
    with pytest.raises(ValueError, match=r'neg.exr has 1 negative'):
        read_hdr(str(tmp_path / 'neg.exr'))
    assert read_hdr(str(tmp_path / 'neg.exr'), allow_negative=True)[2, 3, 2] == -0.5


def test_read_hdr_bad_files_name_the_file(tmp_path):
    (tmp_path / 'bad.hdr').write_bytes(b'#?RADIANCE\ngarbage')
    with pytest.raises(ValueError, match='bad.hdr'):
        read_hdr(str(tmp_path / 'bad.hdr'))
    (tmp_path / 'bad.exr').write_bytes(b'\x76\x2f\x31\x01garbage')
    with pytest.raises(ValueError, match='bad.exr'):
        read_hdr(str(tmp_path / 'bad.exr'))
    with pytest.raises(ValueError, match='nothing.exr'):
        read_hdr(str(tmp_path / 'nothing.exr'))
    with pytest.raises(ValueError, match='img.png'):
        read_hdr(str(tmp_path / 'img.png'))


def test_write_hdr_rejects_invalid_data(tmp_path):
    with pytest.raises(ValueError, match='NaN'):
        write_hdr(str(tmp_path / 'a.hdr'), np.full((2, 2, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match='negative'):
        write_hdr(str(tmp_path / 'a.hdr'), -np.ones((2, 2, 3), np.float32))
    with pytest.raises(ValueError, match='shape'):
        write_hdr(str(tmp_path / 'a.hdr'), np.ones((2, 2, 4), np.float32))
    with pytest.raises(ValueError, match='a.png'):
        write_hdr(str(tmp_path / 'a.png'), np.ones((2, 2, 3), np.float32))


def test_shared_exr_files_read_and_match_their_hdr_versions(shared_dir):
    expected_shapes = {'Cannon': (566, 780, 3), 'Rec709': (406, 610, 3)}
    exr_files = sorted((shared_dir / 'data' / 'exr').glob('*.exr'))
    assert {p.stem for p in exr_files} == set(expected_shapes)
    for exr_path in exr_files:
        exr = read_hdr(str(exr_path))
        assert exr.dtype == np.float32 and exr.shape == expected_shapes[exr_path.stem]
        assert np.isfinite(exr).all() and exr.min() >= 0 and exr.max() > 1
        # The .hdr versions were converted from these files: same pixels within RGBE precision, same BGR order.
        hdr = read_hdr(str(shared_dir / 'data' / 'hdr' / f'{exr_path.stem}.hdr'))
        assert hdr.shape == exr.shape
        scale = exr.max(axis=2, keepdims=True) + 1e-3
        assert np.percentile(np.abs(hdr - exr) / scale, 99) < 0.01


def test_shared_hdr_file_reads(shared_dir):
    img = read_hdr(str(shared_dir / 'data' / 'hdr' / 'Desk.hdr'))
    assert img.dtype == np.float32 and img.shape == (874, 644, 3)
    assert np.isfinite(img).all() and img.min() >= 0
    luminance = img.mean(axis=2)
    assert img.max() > 100  # a lamp: a real high dynamic range, far beyond an 8-bit image
    assert np.percentile(luminance, 99.9) / np.percentile(luminance, 0.1) > 1e4


# ---------------------------------------------------------------- exposures
def test_read_exposure_values(tmp_path):
    path = tmp_path / 'exposure.txt'
    path.write_text('0\n\n  3.0 \n6\n\n')
    assert read_exposure_values(str(path)) == [0.0, 3.0, 6.0]
    path.write_text('-2\n0\n\nabc\n')
    with pytest.raises(ValueError, match=r'exposure.txt, line 4'):
        read_exposure_values(str(path))
    with pytest.raises(ValueError, match='absent.txt'):
        read_exposure_values(str(tmp_path / 'absent.txt'))


def test_exposure_times_and_ldr_to_linear():
    times = exposure_times([-2, 0, 2, 0.5])
    assert times.dtype == np.float32
    np.testing.assert_allclose(times, [0.25, 1.0, 4.0, 2**0.5], rtol=1e-7)
    ldr = np.array([[0.0, 0.5, 1.0]], np.float32)
    linear = ldr_to_linear(ldr, 4.0)
    assert linear.dtype == np.float32
    np.testing.assert_allclose(linear, [[0.0, 0.5**2.2 / 4.0, 0.25]], rtol=1e-6)
    assert ldr_to_linear(ldr, np.float64(0.25), gamma=1.0).dtype == np.float32
    np.testing.assert_allclose(ldr_to_linear(torch.from_numpy(ldr), 0.25, gamma=1.0).numpy(), ldr * 4.0)
