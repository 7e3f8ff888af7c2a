#!/usr/bin/env python
"""Compare two or more test runs: one Markdown table (per scene, mean, deltas vs the first run) and a bar chart.

    python scripts/compare_results.py results/test_HDRT_baseline results/test_HDRT_SKT --labels baseline SKT
    python scripts/compare_results.py results/a results/b results/c --metrics psnr_mu ssim_mu --out cmp.md

Each folder is a ``python -m basicsr_skt.test`` results folder holding ``<dataset>_metrics.csv`` (or the path of such
a CSV). The first run is the baseline: deltas are ``run - baseline``, and the mean row is recomputed over the scenes
every run has. The table is printed and written to ``--out``; the figure (``--figure``, default: ``--out`` with
``.png``) stacks one grouped bar chart per metric (one group per scene plus the mean, one bar per run).

``--html OUT.html`` also writes an interactive page (``OUT.html`` + ``OUT_files/``; see docs/evaluation.md): per
scene the runs and the GT side by side at any exposure and tone mapping, μ-law error maps, a flip between two runs,
the input frames and the sortable metrics table. The runs may then also be ``scripts/inference.py`` output folders
(no metrics CSV: no Markdown table; PSNR-μ/-l are computed from the GT). ``--gt-root`` is the folder of the test
scene folders (GT, frames, EVs):

    python scripts/compare_results.py results/test_base results/test_SKT --labels baseline SKT \
        --html results/base_vs_skt.html --gt-root datasets/demo/Test
"""
import argparse
import os
import os.path as osp
import sys

import cv2

from basicsr_skt.reporting.compare import (check_outputs, comparison_chart, comparison_rows, comparison_table,
                                           default_labels, find_metrics_csv, read_metrics_csv)
from basicsr_skt.reporting.compare_page import has_metrics_csv, write_compare_page
from basicsr_skt.utils.cli import ranged
from basicsr_skt.utils.errors import run_cli, strip_debug_flag


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('results', nargs='+', help='two or more results folders (or metrics CSV files); first = base')
    parser.add_argument('--labels', nargs='+', default=None, help='one label per run (default: folder names)')
    parser.add_argument('--dataset', default=None, help='dataset name of <dataset>_metrics.csv (default: the only one)')
    parser.add_argument('--metrics', nargs='+', default=None, help='metrics to compare (default: all shared ones)')
    parser.add_argument('--digits', type=ranged(int, 0, 12), default=4, help='decimals in the table')
    parser.add_argument('--out', default='comparison.md', help='Markdown file for the table')
    parser.add_argument('--figure', default=None, help='PNG of the bar charts (default: --out with .png)')
    parser.add_argument('--no-figure', action='store_true', help='write no figure')
    parser.add_argument(
        '--html', default=None, help='also write the interactive comparison page (OUT.html + OUT_files/)')
    parser.add_argument('--gt-root', default=None, help='folder of the test scene folders (GT, frames, EVs) for --html')
    parser.add_argument('--title', default=None, help='title of the --html page (default: the labels)')
    parser.add_argument(
        '--html-max-side',
        type=ranged(int, 16, 65536),
        default=None,
        help='shrink the page\'s images to this longer side (default: full)')
    args = parser.parse_args(argv)
    if len(args.results) < 2:
        parser.error('give at least two results folders')
    if args.gt_root is not None and args.html is None:
        parser.error('--gt-root is used by --html only')
    if args.labels is not None and len(args.labels) != len(args.results):
        parser.error(f'--labels needs {len(args.results)} labels, got {len(args.labels)}')
    if args.labels is not None and len(set(args.labels)) != len(args.labels):
        parser.error('--labels must be distinct')
    return args


def main(argv=None) -> str:
    """Run the comparison; returns the table."""
    args = parse_args(argv)
    labels = args.labels or default_labels(args.results)
    if len(set(labels)) != len(labels):
        sys.exit(f'Run labels {labels} are not distinct; pass --labels')
    with_table = args.html is None or all(has_metrics_csv(path) for path in args.results)
    if with_table:  # check the table's inputs and outputs before writing anything
        csv_paths = [find_metrics_csv(path, args.dataset) for path in args.results]
        figure_path = None if args.no_figure else (args.figure or osp.splitext(args.out)[0] + '.png')
        check_outputs(args.out, figure_path, args.results, csv_paths)
        runs = {label: read_metrics_csv(csv_path) for label, csv_path in zip(labels, csv_paths)}
    if args.html is not None:  # checks every run, the GT and its outputs, then writes the page atomically
        page = write_compare_page(args.results, args.html, labels, args.gt_root, args.dataset, args.title,
                                  max_side=args.html_max_side)
        page_line = f'Page written to {page["html"]} ({len(page["scenes"])} scenes, data in {page["files"]})'
        if page['skipped']:
            print(f'Not on the page ({len(page["skipped"])} scenes some run lacks): {", ".join(page["skipped"])}')
        if not with_table:
            print(page_line + '; no table: not every run has a metrics CSV (scripts/inference.py outputs)')
            return ''
    table = comparison_table(runs, args.metrics, args.digits)
    if osp.dirname(args.out):
        os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write(table + '\n')
    print(table)
    print(f'\nTable written to {args.out}')
    if figure_path is not None:
        metrics, _ = comparison_rows(runs, args.metrics)
        if osp.dirname(figure_path):
            os.makedirs(osp.dirname(figure_path), exist_ok=True)
        if not cv2.imwrite(figure_path, comparison_chart(runs, metrics)):
            sys.exit(f'Cannot write {figure_path}')
        print(f'Figure written to {figure_path}')
    if args.html is not None:
        print(page_line)
    return table


def cli() -> int:
    """Command-line entry: :func:`main` on ``sys.argv`` (``--debug`` stripped); user errors exit 2."""

    def run() -> int:
        main(strip_debug_flag())
        return 0

    return run_cli(run)


if __name__ == '__main__':
    sys.exit(cli())
