"""Configs of the gradient probe in research/evidence_notes.md (screen of 2026-12-03), kept as run.

The probe ran from a worktree of commit 86eda50 (branch screen-snapshot) on the screen's work folder; from the
repository root, with that screen's SKT run of seed 0 and an output folder:

    python -m research.screen_20261203.make_gradient_probe_configs ../screen/experiments/evidence_skt_s0 ../probe

each config was then trained with ``python -m basicsr_skt.train -opt ../probe/<variant>.yml`` (OMP_NUM_THREADS=1;
``python -m research.train`` runs them too).
"""
import argparse
import copy
import os
import os.path as osp
from typing import List, Optional

from basicsr_skt.utils.option_checks import dump_options_yaml, load_options_yaml

VARIANTS = {
    'soft_charb': dict(gate='soft', criterion='charbonnier'),
    'hard_l1': dict(gate='hard', criterion='l1'),
    'none_l1': dict(gate='none', criterion='l1'),
}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('run', help='the screen\'s SKT experiment folder (evidence_skt_s0, trained 1,200 iterations)')
    parser.add_argument('out', help='folder for the configs (<variant>.yml)')
    args = parser.parse_args(argv)
    base = load_options_yaml(osp.join(args.run, f'{osp.basename(osp.normpath(args.run))}.yml'))
    models = osp.join(args.run, 'models')
    os.makedirs(args.out, exist_ok=True)
    for name, content in VARIANTS.items():
        o = copy.deepcopy(base)
        o['name'] = f'probe_{name}'
        o['path'] = {'pretrain_network_g': osp.join(models, 'net_g_1200.pth'), 'param_key_g': 'params',
                     'strict_load_g': True, 'pretrain_network_t': osp.join(models, 'net_t_1200.pth'),
                     'param_key_t': 'params', 'strict_load_t': True, 'resume_state': None}
        o['train']['total_iter'] = 40
        o['train']['scheduler'] = {'type': 'CosineAnnealingRestartLR', 'periods': [40], 'restart_weights': [1],
                                   'eta_min': 1e-6}
        o['train']['optim_g']['lr'] = 1e-5
        o['skt']['distill_warmup_iter'] = 0
        o['skt']['content_opt'].update(content)
        o['skt']['colour_opt'].update(gate=content['gate'], criterion=content['criterion'])
        o['skt']['diagnostics'] = {'grad_cosine_freq': 4}
        o['val']['val_freq'] = 10**6
        o['logger']['print_freq'] = 4
        o['logger']['save_checkpoint_freq'] = 10**6
        o['datasets']['train']['num_worker_per_gpu'] = 0
        dump_options_yaml(o, osp.join(args.out, f'{name}.yml'))
    print('ok')


if __name__ == '__main__':
    main()
