"""Values that make no sense are refused where they are parsed, with the valid range (docs/bad-inputs.md, "Values out
of range"), and the last raw tracebacks (heads that do not divide the width, an output folder that is a file, a device
that is not there) are one message before any work."""
import argparse

import pytest
import torch

from basicsr_skt.inference import resolve_device
from basicsr_skt.utils.cli import non_negative_int, positive_int, ranged
from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.scene_checks import MAX_EV_STEP, check_exposure_order, check_increasing
from tests.helpers import load_script, make_tiny_demo


# ------------------------------------------------------------------------------------------------------ range types
@pytest.mark.parametrize('parse, text, message', [
    (positive_int, '0', r"0 is outside the valid range \[1, inf\)"),
    (positive_int, '-3', r'-3 is outside'),
    (positive_int, '2.5', r"'2.5' is not a valid int"),
    (non_negative_int, '-1', r'-1 is outside the valid range \[0, inf\)'),
    (ranged(float, 0, 1, low_open=True), '0', r'0.0 is outside the valid range \(0, 1\]'),
    (ranged(float, 0, 1), 'nan', r"'nan' is not a finite number"),
    (ranged(float, 0, 1), 'inf', r"'inf' is not a finite number"),
    (ranged(float, 1, 64, what='at most 6 stops'), '100', r'outside the valid range \[1, 64\] \(at most 6 stops\)'),
])
def test_range_types_refuse_with_the_range(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)


def test_range_types_accept_the_bounds():
    assert positive_int('1') == 1 and non_negative_int('0') == 0
    assert ranged(float, 0, 1, low_open=True)('1') == 1.0 and ranged(int, 8, 8)('8') == 8


@pytest.mark.parametrize('script, argv, option', [
    ('make_lmdb', ['--input', 'x', '--output', 'x.lmdb', '--num-frames', '0'], '--num-frames'),
    ('make_semantic_priors', ['--dataroot', 'x', '--num-frames', '0'], '--num-frames'),
    ('make_semantic_priors', ['--dataroot', 'x', '--pred-iou-thresh', '1.5'], '--pred-iou-thresh'),
    ('make_synthetic_brackets', ['--input', 'x', '--out', 'y', '--max-size', '-5'], '--max-size'),
    ('make_synthetic_brackets', ['--input', 'x', '--out', 'y', '--percentile', '0'], '--percentile'),
    ('make_raw_brackets', ['--procedural', '1', '--out', 'y', '--max-size', '-1'], '--max-size'),
    ('make_raw_brackets', ['--procedural', '1', '--out', 'y', '--ratio', '1000'], '--ratio'),
    ('make_raw_brackets', ['--procedural', '0', '--out', 'y'], '--procedural'),
    ('make_demo_data', ['--height', '0'], '--height'),
    ('make_demo_data', ['--num-train', '-1'], '--num-train'),
    ('inference', ['a.tif', '-o', 'o', '--checkpoint', 'c.pth', '--max-side', '-1'], '--max-side'),
    ('inference', ['a.tif', '-o', 'o', '--checkpoint', 'c.pth', '--tile', '0'], '--tile'),
    ('inference', ['a.tif', '-o', 'o', '--checkpoint', 'c.pth', '--pad-multiple', '0'], '--pad-multiple'),
    ('compare_results', ['a', 'b', '--digits', '-1'], '--digits'),
    ('export_hdrvdp', ['--results', 'r', '--gt-root', 'g', '--peak-luminance', '0'], '--peak-luminance'),
])
def test_script_numbers_out_of_range_are_usage_errors(script, argv, option, capsys):
    module = load_script(script, f'ranges_{script}')
    with pytest.raises(SystemExit) as info:
        module.parse_args(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and f'argument {option}' in err and 'valid range' in err, err


# ------------------------------------------------------------------------------------------------------ EV spacing
def test_ev_spacing_no_camera_makes_is_refused_everywhere(tmp_path):
    assert MAX_EV_STEP == 6
    check_increasing([-3, 0, 3, 9], '--evs')  # 6 stops is still a bracket
    with pytest.raises(UserInputError, match=r'--evs: EVs 0 2 30 put frames 2 and 3 28 stops apart; .*\(0, 6\] stops'):
        check_increasing([0, 2, 30], '--evs')
    with pytest.raises(UserInputError, match=r"Scene 's': exposure file e.txt: EVs 0 3 20 put frames 2 and 3 17"):
        check_exposure_order('s', [1, 8, 2**20], ['a', 'b', 'c'], 'exposure file e.txt')
    demo = load_script('make_demo_data', 'ranges_demo')
    assert demo.main(['--out', str(tmp_path / 'd'), '--evs', '0', '10', '20']) == 1
    assert not (tmp_path / 'd').exists()


def test_ev_spacing_in_a_dataset_exposure_file(tmp_path):
    from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
    split = make_tiny_demo(tmp_path, num_train=1, num_val=0) / 'Training'
    (split / 'demo_train_000' / 'exposure.txt').write_text('0\n2\n40\n')
    with pytest.raises(UserInputError, match=r"Scene 'demo_train_000': exposure file .*put frames 2 and 3 38 stops"):
        HDRMultiExposureDataset({'phase': 'val', 'dataroot': str(split), 'io_backend': {'type': 'disk'}})


# ------------------------------------------------------------------------------------------- the last raw tracebacks
@pytest.mark.parametrize('arch, kwargs, message', [
    ('HDRTransformer', {
        'embed_dim': 60,
        'num_heads': [6, 7, 6]
    }, r'HDRTransformer: num_heads\[1\] = 7 does not divide embed_dim = 60 .*among \[1, 2, 3, 4, 5, 6, 10, 12'),
    ('HDRTransformer', {
        'embed_dim': 12,
        'depths': [2],
        'num_heads': [0]
    }, r'num_heads = 0 does not divide'),
    ('SCTNet', {
        'embed_dim': 60,
        'scab_heads': 3
    }, r'SCTNet: scab_heads = 3 does not divide embed_dim / 3 = 20'),
    ('SCTNet', {
        'embed_dim': 60,
        'num_heads': [6, 6, 6, 8]
    }, r'SCTNet: num_heads\[3\] = 8 does not divide'),
])
def test_heads_that_do_not_divide_the_width_are_refused_at_build(arch, kwargs, message):
    from basicsr.utils.registry import ARCH_REGISTRY
    with pytest.raises(UserInputError, match=message):
        ARCH_REGISTRY.get(arch)(**kwargs)


def test_output_folder_that_is_a_file_is_one_message(tmp_path, capsys):
    existing = tmp_path / 'taken'
    existing.write_text('a file')
    demo = load_script('make_demo_data', 'ranges_demo_out')
    assert demo.main(['--out', str(existing)]) == 1
    assert f'{existing} is a file, not a folder' in capsys.readouterr().err
    from basicsr_skt.inference.pipeline import InferenceConfig, check_output_folder
    frame = tmp_path / 'scene'
    frame.mkdir()
    for i in range(3):
        (frame / f'input_{i}.tif').write_bytes(b'')
    with pytest.raises(NotADirectoryError, match=f'-o/--output folder {existing}: {existing} is a file'):
        check_output_folder(
            InferenceConfig(inputs=(str(frame), ), output=str(existing), checkpoint='c'), [('scene', str(frame), [])])
    assert existing.read_text() == 'a file'


def test_a_device_that_is_not_there(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(UserInputError, match=r'--device cuda: CUDA is not available here; use --device cpu or auto'):
        resolve_device('cuda')
    with pytest.raises(UserInputError, match=r"--device 'gpu' is not a device"):
        resolve_device('gpu')
    assert resolve_device('auto') == torch.device('cpu') and resolve_device('cpu') == torch.device('cpu')
    from basicsr_skt.inference import pipeline
    from basicsr_skt.skb import extract
    # inference.py and make_semantic_priors.py (which had no check) resolve --device through the same function
    assert extract.resolve_device is resolve_device and pipeline.resolve_device is resolve_device
