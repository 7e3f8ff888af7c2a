#!/usr/bin/env python
"""Score a trained SKT run on a validation folder: the ORM (EMA and live weights) and its teacher, with and without
the priors — the teacher's held-out gap, the go/no-go of the method.

    python -m research.validate_teacher --run evidence/experiments/evidence_skt_s0 \
        --dataroot evidence/data/Validation

The run's own options (``<run>/<name>.yml``) build the networks; the final checkpoints ``net_g_latest.pth``
(``params`` = live ORM, ``params_ema`` = EMA ORM when present) and ``net_t_latest.pth`` are loaded; ``--dataroot``
needs the priors of its scenes when the teacher uses semantics (``make_semantic_priors.py``). Prints the mean
metrics (``psnr_mu``: EMA ORM, ``live_*``: live ORM, ``teacher_*``: the teacher on the live ORM's output,
``teacher0_*``: the same with the priors zeroed) and writes them as JSON with ``--json`` (the folders recorded
relative to the repository: :func:`research.paths.repo_relative`).
"""
import argparse
import copy
import glob
import json
import os.path as osp
from typing import Dict, List, Optional

import torch

import basicsr_skt  # noqa: F401  isort:skip  (registers the plugin before basicsr's registries are used)
import research.oracle_backend  # noqa: F401  isort:skip  (oracle priors are readable: the oracle_teacher runs)
import research.spgrm_probe_arch  # noqa: F401  isort:skip  (SPGRMProbe teachers build)
from basicsr.data import build_dataloader, build_dataset
from basicsr.models import build_model
from basicsr_skt.inference import load_weights
from basicsr_skt.utils.errors import UserInputError, run_cli
from basicsr_skt.utils.option_checks import load_options_yaml
from research.paths import repo_relative


def run_options(run: str, dataroot: str) -> Dict:
    """The run's options, turned into a validation-only joint SKT model that loads its final checkpoints."""
    files = sorted(glob.glob(osp.join(run, '*.yml')))
    models = osp.join(run, 'models')
    for name in ('net_g_latest.pth', 'net_t_latest.pth'):
        if not osp.isfile(osp.join(models, name)):
            raise UserInputError(f'{osp.join(models, name)} not found: --run must be a finished SKT experiment folder')
    if not files:
        raise UserInputError(f'no options file (*.yml) in {run}: --run must be an experiment folder')
    opt = copy.deepcopy(load_options_yaml(files[0]))
    if opt.get('model_type') != 'SKTModel':
        raise UserInputError(f'{files[0]}: model_type is {opt.get("model_type")!r}; this script scores SKT runs')
    opt.update(is_train=True, dist=False, rank=0, world_size=1, num_gpu=0)
    opt['skt'] = dict(opt['skt'], mode='joint', val_teacher=True, val_teacher_zeroed_priors=True)
    opt['path'] = dict(opt['path'], pretrain_network_g=osp.join(models, 'net_g_latest.pth'), param_key_g='params',
                       pretrain_network_t=osp.join(models, 'net_t_latest.pth'), resume_state=None)
    opt['path'].setdefault('strict_load_t', True)
    opt['val'] = dict(opt['val'], save_img=False)
    val = dict(opt['datasets']['val'], dataroot=dataroot, phase='val',
               skb=bool(opt['network_t'].get('use_semantics', True)))
    opt['datasets'] = {'val': val}
    return opt


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--run', required=True, help='finished SKT experiment folder (options file + models/)')
    parser.add_argument('--dataroot', required=True, help='validation scenes (with priors for a semantic teacher)')
    parser.add_argument('--json', help='write the mean metrics here')
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    opt = run_options(args.run, args.dataroot)
    model = build_model(opt)  # SKTModel, through BasicSR's registry
    if hasattr(model, 'net_g_ema'):  # params_ema when the run kept an EMA, else params (= the EMA's initial copy)
        checkpoint = opt['path']['pretrain_network_g']
        load_weights(model.net_g_ema, checkpoint, 'auto', what=f'ORM checkpoint {checkpoint}')
    dataset = build_dataset(opt['datasets']['val'])
    loader = build_dataloader(dataset, opt['datasets']['val'], num_gpu=0, dist=False, sampler=None, seed=0)
    model.validation(loader, 0, None, save_img=False)
    means = {name: float(value) for name, value in model.metric_results.items()}
    for name, value in means.items():
        print(f'{name:28s} {value:.4f}')
    if args.json:
        with open(args.json, 'w') as f:
            record = {'run': repo_relative(args.run), 'dataroot': repo_relative(args.dataroot), 'scenes': len(dataset)}
            json.dump(dict(record, means=means), f, indent=1)
    return 0


if __name__ == '__main__':
    raise SystemExit(run_cli(main))
