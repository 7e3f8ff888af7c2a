"""``python -m research.train``: BasicSR's training with research's SKB backend and teacher registered; the library's
entry point refuses research's priors with one message naming the backend."""
import os
import subprocess
import sys

import torch
from helpers import dump_yaml, make_tiny_demo, run_python, tiny_skt_options

from research import make_oracle_priors
from research.paths import REPO

TINY_TEACHER = dict(embed_channels=3, num_feat=8, num_groups=1, num_blocks=1)


def test_research_train_runs_a_probe_teacher_on_oracle_priors(tmp_path):
    demo = make_tiny_demo(tmp_path / 'demo', num_train=1, num_val=1)
    assert make_oracle_priors.main(['--dataroot', str(demo / 'Training'), '--device', 'cpu', '--no-preview']) == 0
    opt = tiny_skt_options(demo, 'tiny_probe')
    opt['network_t'].update(type='SPGRMProbe', fusion='cross_attention', condition_at_head=True, num_heads=2,
                            window_size=4, **TINY_TEACHER)
    opt['network_skam']['teacher_channels'] = TINY_TEACHER['num_feat']
    log = run_python(['-m', 'research.train', '-opt', str(dump_yaml(opt, tmp_path / 'probe.yml'))], cwd=tmp_path)
    assert 'l_t_rec:' in log
    models = tmp_path / 'experiments' / 'tiny_probe' / 'models'
    teacher = torch.load(models / 'net_t_2.pth', weights_only=True)['params']
    assert teacher['head.weight'].shape[1] == 3 + 6 + 8  # the condition at the head
    assert 'fusions.0.q.weight' in teacher  # cross-attention fusion
    # the library's own entry point does not know research's backend: one user error naming it, exit status 2
    opt['name'] = 'tiny_library'
    opt['network_t'] = dict(type='SPGRM', **TINY_TEACHER)
    config = dump_yaml(opt, tmp_path / 'library.yml')
    library = subprocess.run([sys.executable, '-m', 'basicsr_skt.train', '-opt', str(config)], cwd=tmp_path,
                             env=dict(os.environ, PYTHONPATH=REPO, CUDA_VISIBLE_DEVICES=''), capture_output=True,
                             text=True, timeout=300)
    assert library.returncode == 2 and "unknown backend 'oracle'" in library.stderr
    assert 'register_backend' in library.stderr and 'Traceback' not in library.stderr
