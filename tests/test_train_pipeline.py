"""The real entry points in subprocesses: plugin and stock BasicSR trainers, auto-resume, and the test pipeline."""
import csv
import os
import os.path as osp

import numpy as np
import pytest
import torch
from helpers import (TINY_HDRT, add_fake_priors, dump_yaml, make_tiny_demo, run_python, tiny_skt_options,
                     tiny_test_options, tiny_train_options)

import basicsr
from basicsr.archs import build_network
from basicsr.data import build_dataset
from basicsr_skt import autoload
from basicsr_skt.metrics.hdr_metrics import calculate_psnr_mu, calculate_ssim_mu


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    return make_tiny_demo(tmp_path_factory.mktemp('demo'))


run = run_python


def check_two_iteration_run(root, name):
    exp = osp.join(root, 'experiments', name)
    assert osp.isfile(osp.join(exp, 'models', 'net_g_2.pth')) and osp.isfile(
        osp.join(exp, 'training_states', '2.state'))
    first_log = sorted(f for f in os.listdir(exp) if f.startswith('train_') and f.endswith('.log'))[0]
    text = open(osp.join(exp, first_log)).read()
    assert 'Validation demo_val @ iter 2' in text and '| **mean** |' in text
    # BasicSR's loop validates again after the last iteration; the same weights are not validated twice
    assert text.count('Validation demo_val @ iter') == 1
    assert 'Validation after the last iteration skipped: the same weights were validated at iter 2.' in text
    assert osp.isdir(osp.join(root, 'tb_logger', name))
    return exp


@pytest.fixture(scope='module')
def trained(demo_root, tmp_path_factory):
    """2 iterations with `python -m basicsr_skt.train`, then auto-resumed to 4."""
    root = tmp_path_factory.mktemp('plugin_run')
    config = dump_yaml(tiny_train_options(demo_root, 'tiny_plugin'), root / 'train.yml')
    first = run(['-m', 'basicsr_skt.train', '-opt', str(config)], cwd=root)
    resume_args = [
        '--auto_resume', '--force_yml', 'train:total_iter=4', 'logger:save_checkpoint_freq=4', 'val:val_freq=4'
    ]
    resumed = run(['-m', 'basicsr_skt.train', '-opt', str(config)] + resume_args, cwd=root)
    return root, first, resumed


def test_plugin_entry_trains_validates_and_saves_an_orm_checkpoint(trained):
    root, first, _ = trained
    exp = check_two_iteration_run(root, 'tiny_plugin')
    net = build_network(dict(TINY_HDRT))
    net.load_state_dict(torch.load(osp.join(exp, 'models', 'net_g_2.pth'), weights_only=True)['params'], strict=True)
    assert 'l_rec:' in first


def test_auto_resume_on_cpu_continues_from_the_saved_iteration(trained):
    root, _, resumed = trained
    exp = osp.join(root, 'experiments', 'tiny_plugin')
    assert 'Resuming training from epoch' in resumed and 'iter: 2' in resumed
    assert osp.isfile(osp.join(exp, 'models', 'net_g_4.pth')) and osp.isfile(
        osp.join(exp, 'training_states', '4.state'))
    assert not any(d.startswith('tiny_plugin_archived') for d in os.listdir(osp.join(root, 'experiments')))


def test_test_entry_writes_per_scene_tables_that_match_direct_metrics(trained, demo_root):
    root, _, _ = trained
    checkpoint = osp.join(root, 'experiments', 'tiny_plugin', 'models', 'net_g_4.pth')
    config = dump_yaml(tiny_test_options(demo_root, 'tiny_test', checkpoint), root / 'test.yml')
    run(['-m', 'basicsr_skt.test', '-opt', str(config)], cwd=root)
    results = osp.join(root, 'results', 'tiny_test')
    with open(osp.join(results, 'demo_test_metrics.csv')) as f:
        rows = {row['scene']: row for row in csv.DictReader(f)}
    assert set(rows) == {'demo_val_000', 'demo_val_001', 'mean'}
    net = build_network(dict(TINY_HDRT)).eval()
    net.load_state_dict(torch.load(checkpoint, weights_only=True)['params'])
    data = build_dataset({
        'name': 'demo_test',
        'type': 'HDRMultiExposureDataset',
        'phase': 'test',
        'dataroot': osp.join(demo_root, 'Test'),
        'io_backend': {
            'type': 'disk'
        }
    })
    psnrs = []
    for item in data:
        with torch.no_grad():
            pred = net(*item['lq'][:, None].unbind(0))[0].permute(1, 2, 0).numpy()
        gt = item['gt'].permute(1, 2, 0).numpy()
        psnrs.append(calculate_psnr_mu(pred, gt))
        assert float(rows[item['scene']]['psnr_mu']) == pytest.approx(psnrs[-1], abs=1e-5)
        assert float(rows[item['scene']]['ssim_mu']) == pytest.approx(calculate_ssim_mu(pred, gt), abs=1e-5)
        assert osp.isfile(osp.join(results, 'visualization', 'demo_test', f'{item["scene"]}_tiny_test.hdr'))
    assert float(rows['mean']['psnr_mu']) == pytest.approx(np.mean(psnrs), abs=1e-5)
    assert osp.isfile(osp.join(results, 'demo_test_metrics.md'))


def hook_installed() -> bool:
    return osp.isfile(osp.join(autoload.default_site_dir(), autoload.PTH_NAME))


@pytest.mark.skipif(not hook_installed(), reason='start-up hook not installed (python -m basicsr_skt.autoload install)')
@pytest.mark.parametrize('entry', ['module', 'script'])
def test_stock_basicsr_entry_finds_the_plugin_and_writes_under_cwd(demo_root, tmp_path, entry):
    name = f'tiny_stock_{entry}'
    config = dump_yaml(tiny_train_options(demo_root, name), tmp_path / 'train.yml')
    stock = ['-m', 'basicsr.train'] if entry == 'module' else [osp.join(osp.dirname(basicsr.__file__), 'train.py')]
    run(stock + ['-opt', str(config)], cwd=tmp_path)
    check_two_iteration_run(tmp_path, name)
    site = osp.dirname(osp.dirname(basicsr.__file__))
    assert not osp.exists(osp.join(site, 'experiments', name)) and not osp.exists(osp.join(site, 'tb_logger', name))


def skt_config(tmp_path, demo, mode, **path):
    """The SKT demo config shrunk to the tiny ORM, 2 iterations, ``skt.mode = mode``; written to tmp_path."""
    opt = tiny_skt_options(demo, f'tiny_skt_{mode}', mode)
    opt['path'].update(path)
    return dump_yaml(opt, tmp_path / f'train_{mode}.yml')


def train_skt(tmp_path, demo, mode, **path):
    """2 iterations through ``python -m basicsr_skt.train``; returns (log, models folder)."""
    log = run(['-m', 'basicsr_skt.train', '-opt', str(skt_config(tmp_path, demo, mode, **path))], cwd=tmp_path)
    models = osp.join(tmp_path, 'experiments', f'tiny_skt_{mode}', 'models')
    assert {'net_g_2.pth', 'net_t_2.pth'} <= set(os.listdir(models))
    net = build_network(dict(TINY_HDRT))
    net.load_state_dict(torch.load(osp.join(models, 'net_g_2.pth'), weights_only=True)['params'], strict=True)
    return log, models


def load_params(path):
    return torch.load(path, weights_only=True)['params']


def test_skt_joint_trains_through_the_plugin_entry(tmp_path):
    demo = make_tiny_demo(tmp_path / 'demo')
    add_fake_priors(demo, channels=512)
    log, models = train_skt(tmp_path, demo, 'joint')
    assert 'l_t_rec:' in log and 'l_content:' in log and 'l_skam:' in log and 'gap_psnr_mu:' in log
    assert 'net_skam_2.pth' in os.listdir(models)


def test_skt_staged_teacher_then_student_through_the_plugin_entry(tmp_path):
    """Stage 1 trains SPGRM on a frozen ORM; stage 2 loads that teacher, keeps it frozen and distils into the ORM."""
    demo = make_tiny_demo(tmp_path / 'demo')
    add_fake_priors(demo, channels=512)
    log, teacher_models = train_skt(tmp_path, demo, 'staged_teacher')
    assert 'l_t_rec:' in log and 'l_content:' not in log
    initial_orm = load_params(osp.join(teacher_models, 'net_g_2.pth'))
    teacher_path = osp.join(teacher_models, 'net_t_2.pth')
    log, models = train_skt(
        tmp_path, demo, 'staged_student', pretrain_network_t=teacher_path, pretrain_network_g=osp.join(
            teacher_models, 'net_g_2.pth'))
    assert 'l_content:' in log and 'l_t_rec:' not in log
    teacher_before, teacher_after = load_params(teacher_path), load_params(osp.join(models, 'net_t_2.pth'))
    assert all(torch.equal(teacher_before[k], teacher_after[k]) for k in teacher_before)
    student = load_params(osp.join(models, 'net_g_2.pth'))
    assert any(not torch.equal(initial_orm[k], student[k]) for k in initial_orm)
