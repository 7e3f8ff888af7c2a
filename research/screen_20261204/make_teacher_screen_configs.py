"""Configs of screen 4 in docs/evidence_notes.md (teacher-only runs on a frozen ORM, 2026-12-04), kept as run.

Run from a worktree of the commit that adds ``SPGRM(condition_at_head=...)`` with the screen's work folder
/work/screen4 (data, priors and the frozen baseline ORM made by
``run_evidence.py --validation-only --runs baseline --seeds 0 --iters 1200``):

    python docs/screen_20261204/make_teacher_screen_configs.py --iters 1200 --seeds 0

then each config is trained with ``python -m basicsr_skt.train -opt /work/screen4/teacher_configs/<name>.yml``
(OMP_NUM_THREADS=1, cwd /work/screen4). The configs are ``run_evidence.py``'s own SKT configs of the same data and
recipe, switched to ``skt.mode: staged_teacher`` on the frozen ORM.
"""
import argparse
import copy
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'scripts'))
import run_evidence  # noqa: E402

WORK = '/work/screen4'
ORM = osp.join(WORK, 'experiments', 'evidence_baseline_s0', 'models', 'net_g_1200.pth')
ARMS = {  # name: (run_evidence arm giving data and priors, network_t changes)
    'none': ('no_semantics', {}),
    'oracle_sft': ('oracle_teacher', {}),
    'oracle_head': ('oracle_teacher', {'condition_at_head': True}),
    'oracle_xattn': ('oracle_teacher', {'fusion': 'cross_attention'}),
    'vgg_sft': ('skt', {}),
    'vgg_head': ('skt', {'condition_at_head': True}),
}

parser = argparse.ArgumentParser()
parser.add_argument('--iters', type=int, default=1200)
parser.add_argument('--seeds', type=int, nargs='+', default=[0])
cli = parser.parse_args()
args = run_evidence.parse_args(['--iters', str(cli.iters), '--num-val-points', '2'])
os.makedirs(osp.join(WORK, 'teacher_configs'), exist_ok=True)
for seed in cli.seeds:
    for name, (arm, network_t) in ARMS.items():
        # every arm reads the oracle copy of the scenes (same scenes and crops): arm `none` reads no prior file but
        # `skb: true` asks for them, and the VGG priors are only needed by arms E and F
        data_dir = osp.join(WORK, 'data' if name.startswith('vgg') else 'data_oracle')
        opt = copy.deepcopy(run_evidence.train_options(arm, seed, data_dir, args))
        opt['name'] = f'teacher_{name}_i{cli.iters}_s{seed}'
        opt['network_t'].update(network_t)
        opt['skt']['mode'] = 'staged_teacher'
        opt['train']['ema_decay'] = 0  # the ORM is frozen
        opt['train']['ema_warmup'] = False
        opt['path'].update(pretrain_network_g=ORM, param_key_g='params_ema', strict_load_g=True)
        opt['logger']['save_checkpoint_freq'] = cli.iters
        path = run_evidence.dump_yaml(opt, osp.join(WORK, 'teacher_configs', f"{opt['name']}.yml"))
        print(path)
