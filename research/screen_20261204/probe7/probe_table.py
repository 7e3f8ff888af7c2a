#!/usr/bin/env python
"""Probe 7 table: mean (and range) over the logged iterations of cos_<term> and gnr_<term> of every probe run.

From the repository root (reads each run's training log):

    python -m research.screen_20261204.probe7.probe_table ../screen4/experiments/probe7_*
"""
import argparse
import os.path as osp
from typing import List, Optional

import numpy as np

from research.train_logs import logged_scalars, read_experiment_logs

TERMS = ('l_content', 'l_colour', 'l_skam')


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('runs', nargs='+', help='experiment folders of the probe runs')
    args = parser.parse_args(argv)
    print('| run | ' + ' | '.join(f'{k}_{t}' for t in TERMS for k in ('cos', 'gnr')) + ' | gap_psnr_mu |')
    print('|---' * (2 * len(TERMS) + 2) + '|')
    for folder in args.runs:
        scalars = logged_scalars(read_experiment_logs(folder))
        cells = []
        for key in [f'{k}_{t}' for t in TERMS for k in ('cos', 'gnr')] + ['gap_psnr_mu']:
            values = np.array([v for _, v in scalars.get(key, [])])
            cells.append(f'{values.mean():.3f} [{values.min():.3f}, {values.max():.3f}]' if values.size else '–')
        print(f'| {osp.basename(osp.normpath(folder))} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    main()
