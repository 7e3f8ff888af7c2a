"""Synthetic brackets from HDR radiance maps: exposure ratios, normalisation, alignment, determinism, the script."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import load_script

from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
from basicsr_skt.synthesis.demo_scenes import DemoSceneConfig, render_scene, scene_rng
from basicsr_skt.synthesis.synthetic_brackets import (BracketConfig, CameraResponse, bracket_rng, exposure_scale,
                                                      make_synthetic_dataset, simulate_bracket)
from basicsr_skt.utils.hdr_io import read_exposure_values, read_hdr, write_hdr

STILL = dict(max_shift=0.0, object_speed=(0.0, 0.0))  # no misalignment


@pytest.fixture(scope='module')
def radiance() -> np.ndarray:
    """A procedural radiance map with a wide range (light sources far above the rest), 150 x 200."""
    return render_scene(scene_rng(0, 5, 0), DemoSceneConfig(height=150, width=200)).gt


def _linear(bracket, index: int, response: CameraResponse) -> np.ndarray:
    """Frame ``index`` linearised with the inverse response and divided by its exposure time."""
    return response.inverse(bracket.frames[index] / 65535.0) / 2.0**bracket.evs[index]


def _well_exposed(bracket, index: int) -> np.ndarray:
    """Pixels of frame ``index`` with every channel above the noise floor and below saturation."""
    frame = bracket.frames[index]
    return (frame.min(axis=2) > 0.1 * 65535) & (frame.max(axis=2) < 0.9 * 65535)


@pytest.mark.parametrize('response', ['gamma', 's_curve'])
def test_frames_have_the_requested_exposure_ratios(radiance, response):
    config = BracketConfig(evs=(-2.0, 0.0, 1.5), response=response, **STILL)
    bracket = simulate_bracket(radiance, config, bracket_rng(0, 'ratio'))
    curve = config.camera_response()
    for low, high in ((0, 1), (1, 2), (0, 2)):
        both = _well_exposed(bracket, low) & _well_exposed(bracket, high)
        assert both.mean() > 0.05
        signal_low = (bracket.frames[low] / 65535.0)[both]
        signal_high = (bracket.frames[high] / 65535.0)[both]
        ratio = curve.inverse(signal_high).mean() / curve.inverse(signal_low).mean()
        assert ratio == pytest.approx(2.0**(config.evs[high] - config.evs[low]), rel=0.01)
        # Every frame, linearised and divided by t, estimates the same radiance: the GT.
        np.testing.assert_allclose(_linear(bracket, low, curve)[both].mean(), bracket.gt[both].mean(), rtol=0.01)


def test_camera_response_inverse_and_shape():
    signal = np.linspace(0.0, 1.0, 101)
    for kind in ('gamma', 's_curve'):
        curve = CameraResponse(kind)
        np.testing.assert_allclose(curve.inverse(curve(signal)), signal, atol=1e-12)
        assert np.all(np.diff(curve(signal)) > 0)
    s_curve, gamma = CameraResponse('s_curve'), CameraResponse('gamma')
    assert s_curve(np.array(0.001)) < gamma(np.array(0.001)) and s_curve(np.array(0.9)) > gamma(np.array(0.9))
    with pytest.raises(ValueError, match='s_curve'):
        CameraResponse('log')


def test_exposure_normalisation_puts_the_percentile_at_the_target(radiance):
    config = BracketConfig(percentile=90.0, target=0.5, **STILL)
    bracket = simulate_bracket(radiance * 37.0, config, bracket_rng(0, 'norm'))
    assert np.percentile(bracket.gt.max(axis=2), 90.0) == pytest.approx(0.5, rel=1e-4)  # t_ref = 2 ** 0
    margin = config.margin  # the border that camera motion could bring into view is not part of the image
    expected = exposure_scale(radiance[margin:-margin, margin:-margin] * 37.0, 1.0, 90.0, 0.5)
    assert bracket.scale == pytest.approx(expected, rel=1e-6)
    assert 0.0 < bracket.fraction_above_one < 0.1
    assert bracket.info['fraction_gt_above_one'] == bracket.fraction_above_one
    shifted_ev = simulate_bracket(radiance, BracketConfig(evs=(1.0, 3.0, 5.0), **STILL), bracket_rng(0, 'norm'))
    assert np.percentile(shifted_ev.gt.max(axis=2) * 8.0, 97.0) == pytest.approx(0.8, rel=1e-4)  # t_ref = 2 ** 3


def test_gt_is_aligned_with_the_reference_and_other_frames_are_not(radiance):
    config = BracketConfig(max_shift=6.0, object_speed=(5.0, 8.0))
    bracket = simulate_bracket(radiance, config, bracket_rng(1, 'align'))
    curve = config.camera_response()
    assert np.array_equal(bracket.homographies[1], np.eye(3)) and bracket.object_offsets[1] == (0, 0)
    ref_ok = _well_exposed(bracket, 1)
    for shift, bound in ((0, (0.0, 0.03)), (3, (0.07, 1.0))):  # the reference sees the GT, up to noise
        gt = np.roll(bracket.gt, shift, axis=1)
        error = np.abs(_linear(bracket, 1, curve) - gt)[ref_ok] / gt[ref_ok]
        assert bound[0] < np.median(error) < bound[1]
    noiseless = simulate_bracket(radiance, BracketConfig(shot_noise=0.0, read_noise=0.0), bracket_rng(1, 'align'))
    expected = np.round(curve(np.clip(noiseless.gt.astype(np.float64), 0.0, 1.0)) * 65535)  # t_ref = 1
    np.testing.assert_array_equal(noiseless.frames[1], expected)  # exactly the GT's pixels
    height, width = bracket.gt.shape[:2]
    static = ~cv2.dilate(bracket.motion_mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert 0.0 < bracket.motion_mask.mean() < 0.3
    assert bracket.object_offsets[0] == tuple(-v for v in bracket.object_offsets[2])
    for index in (0, 2):
        # frame_i(p) shows gt(H_i p): warping the GT with H_i re-aligns it with frame i (outside the moving region).
        warped = cv2.warpPerspective(
            bracket.gt, bracket.homographies[index], (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        valid = _well_exposed(bracket, index) & static
        valid[:8], valid[-8:], valid[:, :8], valid[:, -8:] = False, False, False, False
        linear = _linear(bracket, index, curve)
        aligned = np.median(np.abs(linear - warped)[valid] / warped[valid])
        unaligned = np.median(np.abs(linear - bracket.gt)[valid] / bracket.gt[valid])
        assert aligned < 0.05 and unaligned > 2 * aligned


def test_max_size_rescales_or_crops(radiance):
    small = simulate_bracket(radiance, BracketConfig(max_size=64, max_shift=3.0), bracket_rng(0, 'small'))
    assert max(small.gt.shape[:2]) <= 64 and small.gt.shape[:2] == small.frames[0].shape[:2]
    crop = simulate_bracket(radiance, BracketConfig(max_size=64, resize='crop', max_shift=3.0), bracket_rng(0, 'c'))
    assert crop.gt.shape[:2] == (64, 64)


def _files(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


def test_written_scenes_are_deterministic_and_readable(radiance, tmp_path):
    photos = tmp_path / 'photos'
    photos.mkdir()
    write_hdr(str(photos / 'lamp.exr'), radiance)
    write_hdr(str(photos / 'room.hdr'), radiance[::-1].copy())
    config = BracketConfig(max_size=96)
    make_synthetic_dataset(str(photos), str(tmp_path / 'a'), config, seed=3)
    make_synthetic_dataset(str(photos), str(tmp_path / 'b'), config, seed=3)
    make_synthetic_dataset(str(photos), str(tmp_path / 'c'), config, seed=4, names=['room'])
    files_a, files_b, files_c = _files(tmp_path / 'a'), _files(tmp_path / 'b'), _files(tmp_path / 'c')
    assert files_a == files_b
    assert sorted(files_a) == [
        f'{scene}/{name}' for scene in ('lamp', 'room')
        for name in ('HDRImg.hdr', 'bracket_info.json', 'bracket_preview.png', 'exposure.txt', 'input_1.tif',
                     'input_2.tif', 'input_3.tif')
    ]
    assert files_c['room/input_1.tif'] != files_a['room/input_1.tif']  # another seed, another capture
    info = json.loads(files_a['lamp/bracket_info.json'])
    assert info['source'] == 'lamp.exr' and info['seed'] == 3 and len(info['homographies_frame_to_reference']) == 3
    assert read_exposure_values(str(tmp_path / 'a' / 'lamp' / 'exposure.txt')) == [-2.0, 0.0, 2.0]
    dataset = HDRMultiExposureDataset({'phase': 'val', 'dataroot': str(tmp_path / 'a')})
    item = dataset[0]
    assert item['scene'] == 'lamp' and item['lq'].shape[0] == 3 and max(item['gt'].shape[1:]) <= 96
    with pytest.raises(FileExistsError, match='force'):
        make_synthetic_dataset(str(photos), str(tmp_path / 'a'), config, seed=5)
    assert _files(tmp_path / 'a') == files_a  # nothing overwritten


def test_script_on_real_photographs(shared_dir, tmp_path, capsys):
    script = load_script('make_synthetic_brackets')
    out = tmp_path / 'Training'
    args = [
        '--input',
        str(shared_dir / 'data' / 'hdr'), '--out',
        str(out), '--images', 'Carrots', 'Desk', '--max-size', '160', '--response', 's_curve'
    ]
    assert script.main(args) == 0
    printed = capsys.readouterr().out
    assert 'Wrote 2 scenes' in printed and '% of GT pixels > 1' in printed
    for scene in ('Carrots', 'Desk'):
        gt = read_hdr(str(out / scene / 'HDRImg.hdr'))
        info = json.loads((out / scene / 'bracket_info.json').read_text())
        assert max(gt.shape[:2]) <= 160 and info['config']['response'] == 's_curve'
        assert 0.0 <= info['fraction_gt_above_one'] < 0.1
        assert np.percentile(gt.max(axis=2), 97.0) == pytest.approx(0.8, rel=0.02)  # after the RGBE round trip
        preview = cv2.imread(str(out / scene / 'bracket_preview.png'))
        assert preview.dtype == np.uint8 and preview.shape[1] == 4 * 320
    assert script.main(args) == 1 and '--force' in capsys.readouterr().err
    assert script.main(args[:2] + ['--out', str(out), '--images', 'Nope']) == 1
    assert "['Nope'] not found" in capsys.readouterr().err
