#!/usr/bin/env python
"""Probe 7 (docs/evidence_notes.md): how hard does each distillation term pull on the ORM in stage 2?

Writes configs that rerun screen 5's stage-2 students (oracle-prior and prior-free teachers, seed 0) for 60 iterations
with ``skt.diagnostics.grad_cosine_freq: 5`` (``cos_<term>`` and ``gnr_<term>``, the term's gradient norm over L_rec's,
on the ORM's parameters), and no validation:
  * ``start``: from the frozen stage-0 ORM at stage 2's first learning rate (what screen 5 saw at its start);
  * ``end``: from the screen-5 student after its 1,200 iterations (its live weights and SKAM heads), lr 1e-6.
Usage: python make_probe_configs.py /work/screen4/student_configs /work/screen4/probe7_configs
"""
import copy
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
sys.path.insert(0, REPO)
from basicsr_skt.utils.option_checks import dump_options_yaml, load_options_yaml  # noqa: E402

ITERS = 60


def probe(opt, name, start_from_final):
    opt = copy.deepcopy(opt)
    final = osp.join('/work/screen4/experiments', opt['name'], 'models')
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


def main(src, dst):
    os.makedirs(dst, exist_ok=True)
    for arm in ('student_oracle', 'student_none'):
        opt = load_options_yaml(osp.join(src, f'{arm}_i1200_s0.yml'))
        for when in ('start', 'end'):
            name = f'probe7_{arm}_{when}_i{ITERS}_s0'
            dump_options_yaml(probe(opt, name, when == 'end'), osp.join(dst, f'{name}.yml'))
            print(name)


if __name__ == '__main__':
    main(*sys.argv[1:3])
