#!/usr/bin/env python
"""Recover the Evidence v2 pilot's per-seed test means (seeds 0, 1, 2) from its two committed reports.

The pilot's run folders (its ``--work``, ``../evidence_v2``) were lost with its machine; only its reports are left:
``docs/evidence.{md,json}`` after seeds 0-1 (commit 47f6622) and after seeds 0-2 (commit 9f9a6a7). Each holds, per
arm and metric, the mean over seeds (JSON, full precision) and the seed standard deviation (Markdown, 4 decimals), and
per contrast the mean and standard deviation of the paired differences (JSON, full precision). That fixes every
per-seed test mean:

- seed 2 = 3 * mean(0, 1, 2) - 2 * mean(0, 1), exactly;
- seeds 0 and 1 = mean(0, 1) +/- sd(0, 1) / sqrt(2), but which is which is not recorded. For ``skt`` the larger value
  is called seed 0; for each other arm and each contrasted metric (PSNR-mu, SSIM-mu, LPIPS) the order is the one that
  reproduces the committed standard deviation of ``skt - arm`` over seeds 0-1; for the other metrics (which are never
  paired) it is arbitrary. Every table and statistic of the report is unchanged by swapping seeds 0 and 1.

The script checks the recovered values against the numbers it did not use (the standard deviations over seeds 0-2
of every arm and metric, the mean and standard deviation of every contrast over seeds 0-2) and writes a score archive
(``research.evidence_tables.scores_to_json``) in which each seed has one row, ``test_mean``:

    python -m research.evidence_v2_pilot.recover_scores   # -> research/evidence_v2_pilot/pilot_scores.json
"""
import json
import math
import os.path as osp
import re
import subprocess
from typing import Dict, Tuple

import numpy as np

from research.evidence_tables import MEAN_ONLY_SCENE, scores_to_json
from research.paths import REPO, repo_relative

TWO_SEEDS, THREE_SEEDS = '47f6622', '9f9a6a7'
PAIRED = ('psnr_mu', 'ssim_mu', 'lpips')


def committed(commit: str, path: str) -> str:
    return subprocess.run(['git', 'show', f'{commit}:{path}'], cwd=REPO, check=True, capture_output=True,
                          text=True).stdout


def seed_sds(markdown: str) -> Dict[Tuple[str, str], float]:
    """(arm, metric) -> seed standard deviation, from every ``| arm | seeds | metric ... |`` table of the report."""
    sds, header = {}, None
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if line.startswith('| arm | seeds |'):
            header = cells
        elif header and line.startswith('| ') and not line.startswith('|---'):
            for name, cell in zip(header[2:], cells[2:]):
                found = re.fullmatch(r'-?[\d.]+ ± ([\d.]+)', cell)
                if found:
                    sds[cells[0], name] = float(found.group(1))
        elif not line.startswith('|'):
            header = None
    return sds


def main() -> None:
    two, three = (json.loads(committed(c, 'docs/evidence.json')) for c in (TWO_SEEDS, THREE_SEEDS))
    assert two['seeds_done'] == [0, 1] and three['seeds_done'] == [0, 1, 2]
    sd_two, sd_three = (seed_sds(committed(c, 'docs/evidence.md')) for c in (TWO_SEEDS, THREE_SEEDS))
    contrast_two = {(c['contrast'], c['metric']): c for c in two['contrasts']}
    values: Dict[str, Dict[str, Tuple[float, float, float]]] = {}
    for arm, means in three['arm_means'].items():
        values[arm] = {}
        for metric, mean_three in means.items():
            if (arm, metric) not in sd_two:
                continue  # time_s: not a result
            mean_two = two['arm_means'][arm][metric]
            half = sd_two[arm, metric] / math.sqrt(2)
            values[arm][metric] = (mean_two + half, mean_two - half, 3 * mean_three - 2 * mean_two)
    for arm in values:  # the order of seeds 0 and 1 that reproduces each paired contrast over seeds 0-1
        for metric in PAIRED:
            key = (f'skt - {arm}', metric)
            if arm == 'skt' or key not in contrast_two:
                continue
            s, x = values['skt'][metric], values[arm][metric]
            swapped = (x[1], x[0], x[2])
            error = [abs(np.std([s[0] - y[0], s[1] - y[1]], ddof=1) - contrast_two[key]['sd']) for y in (x, swapped)]
            if error[1] < error[0]:
                values[arm][metric] = swapped
            print(f'{key[0]:>24} {metric:>8}: order {"swapped" if error[1] < error[0] else "kept"} '
                  f'(sd error {min(error):.1e} vs {max(error):.1e})')
    worst = 0.0
    for arm, per_metric in values.items():  # checks against numbers not used above
        for metric, v in per_metric.items():
            assert abs(np.mean(v) - three['arm_means'][arm][metric]) < 1e-9
            worst = max(worst, abs(np.std(v, ddof=1) - sd_three[arm, metric]))
    print(f'seed sd over 0-2, recovered vs reported (4 decimals): largest difference {worst:.1e}')
    assert worst < 2e-4, worst
    worst_mean, worst_sd = 0.0, 0.0
    for c in three['contrasts']:
        arm = c['contrast'].split(' - ')[1]
        diffs = [a - b for a, b in zip(values['skt'][c['metric']], values[arm][c['metric']])]
        worst_mean = max(worst_mean, abs(np.mean(diffs) - c['mean']))
        worst_sd = max(worst_sd, abs(np.std(diffs, ddof=1) - c['sd']))
    print(f'contrasts over seeds 0-2, recovered vs reported: mean {worst_mean:.1e}, sd {worst_sd:.1e}')
    assert worst_mean < 1e-9 and worst_sd < 2e-4, (worst_mean, worst_sd)
    scores = {arm: {seed: {MEAN_ONLY_SCENE: {m: v[seed] for m, v in per_metric.items()}} for seed in range(3)}
              for arm, per_metric in values.items()}
    archive = scores_to_json(scores)
    archive['source'] = (f'recovered by research/evidence_v2_pilot/recover_scores.py from docs/evidence.{{md,json}} at '
                         f'{TWO_SEEDS} (seeds 0-1) and {THREE_SEEDS} (seeds 0-2); seeds 0 and 1 may be swapped')
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'pilot_scores.json')
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(archive, f, indent=1)
        f.write('\n')
    print(f'wrote {repo_relative(path)}')


if __name__ == '__main__':
    main()
