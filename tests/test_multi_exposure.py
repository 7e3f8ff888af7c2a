"""The multi-exposure base shared by the sRGB and RAW datasets: prior crops, error messages, validation priors.

The expected prior crops are computed by reference implementations written here from the dataset code as it was
before the base was introduced (window and flips drawn with python's ``random`` in the same order, the SKB resampled
to the pixel grid, then flipped like the images), so the shared base must reproduce them for the same seed.
"""
import random
from pathlib import Path
from typing import Dict, Tuple

import cv2
import numpy as np
import pytest

from basicsr_skt.data.bracketire_dataset import BracketIRERawDataset
from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
from basicsr_skt.skb.format import save_scene_priors
from basicsr_skt.skb.geometry import resample_embedding
from basicsr_skt.utils.hdr_io import write_hdr
from basicsr_skt.utils.raw_pipeline import flip_packed, transpose_packed

SRGB_SIZE = (20, 28)  # H, W of the sRGB scenes
RAW_PACKED = (14, 18)  # packed h, w of the RAW scenes (mosaic 28 x 36)
CELL = 4.0


def _priors(folder: Path, size: Tuple[int, int], seed: int) -> Dict[str, np.ndarray]:
    """Random priors on ``CELL``-pixel cells for an image of ``size``; returns what was written."""
    rng = np.random.default_rng(seed)
    height, width = size
    embedding = rng.standard_normal((5, -(-height // int(CELL)), -(-width // int(CELL)))).astype(np.float16)
    labels = rng.integers(0, 6, size=(height, width))
    by_area = np.argsort(-np.bincount(labels.ravel(), minlength=6)[1:], kind='stable') + 1  # 1 = largest segment
    relabel = np.zeros(6, np.uint16)
    relabel[by_area] = np.arange(1, 6)
    labels = relabel[labels]
    save_scene_priors(str(folder), embedding, labels, {'backend': 'vgg16', 'source': 'gt', 'cell_size': [CELL, CELL]})
    return {'embedding': embedding, 'labels': labels}


def _srgb_scene(folder: Path, seed: int) -> Dict[str, np.ndarray]:
    rng = np.random.default_rng(100 + seed)
    folder.mkdir(parents=True)
    for i in range(3):
        assert cv2.imwrite(str(folder / f'input_{i + 1}.tif'), rng.integers(0, 65535, SRGB_SIZE + (3, ), np.uint16))
    (folder / 'exposure.txt').write_text('-2\n0\n2\n')
    gt = rng.random(SRGB_SIZE + (3, )).astype(np.float32)
    write_hdr(str(folder / 'HDRImg.exr'), gt)
    return dict(_priors(folder, SRGB_SIZE, seed), gt=gt)


def _raw_scene(folder: Path, seed: int) -> Dict[str, np.ndarray]:
    rng = np.random.default_rng(200 + seed)
    folder.mkdir(parents=True)
    mosaic = (2 * RAW_PACKED[0], 2 * RAW_PACKED[1])
    for i in range(5):
        np.save(folder / f'raw_{i + 1}.npy', rng.integers(64, 16383, mosaic).astype(np.uint16))
    gt = rng.random(RAW_PACKED + (4, )).astype(np.float32) * 4
    np.save(folder / 'raw_gt.npy', gt)
    meta = {'wb': [2.0, 1.0, 1.5], 'ccm': np.eye(3), 'black_level': 64, 'white_level': 16383}
    np.save(folder / 'metadata.npy', np.array(meta, dtype=object), allow_pickle=True)
    return dict(_priors(folder, RAW_PACKED, seed), gt=gt)


@pytest.fixture(scope='module')
def srgb_root(tmp_path_factory) -> Tuple[Path, Dict[str, Dict[str, np.ndarray]]]:
    root = tmp_path_factory.mktemp('srgb')
    return root, {name: _srgb_scene(root / name, seed) for seed, name in enumerate(['scene_a', 'scene_b'])}


@pytest.fixture(scope='module')
def raw_root(tmp_path_factory) -> Tuple[Path, Dict[str, Dict[str, np.ndarray]]]:
    root = tmp_path_factory.mktemp('raw')
    return root, {name: _raw_scene(root / name, seed) for seed, name in enumerate(['raw_a', 'raw_b'])}


# ------------------------------------------------------------------------------------- reference implementations
def _reference_srgb_crop(scene: Dict[str, np.ndarray], size: int) -> Dict[str, np.ndarray]:
    """The sRGB training crop: window, then hflip / vflip / transpose applied to GT, embedding and labels alike."""
    height, width = scene['gt'].shape[:2]
    top, left = random.randint(0, height - size), random.randint(0, width - size)
    hflip, vflip, rot90 = random.random() < 0.5, random.random() < 0.5, random.random() < 0.5
    images = [
        scene['gt'][top:top + size, left:left + size],
        resample_embedding(scene['embedding'], (CELL, CELL), top, left, size, size, channels_last=True),
        scene['labels'][top:top + size, left:left + size, None]
    ]
    if hflip:
        images = [img[:, ::-1] for img in images]
    if vflip:
        images = [img[::-1] for img in images]
    if rot90:
        images = [img.transpose(1, 0, 2) for img in images]
    gt, embedding, labels = images
    return {'gt': gt.transpose(2, 0, 1), 'skb_embedding': embedding.transpose(2, 0, 1), 'skb_labels': labels[..., 0]}


def _reference_raw_crop(scene: Dict[str, np.ndarray], size: int, hdr_scale: float) -> Dict[str, np.ndarray]:
    """The RAW training crop: flips first, a window one packed pixel larger along each flipped axis, Bayer-exact
    flips of the GT, mirrored-and-trimmed flips of the SKB grid, transposes."""
    height, width = scene['gt'].shape[:2]
    hflip = random.random() < 0.5 and width > size
    vflip = random.random() < 0.5 and height > size
    rot90 = random.random() < 0.5
    win_h, win_w = size + int(vflip), size + int(hflip)
    top, left = random.randint(0, height - win_h), random.randint(0, width - win_w)
    gt = scene['gt'][top:top + win_h, left:left + win_w]
    grid = [
        resample_embedding(scene['embedding'], (CELL, CELL), top, left, win_h, win_w, channels_last=True),
        scene['labels'][top:top + win_h, left:left + win_w, None]
    ]
    if hflip:
        gt = flip_packed(gt, 1)
        grid = [img[:, ::-1][:, :img.shape[1] - 1] for img in grid]
    if vflip:
        gt = flip_packed(gt, 0)
        grid = [img[::-1][:img.shape[0] - 1] for img in grid]
    if rot90:
        gt = transpose_packed(gt)
        grid = [img.transpose(1, 0, 2) for img in grid]
    embedding, labels = grid
    return {
        'gt': gt.transpose(2, 0, 1) / np.float32(hdr_scale),
        'skb_embedding': embedding.transpose(2, 0, 1),
        'skb_labels': labels[..., 0]
    }


def _assert_matches(item, expected: Dict[str, np.ndarray]) -> None:
    for key, value in expected.items():
        np.testing.assert_array_equal(item[key].numpy(), np.asarray(value, item[key].numpy().dtype), err_msg=key)


# ------------------------------------------------------------------------------------------------ prior crops
def test_srgb_training_prior_crops_match_the_reference_for_the_same_seed(srgb_root):
    root, scenes = srgb_root
    dataset = HDRMultiExposureDataset({
        'phase': 'train',
        'dataroot': str(root),
        'gt_glob': 'HDRImg.exr',
        'gt_size': 8,
        'skb': True
    })
    flips = set()
    for seed in range(16):
        random.seed(seed)
        item = dataset[seed % 2]
        random.seed(seed)
        expected = _reference_srgb_crop(scenes[item['scene']], 8)
        _assert_matches(item, expected)
        assert item['skb_embedding'].shape == (5, 8, 8) and item['skb_labels'].shape == (8, 8)
        flips.add(tuple(expected['skb_labels'][0, :2]))
    assert len(flips) > 8  # windows and flips really vary


def test_raw_training_prior_crops_match_the_reference_for_the_same_seed(raw_root):
    root, scenes = raw_root
    dataset = BracketIRERawDataset({
        'phase': 'train',
        'dataroot': str(root),
        'gt_size': 8,
        'frame_indices': [1, 2, 3],
        'skb': True
    })
    for seed in range(16):
        random.seed(seed)
        item = dataset[seed % 2]
        random.seed(seed)
        _assert_matches(item, _reference_raw_crop(scenes[item['scene']], 8, 16.0))
        assert item['skb_embedding'].shape == (5, 8, 8) and item['skb_labels'].shape == (8, 8)


def test_both_datasets_give_whole_image_priors_at_validation(srgb_root, raw_root):
    """``skb: true`` on a validation dataset gives the priors of the whole image, sRGB and RAW alike."""
    cases = [(HDRMultiExposureDataset, srgb_root, dict(gt_glob='HDRImg.exr')),
             (BracketIRERawDataset, raw_root, dict(frame_indices=[1, 2, 3]))]
    for dataset_type, (root, scenes), extra in cases:
        dataset = dataset_type(dict({'phase': 'val', 'dataroot': str(root), 'skb': True}, **extra))
        for index in range(len(dataset)):
            item = dataset[index]
            scene = scenes[item['scene']]
            height, width = scene['labels'].shape
            embedding = resample_embedding(scene['embedding'], (CELL, CELL), 0, 0, height, width, channels_last=True)
            _assert_matches(item, {'skb_embedding': embedding.transpose(2, 0, 1), 'skb_labels': scene['labels']})
            assert item['gt'].shape[-2:] == (height, width)
        without = dataset_type(dict({'phase': 'val', 'dataroot': str(root)}, **extra))[0]
        assert 'skb_embedding' not in without and 'skb_labels' not in without


# ------------------------------------------------------------------------------------------------ error messages
@pytest.mark.parametrize('dataset_type', [HDRMultiExposureDataset, BracketIRERawDataset])
def test_errors_name_the_dataset_class(dataset_type, tmp_path, srgb_root, raw_root):
    name = dataset_type.__name__
    is_raw = dataset_type is BracketIRERawDataset
    root = (raw_root if is_raw else srgb_root)[0]

    def make(opt):
        return dataset_type(dict(opt, **({} if is_raw else {'gt_glob': 'HDRImg.exr'})))

    with pytest.raises(ValueError, match=f'^{name}: option dataroot'):
        make({'phase': 'val'})
    with pytest.raises(ValueError, match=f'^{name}: dataroot .* is not a folder'):
        make({'phase': 'val', 'dataroot': str(tmp_path / 'nowhere')})
    with pytest.raises(ValueError, match=f'^{name}: option gt_size'):
        make({'phase': 'train', 'dataroot': str(root)})
    with pytest.raises(ValueError, match=f'^{name}: io_backend must be'):
        make({'phase': 'val', 'dataroot': str(root), 'io_backend': {'type': 'ftp'}})
    with pytest.raises(ValueError, match=f'^{name}: io_backend type lmdb needs'):
        make({'phase': 'val', 'dataroot': str(root), 'io_backend': {'type': 'lmdb'}})
    with pytest.raises(ValueError, match=rf"^{name}: scene\(s\) \['missing'\] from scene_list"):
        make({'phase': 'val', 'dataroot': str(root), 'scene_list': ['missing']})
    with pytest.raises(ValueError, match=rf"^{name}: scene\(s\) \['missing'\] from exclude_scenes"):
        make({'phase': 'val', 'dataroot': str(root), 'exclude_scenes': ['missing']})
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match=f'^{name}: no scenes found in'):
        make({'phase': 'val', 'dataroot': str(tmp_path / 'empty')})
    bare = tmp_path / 'bare'
    (_raw_scene if is_raw else _srgb_scene)(bare / 'a', 0)
    for path in bare.glob('a/skb_*'):
        path.unlink()
    with pytest.raises(ValueError, match=rf"^{name}: skb is true but 1 scene\(s\) of .* have no semantic priors"):
        make({'phase': 'val', 'dataroot': str(bare), 'skb': True})


def test_raw_empty_dataroot_names_the_raw_layout(tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match=r'^BracketIRERawDataset: no scenes found in .*raw_1\.npy'):
        BracketIRERawDataset({'phase': 'val', 'dataroot': str(tmp_path / 'empty')})


def test_unknown_keys_warning_names_the_dataset_class(raw_root, basicsr_warnings):
    BracketIRERawDataset({'name': 'r', 'phase': 'val', 'dataroot': str(raw_root[0]), 'hdr_scal': 16})
    assert any("dataset 'r' (BracketIRERawDataset): unknown key 'hdr_scal'" in message for message in basicsr_warnings)
