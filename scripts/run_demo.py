#!/usr/bin/env python
"""CPU demo: generate demo scenes, train a small HDR-Transformer with BasicSR's trainer, test it, print the table.

    python scripts/run_demo.py                  # ~5 minutes on 2 CPU cores
    python scripts/run_demo.py --iters 100      # quicker smoke run

Each step is the documented command a user would type (`scripts/make_demo_data.py`, `python -m basicsr_skt.train`,
`python -m basicsr_skt.test`), run from the current directory, so experiments/, results/ and tb_logger/ land here.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time
from typing import List

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN_OPT = osp.join(REPO, 'options', 'demo', 'train_demo_hdrtransformer.yml')
TEST_OPT = osp.join(REPO, 'options', 'demo', 'test_demo_hdrtransformer.yml')
TRAIN_NAME = 'demo_HDRTransformer_tiny'
TEST_NAME = 'test_demo_HDRTransformer_tiny'


def run(cmd: List[str], step: str) -> float:
    print(f'\n=== {step}: {" ".join(cmd)}', flush=True)
    start = time.time()
    subprocess.run(cmd, check=True)
    return time.time() - start


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', default='datasets/demo', help='demo dataset root (generated if absent)')
    parser.add_argument('--num-train', type=int, default=8, help='generated training scenes')
    parser.add_argument('--num-val', type=int, default=3, help='generated held-out scenes (validation and test)')
    parser.add_argument('--iters', type=int, default=None, help='training iterations (default: the config\'s 600)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the generated scenes')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    timings = {}
    if args.data != 'datasets/demo':
        sys.exit('--data other than datasets/demo needs edited option files (dataroot); see README "Configs"')
    if osp.isdir(osp.join(args.data, 'Training')):
        print(f'=== data: reusing {args.data} (delete it to regenerate)')
    else:
        timings['data'] = run([
            sys.executable,
            osp.join(REPO, 'scripts', 'make_demo_data.py'), '--out', args.data, '--num-train',
            str(args.num_train), '--num-val',
            str(args.num_val), '--seed',
            str(args.seed)
        ], 'data')
    train_cmd = [sys.executable, '-m', 'basicsr_skt.train', '-opt', TRAIN_OPT]
    if args.iters is not None:
        val_freq = max(args.iters // 3, 1)
        train_cmd += [
            '--force_yml', f'train:total_iter={args.iters}', f'val:val_freq={val_freq}',
            f'logger:save_checkpoint_freq={args.iters}', f'train:scheduler:milestones=[{args.iters}]'
        ]
    timings['train + validation'] = run(train_cmd, 'train')
    timings['test'] = run([sys.executable, '-m', 'basicsr_skt.test', '-opt', TEST_OPT], 'test')

    table_path = osp.join('results', TEST_NAME, 'demo_test_metrics.md')
    print(f'\n=== Test metrics of experiments/{TRAIN_NAME}/models/net_g_latest.pth on the held-out demo scenes')
    print(f'({table_path}; predictions as .hdr and mu-law PNG in results/{TEST_NAME}/visualization/)\n')
    with open(table_path) as f:
        print(f.read())
    print('Timings: ' + ', '.join(f'{k} {v:.0f} s' for k, v in timings.items()))
    print(f'Validation curves: tensorboard --logdir {osp.join(os.getcwd(), "tb_logger")}')


if __name__ == '__main__':
    main()
