"""Procedural demo data: determinism, layout, physical sanity and the command-line script."""
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import load_script

from basicsr_skt.synthesis.demo_scenes import DemoSceneConfig, make_demo_dataset, render_scene, scene_rng
from basicsr_skt.utils.hdr_io import read_exposure_values, read_hdr, read_ldr

SMALL = DemoSceneConfig(height=64, width=96)


def _files(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def scene():
    return render_scene(scene_rng(0, 0, 0), DemoSceneConfig())


def test_same_seed_gives_identical_bytes(tmp_path):
    make_demo_dataset(str(tmp_path / 'a'), num_train=2, num_val=1, config=SMALL, seed=7)
    make_demo_dataset(str(tmp_path / 'b'), num_train=2, num_val=1, config=SMALL, seed=7)
    make_demo_dataset(str(tmp_path / 'c'), num_train=2, num_val=1, config=SMALL, seed=8)
    files_a, files_b, files_c = _files(tmp_path / 'a'), _files(tmp_path / 'b'), _files(tmp_path / 'c')
    assert sorted(files_a) == [
        f'{split}/{scene}/{name}'
        for split, scene in [('Test', 'demo_val_000'), ('Training', 'demo_train_000'), ('Training', 'demo_train_001')]
        for name in ['HDRImg.hdr', 'exposure.txt', 'input_1.tif', 'input_2.tif', 'input_3.tif']
    ]
    assert files_a == files_b
    assert files_a.keys() == files_c.keys()
    assert all(files_a[k] != files_c[k] for k in files_a if k.endswith('.tif'))


def test_adding_scenes_keeps_existing_ones(tmp_path):
    make_demo_dataset(str(tmp_path / 'a'), num_train=1, num_val=0, config=SMALL, seed=1)
    make_demo_dataset(str(tmp_path / 'b'), num_train=3, num_val=0, config=SMALL, seed=1)
    files_a, files_b = _files(tmp_path / 'a'), _files(tmp_path / 'b')
    assert all(files_a[k] == files_b[k] for k in files_a)


def test_written_files_are_consistent(tmp_path):
    summary = make_demo_dataset(str(tmp_path), num_train=1, num_val=0, config=SMALL, seed=2)
    folder = Path(summary['scenes'][0])
    assert folder == tmp_path / 'Training' / 'demo_train_000'
    assert read_exposure_values(str(folder / 'exposure.txt')) == [-2.0, 0.0, 2.0]
    frame = cv2.imread(str(folder / 'input_1.tif'), cv2.IMREAD_UNCHANGED)
    assert frame.dtype == np.uint16 and frame.shape == (64, 96, 3)
    gt = read_hdr(str(folder / 'HDRImg.hdr'))
    assert gt.shape == (64, 96, 3)
    # Reference frame ~ GT ** (1 / 2.2) on pixels the reference does not clip, also after the RGBE round trip.
    ref = read_ldr(str(folder / 'input_2.tif'))
    unclipped = gt.max(axis=2) < 0.9
    error = np.abs(ref - np.clip(gt, 0, 1)**(1 / 2.2))[unclipped]
    assert np.median(error) < 0.01 and np.percentile(error, 99) < 0.03


def test_existing_scenes_need_force(tmp_path):
    make_demo_dataset(str(tmp_path), num_train=3, num_val=0, config=SMALL)
    with pytest.raises(FileExistsError, match='demo_train_000'):
        make_demo_dataset(str(tmp_path), num_train=1, num_val=0, config=SMALL)
    make_demo_dataset(str(tmp_path), num_train=1, num_val=0, config=SMALL, force=True)
    assert sorted(p.name for p in (tmp_path / 'Training').iterdir()) == ['demo_train_000']  # stale scenes removed


def test_reference_frame_matches_gt_within_noise(scene):
    gt, ref = scene.gt, scene.frames[1].astype(np.float64) / 65535
    assert scene.shifts[1] == (0, 0) and scene.object_offsets[1] == (0, 0)
    unclipped = gt.max(axis=2) < 0.95
    error = np.abs(ref - np.clip(gt, 0, 1)**(1 / 2.2))[unclipped]
    assert unclipped.mean() > 0.85
    assert np.median(error) < 0.006 and np.percentile(error, 99.9) < 0.04
    assert error.mean() > 1e-4  # there is noise


def test_physical_properties(scene):
    frames = [f.astype(np.float64) / 65535 for f in scene.frames]
    saturated = [np.mean(f.max(axis=2) >= 1.0) for f in frames]
    assert saturated[2] > 0.1  # the long exposure clips
    assert saturated[0] < saturated[1] < saturated[2]
    assert saturated[0] < 0.01  # only the light sources clip in the short exposure
    assert frames[0].mean() < frames[1].mean() < frames[2].mean()
    # GT: mostly within [0, 1] (sigmoid-friendly, like Kalantari's GT), a few highlights, light sources far above 1.
    assert 0.005 < scene.fraction_above_one < 0.15
    assert scene.gt.max() > 5.0 and scene.gt.min() >= 0.0
    assert 0.1 < np.median(scene.gt) < 0.35
    assert np.isfinite(scene.gt).all() and scene.gt.dtype == np.float32


def _median_relative_error(linear: np.ndarray, gt: np.ndarray, t: float, mask: np.ndarray) -> float:
    """Median |linear - gt| / gt over ``mask`` pixels that are well exposed (neither dark nor clipped) at time t."""
    valid = mask & (gt.min(axis=2) * t > 0.02) & (gt.max(axis=2) * t < 0.9)
    return float(np.median(np.abs(linear - gt)[valid] / gt[valid]))


def test_non_reference_frames_move(scene):
    """Frame i equals the GT shifted by its camera shift, away from the moving object; the object moves."""
    height, width = scene.gt.shape[:2]
    for index in (0, 2):
        dy, dx = scene.shifts[index]
        assert (dy, dx) != (0, 0) and max(abs(dy), abs(dx)) <= 3
        t = 2.0**scene.evs[index]
        linear = (scene.frames[index].astype(np.float64) / 65535)**2.2 / t
        # frame_i[y, x] shows the reference's pixel (y + dy, x + dx).
        ys, xs = slice(max(-dy, 0), height - max(dy, 0)), slice(max(-dx, 0), width - max(dx, 0))
        yr, xr = slice(max(dy, 0), height + min(dy, 0)), slice(max(dx, 0), width + min(dx, 0))
        aligned = _median_relative_error(linear[ys, xs], scene.gt[yr, xr], t, ~scene.motion_mask[yr, xr])
        unaligned = _median_relative_error(linear, scene.gt, t, ~scene.motion_mask)
        assert aligned < 0.05
        assert unaligned > 2 * aligned
    assert scene.object_offsets[0] != (0, 0) and scene.object_offsets[0] == tuple(-v for v in scene.object_offsets[2])
    assert 0 < scene.motion_mask.mean() < 0.2


def test_config_validation():
    with pytest.raises(ValueError, match='sorted'):
        DemoSceneConfig(evs=(2.0, 0.0, -2.0))
    with pytest.raises(ValueError, match='32 x 32'):
        DemoSceneConfig(height=16)


def test_command_line_script(tmp_path, capsys):
    script = load_script('make_demo_data')
    args = ['--out', str(tmp_path), '--num-train', '1', '--num-val', '1', '--height', '40', '--width', '48']
    assert script.main(args) == 0
    assert 'Wrote 2 scenes' in capsys.readouterr().out
    assert script.main(args) == 1  # exists, no --force
    assert '--force' in capsys.readouterr().err
    assert script.main(args + ['--force', '--evs', '-3', '0', '3']) == 0
    assert read_exposure_values(str(tmp_path / 'Test' / 'demo_val_000' / 'exposure.txt')) == [-3.0, 0.0, 3.0]
    assert script.main(['--out', str(tmp_path), '--check']) == 0
    assert 'OK: 2 scenes' in capsys.readouterr().out


def test_demo_script_uses_kalantari_evs(tmp_path):
    """The demo's scenes (make_demo_data.py defaults) have EVs 0/2/4 relative to the shortest frame: the GT is the
    radiance the shortest frame sees, > 1 only where it clips (the light sources), so PSNR-l is meaningful."""
    script = load_script('make_demo_data')
    assert script.main(['--out', str(tmp_path), '--num-train', '0', '--num-val', '2', '--height', '96', '--width',
                        '128']) == 0
    for scene in ('demo_val_000', 'demo_val_001'):
        folder = tmp_path / 'Test' / scene
        assert read_exposure_values(str(folder / 'exposure.txt')) == [0.0, 2.0, 4.0]
        gt = read_hdr(str(folder / 'HDRImg.hdr'))
        shortest = read_ldr(str(folder / 'input_1.tif'))
        above_one, short_clipped = np.mean(gt.max(axis=2) > 1.0), np.mean(shortest.max(axis=2) >= 1.0)
        assert 0 < above_one < 0.01 and above_one <= short_clipped + 0.002
        assert 0.02 < np.median(gt) < 0.1  # the reference (t = 4) is well exposed: median about 0.2 / 4
        # the reference frame (t = 4) linearised back to the GT's scale where it is unclipped (camera shift: 0)
        ref = read_ldr(str(folder / 'input_2.tif'))
        unclipped = ref.max(axis=2) < 0.9
        relative = np.abs(ref**2.2 / 4.0 - gt)[unclipped] / np.maximum(gt[unclipped], 0.01)
        assert np.median(relative) < 0.05
