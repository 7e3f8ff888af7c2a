"""Semantic priors that do not fit their scene (missing, label maps or embedding grids of another size) are refused when
read or packed. Rows in ``docs/bad-inputs.md``.
"""
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY_SCENES, dataset_opt

from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
from basicsr_skt.data.lmdb_pack import check_scene_values
from basicsr_skt.skb.format import save_scene_priors
from basicsr_skt.skb.geometry import check_embedding_geometry
from basicsr_skt.utils.hdr_io import read_hdr

HEIGHT, WIDTH = TINY_SCENES.height, TINY_SCENES.width


def fake_priors(folder: Path, labels_size=(HEIGHT, WIDTH), cells=(6, 9), cell_size=(8.0, 8.0)) -> None:
    """Valid-format priors (two half-image segments) of a chosen geometry."""
    labels = np.zeros(labels_size, np.uint16)
    labels[:, labels_size[1] // 2:] = 1
    embedding = np.random.default_rng(0).standard_normal((4, ) + tuple(cells)).astype(np.float16)
    save_scene_priors(
        str(folder), embedding, labels, {
            'backend': 'vgg16',
            'source': 'gt',
            'cell_size': list(cell_size)
        })


def test_skb_enabled_but_scenes_have_no_priors(split):
    fake_priors(split / 'demo_train_000')
    with pytest.raises(
            ValueError,
            match=r"skb is true but 1 scene\(s\) .* have no semantic priors .*"
            r"\['demo_train_001'\].*make_semantic_priors.py"):
        HDRMultiExposureDataset(dataset_opt(split, skb=True))


def test_label_map_of_another_size_is_refused(split):
    for scene in ('demo_train_000', 'demo_train_001'):
        fake_priors(split / scene, labels_size=(HEIGHT, WIDTH - 8), cells=(6, 8))
    with pytest.raises(
            ValueError,
            match=r"Scene 'demo_train_000': .*skb_meta.json says image_size \[48, 64\] but the "
            r'images are 48 x 72'):
        HDRMultiExposureDataset(dataset_opt(split, skb=True))[0]
    meta_path = split / 'demo_train_000' / 'skb_meta.json'
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps(dict(meta, image_size=[HEIGHT, WIDTH])))  # meta edited, labels still 48 x 64
    with pytest.raises(
            ValueError,
            match=r"Scene 'demo_train_000': label map .*skb_labels.npy is 48x64 but the images "
            r'are 48 x 72 \(H x W\); remake'):
        HDRMultiExposureDataset(dataset_opt(split, skb=True))[0]


@pytest.mark.parametrize('cells, cell_size', [((3, 5), (8.0, 8.0)), ((6, 9), (16.0, 16.0))])
def test_embedding_grid_that_does_not_fit_the_image_is_refused(split, cells, cell_size):
    for scene in ('demo_train_000', 'demo_train_001'):
        fake_priors(split / scene, cells=cells, cell_size=cell_size)
    dataset = HDRMultiExposureDataset(dataset_opt(split, skb=True))
    with pytest.raises(
            ValueError,
            match=rf"Scene 'demo_train_000': .*skb_embedding.npy: the embedding grid "
            rf'\({cells[0]} x {cells[1]} cells of .* does not fit the 48 x 72 image.*--force'):
        dataset[0]


def test_embedding_geometry_of_real_backends_is_accepted():
    # SAM on 1000 x 1500: 64 x 64 cells of 16 / (1024 / 1500) pixels (padded square); VGG16 relu4_3 at max_side 512:
    # floor(341 / 8) = 42 rows of 8 * 1000 / 341 pixels (a partial cell short of the image).
    check_embedding_geometry((256, 64, 64), (1500 / 64, 1500 / 64), (1000, 1500))
    check_embedding_geometry((512, 42, 64), (8 * 1000 / 341, 8 * 1500 / 512), (1000, 1500))
    with pytest.raises(ValueError, match=r'= 1500 x 1500 pixels\) does not fit the 2000 x 1500 image along its rows'):
        check_embedding_geometry((256, 64, 64), (1500 / 64, 1500 / 64), (2000, 1500))


def test_lmdb_packing_refuses_priors_that_do_not_fit(split):
    gt = read_hdr(str(split / 'demo_train_000' / 'HDRImg.hdr'))
    values = {
        'gt': gt,
        'lq_0': np.zeros(gt.shape, np.uint16),
        'exposures': np.ones(1, np.float32),
        'skb_embedding': np.zeros((4, 2, 3), np.float16),
        'skb_labels': np.zeros(gt.shape[:2], np.uint16),
        'skb_meta': {
            'cell_size': [8.0, 8.0]
        }
    }
    with pytest.raises(ValueError, match=r"Training, scene 'x': skb_embedding: the embedding grid \(2 x 3 cells"):
        check_scene_values('x', values, str(split))
