#!/usr/bin/env python
"""CPU demo of SKT: the same small HDR-Transformer trained alone (baseline) and with SKT, tested side by side.

    python scripts/run_demo.py                  # ~6.5 minutes on 2 CPU cores (plus set-up)
    python scripts/run_demo.py --iters 40       # quick smoke run of every step (numbers meaningless)

Steps, each the documented command a user would type, run from the current directory (so ``datasets/``,
``experiments/``, ``results/`` and ``tb_logger/`` land here):

1. ``scripts/make_demo_data.py``: generated demo scenes (``datasets/demo/Training``, ``datasets/demo/Test``);
2. ``scripts/make_semantic_priors.py --backend vgg16``: the semantic knowledge bank of the training scenes (offline
   VGG16 backend, because no SAM weights ship with the package);
3. ``python -m basicsr_skt.train`` with ``options/demo/train_demo_hdrtransformer.yml`` (baseline) and
   ``options/demo/train_demo_skt_hdrtransformer.yml`` (SKT: same ORM, data, seed and iterations, plus the teacher);
4. ``python -m basicsr_skt.test`` on the held-out scenes for both ``net_g`` checkpoints (the SKT one is a plain
   HDR-Transformer state dict, loaded by the same test config);
5. the per-scene table of both runs and the SKT − baseline differences.

The demo data are small generated scenes, so the numbers say the pipeline works, not how much SKT helps on real data
(README "Results").
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List

from basicsr_skt.utils.compare import comparison_table, read_metrics_csv

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
OPTIONS = osp.join(REPO, 'options', 'demo')
TEST_OPT = osp.join(OPTIONS, 'test_demo_hdrtransformer.yml')
TEST_DATASET = 'demo_test'
#: run label -> (training config, experiment name) — the names are the configs' ``name`` fields.
RUNS = {
    'baseline': (osp.join(OPTIONS, 'train_demo_hdrtransformer.yml'), 'demo_HDRTransformer_tiny'),
    'SKT': (osp.join(OPTIONS, 'train_demo_skt_hdrtransformer.yml'), 'demo_SKT_HDRTransformer_tiny'),
}


def run(cmd: List[str], step: str) -> float:
    """Run one step as a subprocess (echoing the command); returns its wall time in seconds."""
    print(f'\n=== {step}: {" ".join(cmd)}', flush=True)
    start = time.time()
    subprocess.run(cmd, check=True)
    return time.time() - start


def iteration_overrides(iters: int, skt: bool) -> List[str]:
    """``--force_yml`` entries that shorten a demo training run to ``iters`` iterations (SKT warm-up: a quarter)."""
    overrides = [
        f'train:total_iter={iters}', f'val:val_freq={max(iters // 2, 1)}', f'logger:save_checkpoint_freq={iters}',
        f'train:scheduler:milestones=[{max(iters * 3 // 4, 1)}]'
    ]
    return overrides + ([f'skt:warmup_iter={iters // 4}'] if skt else [])


def test_name(label: str) -> str:
    return f'test_{RUNS[label][1]}'


def read_metrics(label: str) -> Dict[str, Dict[str, float]]:
    """Per-scene metrics of a test run (``results/<name>/demo_test_metrics.csv``), without the ``mean`` row."""
    return read_metrics_csv(osp.join('results', test_name(label), f'{TEST_DATASET}_metrics.csv'))


def side_by_side_table(baseline: Dict[str, Dict[str, float]], skt: Dict[str, Dict[str, float]]) -> str:
    """Markdown table: per scene and the mean, each metric for baseline, SKT and SKT − baseline
    (:func:`basicsr_skt.utils.compare.comparison_table`, the same table as ``scripts/compare_results.py``)."""
    return comparison_table({'base': baseline, 'SKT': skt})


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', default='datasets/demo', help='demo dataset root (generated if absent)')
    parser.add_argument('--num-train', type=int, default=8, help='generated training scenes')
    parser.add_argument('--num-val', type=int, default=3, help='generated held-out scenes (validation and test)')
    parser.add_argument('--iters', type=int, default=None, help='training iterations of both runs (default: 400)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the generated scenes')
    parser.add_argument('--runs', nargs='+', choices=tuple(RUNS), default=list(RUNS), help='which runs to train/test')
    return parser.parse_args(argv)


def make_data(args: argparse.Namespace, timings: Dict[str, float]) -> None:
    if osp.isdir(osp.join(args.data, 'Training')):
        print(f'=== data: reusing {args.data} (delete it to regenerate)')
        return
    timings['data'] = run([
        sys.executable,
        osp.join(REPO, 'scripts', 'make_demo_data.py'), '--out', args.data, '--num-train',
        str(args.num_train), '--num-val',
        str(args.num_val), '--seed',
        str(args.seed)
    ], 'data')


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.data != 'datasets/demo':
        sys.exit('--data other than datasets/demo needs edited option files (dataroot); see README "Configs"')
    timings: Dict[str, float] = {}
    make_data(args, timings)
    if 'SKT' in args.runs:  # resumable: scenes already done are skipped
        timings['semantic priors'] = run([
            sys.executable,
            osp.join(REPO, 'scripts', 'make_semantic_priors.py'), '--dataroot',
            osp.join(args.data, 'Training'), '--backend', 'vgg16'
        ], 'semantic priors (VGG16 backend)')
    for label in args.runs:
        train_opt, name = RUNS[label]
        cmd = [sys.executable, '-m', 'basicsr_skt.train', '-opt', train_opt]
        if args.iters is not None:
            cmd += ['--force_yml'] + iteration_overrides(args.iters, skt=label == 'SKT')
        timings[f'train {label}'] = run(cmd, f'train {label}')
    for label in args.runs:
        checkpoint = osp.join('experiments', RUNS[label][1], 'models', 'net_g_latest.pth')
        timings[f'test {label}'] = run([
            sys.executable, '-m', 'basicsr_skt.test', '-opt', TEST_OPT, '--force_yml', f'name={test_name(label)}',
            f'path:pretrain_network_g={checkpoint}'
        ], f'test {label}')

    print('\n=== Test metrics on the held-out demo scenes (predictions: results/<test name>/visualization/)')
    if set(args.runs) == set(RUNS):
        print(side_by_side_table(read_metrics('baseline'), read_metrics('SKT')))
    else:
        for label in args.runs:
            with open(osp.join('results', test_name(label), f'{TEST_DATASET}_metrics.md')) as f:
                print(f'\n{label}:\n{f.read()}')
    print('\nTimings: ' + ', '.join(f'{k} {v:.0f} s' for k, v in timings.items()))
    print(f'Training curves: tensorboard --logdir {osp.join(os.getcwd(), "tb_logger")}')


if __name__ == '__main__':
    main()
