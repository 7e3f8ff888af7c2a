"""HDRMultiExposureDataset: crop/augment alignment, network input values, full-size validation and bad inputs."""
import copy
import random
import shutil
from pathlib import Path
from typing import List, Optional, Sequence

import cv2
import numpy as np
import pytest
import torch

from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
from basicsr_skt.synthesis.demo_scenes import DemoSceneConfig, make_demo_dataset
from basicsr_skt.utils.hdr_io import write_hdr

EVS = (-1.0, 0.0, 2.0)


def _write_scene(folder: Path,
                 frames: Sequence[np.ndarray],
                 evs: Sequence[float] = EVS,
                 gt: Optional[np.ndarray] = None,
                 gt_name: str = 'HDRImg.exr',
                 frame_names: Optional[List[str]] = None) -> None:
    """A scene folder in the Kalantari layout with the given uint16 frames, EVs and GT."""
    folder.mkdir(parents=True, exist_ok=True)
    frame_names = frame_names or [f'input_{i + 1}.tif' for i in range(len(frames))]
    for name, frame in zip(frame_names, frames):
        assert cv2.imwrite(str(folder / name), frame)
    (folder / 'exposure.txt').write_text(''.join(f'{ev}\n' for ev in evs))
    if gt is None:
        gt = np.full(frames[0].shape[:2] + (3, ), 0.5, np.float32)
    write_hdr(str(folder / gt_name), gt)


def _coordinate_scene(folder: Path, height: int = 20, width: int = 28) -> None:
    """Frames and GT whose pixels encode (y, x): B = y, G = x; R = frame number (1..3) or 7 for the GT."""
    yy, xx = np.mgrid[0:height, 0:width]
    frames = [np.stack([yy, xx, np.full_like(yy, 1000 * (i + 1))], axis=2).astype(np.uint16) for i in range(3)]
    gt = np.stack([yy, xx, np.full_like(yy, 7)], axis=2).astype(np.float32)  # exact in float32 EXR
    _write_scene(folder, frames, gt=gt, gt_name='HDRImg.exr')


def _opt(dataroot: Path, phase: str = 'train', **kwargs) -> dict:
    opt = {
        'name': 'test',
        'type': 'HDRMultiExposureDataset',
        'phase': phase,
        'dataroot': str(dataroot),
        'io_backend': {
            'type': 'disk'
        }
    }
    if phase == 'train':
        opt['gt_size'] = 8
    opt.update(kwargs)
    return opt


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('demo')
    make_demo_dataset(str(root), num_train=2, num_val=1, config=DemoSceneConfig(height=48, width=72), seed=3)
    return root


@pytest.fixture()
def coord_root(tmp_path) -> Path:
    _coordinate_scene(tmp_path / 'root' / 'scene_a')
    return tmp_path / 'root'


def _frame_coordinates(lq: torch.Tensor, frame: int) -> np.ndarray:
    """(y, x, id) encoded in frame ``frame``'s L channels (lq[:, 3:6]), shape (3, h, w)."""
    return np.rint(lq[frame, 3:6].numpy().astype(np.float64) * 65535).astype(np.int64)


# ---------------------------------------------------------------- registration and options
def test_registered_and_option_dict_untouched(coord_root):
    from basicsr.utils.registry import DATASET_REGISTRY  # after basicsr_skt (it makes basicsr importable)

    opt = _opt(coord_root, gt_glob='HDRImg.exr', scene_list=['scene_a'])
    before = copy.deepcopy(opt)
    dataset = DATASET_REGISTRY.get('HDRMultiExposureDataset')(opt)
    dataset[0]
    assert opt == before
    assert len(dataset) == 1 and dataset.ref_index == 1


# ---------------------------------------------------------------- crop / augmentation alignment
def test_crop_and_augmentation_keep_frames_and_gt_aligned(coord_root):
    dataset = HDRMultiExposureDataset(_opt(coord_root, gt_glob='HDRImg.exr', gt_size=8))
    random.seed(0)
    seen_hflip = seen_transpose = False
    for _ in range(40):
        item = dataset[0]
        assert item['lq'].shape == (3, 6, 8, 8) and item['gt'].shape == (3, 8, 8)
        gt = item['gt'].numpy().astype(np.int64)
        assert (gt[2] == 7).all()
        # The GT patch is one 8 x 8 block of the image, possibly flipped / transposed (a dihedral transform).
        ys, xs = np.unique(gt[0]), np.unique(gt[1])
        assert len(ys) == 8 and len(xs) == 8 and np.ptp(ys) == 7 and np.ptp(xs) == 7
        for frame in range(3):
            coords = _frame_coordinates(item['lq'], frame)
            np.testing.assert_array_equal(coords[0], gt[0])  # same y at every output pixel
            np.testing.assert_array_equal(coords[1], gt[1])  # same x
            assert (coords[2] == 1000 * (frame + 1)).all()  # frames stay in file-name order
        seen_hflip |= bool(gt[1, 0, 0] > gt[1, 0, 1])
        seen_transpose |= bool(gt[0, 0, 0] != gt[0, 0, 1])
    assert seen_hflip and seen_transpose  # the augmentation did run


def test_training_items_reproducible_with_python_seed(demo_root):
    dataset = HDRMultiExposureDataset(_opt(demo_root / 'Training', gt_size=16))
    random.seed(123)
    first = [dataset[i % 2]['gt'] for i in range(4)]
    random.seed(123)
    second = [dataset[i % 2]['gt'] for i in range(4)]
    for a, b in zip(first, second):
        assert torch.equal(a, b)


def test_no_augmentation_when_disabled(coord_root):
    dataset = HDRMultiExposureDataset(_opt(coord_root, gt_glob='HDRImg.exr', gt_size=8, use_hflip=False, use_rot=False))
    random.seed(1)
    for _ in range(10):
        gt = dataset[0]['gt'].numpy()
        assert (np.diff(gt[1], axis=1) == 1).all() and (np.diff(gt[0], axis=0) == 1).all()


def test_cache_is_not_modified_by_augmentation(coord_root):
    dataset = HDRMultiExposureDataset(_opt(coord_root, gt_glob='HDRImg.exr', gt_size=8))
    random.seed(2)
    for _ in range(10):
        dataset[0]
    frames, gt = dataset.reader.cache['scene_a']
    yy, xx = np.mgrid[0:20, 0:28]
    np.testing.assert_array_equal(frames[0][:, :, 0], yy)
    np.testing.assert_array_equal(gt[:, :, 1], xx)


# ---------------------------------------------------------------- values
def test_lq_channels_equal_hand_computed_values_full_size(demo_root):
    dataset = HDRMultiExposureDataset(_opt(demo_root / 'Test', phase='val'))
    item = dataset[0]
    assert item['scene'] == 'demo_val_000'
    assert item['lq'].shape == (3, 6, 48, 72) and item['gt'].shape == (3, 48, 72)  # full images outside training
    np.testing.assert_allclose(item['exposures'].numpy(), [0.25, 1.0, 4.0])
    assert [Path(p).name for p in item['lq_paths']] == ['input_1.tif', 'input_2.tif', 'input_3.tif']
    assert Path(item['gt_path']).name == 'HDRImg.hdr'
    for i, (path, t) in enumerate(zip(item['lq_paths'], [0.25, 1.0, 4.0])):
        ldr = cv2.imread(path, cv2.IMREAD_UNCHANGED).astype(np.float64) / 65535.0
        np.testing.assert_allclose(item['lq'][i, 3:].numpy(), ldr.transpose(2, 0, 1), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(item['lq'][i, :3].numpy(), ldr.transpose(2, 0, 1)**2.2 / t, rtol=1e-5, atol=1e-7)
    gt = cv2.imread(item['gt_path'], cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(item['gt'].numpy(), gt.transpose(2, 0, 1))


def test_lq_values_after_crop_match_the_source_pixels(demo_root):
    full = HDRMultiExposureDataset(_opt(demo_root / 'Training', phase='val'))[1]
    dataset = HDRMultiExposureDataset(
        _opt(demo_root / 'Training', gt_size=16, use_hflip=False, use_rot=False, gamma=2.0))
    random.seed(5)
    item = dataset[1]
    gt_full = full['gt'].numpy()
    # Locate the crop in the full GT, then compare every channel with values computed from the full LDR frames.
    for top in range(48 - 15):
        for left in range(72 - 15):
            if np.array_equal(gt_full[:, top:top + 16, left:left + 16], item['gt'].numpy()):
                ldr = full['lq'][:, 3:, top:top + 16, left:left + 16]
                np.testing.assert_array_equal(item['lq'][:, 3:], ldr)
                times = torch.tensor([0.25, 1.0, 4.0]).view(3, 1, 1, 1)
                torch.testing.assert_close(item['lq'][:, :3], ldr**2.0 / times)
                return
    pytest.fail('training crop not found in the full GT')


def test_list_of_ldr_globs_and_dataloader(tmp_path):
    frames = [np.full((16, 16, 3), v, np.uint16) for v in (1000, 2000, 3000)]
    _write_scene(tmp_path / 's1', frames, frame_names=['a.png', 'b.tif', 'c.png'], gt_name='HDRImg.hdr')
    _write_scene(tmp_path / 's2', frames, frame_names=['a.png', 'b.tif', 'c.png'], gt_name='HDRImg.hdr')
    dataset = HDRMultiExposureDataset(_opt(tmp_path, phase='val', ldr_glob=['*.tif', '*.png'], cache_images=False))
    assert [Path(p).name for p in dataset[0]['lq_paths']] == ['a.png', 'b.tif', 'c.png']
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=2)))
    assert batch['lq'].shape == (2, 3, 6, 16, 16) and batch['exposures'].shape == (2, 3)
    assert batch['scene'] == ['s1', 's2']
    expected = torch.tensor([1000, 2000, 3000]).float().div(65535).view(1, 3, 1, 1).expand(2, 3, 16, 16)
    torch.testing.assert_close(batch['lq'][:, :, 3], expected)


def test_scene_list_file_and_list(demo_root, tmp_path):
    list_file = tmp_path / 'scenes.txt'
    list_file.write_text('demo_train_001\n\n')
    assert [r.name for r in HDRMultiExposureDataset(_opt(demo_root / 'Training', scene_list=str(list_file))).scenes
            ] == ['demo_train_001']
    with pytest.raises(ValueError, match='nope'):
        HDRMultiExposureDataset(_opt(demo_root / 'Training', scene_list=['demo_train_000', 'nope']))


def test_exclude_scenes_holds_out_validation_scenes(demo_root):
    everything = [r.name for r in HDRMultiExposureDataset(_opt(demo_root / 'Training')).scenes]
    kept = [
        r.name for r in HDRMultiExposureDataset(_opt(demo_root / 'Training', exclude_scenes=[everything[0]])).scenes
    ]
    assert kept == everything[1:]
    with pytest.raises(ValueError, match="'nope'.*from exclude_scenes"):
        HDRMultiExposureDataset(_opt(demo_root / 'Training', exclude_scenes=['nope']))


# ---------------------------------------------------------------- bad inputs
@pytest.fixture()
def scene_copy(demo_root, tmp_path) -> Path:
    """A writable copy of one demo scene, as ``<root>/bad_scene``."""
    root = tmp_path / 'root'
    shutil.copytree(demo_root / 'Training' / 'demo_train_000', root / 'bad_scene')
    return root


def test_missing_frame(scene_copy):
    (scene_copy / 'bad_scene' / 'input_3.tif').unlink()
    with pytest.raises(ValueError, match=r"'bad_scene'.*num_frames=3.*found 2"):
        HDRMultiExposureDataset(_opt(scene_copy))


def test_extra_frame(scene_copy):
    shutil.copy(scene_copy / 'bad_scene' / 'input_3.tif', scene_copy / 'bad_scene' / 'input_4.tif')
    with pytest.raises(ValueError, match=r"'bad_scene'.*num_frames=3.*found 4"):
        HDRMultiExposureDataset(_opt(scene_copy))


def test_frames_of_different_sizes(scene_copy):
    assert cv2.imwrite(str(scene_copy / 'bad_scene' / 'input_2.tif'), np.zeros((40, 72, 3), np.uint16))
    dataset = HDRMultiExposureDataset(_opt(scene_copy))
    with pytest.raises(ValueError, match=r"'bad_scene'.*input_2.tif is 72 x 40"):
        dataset[0]


def test_gt_size_differs_from_frames(scene_copy):
    write_hdr(str(scene_copy / 'bad_scene' / 'HDRImg.hdr'), np.ones((48, 70, 3), np.float32))
    with pytest.raises(ValueError, match=r"'bad_scene'.*GT HDRImg.hdr is 70 x 48"):
        HDRMultiExposureDataset(_opt(scene_copy, phase='val'))[0]


def test_exposure_count_mismatch(scene_copy):
    (scene_copy / 'bad_scene' / 'exposure.txt').write_text('-2\n0\n')
    with pytest.raises(ValueError, match=r"'bad_scene'.*exposure.txt has 2 values"):
        HDRMultiExposureDataset(_opt(scene_copy))


def test_exposure_file_not_numeric_or_missing(scene_copy):
    (scene_copy / 'bad_scene' / 'exposure.txt').write_text('-2\nzero\n2\n')
    with pytest.raises(ValueError, match=r"'bad_scene'.*exposure.txt, line 2"):
        HDRMultiExposureDataset(_opt(scene_copy))
    (scene_copy / 'bad_scene' / 'exposure.txt').unlink()
    with pytest.raises(ValueError, match=r"'bad_scene'.*exposure.txt is missing"):
        HDRMultiExposureDataset(_opt(scene_copy))


def test_unreadable_frame(scene_copy):
    (scene_copy / 'bad_scene' / 'input_2.tif').write_bytes(b'not an image')
    dataset = HDRMultiExposureDataset(_opt(scene_copy))
    with pytest.raises(ValueError, match=r"'bad_scene'.*input_2.tif"):
        dataset[0]


def test_gt_with_nan_or_inf(tmp_path):
    gt = np.ones((16, 16, 3), np.float32)
    _write_scene(tmp_path / 'nan_scene', [np.zeros((16, 16, 3), np.uint16)] * 3, gt=gt, gt_name='HDRImg.exr')
    import OpenEXR
    gt[3, 4] = [np.nan, np.inf, 1.0]
    channels = {name: gt[:, :, i].copy() for i, name in enumerate('BGR')}
    with OpenEXR.File({'compression': OpenEXR.ZIP_COMPRESSION, 'type': OpenEXR.scanlineimage}, channels) as exr:
        exr.write(str(tmp_path / 'nan_scene' / 'HDRImg.exr'))
    dataset = HDRMultiExposureDataset(_opt(tmp_path, phase='val', gt_glob='HDRImg.exr'))
    with pytest.raises(ValueError, match=r"'nan_scene'.*HDRImg.exr has 2 NaN/Inf"):
        dataset[0]


def test_missing_or_ambiguous_gt(scene_copy):
    with pytest.raises(ValueError, match=r"'bad_scene'.*exactly one GT file.*none"):
        HDRMultiExposureDataset(_opt(scene_copy, gt_glob='*.exr'))
    write_hdr(str(scene_copy / 'bad_scene' / 'other.hdr'), np.ones((48, 72, 3), np.float32))
    with pytest.raises(ValueError, match=r"'bad_scene'.*exactly one GT file"):
        HDRMultiExposureDataset(_opt(scene_copy, gt_glob='*.hdr'))


def test_empty_or_missing_dataroot(tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match=r'no scenes found in .*empty'):
        HDRMultiExposureDataset(_opt(tmp_path / 'empty'))
    with pytest.raises(ValueError, match=r'absent is not a folder'):
        HDRMultiExposureDataset(_opt(tmp_path / 'absent'))


def test_gt_size_larger_than_image(scene_copy):
    dataset = HDRMultiExposureDataset(_opt(scene_copy, gt_size=64))
    with pytest.raises(ValueError, match=r"'bad_scene'.*gt_size=64 is larger than the images \(72 x 48"):
        dataset[0]


@pytest.mark.parametrize('kwargs, message', [
    ({
        'gt_size': None
    }, 'gt_size'),
    ({
        'num_frames': 0
    }, 'num_frames'),
    ({
        'num_frames': 2.5
    }, 'num_frames'),
    ({
        'io_backend': {
            'type': 'lmdb'
        }
    }, 'disk'),
    ({
        'ldr_glob': []
    }, 'ldr_glob'),
    ({
        'gamma': -1.0
    }, 'gamma'),
])
def test_bad_options(demo_root, kwargs, message):
    with pytest.raises(ValueError, match=message):
        HDRMultiExposureDataset(_opt(demo_root / 'Training', **kwargs))


def test_skb_crop_lands_where_the_frames_land(tmp_path):
    """Labels and a coordinate-encoding embedding (cell size 1: cell (i, j) = pixel (y, x)) follow crop and flips."""
    from basicsr_skt.skb.format import save_scene_priors
    _coordinate_scene(tmp_path / 'scene_a')
    yy, xx = np.mgrid[0:20, 0:28]
    embedding = np.stack([yy, xx]).astype(np.float16)
    labels = (yy * 28 + xx).astype(np.uint16)
    save_scene_priors(
        str(tmp_path / 'scene_a'), embedding, labels, {
            'backend': 'vgg16',
            'source': 'gt',
            'cell_size': [1.0, 1.0]
        })
    dataset = HDRMultiExposureDataset(_opt(tmp_path, skb=True, gt_glob='HDRImg.exr'))
    random.seed(3)
    for _ in range(20):
        item = dataset[0]
        gt_y, gt_x = item['gt'][0].numpy(), item['gt'][1].numpy()
        np.testing.assert_array_equal(item['skb_embedding'][0].numpy(), gt_y)
        np.testing.assert_array_equal(item['skb_embedding'][1].numpy(), gt_x)
        np.testing.assert_array_equal(item['skb_labels'].numpy(), gt_y * 28 + gt_x)
        assert item['skb_labels'].dtype == torch.int64 and item['skb_embedding'].shape == (2, 8, 8)
    # validation (the teacher's held-out metrics): the priors of the whole image, same geometry
    whole = HDRMultiExposureDataset(_opt(tmp_path, phase='val', skb=True, gt_glob='HDRImg.exr'))[0]
    height, width = whole['gt'].shape[-2:]
    np.testing.assert_array_equal(whole['skb_labels'].numpy(), labels[:height, :width].astype(np.int64))
    np.testing.assert_array_equal(whole['skb_embedding'].numpy(), embedding[:, :height, :width].astype(np.float32))
    assert 'skb_labels' not in HDRMultiExposureDataset(_opt(tmp_path, phase='val', gt_glob='HDRImg.exr'))[0]
