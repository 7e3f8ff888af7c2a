#!/usr/bin/env python
"""Probe 7 (research/evidence_notes.md): how hard does each distillation term pull on the ORM in stage 2?

Writes configs that rerun screen 5's stage-2 students (oracle-prior and prior-free teachers, seed 0) for 60 iterations
with ``skt.diagnostics.grad_cosine_freq: 5`` (``cos_<term>`` and ``gnr_<term>``, the term's gradient norm over L_rec's,
on the ORM's parameters), and no validation:
  * ``start``: from the frozen stage-0 ORM at stage 2's first learning rate (what screen 5 saw at its start);
  * ``end``: from the screen-5 student after its 1,200 iterations (its live weights and SKAM heads), lr 1e-6.

From the repository root, with screen 4's work folder (its ``student_configs`` and ``experiments``):

    python -m research.screen_20261204.probe7.make_probe_configs --work ../screen4

writes ``<work>/probe7_configs/<name>.yml`` (``--out`` to change it); ``run_probe.sh`` trains them.
"""
import argparse
import copy
import os
import os.path as osp
from typing import Any, Dict, List, Optional

from basicsr_skt.utils.option_checks import dump_options_yaml, load_options_yaml

ITERS = 60


def probe(opt: Dict[str, Any], name: str, start_from_final: bool, experiments: str) -> Dict[str, Any]:
    """The probe config ``name`` from the stage-2 config ``opt`` whose run lies in ``experiments``."""
    opt = copy.deepcopy(opt)
    final = osp.join(experiments, opt['name'], 'models')
    opt['name'] = name
    opt['train']['total_iter'] = ITERS
    opt['skt']['diagnostics'] = {'grad_cosine_freq': 5}
    opt['val']['val_freq'] = 10**9
    opt['logger'].update(print_freq=5, save_checkpoint_freq=10**9, use_tb_logger=False)
    if start_from_final:
        opt['path'].update(pretrain_network_g=osp.join(final, 'net_g_1200.pth'), param_key_g='params',
                           pretrain_network_skam=osp.join(final, 'net_skam_1200.pth'))
        opt['train']['optim_g']['lr'] = 1e-6
        opt['train']['scheduler'] = {'type': 'MultiStepLR', 'milestones': [10**9], 'gamma': 1.0}
    return opt


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work', required=True, help='screen 4\'s work folder (student_configs, experiments)')
    parser.add_argument('--out', help='config folder (default <work>/probe7_configs)')
    args = parser.parse_args(argv)
    work = osp.abspath(args.work)  # the configs are trained with cwd <work>: absolute paths inside them
    out = args.out or osp.join(work, 'probe7_configs')
    os.makedirs(out, exist_ok=True)
    for arm in ('student_oracle', 'student_none'):
        opt = load_options_yaml(osp.join(work, 'student_configs', f'{arm}_i1200_s0.yml'))
        for when in ('start', 'end'):
            name = f'probe7_{arm}_{when}_i{ITERS}_s0'
            dump_options_yaml(probe(opt, name, when == 'end', osp.join(work, 'experiments')),
                              osp.join(out, f'{name}.yml'))
            print(name)


if __name__ == '__main__':
    main()
