#!/usr/bin/env python
"""Probe 7 table: mean (and range) over the logged iterations of cos_<term> and gnr_<term> of every probe run.

Usage: python probe_table.py /work/screen4/experiments/probe7_*  (reads each run's training log)
"""
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))))
from basicsr_skt.reporting.train_logs import logged_scalars, read_experiment_logs  # noqa: E402

TERMS = ('l_content', 'l_colour', 'l_skam')
print('| run | ' + ' | '.join(f'{k}_{t}' for t in TERMS for k in ('cos', 'gnr')) + ' | gap_psnr_mu |')
print('|---' * (2 * len(TERMS) + 2) + '|')
for folder in sys.argv[1:]:
    scalars = logged_scalars(read_experiment_logs(folder))
    cells = []
    for key in [f'{k}_{t}' for t in TERMS for k in ('cos', 'gnr')] + ['gap_psnr_mu']:
        values = np.array([v for _, v in scalars.get(key, [])])
        cells.append(f'{values.mean():.3f} [{values.min():.3f}, {values.max():.3f}]' if values.size else '–')
    print(f'| {osp.basename(folder)} | ' + ' | '.join(cells) + ' |')
