"""Option mistakes refused or warned about with a suggestion: misspelt dataset / ``skt`` keys, duplicate YAML keys,
``--force_yml`` typos, run options that would crash or escape, devices and batches that cannot run. Rows in
``docs/bad-inputs.md``.
"""
import re
import zipfile
from pathlib import Path

import pytest
import torch
from helpers import TINY_HDRT, dataset_opt

from basicsr.archs import build_network
from basicsr.data import build_dataloader
from basicsr_skt import compat
from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
from basicsr_skt.inference import resolve_device
from basicsr_skt.utils import option_checks
from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.feature_tap import FeatureTap
from basicsr_skt.models.model_options import MaskOptions, SKTOptions
from basicsr_skt.utils.option_checks import warn_unknown_keys

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_misspelled_dataset_key_warns_with_a_suggestion(split, basicsr_warnings):
    HDRMultiExposureDataset(dataset_opt(split, use_flip=False, dataroot_gt=str(split), cache_image=False))
    assert ("dataset 'bad' (HDRMultiExposureDataset): unknown key 'cache_image' is ignored (did you mean "
            "'cache_images'?)") in basicsr_warnings
    assert any("unknown key 'use_flip' is ignored (did you mean 'use_hflip'" in m for m in basicsr_warnings)
    assert any("unknown key 'dataroot_gt' is ignored (did you mean 'dataroot'" in m for m in basicsr_warnings)


def test_known_dataset_keys_do_not_warn(split, basicsr_warnings):
    HDRMultiExposureDataset(
        dataset_opt(split, use_hflip=True, use_rot=False, num_worker_per_gpu=0, batch_size_per_gpu=2, scale=1))
    assert not [m for m in basicsr_warnings if 'unknown key' in m]


def test_misspelled_skt_key_warns_with_a_suggestion(basicsr_warnings):
    skt = {'mode': 'joint', 'orm_tapp': 'conv_after_body', 'warmup_iters': 10, 'zzz': 1, 'skam_opt': {}}
    messages = SKTOptions.warn_unknown_keys(skt)
    assert messages == [  # skt.warmup_iter is now skt.distill_warmup_iter (the old key is an error: test_options.py)
        "skt: unknown key 'orm_tapp' is ignored (did you mean 'orm_tap'?)",
        "skt: unknown key 'warmup_iters' is ignored (did you mean 'ramp_iter' or 'distill_warmup_iter'?)",
        "skt: unknown key 'zzz' is ignored (known keys: colour_opt, content_opt, diagnostics, distill_warmup_iter, "
        'mask, mode, orm_tap, ramp_iter, skam_opt, teacher_ema_decay, teacher_input, val_teacher, '
        'val_teacher_zeroed_priors)',
    ]
    assert basicsr_warnings == messages
    assert warn_unknown_keys('skt.mask', {'ratio': 0.5},
                             MaskOptions.known_keys()) == [
                                 "skt.mask: unknown key 'ratio' is ignored (did you mean 'ratio_min' or 'ratio_max'?)"]


SKT_OPTION_FILES = sorted(
    str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / 'options').rglob('*.yml') if '\nskt:' in p.read_text())


@pytest.mark.parametrize('path', SKT_OPTION_FILES)
def test_shipped_skt_sections_use_only_known_keys(path):
    import yaml
    with open(REPO_ROOT / path) as f:
        skt = yaml.safe_load(f)['skt']
    assert option_checks.unknown_key_messages('skt', skt, SKTOptions.known_keys()) == []
    assert option_checks.unknown_key_messages('skt.mask', skt.get('mask') or {}, MaskOptions.known_keys()) == []
    SKTOptions.parse(skt)  # every value in range


def test_tap_name_not_found_suggests_the_closest_module():
    net = build_network(dict(TINY_HDRT))
    with pytest.raises(
            KeyError,
            match=r"Tap 'conv_after_bdy' is not a module of HDRTransformer\. Did you mean "
            r"'conv_after_body' or 'conv_last'\? Available module names: att_module_h, "):
        FeatureTap(net, 'conv_after_bdy')


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
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(ValueError, match=r'--device cuda: CUDA is not available here; use --device cpu or auto'):
        resolve_device('cuda')


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
