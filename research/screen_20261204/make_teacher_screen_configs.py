"""Configs of screen 4 in research/evidence_notes.md (teacher-only runs on a frozen ORM, 2026-12-04), kept as run.

From the repository root, with the screen's work folder (data, priors and the frozen baseline ORM made by
``python -m research.run_evidence --validation-only --runs baseline --seeds 0 --iters 1200 --work <work>``):

    python -m research.screen_20261204.make_teacher_screen_configs --work ../screen4 --iters 1200 --seeds 0

then each config is trained with ``research/screen_20261204/run_screen_configs.sh <work> teacher_configs net_t
<names>`` (``python -m research.train``, which registers the oracle backend and ``SPGRMProbe``; OMP_NUM_THREADS=1,
cwd <work>). The configs are ``run_evidence.py``'s own SKT configs of the same data and recipe, switched to
``skt.mode: staged_teacher`` on the frozen ORM; the arms with the teacher's research knobs (``condition_at_head``,
``fusion: cross_attention``) use ``network_t: {type: SPGRMProbe}``.
"""
import argparse
import copy
import os
import os.path as osp
from typing import List, Optional

from research import run_evidence

ARMS = {  # name: (run_evidence arm giving data and priors, network_t changes)
    'none': ('no_semantics', {}),
    'oracle_sft': ('oracle_teacher', {}),
    'oracle_head': ('oracle_teacher', {'type': 'SPGRMProbe', 'condition_at_head': True}),
    'oracle_xattn': ('oracle_teacher', {'type': 'SPGRMProbe', 'fusion': 'cross_attention'}),
    'vgg_sft': ('skt', {}),
    'vgg_head': ('skt', {'type': 'SPGRMProbe', 'condition_at_head': True}),
}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work', required=True, help='the screen\'s work folder (data, data_oracle, experiments)')
    parser.add_argument('--iters', type=int, default=1200)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    cli = parser.parse_args(argv)
    work = osp.abspath(cli.work)  # the configs are trained with cwd <work>: absolute paths inside them
    orm = osp.join(work, 'experiments', 'evidence_baseline_s0', 'models', 'net_g_1200.pth')
    args = run_evidence.parse_args(['--iters', str(cli.iters), '--num-val-points', '2'])
    os.makedirs(osp.join(work, 'teacher_configs'), exist_ok=True)
    for seed in cli.seeds:
        for name, (arm, network_t) in ARMS.items():
            # every arm reads the oracle copy of the scenes (same scenes and crops): arm `none` reads no prior file but
            # `skb: true` asks for them, and the VGG priors are only needed by arms E and F
            data_dir = osp.join(work, 'data' if name.startswith('vgg') else 'data_oracle')
            opt = copy.deepcopy(run_evidence.train_options(arm, seed, data_dir, args))
            opt['name'] = f'teacher_{name}_i{cli.iters}_s{seed}'
            opt['network_t'].update(network_t)
            opt['skt']['mode'] = 'staged_teacher'
            opt['train']['ema_decay'] = 0  # the ORM is frozen
            opt['train']['ema_warmup'] = False
            opt['path'].update(pretrain_network_g=orm, param_key_g='params_ema', strict_load_g=True)
            opt['logger']['save_checkpoint_freq'] = cli.iters
            print(run_evidence.dump_yaml(opt, osp.join(work, 'teacher_configs', f"{opt['name']}.yml")))


if __name__ == '__main__':
    main()
