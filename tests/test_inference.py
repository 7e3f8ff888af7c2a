"""scripts/inference.py and basicsr_skt.inference: real brackets, EXIF, checkpoints, tiling, outputs, errors."""
import json
import math
import sys
from fractions import Fraction
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import pytest
import torch
from helpers import REPO_ROOT, TINY_HDRT, make_tiny_demo
from PIL import Image, ImageOps
from torch import nn

from basicsr.utils.registry import ARCH_REGISTRY
from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
from basicsr_skt.inference import brackets, display
from basicsr_skt.inference.exif import apply_orientation, exposure_settings_warning, read_exif
from basicsr_skt.utils.hdr_io import network_input, read_hdr
from basicsr_skt.utils.tonemap import luminance, mu_law

sys.path.insert(0, str(REPO_ROOT / 'scripts'))
import inference  # noqa: E402  isort:skip

STACK = 'data/brackets/stack_ghost'
#: stack_ghost's EXIF: file -> exposure time (s); sorted shortest first: IMG_0960, IMG_0959, IMG_0961.
STACK_EXIF = {'IMG_0959.JPG': Fraction(1, 25), 'IMG_0960.JPG': Fraction(1, 100), 'IMG_0961.JPG': Fraction(1, 6)}
STACK_ORDER = ['IMG_0960.JPG', 'IMG_0959.JPG', 'IMG_0961.JPG']
#: --max-side for the tests: 900 x 600 -> 192 x 128 (multiples of 8, so tiled == whole holds up to the borders).
MAX_SIDE = 192
TINY_OPTS = {key: value for key, value in TINY_HDRT.items() if key != 'type'}
TINY_ARGS = [
    '--arch', 'HDRTransformer', '--arch-opt', 'embed_dim=12', 'depths=[2]', 'num_heads=[2]', 'drop_path_rate=0'
]


class InferenceToyConvNet(nn.Module):
    """All-convolutional 3-frame toy ORM (receptive radius 2 px): sigmoid(conv(lrelu(conv(concat(x1, x2, x3)))))."""

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(18, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv2(nn.functional.leaky_relu(self.conv1(torch.cat([x1, x2, x3], 1)), 0.2)))


if 'InferenceToyConvNet' not in ARCH_REGISTRY:
    ARCH_REGISTRY.register()(InferenceToyConvNet)


# ----------------------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------------------
def tiny_hdrt(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return ARCH_REGISTRY.get('HDRTransformer')(**TINY_OPTS).eval()


def stack_paths(shared_dir: Path) -> List[Path]:
    return sorted((shared_dir / STACK).glob('*.JPG'))


def expected_stack_input(shared_dir: Path) -> List[torch.Tensor]:
    """The network input built independently of the library: cv2 + INTER_AREA + concat(L ** 2.2 / t, L)."""
    frames = []
    for name, t in zip(STACK_ORDER, (1.0, 4.0, 100 / 6)):
        ldr = cv2.imread(str(shared_dir / STACK / name), cv2.IMREAD_UNCHANGED).astype(np.float32) / 255
        ldr = cv2.resize(ldr, (192, 128), interpolation=cv2.INTER_AREA)
        frames.append(torch.from_numpy(np.concatenate([ldr**2.2 / np.float32(t), ldr], 2).transpose(2, 0, 1))[None])
    return frames


def run_main(argv: List[str], capsys=None) -> str:
    """Run the script in-process; returns stderr (when capsys is given) and asserts the exit code matches."""
    code = inference.main([str(a) for a in argv])
    err = capsys.readouterr().err if capsys is not None else ''
    assert code == (1 if capsys is not None else 0), err
    return err


def load_summary(out: Path, scene: str) -> Dict:
    return json.loads((out / f'{scene}.json').read_text())


def write_png_with_exif(path: Path, img: np.ndarray, exposure: Fraction = None, orientation: int = None) -> Path:
    """8-bit PNG (RGB input) with an ``eXIf`` chunk written by Pillow (big-endian TIFF structure)."""
    from PIL.TiffImagePlugin import IFDRational
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if exposure is not None:
        exif.get_ifd(0x8769)[0x829A] = IFDRational(exposure.numerator, exposure.denominator)
    Image.fromarray(img).save(path, 'PNG', exif=exif.tobytes())  # an Exif with an empty IFD0 is falsy
    return path


@pytest.fixture(scope='module')
def tiny_checkpoint(tmp_path_factory) -> Path:
    """Our net_g format with different params / params_ema (EMA weights must be the ones used)."""
    path = tmp_path_factory.mktemp('ckpt') / 'net_g_latest.pth'
    torch.save({'params': tiny_hdrt(1).state_dict(), 'params_ema': tiny_hdrt(0).state_dict()}, path)
    return path


# ----------------------------------------------------------------------------------------------------------------------
# EXIF and exposure parsing
# ----------------------------------------------------------------------------------------------------------------------
def test_read_exif_stack_ghost_matches_pillow(shared_dir):
    for path in stack_paths(shared_dir):
        exif = read_exif(str(path))
        assert exif['ExposureTime'] == STACK_EXIF[path.name]
        assert exif['Orientation'] == 1
        assert exif['FNumber'] == Fraction(28, 5) and exif['ISOSpeedRatings'] == 100  # f/5.6, ISO 100 in all three
        with Image.open(path) as img:
            assert float(img.getexif().get_ifd(0x8769)[0x829A]) == pytest.approx(float(exif['ExposureTime']))


def test_read_bracket_stack_ghost_exif_evs(shared_dir):
    bracket = brackets.read_bracket([str(p) for p in stack_paths(shared_dir)], 'stack_ghost')
    assert [Path(p).name for p in bracket.paths] == STACK_ORDER
    assert bracket.seconds == pytest.approx([0.01, 0.04, 1 / 6])
    assert bracket.evs == pytest.approx([0.0, 2.0, math.log2(100 / 6)])  # 0 / 2 / 4.0589
    assert round(bracket.evs[2], 4) == 4.0589
    assert bracket.exposure_source == 'exif' and bracket.ev_origin == 'shortest' and bracket.ref_index == 1
    assert bracket.frames[0].shape == (600, 900, 3) and bracket.original_size == (600, 900)
    reference = brackets.read_bracket([str(p) for p in stack_paths(shared_dir)], 's', ev_origin='reference')
    assert reference.evs == pytest.approx([-2.0, 0.0, math.log2(100 / 24)])
    # --reference 0 (the shortest frame) moves it to the network's middle slot; the others keep exposure order
    short_ref = brackets.read_bracket([str(p) for p in stack_paths(shared_dir)], 's', reference=0, max_side=90)
    assert [Path(p).name for p in short_ref.paths] == ['IMG_0959.JPG', 'IMG_0960.JPG', 'IMG_0961.JPG']
    assert short_ref.evs == pytest.approx([2.0, 0.0, math.log2(100 / 6)]) and short_ref.ref_index == 1
    assert short_ref.frames[1].shape == (60, 90, 3) and short_ref.original_size == (600, 900)
    with pytest.raises(ValueError, match='--reference 3 is out of range for 3 frames'):
        brackets.read_bracket([str(p) for p in stack_paths(shared_dir)], 's', reference=3)


@pytest.mark.parametrize('text, seconds', [('1/100', 0.01), ('0.04', 0.04), ('1/6s', 1 / 6), (' 2 ', 2.0)])
def test_parse_exposure_time(text, seconds):
    assert brackets.parse_exposure_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize('text', ['0', '-1/100', 'abc', '1/0', 'inf'])
def test_parse_exposure_time_rejects(text):
    with pytest.raises(ValueError, match='positive number of seconds'):
        brackets.parse_exposure_time(text)


def test_parse_response():
    assert brackets.parse_response('gamma2.2') == 2.2
    assert brackets.parse_response('linear') == 1.0
    with pytest.raises(ValueError, match='camera response'):
        brackets.parse_response('srgb')


@pytest.mark.parametrize('orientation', range(1, 9))
def test_png_exif_and_orientation_match_pillow(tmp_path, orientation):
    rng = np.random.default_rng(orientation)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = write_png_with_exif(tmp_path / 'f.png', rgb, Fraction(1, 30), orientation)
    exif = read_exif(str(path))
    assert exif == {'ExposureTime': Fraction(1, 30), 'Orientation': orientation}
    with Image.open(path) as img:
        expected = np.asarray(ImageOps.exif_transpose(img))[..., ::-1]  # Pillow's upright view, as BGR
    upright = apply_orientation(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), orientation)
    np.testing.assert_array_equal(upright, expected)


@pytest.mark.parametrize('orientation', [3, 6, 8])
def test_orientation_of_16_bit_and_single_channel_frames(orientation):
    img = np.arange(4 * 6 * 3, dtype=np.uint16).reshape(4, 6, 3) * 1000
    expected = {3: img[::-1, ::-1], 6: np.rot90(img, -1), 8: np.rot90(img, 1)}[orientation]  # numpy, independently
    upright = apply_orientation(img, orientation)
    assert upright.dtype == np.uint16 and upright.flags['C_CONTIGUOUS']
    np.testing.assert_array_equal(upright, expected)
    np.testing.assert_array_equal(apply_orientation(img[..., 0], orientation), expected[..., 0])
    assert apply_orientation(img, 1) is img and apply_orientation(img, 9) is img


def test_different_aperture_or_iso_between_frames_warns(tmp_path):
    from PIL.TiffImagePlugin import IFDRational
    paths = []
    settings = [(Fraction(1, 100), (4, 1), 100), (Fraction(1, 25), (56, 10), 400)]
    for index, (seconds, f_number, iso) in enumerate(settings):
        exif = Image.Exif()
        exif_ifd = exif.get_ifd(0x8769)
        exif_ifd[0x829A] = IFDRational(seconds.numerator, seconds.denominator)
        exif_ifd[0x829D] = IFDRational(*f_number)
        exif_ifd[0x8827] = iso
        path = tmp_path / f'f{index}.png'
        Image.fromarray(np.full((8, 8, 3), 60 * (index + 1), np.uint8)).save(path, 'PNG', exif=exif.tobytes())
        paths.append(str(path))
    assert read_exif(paths[1]) == {'ExposureTime': Fraction(1, 25), 'FNumber': Fraction(28, 5), 'ISOSpeedRatings': 400}
    with pytest.warns(UserWarning, match=r'FNumber differs between frames \(f0.png: 4, f1.png: 5.6\); '
                      r'ISOSpeedRatings differs between frames \(f0.png: 100, f1.png: 400\)'):
        bracket = brackets.read_bracket(paths, 'mixed')
    assert bracket.seconds == pytest.approx([0.01, 0.04])
    assert exposure_settings_warning(paths, [{'FNumber': Fraction(4)}, {'ISOSpeedRatings': 100}]) is None


def test_tiff_exif_in_ifd0(tmp_path):
    tifffile = pytest.importorskip('tifffile')
    path = tmp_path / 'f.tif'
    tifffile.imwrite(path, np.zeros((4, 6, 3), np.uint16), photometric='rgb', extratags=[(33434, 5, 1, (1, 250), True)])
    assert read_exif(str(path))['ExposureTime'] == Fraction(1, 250)


def test_read_exif_without_exif_is_empty(tmp_path):
    path = tmp_path / 'plain.png'
    cv2.imwrite(str(path), np.zeros((4, 4, 3), np.uint8))
    assert read_exif(str(path)) == {}


# ----------------------------------------------------------------------------------------------------------------------
# The real bracket end to end
# ----------------------------------------------------------------------------------------------------------------------
def test_stack_ghost_end_to_end(shared_dir, tiny_checkpoint, tmp_path):
    out = tmp_path / 'out'
    run_main([
        '--checkpoint', tiny_checkpoint, *TINY_ARGS, shared_dir / STACK, '-o', out, '--max-side', MAX_SIDE, '--compare',
        '--format', 'exr', '--device', 'cpu'
    ])
    summary = load_summary(out, 'stack_ghost')
    assert summary['frames'] == STACK_ORDER and summary['reference'] == 'IMG_0959.JPG'
    assert summary['exposure_source'] == 'exif'
    assert summary['evs'] == [0.0, 2.0, 4.0589]
    assert summary['exposure_seconds'] == pytest.approx([0.01, 0.04, 1 / 6])
    assert summary['input_size'] == [600, 900] and summary['output_size'] == [128, 192]
    # The HDR equals the EMA network run directly on an independently built input.
    with torch.no_grad():
        direct = tiny_hdrt(0)(*expected_stack_input(shared_dir))[0].numpy().transpose(1, 2, 0)
    hdr = read_hdr(str(out / 'stack_ghost.exr'))
    assert hdr.shape == (128, 192, 3)
    np.testing.assert_allclose(hdr, direct, atol=1e-5)
    mulaw = cv2.imread(str(out / 'stack_ghost_mulaw.png'), cv2.IMREAD_UNCHANGED)
    expected_mulaw = np.round(mu_law(np.clip(direct, 0, 1)) * 255)
    assert mulaw.shape == (128, 192, 3) and np.abs(mulaw - expected_mulaw).max() <= 1
    reinhard = cv2.imread(str(out / 'stack_ghost_reinhard.png'), cv2.IMREAD_UNCHANGED)
    assert reinhard.shape == (128, 192, 3) and reinhard.dtype == np.uint8
    strip = cv2.imread(str(out / 'stack_ghost_compare.png'), cv2.IMREAD_UNCHANGED)
    # 5 tiles (3 frames, mu-law, Reinhard) of 360 x 540 below 24-px labels, 4-px gaps
    assert strip.shape == (360 + 24, 5 * 540 + 4 * 4, 3)


def test_stack_ghost_default_hdr_and_explicit_exposures(shared_dir, tiny_checkpoint, tmp_path):
    """RGBE output (~1 % precision); --exposures in file-name order gives the EXIF result; --ev as well."""
    paths = stack_paths(shared_dir)  # IMG_0959, IMG_0960, IMG_0961
    run_main(['--checkpoint', tiny_checkpoint, *TINY_ARGS, *paths, '-o', tmp_path / 'exif', '--max-side', MAX_SIDE])
    run_main([
        '--checkpoint', tiny_checkpoint, *TINY_ARGS, '--exposures', '1/25', '1/100', '1/6', *paths, '-o',
        tmp_path / 'cli', '--max-side', MAX_SIDE, '--name', 'mine'
    ])
    run_main([
        '--checkpoint', tiny_checkpoint, *TINY_ARGS, '--ev', '0', '-2', '2.0589', *paths, '-o', tmp_path / 'ev',
        '--max-side', MAX_SIDE
    ])
    exif = read_hdr(str(tmp_path / 'exif' / 'stack_ghost.hdr'))
    with torch.no_grad():
        direct = tiny_hdrt(0)(*expected_stack_input(shared_dir))[0].numpy().transpose(1, 2, 0)
    # RGBE: 8-bit mantissas sharing the exponent of the pixel's largest channel
    assert np.all(np.abs(exif - direct) <= 2**-6 * direct.max(axis=2, keepdims=True))
    assert load_summary(tmp_path / 'cli', 'mine')['exposure_source'] == 'exposures'
    np.testing.assert_array_equal(read_hdr(str(tmp_path / 'cli' / 'mine.hdr')), exif)
    assert load_summary(tmp_path / 'ev', 'stack_ghost')['evs'] == [0.0, 2.0, 4.0589]
    ev_hdr = read_hdr(str(tmp_path / 'ev' / 'stack_ghost.hdr'))  # EV 2.0589 vs log2(100 / 24): 1e-5 apart
    assert np.all(np.abs(ev_hdr - direct) <= 2**-6 * direct.max(axis=2, keepdims=True))


def test_official_checkpoint_equals_model(shared_dir, tmp_path):
    net = tiny_hdrt(3)
    path = tmp_path / 'official.pth'
    torch.save({
        'epoch': 5,
        'state_dict': {
            f'module.{k}': v
            for k, v in net.state_dict().items()
        },
        'optimizer': {}
    }, path)
    run_main([
        '--checkpoint', path, *TINY_ARGS, shared_dir / STACK, '-o', tmp_path, '--max-side', MAX_SIDE, '--format', 'exr'
    ])
    with torch.no_grad():
        direct = net(*expected_stack_input(shared_dir))[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(read_hdr(str(tmp_path / 'stack_ghost.exr')), direct, atol=1e-6)


def test_tiled_equals_padded_whole_image(shared_dir, tmp_path):
    torch.manual_seed(0)
    path = tmp_path / 'toy.pth'
    torch.save({'params': InferenceToyConvNet().state_dict()}, path)
    common = [
        '--checkpoint', path, '--arch', 'InferenceToyConvNet', shared_dir / STACK, '--max-side', MAX_SIDE, '--format',
        'exr'
    ]
    run_main(common + ['-o', tmp_path / 'whole'])
    run_main(common + ['-o', tmp_path / 'tiled', '--tile', 64, '--tile-overlap', 16])
    run_main(common + ['-o', tmp_path / 'odd', '--tile', 40, '--tile-overlap', 12, '--pad-multiple', 1])
    whole = read_hdr(str(tmp_path / 'whole' / 'stack_ghost.exr'))
    assert whole.shape == (128, 192, 3) and whole.std() > 1e-3
    np.testing.assert_allclose(read_hdr(str(tmp_path / 'tiled' / 'stack_ghost.exr')), whole, atol=1e-5)
    np.testing.assert_allclose(read_hdr(str(tmp_path / 'odd' / 'stack_ghost.exr')), whole, atol=1e-5)


# ----------------------------------------------------------------------------------------------------------------------
# Kalantari layout: the same network input as the training dataset
# ----------------------------------------------------------------------------------------------------------------------
def test_scene_folder_input_equals_dataset(tmp_path):
    root = make_tiny_demo(tmp_path / 'demo', num_train=1, num_val=2)
    dataset = HDRMultiExposureDataset({'phase': 'val', 'dataroot': str(root / 'Test')})
    for index, record in enumerate(dataset.scenes):
        folder = root / 'Test' / record.name
        bracket = brackets.read_bracket(
            brackets.list_frames(str(folder)), record.name, exposure_file=str(folder / 'exposure.txt'))
        assert bracket.ev_origin == 'as-given' and bracket.evs == pytest.approx([-2, 0, 2])
        lq = torch.from_numpy(network_input(bracket.frames, bracket.times))
        assert torch.equal(lq, dataset[index]['lq'])


def test_folder_of_scenes(tmp_path, tiny_checkpoint):
    root = make_tiny_demo(tmp_path / 'demo', num_train=1, num_val=2)
    out = tmp_path / 'out'
    run_main(['--checkpoint', tiny_checkpoint.parent, *TINY_ARGS, root / 'Test', '-o', out])  # experiment-like folder
    scenes = sorted(p.name for p in (root / 'Test').iterdir())
    assert len(scenes) == 2
    for scene in scenes:
        summary = load_summary(out, scene)
        assert summary['exposure_source'].endswith('exposure.txt') and summary['evs'] == [-2.0, 0.0, 2.0]
        assert read_hdr(str(out / f'{scene}.hdr')).shape == (48, 72, 3)
        assert cv2.imread(str(out / f'{scene}_reinhard.png')).shape == (48, 72, 3)


# ----------------------------------------------------------------------------------------------------------------------
# Tone mapping
# ----------------------------------------------------------------------------------------------------------------------
def test_reinhard_known_values():
    grey = np.full((4, 4, 3), 7.0, np.float32)  # any constant: Ls = key = 0.18 everywhere, white = 0.18
    ls = 0.18
    expected = (ls * (1 + ls / ls**2) / (1 + ls))**(1 / 2.2)
    np.testing.assert_allclose(display.reinhard(grey), expected, rtol=1e-5)
    np.testing.assert_allclose(display.reinhard(grey, white=1e9), (ls / (1 + ls))**(1 / 2.2), rtol=1e-5)
    assert display.log_average_luminance(grey) == pytest.approx(7.0, rel=1e-5)
    rng = np.random.default_rng(0)
    hdr = rng.lognormal(0, 2, (16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(display.reinhard(hdr), display.reinhard(hdr * 1000), atol=1e-5)  # scale-free
    assert luminance(np.array([[[1, 0, 0]]], np.float32))[0, 0] == pytest.approx(0.0722)  # B of BGR


# ----------------------------------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------------------------------
def _frames(folder: Path, sizes, exposures=(Fraction(1, 100), Fraction(1, 25), Fraction(1, 6))) -> List[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    return [
        write_png_with_exif(folder / f'f{i}.png', rng.integers(0, 256, (h, w, 3), dtype=np.uint8), t)
        for i, ((h, w), t) in enumerate(zip(sizes, exposures))
    ]


def test_error_mismatched_sizes(tmp_path, tiny_checkpoint, capsys):
    paths = _frames(tmp_path / 'scene', [(16, 24), (16, 24), (16, 20)])
    err = run_main(['--checkpoint', tiny_checkpoint, *TINY_ARGS, *paths, '-o', tmp_path / 'out'], capsys)
    assert 'f2.png is 20 x 16 but f0.png is 24 x 16' in err


def test_error_single_frame(tmp_path, tiny_checkpoint, capsys):
    paths = _frames(tmp_path / 'scene', [(16, 24)])
    err = run_main(['--checkpoint', tiny_checkpoint, *TINY_ARGS, *paths, '-o', tmp_path / 'out'], capsys)
    assert 'needs at least 2 frames' in err and 'got 1' in err


def test_error_unknown_arch(tmp_path, tiny_checkpoint, capsys):
    paths = _frames(tmp_path / 'scene', [(16, 24)] * 3)
    err = run_main(['--checkpoint', tiny_checkpoint, '--arch', 'HDRTransformr', *paths, '-o', tmp_path / 'o'], capsys)
    assert "Unknown --arch 'HDRTransformr'" in err and 'Did you mean HDRTransformer' in err
    assert 'Registered names:' in err and 'InferenceToyConvNet' in err


def test_error_unreadable_file(tmp_path, tiny_checkpoint, capsys):
    paths = _frames(tmp_path / 'scene', [(16, 24)] * 3)
    paths[1].write_bytes(b'not an image at all')
    err = run_main([
        '--checkpoint', tiny_checkpoint, *TINY_ARGS, *paths, '-o', tmp_path / 'o', '--exposures', '1/100', '1/25', '1/6'
    ], capsys)
    assert 'Cannot decode image file' in err and 'f1.png' in err


def test_error_missing_exposure_info(tmp_path, tiny_checkpoint, capsys):
    folder = tmp_path / 'scene'
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f'f{i}.png'), np.zeros((8, 8, 3), np.uint8))
    err = run_main(['--checkpoint', tiny_checkpoint, *TINY_ARGS, folder, '-o', tmp_path / 'o'], capsys)
    assert "no EXIF ExposureTime in ['f0.png', 'f1.png', 'f2.png']" in err and '--exposures' in err
    err = run_main(['--checkpoint', tiny_checkpoint, *TINY_ARGS, '--ev', '0', '2', folder, '-o', tmp_path / 'o'],
                   capsys)
    assert '--ev has 2 values but there are 3 frames' in err


def test_error_checkpoint_does_not_fit(tmp_path, tiny_checkpoint, capsys):
    paths = _frames(tmp_path / 'scene', [(16, 24)] * 3)
    err = run_main([
        '--checkpoint', tiny_checkpoint, '--arch-opt', 'embed_dim=24', 'depths=[2]', 'num_heads=[2]', *paths, '-o',
        tmp_path / 'o'
    ], capsys)
    assert "first mismatching key 'conv_f1.weight' (shape (12, 6, 3, 3) in the checkpoint, (24, 6, 3, 3)" in err
    teacher = tmp_path / 'net_t_latest.pth'
    torch.save({'params': {'spgrm.weight': torch.zeros(1)}}, teacher)
    err = run_main(['--checkpoint', teacher, *TINY_ARGS, *paths, '-o', tmp_path / 'o'], capsys)
    assert 'SKT teacher' in err and 'net_g_' in err


def test_error_frame_count_and_not_a_checkpoint(tmp_path, tiny_checkpoint, capsys):
    paths = _frames(tmp_path / 'scene', [(16, 24)] * 2)
    err = run_main(['--checkpoint', tiny_checkpoint, *TINY_ARGS, *paths, '-o', tmp_path / 'o'], capsys)
    assert 'HDRTransformer takes 3 frames, the bracket has 2' in err
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(b'garbage')
    err = run_main(['--checkpoint', bad, *TINY_ARGS, *paths, '-o', tmp_path / 'o'], capsys)
    assert 'Cannot read checkpoint' in err


def test_trailing_inputs_after_multi_value_options():
    args = inference.parse_args([
        '--checkpoint', 'c.pth', '--arch-opt', 'embed_dim=12', 'a.jpg', '-o', 'out', '--ev', '-2', '0', '2', 'b.jpg',
        'c.jpg'
    ])
    assert args.inputs == ['a.jpg', 'b.jpg', 'c.jpg']  # command-line order (it pairs files with --exposures / --ev)
    assert args.arch_opt == ['embed_dim=12'] and args.ev == [-2.0, 0.0, 2.0]


def test_comparison_strip_layout():
    tiles = [('a', np.zeros((10, 20, 3), np.float32)), ('b', np.ones((10, 20, 3), np.float32))]
    strip = display.comparison_strip(tiles, height=None)
    assert strip.shape == (10 + 24, 2 * 20 + 4, 3)
    assert strip[24:, :20].max() == 0 and strip[24:, 24:].min() == 255 and strip[24:, 20:24].min() == 255
    assert strip[:24].min() < 255  # the label band holds text
