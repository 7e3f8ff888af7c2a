"""Exact resume: a run killed with SIGKILL and resumed with ``--auto_resume`` ends with the weights of an uninterrupted
run; truncated checkpoints are detected and skipped; the resumed epoch continues the data order and random draws."""
import logging
import os
import os.path as osp
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from helpers import add_fake_priors, dump_yaml, make_tiny_demo, run_python, tiny_skt_options, tiny_train_options

import basicsr.train
from basicsr_skt import compat
from basicsr_skt.utils.checkpoint import atomic_save
from basicsr_skt.utils.resumable_sampler import ResumableSampler
from basicsr_skt.utils.rng import capture_rng_state, preserved_rng_state

TOTAL_ITER = 10
KILL_AFTER = 4  # SIGKILL as soon as this iteration's training state exists (the run is then somewhere past it)


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    root = make_tiny_demo(tmp_path_factory.mktemp('demo'))
    add_fake_priors(root, channels=512)
    return root


def resume_options(demo_root, name, model):
    """10 iterations, 3 batches per epoch (so the kill lands mid-epoch and the resume crosses epochs), a checkpoint
    every iteration, validation every 3 (between checkpoints: it must not shift the training draws). ``hdr_bf16``:
    the ORM with ``train.amp: bf16``."""
    opt = tiny_skt_options(demo_root, name, total_iter=TOTAL_ITER) if model == 'skt' else tiny_train_options(
        demo_root, name, total_iter=TOTAL_ITER)
    if model == 'hdr_bf16':
        opt['train']['amp'] = 'bf16'
    opt['datasets']['train'].update(dataset_enlarge_ratio=3, num_worker_per_gpu=0)
    opt['manual_seed'] = 10
    opt['val'].update(val_freq=3, save_img=False)
    opt['logger'].update(print_freq=100, save_checkpoint_freq=1, use_tb_logger=False)
    return opt


def train_command(config):
    return ['-m', 'basicsr_skt.train', '-opt', str(config)]


def kill_when_state_exists(config, cwd, state_path, timeout=240):
    """Start a training run and SIGKILL it once ``state_path`` exists; returns the exit code (-9 when killed)."""
    env = dict(os.environ, PYTHONUNBUFFERED='1', CUDA_VISIBLE_DEVICES='')
    proc = subprocess.Popen([sys.executable] + train_command(config), cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    try:
        while proc.poll() is None and not osp.isfile(state_path) and time.time() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.fixture
def basicsr_log(caplog):
    """Records of BasicSR's root logger (which does not propagate to pytest's handler)."""
    logger = logging.getLogger('basicsr')
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def load_params(path):
    return torch.load(path, weights_only=True)['params']


@pytest.mark.parametrize('model', ['hdr', 'skt', 'hdr_bf16'])
def test_killed_and_auto_resumed_run_equals_the_uninterrupted_run(demo_root, tmp_path, model):
    reference = dump_yaml(resume_options(demo_root, f'ref_{model}', model), tmp_path / 'ref.yml')
    run_python(train_command(reference), cwd=tmp_path)

    name = f'killed_{model}'
    config = dump_yaml(resume_options(demo_root, name, model), tmp_path / 'killed.yml')
    exp = tmp_path / 'experiments' / name
    code = kill_when_state_exists(config, tmp_path, exp / 'training_states' / f'{KILL_AFTER}.state')
    assert code == -signal.SIGKILL, 'the run finished before it could be killed'
    assert not (exp / 'models' / f'net_g_{TOTAL_ITER}.pth').exists()
    log = run_python(train_command(config) + ['--auto_resume'], cwd=tmp_path)
    assert 'Resuming training from epoch' in log

    labels = ['net_g'] + (['net_t', 'net_skam'] if model == 'skt' else [])
    for label in labels:
        expected = load_params(tmp_path / 'experiments' / f'ref_{model}' / 'models' / f'{label}_{TOTAL_ITER}.pth')
        resumed = load_params(exp / 'models' / f'{label}_{TOTAL_ITER}.pth')
        assert expected.keys() == resumed.keys()
        for key in expected:
            torch.testing.assert_close(resumed[key], expected[key], rtol=0, atol=0, msg=f'{label}.{key}')


# ---------------------------------------------------------------------------------------------------- checkpoints
def write_checkpoint(models, states, current_iter, epoch=0):
    weights = {'params': {'w': torch.full((2, ), float(current_iter))}}
    atomic_save(weights, osp.join(models, f'net_g_{current_iter}.pth'))
    atomic_save({'epoch': epoch, 'iter': current_iter, 'optimizers': [], 'schedulers': []},
                osp.join(states, f'{current_iter}.state'))


def truncate(path):
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


@pytest.fixture
def experiment(tmp_path):
    models, states = tmp_path / 'models', tmp_path / 'training_states'
    models.mkdir()
    states.mkdir()
    write_checkpoint(models, states, 2)
    write_checkpoint(models, states, 4)
    opt = {
        'num_gpu': 0,
        'auto_resume': True,
        'network_g': {'type': 'Any'},
        'path': {'experiments_root': str(tmp_path), 'models': str(models), 'resume_state': None}
    }
    return opt, models, states


def test_auto_resume_takes_the_newest_complete_checkpoint(experiment):
    opt, models, _ = experiment
    state = compat.load_resume_state(opt)
    assert state['iter'] == 4 and opt['path']['pretrain_network_g'] == osp.join(models, 'net_g_4.pth')


@pytest.mark.parametrize('broken', ['state', 'network'])
def test_truncated_checkpoint_is_reported_and_the_previous_one_used(experiment, broken, basicsr_log):
    opt, models, states = experiment
    truncate(osp.join(states, '4.state') if broken == 'state' else osp.join(models, 'net_g_4.pth'))
    state = compat.load_resume_state(opt)
    assert state['iter'] == 2 and opt['path']['pretrain_network_g'] == osp.join(models, 'net_g_2.pth')
    assert opt['path']['resume_state'] == osp.join(states, '2.state')
    broken_name = '4.state' if broken == 'state' else 'net_g_4.pth'
    assert any(broken_name in r.getMessage() and 'previous checkpoint' in r.getMessage() for r in basicsr_log.records)


def test_explicit_truncated_resume_state_is_an_error_naming_the_file(experiment):
    opt, _, states = experiment
    truncate(osp.join(states, '4.state'))
    opt.update(auto_resume=False)
    opt['path']['resume_state'] = osp.join(states, '4.state')
    with pytest.raises(RuntimeError, match=r'4\.state is unreadable'):
        compat.load_resume_state(opt)


def test_no_complete_checkpoint_starts_from_scratch(experiment):
    opt, _, states = experiment
    truncate(osp.join(states, '4.state'))
    truncate(osp.join(states, '2.state'))
    assert compat.load_resume_state(opt) is None


# ---------------------------------------------------------------------------------------------------- data order
def test_resumed_epoch_skips_consumed_batches_and_restores_the_generators():
    sampler = ResumableSampler(list(range(5)), num_replicas=1, rank=0, ratio=2)  # 10 samples: 5 batches of 2
    sampler.set_epoch(1)
    full_epoch = list(iter(sampler))
    rng = capture_rng_state()
    expected_draw = (random.random(), np.random.rand(), torch.rand(1).item())
    sampler.resume_from(epoch=1, current_iter=7, batch_size=2, rng_state=rng)  # 5 in epoch 0, 2 in epoch 1
    sampler.set_epoch(0)
    assert list(iter(sampler)) != full_epoch[4:]  # another epoch does not consume the scheduled resume
    torch.rand(3)  # e.g. the data loader iterator drawing its seed after the state was restored
    sampler.set_epoch(1)
    assert list(iter(sampler)) == full_epoch[4:]
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected_draw
    assert list(iter(sampler)) == full_epoch  # consumed once


def test_inconsistent_resume_position_keeps_the_whole_epoch(basicsr_log):
    sampler = ResumableSampler(list(range(4)), num_replicas=1, rank=0, ratio=1)
    sampler.set_epoch(0)
    full_epoch = list(iter(sampler))
    sampler.resume_from(epoch=0, current_iter=9, batch_size=2, rng_state=None)  # epoch 0 has 2 batches
    sampler.set_epoch(0)
    assert list(iter(sampler)) == full_epoch
    assert any('not an exact continuation' in r.getMessage() for r in basicsr_log.records)


def test_stock_pipeline_builds_a_resumable_sampler_told_the_resume_position(tmp_path):
    """``basicsr.train`` builds its training sampler as ``ResumableSampler``; with ``path.resume_state`` set (by
    ``load_resume_state``) ``create_train_val_dataloader`` passes the state's position and generators to it."""
    assert basicsr.train.EnlargedSampler is ResumableSampler
    state_path = tmp_path / '3.state'
    rng = capture_rng_state()
    torch.save({'epoch': 1, 'iter': 3, 'rng': rng}, state_path)
    sampler = ResumableSampler(list(range(4)), num_replicas=1, rank=0)

    def create(opt, logger):
        return None, sampler, [], 2, 4

    wrapped = compat.wrap_create_train_val_dataloader(create)
    opt = {'path': {'resume_state': None}, 'datasets': {'train': {'batch_size_per_gpu': 2}}}
    wrapped(opt, None)
    assert sampler.pending_resume is None  # a fresh run: a plain EnlargedSampler
    opt['path']['resume_state'] = str(state_path)
    wrapped(opt, None)
    assert {k: sampler.pending_resume[k] for k in ('epoch', 'iter', 'batch_size')} == {'epoch': 1, 'iter': 3,
                                                                                       'batch_size': 2}
    assert torch.equal(sampler.pending_resume['rng']['torch'], rng['torch'])


def test_preserved_rng_state_undoes_draws():
    before = capture_rng_state()
    with preserved_rng_state():
        random.random(), np.random.rand(), torch.rand(4)
    after = capture_rng_state()
    assert before['python'] == after['python'] and torch.equal(before['torch'], after['torch'])
    np.testing.assert_array_equal(before['numpy'][1], after['numpy'][1])
