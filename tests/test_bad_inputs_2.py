"""Bad inputs, second round (issue 16): outputs that land on inputs, physically impossible scenes, config mistakes
and user errors that arrived as tracebacks. Each test asserts the message a user sees (and the exit status where a
command is run); the rows are in ``docs/bad-inputs.md``.
"""
import copy
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import basicsr_skt  # noqa: F401  (patches BasicSR, registers the plugin)
from basicsr.data import build_dataloader
from basicsr_skt import compat
from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
from basicsr_skt.data.scene_reader import FolderSceneReader
from basicsr_skt.inference import brackets
from basicsr_skt.synthesis.demo_scenes import DemoSceneConfig, make_demo_dataset
from basicsr_skt.utils import errors, option_checks
from basicsr_skt.utils.errors import UserInputError, is_user_error, run_cli
from basicsr_skt.utils.hdr_io import write_hdr
from basicsr_skt.utils.paths import check_name, check_output_path, is_within, safe_join
from helpers import load_script

REPO_ROOT = Path(__file__).resolve().parents[1]
HEIGHT, WIDTH = 48, 72


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('bad_inputs_2_demo')
    make_demo_dataset(str(root), num_train=2, num_val=1, config=DemoSceneConfig(height=HEIGHT, width=WIDTH), seed=3)
    return root


def val_dataset(root: Path) -> HDRMultiExposureDataset:
    return HDRMultiExposureDataset({'name': 'v', 'phase': 'val', 'dataroot': str(root), 'cache_images': False})


# ----------------------------------------------------------------------------------------------------------------------
# Errors as one block, bugs with their traceback
# ----------------------------------------------------------------------------------------------------------------------
def _caught(func) -> BaseException:
    try:
        func()
    except BaseException as err:  # noqa: BLE001
        return err
    raise AssertionError('expected an exception')


def test_user_errors_and_bugs_are_told_apart(tmp_path):
    # our checks (one-line and multi-line raise statements) are user errors
    assert is_user_error(_caught(lambda: check_name('../x', '--name')))
    assert is_user_error(_caught(lambda: val_dataset(tmp_path / 'missing')))  # ValueError, multi-line raise
    assert is_user_error(_caught(lambda: compat.registry_get(compat.registry.Registry('arch'), 'Nope')))  # KeyError
    # errors raised elsewhere, or assertions, are bugs
    assert not is_user_error(_caught(lambda: np.zeros(-1)))
    assert not is_user_error(_caught(lambda: {}['key']))
    implicit = _caught(lambda: option_checks.parse_key_values([1], '--x'))  # AttributeError inside our code, no raise
    assert isinstance(implicit, AttributeError) and not is_user_error(implicit)
    assert not is_user_error(AssertionError('x'))


def test_run_cli_prints_one_block_for_a_user_error_and_exits_2(capsys, monkeypatch):
    monkeypatch.delenv(errors.DEBUG_ENV, raising=False)

    def bad_name():
        check_name('a/b', "Option 'name' in x.yml")

    assert run_cli(bad_name, argv=[]) == errors.USER_ERROR_EXIT == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Option 'name' in x.yml 'a/b' holds a path separator")
    assert 'Traceback' not in err and len(err.strip().splitlines()) == 2 and 'BASICSR_SKT_DEBUG=1' in err
    # KeyError messages lose the quotes repr() adds
    assert run_cli(lambda: compat.registry_get(compat.registry.Registry('arch'), 'Nope'), argv=[]) == 2
    assert capsys.readouterr().err.startswith("error: No object named 'Nope' found in 'arch' registry.")
    assert run_cli(lambda: 3, argv=[]) == 3 and run_cli(lambda: None, argv=[]) == 0


def test_run_cli_keeps_tracebacks_of_bugs_and_in_debug_mode(monkeypatch):
    monkeypatch.delenv(errors.DEBUG_ENV, raising=False)
    with pytest.raises(ValueError, match='negative dimensions'):
        run_cli(lambda: np.zeros(-1), argv=[])
    with pytest.raises(UserInputError, match='holds a path separator'):
        run_cli(lambda: check_name('a/b', 'x'), argv=['--debug'])
    monkeypatch.setenv(errors.DEBUG_ENV, '1')
    with pytest.raises(UserInputError):
        run_cli(lambda: check_name('a/b', 'x'), argv=[])


def test_entry_point_user_error_is_one_block_with_exit_2_and_debug_shows_the_traceback(tmp_path):
    opt = tmp_path / 'dup.yml'
    opt.write_text('name: a\nmodel_type: HDRModel\nnum_gpu: 0\nname: b\n')
    env = {k: v for k, v in os.environ.items() if k != errors.DEBUG_ENV}
    env['OMP_NUM_THREADS'] = '1'
    cmd = [sys.executable, '-m', 'basicsr_skt.train', '-opt', str(opt)]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert 'Traceback' not in out.stderr
    assert f"error: Option file {opt}: key 'name' appears twice in the same section (lines 1 and 4)" in out.stderr
    assert not (tmp_path / 'experiments').exists()
    env[errors.DEBUG_ENV] = '1'
    debug = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1 and 'Traceback' in debug.stderr and 'UserInputError' in debug.stderr


# ----------------------------------------------------------------------------------------------------------------------
# Names and output paths
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('name,problem', [('../escape', 'holds a path separator'), ('/abs', 'holds a path separator'),
                                          ('a\\b', 'holds a path separator'), ('..', 'relative folder reference'),
                                          ('.', 'relative folder reference'), ('', 'must be a non-empty name'),
                                          (None, 'must be a non-empty name')])
def test_names_are_one_plain_path_component(name, problem, tmp_path):
    with pytest.raises(UserInputError, match=problem):
        check_name(name, '--name')
    with pytest.raises(UserInputError, match=problem):
        safe_join(str(tmp_path), name, '--name')


def test_plain_names_pass_and_join_inside_the_root(tmp_path):
    assert check_name('HDRT_demo-1.2', 'name') == 'HDRT_demo-1.2'
    assert safe_join(str(tmp_path), 'run', 'name') == str(tmp_path / 'run')
    with pytest.raises(UserInputError, match=r"e\.g\. 'x_y'"):
        check_name('../x/y', 'name')  # the suggestion drops separators and dot parts


def test_check_output_path_refuses_inputs_links_and_input_trees(tmp_path):
    data = tmp_path / 'data'
    (data / 'scene').mkdir(parents=True)
    frame = data / 'scene' / 'a.tif'
    frame.write_bytes(b'x')
    link = tmp_path / 'link.tif'
    link.symlink_to(frame)
    hard = tmp_path / 'hard.tif'
    os.link(frame, hard)
    for out in (frame, link, hard):
        with pytest.raises(
                UserInputError, match=r'--out .* is the input .*a\.tif: writing it would overwrite an input'):
            check_output_path(str(out), inputs=[str(frame)], what='--out')
    with pytest.raises(
            UserInputError, match=r'lies inside the input folder .*data: what is written there would be read'):
        check_output_path(str(data / 'scene' / 'out'), input_trees=[str(data)], what='--out', hint='pick X')
    with pytest.raises(UserInputError, match=r' is the input folder .*; pick X'):
        check_output_path(str(data), input_trees=[str(data)], what='--out', hint='pick X')
    assert check_output_path(str(tmp_path / 'out'), [str(frame)], [str(data)]) == str(tmp_path / 'out')
    assert is_within(str(data / 'x' / '..' / 'scene'),
                     str(data)) and not is_within(str(tmp_path / 'database'), str(data))


def _metrics_csv(folder: Path, value: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / 'demo_test_metrics.csv'
    path.write_text(f'scene,psnr_mu\ns1,{value}\ns2,{value + 1}\nmean,{value + 0.5}\n')
    return path


def test_compare_results_never_overwrites_or_shadows_an_input_csv(tmp_path, capsys):
    script = load_script('compare_results')
    a, b = _metrics_csv(tmp_path / 'A', 30.0), _metrics_csv(tmp_path / 'B', 31.0)
    before = a.read_text()
    for out, extra, message in [
        (str(a), [], r'--out .*demo_test_metrics\.csv is the input'),
        (str(tmp_path / 'A' / 'other_metrics.csv'), [], r'--out .*other_metrics\.csv lies inside the input folder'),
        (str(tmp_path / 'cmp.md'), ['--figure', str(b)], r'--figure .* is the input'),
        (str(tmp_path / 'cmp.png'), [], r'--figure .*cmp\.png is the --out table'),
    ]:
        with pytest.raises(UserInputError, match=message):
            script.main([str(tmp_path / 'A'), str(tmp_path / 'B'), '--out', out] + extra)
    assert a.read_text() == before and not (tmp_path / 'A' / 'other_metrics.csv').exists()
    # through the command line: one block, exit 2
    sys_argv = sys.argv
    sys.argv = ['compare_results.py', str(tmp_path / 'A'), str(tmp_path / 'B'), '--out', str(a), '--no-figure']
    try:
        assert script.cli() == 2
    finally:
        sys.argv = sys_argv
    assert 'error: --out' in capsys.readouterr().err and a.read_text() == before
    # a table inside a results folder that is not read as metrics is fine
    script.main([str(tmp_path / 'A'), str(tmp_path / 'B'), '--out', str(tmp_path / 'A' / 'cmp.md'), '--no-figure'])
    assert (tmp_path / 'A' / 'cmp.md').is_file()


def test_inference_output_inside_the_input_and_bad_names_are_refused(split, tmp_path, capsys):
    script = load_script('inference')
    scene = split / 'demo_train_000'
    files = sorted(str(p) for p in scene.glob('*.tif'))
    for argv, message in [
        ([str(scene), '-o', str(scene)], r'-o/--output .*demo_train_000 is the input folder'),
        ([str(split), '-o', str(split / 'out')], r'-o/--output .*out lies inside the input folder'),
        ([str(split), '-o', str(split)], r'is the input folder .*Training'),
        (files + ['-o', str(tmp_path / 'o'), '--name', '../escape'], r"--name '\.\./escape' holds a path separator"),
    ]:
        assert script.main(argv + ['--checkpoint', str(tmp_path / 'never_read.pth')]) == 1
        assert re.search(message, capsys.readouterr().err)
    assert sorted(
        p.name for p in scene.iterdir()) == ['HDRImg.hdr', 'exposure.txt', 'input_1.tif', 'input_2.tif', 'input_3.tif']
    assert not (tmp_path / 'escape').exists() and not (split / 'out').exists()


def test_inference_does_not_take_previews_for_frames(split):
    scene = split / 'demo_train_000'
    for name in ('skb_preview.png', 'bracket_preview.png', 'raw_preview.png', 'demo_train_000_mulaw.png'):
        cv2.imwrite(str(scene / name), np.zeros((8, 8, 3), np.uint8))
    assert [Path(p).name for p in brackets.list_frames(str(scene))] == ['input_1.tif', 'input_2.tif', 'input_3.tif']
    assert brackets.is_not_frame('SKB_Preview.PNG') and not brackets.is_not_frame('input_1.tif')


def test_make_demo_data_refuses_to_mix_into_a_real_dataset(tmp_path, capsys):
    script = load_script('make_demo_data')
    real = tmp_path / 'Kalantari17'
    (real / 'Training' / '001').mkdir(parents=True)
    (real / 'Test' / 'PeopleTalking').mkdir(parents=True)
    args = ['--out', str(real), '--num-train', '1', '--num-val', '1', '--height', '32', '--width', '32']
    assert script.main(args) == 1
    err = capsys.readouterr().err
    assert '2 entries that are not demo scenes (Training/001, Test/PeopleTalking)' in err and '--force' in err
    assert sorted(p.name for p in (real / 'Training').iterdir()) == ['001']
    assert script.main(args + ['--force']) == 0  # asked for: demo scenes are added, the real ones are untouched
    assert sorted(p.name for p in (real / 'Training').iterdir()) == ['001', 'demo_train_000']


def test_make_lmdb_output_inside_the_scene_folder_is_refused(split, capsys):
    script = load_script('make_lmdb')
    out = split / 'packed.lmdb'
    assert script.main(['--input', str(split), '--output', str(out)]) == 1
    err = capsys.readouterr().err
    assert re.search(r'Output .*packed\.lmdb lies inside the input folder .*Training: .*read as a scene next time', err)
    assert not out.exists() and sorted(p.name for p in split.iterdir()) == ['demo_train_000', 'demo_train_001']


def test_priors_skb_root_inside_the_dataroot_is_refused_before_the_backend(split, capsys):
    script = load_script('make_semantic_priors')
    args = ['--dataroot', str(split), '--backend', 'vgg16', '--skb-root', str(split / 'skb')]
    assert script.main(args) == 1
    assert re.search(r'--skb-root .*skb lies inside --dataroot .*read as a scene', capsys.readouterr().err)
    assert not (split / 'skb').exists()


def test_hdrvdp_export_inside_the_test_set_is_refused(demo_root, tmp_path):
    script = load_script('export_hdrvdp')
    results = tmp_path / 'results' / 'run'
    (results / 'visualization' / 'Test').mkdir(parents=True)
    gt_root = tmp_path / 'Test'
    shutil.copytree(demo_root / 'Test', gt_root)
    with pytest.raises(SystemExit, match=r'--out .*hdrvdp lies inside the input folder .*Test'):
        script.main([str(results), str(gt_root), '--out', str(gt_root / 'hdrvdp')])
    assert not (gt_root / 'hdrvdp').exists()


# ----------------------------------------------------------------------------------------------------------------------
# Physically impossible scenes
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('evs,kind', [('-2\n0\n0\n', 'repeats an exposure'),
                                      ('2\n0\n-2\n', 'is not in increasing order')])
def test_exposures_must_increase_with_the_frame_order(split, evs, kind):
    (split / 'demo_train_001' / 'exposure.txt').write_text(evs)
    with pytest.raises(
            UserInputError,
            match=rf"Scene 'demo_train_001': exposure file .*exposure\.txt {kind} "
            r'\(input_1\.tif: .*input_3\.tif: .*\): frames, sorted by file name'):
        val_dataset(split)


def test_all_zero_gt_is_refused_and_a_constant_gt_warns(split, basicsr_warnings):
    gt = split / 'demo_train_000' / 'HDRImg.hdr'
    write_hdr(str(gt), np.zeros((HEIGHT, WIDTH, 3), np.float32))
    with pytest.raises(UserInputError, match=r"Scene 'demo_train_000': GT .*HDRImg\.hdr is all zero"):
        val_dataset(split)[0]
    write_hdr(str(gt), np.full((HEIGHT, WIDTH, 3), 0.5, np.float32))
    val_dataset(split)[0]
    assert any(
        re.search(r"Scene 'demo_train_000': GT .*HDRImg\.hdr is constant \(0\.5 everywhere\)", m)
        for m in basicsr_warnings)


def _make_gray(path: Path) -> None:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))


def test_gray_and_colour_frames_are_not_mixed_in_training_or_inference(split):
    scene = split / 'demo_train_000'
    _make_gray(scene / 'input_2.tif')
    with pytest.raises(
            UserInputError,
            match=r"Scene 'demo_train_000': frames mix grayscale \(input_2\.tif\) and colour "
            r'\(input_1\.tif, input_3\.tif\)'):
        val_dataset(split)[0]
    with pytest.raises(UserInputError, match=r"frames mix grayscale \(input_2\.tif\)"):
        brackets.read_bracket(brackets.list_frames(str(scene)), 'demo_train_000', evs=[-2, 0, 2])
    for name in ('input_1.tif', 'input_3.tif'):  # an all-gray (monochrome) bracket is fine
        _make_gray(scene / name)
    assert len(brackets.read_bracket(brackets.list_frames(str(scene)), 's', evs=[-2, 0, 2]).frames) == 3
    assert len(FolderSceneReader(str(split), ['*.tif'], ['HDRImg.hdr'], 'exposure.txt', 3).images('demo_train_000')[0])


def test_inference_refuses_mixed_bit_depths_like_training(split):
    scene = split / 'demo_train_000'
    img = cv2.imread(str(scene / 'input_2.tif'), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(scene / 'input_2.png'), (img // 257).astype(np.uint8))
    paths = [str(scene / 'input_1.tif'), str(scene / 'input_2.png'), str(scene / 'input_3.tif')]
    with pytest.raises(
            ValueError,
            match=r"Scene 's': frames mix bit depths \(input_1\.tif 16-bit, input_2\.png 8-bit, "
            r'input_3\.tif 16-bit\)'):
        brackets.read_bracket(paths, 's', evs=[-2, 0, 2])


def test_inference_refuses_repeated_exposures_and_warns_about_an_unordered_exposure_file(split):
    scene = split / 'demo_train_000'
    frames = brackets.list_frames(str(scene))
    with pytest.raises(UserInputError, match=r"Scene 's': exposures \(ev\) repeats an exposure \(input_1\.tif: 1, "):
        brackets.read_bracket(frames, 's', evs=[0, 0, 2])
    (scene / 'exposure.txt').write_text('2\n0\n-2\n')
    with pytest.warns(UserWarning, match=r'exposure\.txt does not increase in file-name order'):
        bracket = brackets.read_bracket(frames, 's', exposure_file=str(scene / 'exposure.txt'))
    assert [Path(p).name for p in bracket.paths] == ['input_3.tif', 'input_2.tif', 'input_1.tif']


def test_generators_refuse_repeated_or_decreasing_evs(tmp_path, capsys):
    demo = load_script('make_demo_data')
    assert demo.main(['--out', str(tmp_path / 'demo'), '--evs', '-2', '0', '0']) == 1
    assert '--evs -2 0 0 repeats value 3: exposures must strictly increase' in capsys.readouterr().err
    synthetic = load_script('make_synthetic_brackets')
    assert synthetic.main(['--input', str(tmp_path), '--out', str(tmp_path / 's'), '--evs', '2', '0', '-2']) == 1
    assert '--evs 2 0 -2 decreases at value 2' in capsys.readouterr().err
    assert not (tmp_path / 'demo').exists() and not (tmp_path / 's').exists()


# ----------------------------------------------------------------------------------------------------------------------
# Config mistakes
# ----------------------------------------------------------------------------------------------------------------------
def test_duplicate_yaml_keys_name_the_file_the_key_and_both_lines(tmp_path):
    path = tmp_path / 'opt.yml'
    path.write_text('name: x\ntrain:\n  optim_g:\n    lr: !!float 2e-4\n    lr: !!float 1e-3\n')
    with pytest.raises(
            UserInputError,
            match=rf"Option file {re.escape(str(path))}: key 'lr' appears twice in the "
            r'same section \(lines 4 and 5\); YAML would silently keep the second'):
        option_checks.read_option_file(str(path))
    with pytest.raises(UserInputError, match="key 'lr' appears twice"):
        option_checks.load_options_yaml(str(path))  # the plugin's own reader refuses it too
    path.write_text('a:\n  lr: 1\nb:\n  lr: !!float 2e-4\n')  # equal keys in different sections are fine
    assert option_checks.read_option_file(str(path)) == {'a': {'lr': 1}, 'b': {'lr': 2e-4}}


def test_option_file_that_is_missing_or_not_yaml_names_the_file(tmp_path):
    with pytest.raises(UserInputError, match=r'Option file .*nope\.yml not found \(-opt expects'):
        option_checks.read_option_file(str(tmp_path / 'nope.yml'))
    binary = tmp_path / 'net_g.pth'
    binary.write_bytes(b'\x80\x02\xff\xfe')
    with pytest.raises(UserInputError, match=r'Option file .*net_g\.pth is not valid YAML'):
        option_checks.read_option_file(str(binary))
    (tmp_path / 'list.yml').write_text('- a\n- b\n')
    with pytest.raises(UserInputError, match=r'list\.yml must hold a mapping of options, got list'):
        option_checks.read_option_file(str(tmp_path / 'list.yml'))


def test_shipped_option_files_have_no_duplicate_keys():
    files = sorted((REPO_ROOT / 'options').rglob('*.yml'))
    assert files
    for path in files:
        assert isinstance(option_checks.read_option_file(str(path)), dict)


OPT = {
    'name': 'run',
    'num_gpu': 0,
    'train': {
        'total_iter': 10,
        'optim_g': {
            'lr': 1
        }
    },
    'path': {
        'resume_state': None
    },
    'logger': {
        'print_freq': 1
    }
}


@pytest.mark.parametrize('entry,message', [
    ('train:total_iters=5', r"no key 'total_iters' under train; did you mean 'total_iter'\?"),
    ('trian:total_iter=5', r"no section 'trian' under the top level; did you mean 'train'\?"),
    ('train:optim_g:lr:x=1', r'train:optim_g:lr of .* is 1, not a section'),
    ('train:total_iter', r'expected SECTION:KEY=VALUE with exactly one "="'),
    ('a=b=c', r'expected SECTION:KEY=VALUE with exactly one "="'),
])
def test_force_yml_typos_are_refused_with_a_suggestion(entry, message):
    with pytest.raises(UserInputError, match=rf"--force_yml '{re.escape(entry)}': .*{message}"):
        option_checks.check_force_yml(OPT, [entry], 'opt.yml')


def test_force_yml_new_keys_are_accepted_with_a_warning_and_existing_keys_silently():
    assert option_checks.check_force_yml(OPT, ['train:total_iter=5', 'logger:print_freq=2'], 'opt.yml') == []
    added = option_checks.check_force_yml(OPT, ['train:ema_decay=0.999'], 'opt.yml')
    assert added == ["--force_yml 'train:ema_decay=0.999' adds the new key 'ema_decay' under train (not in opt.yml)"]
    assert OPT['train'] == {'total_iter': 10, 'optim_g': {'lr': 1}}  # never modified


def train_opt(**changes) -> dict:
    opt = {
        'name': 'run',
        'num_gpu': 0,
        'is_train': True,
        'datasets': {
            'train': {
                'batch_size_per_gpu': 2,
                'dataset_enlarge_ratio': 1
            },
            'val': {}
        },
        'train': {
            'total_iter': 10
        },
        'val': {
            'val_freq': 5
        },
        'logger': {
            'print_freq': 1,
            'save_checkpoint_freq': 5
        },
        'path': {}
    }
    for dotted, value in changes.items():
        node = opt
        *parents, last = dotted.split('__')
        for key in parents:
            node = node[key]
        node[last] = value
    return opt


@pytest.mark.parametrize('key,value,message', [
    ('logger__print_freq', 0, r'Option logger\.print_freq in x\.yml must be a positive number, got 0: .*ZeroDivision'),
    ('logger__save_checkpoint_freq', 0, r'logger\.save_checkpoint_freq .* got 0'),
    ('val__val_freq', 0, r'val\.val_freq .* got 0'),
    ('train__total_iter', 0, r'train\.total_iter .* got 0'),
    ('datasets__train__batch_size_per_gpu', 0, r'datasets\.train\.batch_size_per_gpu in x\.yml must be a positive '
     r'integer, got 0'),
    ('datasets__train__dataset_enlarge_ratio', 0, r'datasets\.train\.dataset_enlarge_ratio .* got 0: .*every epoch'),
    ('name', '../outside', r"Option 'name' in x\.yml '\.\./outside' holds a path separator"),
    ('datasets__val__name', 'a/b', r"Option datasets\.val\.name in x\.yml 'a/b' holds a path separator"),
    ('val__suffix', '../s', r"Option val\.suffix in x\.yml '\.\./s' holds a path separator"),
    ('num_gpu', -1, r'num_gpu in x\.yml must be 0 \(CPU\), a number of GPUs or auto, got -1'),
])
def test_run_options_that_crash_or_escape_are_refused(key, value, message):
    with pytest.raises(UserInputError, match=message):
        option_checks.check_run_options(train_opt(**{key: value}), 'x.yml', cuda_available=False)


def test_valid_run_options_pass_and_test_runs_skip_training_keys():
    option_checks.check_run_options(train_opt(), 'x.yml', cuda_available=False)
    option_checks.check_run_options(train_opt(is_train=False, train__total_iter=0), 'x.yml', cuda_available=False)


def test_num_gpu_without_cuda_names_num_gpu_0():
    with pytest.raises(
            UserInputError,
            match=r'num_gpu: 1 in x\.yml, but no CUDA GPU is available here .*set '
            r'num_gpu: 0 in the option file, or add --force_yml num_gpu=0'):
        option_checks.check_run_options(train_opt(num_gpu=1), 'x.yml', cuda_available=False)
    option_checks.check_run_options(train_opt(num_gpu=1), 'x.yml', cuda_available=True)


def test_inference_device_cuda_without_a_gpu_names_cpu(monkeypatch):
    script = load_script('inference')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(ValueError, match=r'--device cuda: CUDA is not available here; use --device cpu or auto'):
        script.resolve_device('cuda')


def test_batch_larger_than_the_dataset_is_an_error_not_zero_iterations():
    dataset = torch.utils.data.TensorDataset(torch.zeros(3, 1))
    opt = {
        'name': 'tiny',
        'phase': 'train',
        'batch_size_per_gpu': 4,
        'num_worker_per_gpu': 0,
        'dataset_enlarge_ratio': 1
    }
    with pytest.raises(
            UserInputError,
            match=r"Training dataset 'tiny': the batch \(4 for 1 device\(s\), from "
            r'batch_size_per_gpu: 4\) is larger than the 3 samples of an epoch \(3 scenes x '
            r'dataset_enlarge_ratio 1\); .*train zero iterations'):
        build_dataloader(dataset, opt, num_gpu=0, dist=False, sampler=None)
    assert len(build_dataloader(dataset, dict(opt, batch_size_per_gpu=3), num_gpu=0, dist=False, sampler=None)) == 1
    import basicsr.train
    assert basicsr.train.build_dataloader is build_dataloader  # the stock pipeline uses the checked one


def test_a_pretrained_file_that_is_not_a_checkpoint_names_the_file(tmp_path):
    text = tmp_path / 'net_g.pth'
    text.write_text('not a checkpoint')
    good = tmp_path / 'good.pth'
    torch.save({'params': {'w': torch.zeros(1)}}, good)
    truncated = tmp_path / 'cut.pth'
    truncated.write_bytes(good.read_bytes()[:-40])
    for path in (text, truncated):
        opt = train_opt(path={'pretrain_network_g': str(path)})
        with pytest.raises(
                UserInputError,
                match=rf'path\.pretrain_network_g in x\.yml: {re.escape(str(path))} '
                r'\(\d+ bytes\) is not a PyTorch checkpoint'):
            compat.check_parsed_options(opt, 'x.yml')
    with pytest.raises(UserInputError, match=r'checkpoint .*missing\.pth not found'):
        compat.check_parsed_options(train_opt(path={'pretrain_network_g': str(tmp_path / 'missing.pth')}), 'x.yml')
    assert zipfile.is_zipfile(good)
    compat.check_parsed_options(train_opt(path={'pretrain_network_g': str(good)}), 'x.yml')


# ----------------------------------------------------------------------------------------------------------------------
# Also: a truncated net_skam file is seen on --auto_resume
# ----------------------------------------------------------------------------------------------------------------------
def test_truncated_net_skam_file_is_detected_on_auto_resume(tmp_path):
    models, states = tmp_path / 'models', tmp_path / 'training_states'
    models.mkdir()
    states.mkdir()
    opt = {
        'num_gpu': 0,
        'auto_resume': True,
        'model_type': 'SKTModel',
        'network_g': {},
        'network_t': {},
        'network_skam': {},
        'skt': {
            'mode': 'joint',
            'skam_opt': {
                'type': 'SKAMLoss'
            }
        },
        'path': {
            'models': str(models),
            'experiments_root': str(tmp_path)
        }
    }
    for it in (2, 4):
        torch.save({'iter': it, 'epoch': 0}, states / f'{it}.state')
        for label in ('g', 't', 'skam'):
            torch.save({'params': {'w': torch.zeros(1)}}, models / f'net_{label}_{it}.pth')
    assert [Path(p).name for p in compat.network_files(opt, 4)] == ['net_g_4.pth', 'net_t_4.pth', 'net_skam_4.pth']
    skam = models / 'net_skam_4.pth'
    skam.write_bytes(skam.read_bytes()[:50])
    with pytest.raises(
            RuntimeError, match=r'Network file .*net_skam_4\.pth of training state .*4\.state is missing or '
            'unreadable'):
        compat.read_training_state(str(states / '4.state'), opt)
    staged_teacher = dict(opt, skt={'mode': 'staged_teacher', 'skam_opt': {'type': 'SKAMLoss'}})
    assert [Path(p).name for p in compat.network_files(staged_teacher, 4)] == ['net_g_4.pth', 'net_t_4.pth']
    state_path = states / '4.state'
    assert compat.read_training_state(str(state_path), staged_teacher)['iter'] == 4
    # --auto_resume reports the truncated file and resumes from the previous complete checkpoint
    resumed = compat.load_resume_state(copy.deepcopy(opt))
    assert resumed['iter'] == 2
