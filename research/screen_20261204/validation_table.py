"""Validation means of screen runs, one Markdown row per run and validation point (screens 4 and 5 of
research/evidence_notes.md).

Reads each run's BasicSR logs with the project's reader (:mod:`research.train_logs`), e.g. from the repository root::

    python -m research.screen_20261204.validation_table ../screen4/experiments teacher_none_i1200_s0 \
        teacher_oracle_sft_i1200_s0 --metrics psnr_mu teacher_psnr_mu teacher0_psnr_mu

A metric a run did not log is shown as ``-``; a run without a log yet is left out.
"""
import argparse
import os.path as osp
from typing import List, Optional, Sequence

from research.train_logs import read_experiment_logs, validation_curves

DEFAULT_METRICS = ('psnr_mu', 'psnr_mu_extreme', 'psnr_mu_motion', 'teacher_psnr_mu', 'teacher_psnr_mu_extreme',
                   'teacher_psnr_mu_motion', 'teacher0_psnr_mu', 'teacher0_psnr_mu_extreme')


def table_rows(experiments: str, runs: Sequence[str], metrics: Sequence[str]) -> List[str]:
    """Header, separator and one row per (run, validation iteration) of the first validation dataset of each run."""
    rows = ['| run | iter | ' + ' | '.join(metrics) + ' |', '|---|---|' + '---|' * len(metrics)]
    for run in runs:
        try:
            curves = validation_curves(read_experiment_logs(osp.join(experiments, run)))
        except FileNotFoundError:  # not started yet
            curves = None
        if not curves:
            continue
        per_metric = {name: dict(points) for name, points in next(iter(curves.values())).items()}
        iterations = sorted({it for points in per_metric.values() for it in points})
        for it in iterations:
            cells = [f'{per_metric[m][it]:.4f}' if it in per_metric.get(m, {}) else '-' for m in metrics]
            rows.append(f'| {run} | {it} | ' + ' | '.join(cells) + ' |')
    return rows


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('experiments', help='the folder holding the runs (BasicSR experiments/)')
    parser.add_argument('runs', nargs='+', help='run names (sub-folders of experiments)')
    parser.add_argument('--metrics', nargs='+', default=list(DEFAULT_METRICS))
    args = parser.parse_args(argv)
    print('\n'.join(table_rows(args.experiments, args.runs, args.metrics)))


if __name__ == '__main__':
    main()
