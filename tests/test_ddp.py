"""Multi-process training on the CPU with torchrun (gloo): 2 processes x batch b == 1 process x batch 2b."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from helpers import add_fake_priors, dump_yaml, tiny_skt_options, tiny_train_options

from basicsr_skt import compat
from basicsr_skt.synthesis.demo_scenes import DemoSceneConfig, make_demo_dataset

SIZE = 32  # scenes of exactly one crop, without flips: every sample is deterministic, whichever process reads it
ITERS = 3


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    make_demo_dataset(str(root), num_train=4, num_val=1, config=DemoSceneConfig(height=SIZE, width=SIZE), seed=0)
    add_fake_priors(root, channels=512, image_size=(SIZE, SIZE))
    return root


def deterministic(opt, batch_size):
    opt['datasets']['train'].update(gt_size=SIZE, use_hflip=False, use_rot=False, dataset_enlarge_ratio=1,
                                    batch_size_per_gpu=batch_size, num_worker_per_gpu=0)
    opt['dist_params'] = {'backend': 'gloo', 'port': 29500}
    opt['val']['val_freq'] = 1000
    opt['logger'].update(print_freq=1, save_checkpoint_freq=ITERS, use_tb_logger=False)
    return opt


def launch(config, cwd, processes):
    """``python -m basicsr_skt.train`` alone, or under torchrun with ``--launcher pytorch``; one thread per process."""
    env = dict(os.environ, PYTHONUNBUFFERED='1', CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    entry = ['-m', 'basicsr_skt.train', '-opt', str(config)]
    if processes > 1:
        entry = ['-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={processes}'] + entry + [
            '--launcher', 'pytorch'
        ]
    out = subprocess.run([sys.executable] + entry, cwd=cwd, env=env, capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, f'{entry} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}'
    return out.stdout + out.stderr


def params(root, name, label='net_g'):
    path = osp.join(root, 'experiments', name, 'models', f'{label}_{ITERS}.pth')
    return torch.load(path, weights_only=True)['params']


def test_two_processes_match_one_process_with_twice_the_batch(demo_root, tmp_path):
    single = dump_yaml(deterministic(tiny_train_options(demo_root, 'single', ITERS), 4), tmp_path / 'single.yml')
    ddp = dump_yaml(deterministic(tiny_train_options(demo_root, 'ddp', ITERS), 2), tmp_path / 'ddp.yml')
    launch(single, tmp_path, 1)
    log = launch(ddp, tmp_path, 2)
    assert 'world_size: 2' in log and 'dist: True' in log
    expected, got = params(tmp_path, 'single'), params(tmp_path, 'ddp')
    initial = params_at_start(demo_root)
    moved = max((expected[k] - initial[k]).abs().max().item() for k in expected)
    assert moved > 1e-4  # the weights did train, so the comparison below is not trivial
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-6, msg=key)


def params_at_start(demo_root):
    """The tiny ORM's initial weights under the runs' seed (BasicSR seeds every process with ``manual_seed``)."""
    from basicsr.archs import build_network
    from basicsr.utils import set_random_seed
    opt = tiny_train_options(demo_root, 'init', ITERS)
    set_random_seed(opt['manual_seed'])
    return build_network(opt['network_g']).state_dict()


def test_skt_joint_trains_under_torchrun_and_rank_zero_writes_once(demo_root, tmp_path):
    opt = deterministic(tiny_skt_options(demo_root, 'ddp_skt', total_iter=ITERS), 2)
    log = launch(dump_yaml(opt, tmp_path / 'skt.yml'), tmp_path, 2)
    assert 'l_skam:' in log and 'l_t_rec:' in log
    for label in ('net_g', 'net_t', 'net_skam'):
        assert params(tmp_path, 'ddp_skt', label)  # complete files, saved by rank 0 only
    exp = osp.join(tmp_path, 'experiments', 'ddp_skt')
    assert sorted(os.listdir(osp.join(exp, 'training_states'))) == [f'{ITERS}.state']
    assert not [name for name in os.listdir(exp) if name.endswith('_archived')]


def test_backend_comes_from_the_yaml(tmp_path):
    config = tmp_path / 'x.yml'
    config.write_text('name: x\ndist_params:\n  backend: gloo\n  port: 29500\n')
    assert compat.config_dist_backend(['-opt', str(config), '--launcher', 'pytorch']) == 'gloo'
    config.write_text('name: x\n')
    assert compat.config_dist_backend(['-opt', str(config)]) is None
    assert compat.config_dist_backend(['--launcher', 'pytorch']) is None
