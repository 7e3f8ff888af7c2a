#!/usr/bin/env python
"""CPU demo of SKT: the same small HDR-Transformer trained alone (baseline) and with SKT, tested side by side.

    python scripts/run_demo.py                  # ~8 minutes on 2 CPU cores
    python scripts/run_demo.py --iters 40       # quick smoke run of every step (numbers meaningless)

Steps, each the documented command a user would type, run from the current directory (so ``datasets/``,
``experiments/``, ``results/`` and ``tb_logger/`` land here). Each step shows one progress line; its full output goes
to a log file (``results/demo_logs/<step>.log``, named on the line and printed in full when the step fails):

1. ``scripts/make_demo_data.py --num-val 3 --num-test 3``: generated demo scenes: ``datasets/demo/Training``
   (``demo_train_XXX``), ``datasets/demo/Validation`` (``demo_val_XXX``: validation during training) and
   ``datasets/demo/Test`` (``demo_test_XXX``: the held-out test scenes of the final table, never seen in training);
2. ``scripts/make_semantic_priors.py --backend vgg16``: the semantic knowledge bank of the training scenes (offline
   VGG16 backend, because no SAM weights ship with the package);
3. ``python -m basicsr_skt.train`` with ``options/demo/train_demo_hdrtransformer.yml`` (baseline) and
   ``options/demo/train_demo_skt_hdrtransformer.yml`` (SKT: same ORM, data, seed and iterations, plus the teacher);
4. ``python -m basicsr_skt.test`` on the held-out test scenes for both ``net_g`` checkpoints (the SKT one is a plain
   HDR-Transformer state dict, loaded by the same test config);
5. the per-scene table of both runs and the SKT - baseline differences (``--metrics``; every metric is in
   ``results/test_<run>/demo_test_metrics.md``), and one side-by-side PNG: per test scene the baseline and SKT
   predictions, the GT (μ-law) and both μ-law error maps on one colour scale;
6. ``scripts/compare_results.py --html``'s page ``results/demo_compare.html`` (baseline vs SKT vs GT at any exposure
   and tone mapping, error maps, flip, input frames, sortable metrics; open it in a browser), named on the last line.

The demo data are small generated scenes, so the numbers say the pipeline works, not how much SKT helps on real data
(README "Results").
"""
import argparse
import os
import os.path as osp
import re
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from basicsr_skt.reporting.compare import comparison_table, read_metrics_csv
from basicsr_skt.reporting.compare_page import write_compare_page
from basicsr_skt.synthesis.demo_scenes import KALANTARI_EVS
from basicsr_skt.utils.figures import (DEFAULT_ERROR_SCALE, GAP, colour_bar, error_heatmap, error_map, hstack_with_gaps,
                                       label_band, to_uint8)
from basicsr_skt.utils.hdr_io import read_exposure_values, read_hdr
from basicsr_skt.utils.tonemap import mu_law

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
OPTIONS = osp.join(REPO, 'options', 'demo')
TEST_OPT = osp.join(OPTIONS, 'test_demo_hdrtransformer.yml')
#: ``datasets.test.name`` of the test config: the metrics files are ``results/<test name>/demo_test_metrics.*``.
TEST_DATASET = 'demo_test'
#: run label -> (training config, experiment name) — the names are the configs' ``name`` fields.
RUNS = {
    'baseline': (osp.join(OPTIONS, 'train_demo_hdrtransformer.yml'), 'demo_HDRTransformer_tiny'),
    'SKT': (osp.join(OPTIONS, 'train_demo_skt_hdrtransformer.yml'), 'demo_SKT_HDRTransformer_tiny'),
}
#: Metrics of the final table by default (names of ``val.metrics`` in the test config).
TABLE_METRICS = ('psnr_mu', 'psnr_l', 'ssim_mu', 'cvvdp')
DEFAULT_ITERS = 400
#: One progress line per step: name, bar, count, elapsed time (then the log file).
BAR_FORMAT = '{desc:<16} {bar:20} {n_fmt:>4}/{total_fmt:<4} [{elapsed}]'
#: BasicSR's message logger: ``[<name>][epoch:  0, iter:      50, lr:(...)]`` (not ``total_iter: 400`` of the options).
_ITER_PATTERN = re.compile(r'\[epoch:\s*\d+, iter:\s*([\d,]+)')


class StepFailed(RuntimeError):
    """A demo step's command exited with an error (the message holds its log's last lines)."""


def iteration_overrides(iters: int, skt: bool) -> List[str]:
    """``--force_yml`` entries that shorten a demo training run to ``iters`` iterations (SKT warm-up: a quarter)."""
    overrides = [
        f'train:total_iter={iters}', f'val:val_freq={max(iters // 2, 1)}', f'logger:save_checkpoint_freq={iters}',
        f'train:scheduler:milestones=[{max(iters * 3 // 4, 1)}]'
    ]
    return overrides + ([f'skt:distill_warmup_iter={iters // 4}'] if skt else [])


def test_name(label: str) -> str:
    return f'test_{RUNS[label][1]}'


def training_progress(log_text: str) -> int:
    """The last iteration BasicSR's message logger reported (``[epoch: 0, iter: 50, ...]``) in a log, or 0."""
    found = _ITER_PATTERN.findall(log_text)
    return int(found[-1].replace(',', '')) if found else 0


def log_tail(path: str, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file (progress-bar carriage returns turned into line breaks)."""
    with open(path, errors='replace') as f:
        text = f.read().replace('\r', '\n')
    return '\n'.join([line for line in text.splitlines() if line.strip()][-lines:])


def run_step(cmd: Sequence[str],
             step: str,
             log_path: str,
             total: int = 1,
             progress: Optional[Callable[[str], int]] = None,
             poll_s: float = 1.0) -> float:
    """Run one step as a subprocess with its output in ``log_path``, showing one progress line.

    Args:
        cmd: The command.
        step: Name shown at the start of the line.
        log_path: File receiving the command line, its stdout and stderr.
        total: Units of work of the bar (e.g. training iterations); 1 for a step without progress information.
        progress: Maps the log's text so far to the units done; None: the bar jumps to ``total`` at the end.
        poll_s: Seconds between progress updates.

    Returns:
        The step's wall time in seconds.

    Raises:
        StepFailed: The command exited with a non-zero status; the message names the log and holds its tail.
    """
    os.makedirs(osp.dirname(osp.abspath(log_path)), exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    start = time.time()
    bar_format = BAR_FORMAT + '  log: ' + log_path.replace('{', '{{').replace('}', '}}')
    with open(log_path, 'w') as log, tqdm(total=total, desc=step, bar_format=bar_format, file=sys.stdout,
                                          mininterval=poll_s) as bar:
        log.write('$ ' + ' '.join(cmd) + '\n')
        log.flush()
        proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            while proc.poll() is None:
                time.sleep(poll_s)
                if progress is not None:
                    with open(log_path, errors='replace') as f:
                        done = min(progress(f.read()), total)
                    if done > bar.n:
                        bar.update(done - bar.n)
        finally:  # Ctrl-C (or any error here) must not leave the step running in the background
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode == 0:
            bar.update(total - bar.n)
    if proc.returncode != 0:
        raise StepFailed(f'{step} failed (exit status {proc.returncode}); last lines of {log_path}:\n'
                         f'{log_tail(log_path)}')
    return time.time() - start


def demo_data_ready(root: str, num_val: int, num_test: int) -> bool:
    """Whether ``root`` holds the demo layout with separate validation and test scenes made with Kalantari's EVs
    (older demo data lack the test split, or use EVs -2/0/+2: regenerated)."""
    layout = (osp.isdir(osp.join(root, 'Training'))
              and all(osp.isdir(osp.join(root, 'Validation', f'demo_val_{i:03d}')) for i in range(num_val))
              and all(osp.isdir(osp.join(root, 'Test', f'demo_test_{i:03d}')) for i in range(num_test)))
    if not layout or num_test == 0:
        return layout
    exposure = osp.join(root, 'Test', 'demo_test_000', 'exposure.txt')
    return osp.isfile(exposure) and read_exposure_values(exposure) == list(KALANTARI_EVS)


def held_out_scenes(root: str) -> List[str]:
    """The held-out test scene names under ``<root>/Test``, sorted."""
    return sorted(name for name in os.listdir(osp.join(root, 'Test')) if name.startswith('demo_test_'))


def prediction_path(label: str, scene: str) -> str:
    """The ``.hdr`` prediction ``basicsr_skt.test`` wrote for a run and scene (``val.suffix`` unset: the test name)."""
    return osp.join('results', test_name(label), 'visualization', TEST_DATASET, f'{scene}_{test_name(label)}.hdr')


def _labelled(tile: np.ndarray, text: str) -> np.ndarray:
    return np.concatenate([label_band(tile.shape[1], text), tile], axis=0)


def side_by_side_figure(scenes: Dict[str, Tuple[np.ndarray, np.ndarray, np.ndarray]],
                        error_scale: float = DEFAULT_ERROR_SCALE) -> np.ndarray:
    """One row per scene: baseline, SKT (μ-law), GT (μ-law), |error| of baseline and of SKT, one colour bar.

    Args:
        scenes: scene -> (baseline prediction, SKT prediction, GT), each ``H x W x 3`` linear HDR, BGR, float
            (clipped to [0, 1] for display, as the papers' figures).
        error_scale: μ-law error shown with the top colour in both error maps (one scale for the whole figure).

    Returns:
        ``uint8`` BGR figure; per scene a title band and a row of labelled tiles (``2 * LABEL_HEIGHT + H`` pixels),
        rows separated by ``GAP`` background rows.
    """
    rows = []
    for scene, (baseline, skt, gt) in scenes.items():
        tiles = [
            _labelled(to_uint8(mu_law(np.clip(baseline, 0, 1))), 'baseline'),
            _labelled(to_uint8(mu_law(np.clip(skt, 0, 1))), 'SKT'),
            _labelled(to_uint8(mu_law(np.clip(gt, 0, 1))), 'GT'),
            _labelled(error_heatmap(error_map(baseline, gt), error_scale), '|error| baseline'),
            _labelled(error_heatmap(error_map(skt, gt), error_scale), '|error| SKT'),
            _labelled(colour_bar(gt.shape[0], error_scale), 'err'),
        ]
        row = hstack_with_gaps(tiles, GAP)
        rows.append(np.concatenate([label_band(row.shape[1], f'{scene} (mu-law; errors: mu-law, one scale)'), row]))
    width = max(row.shape[1] for row in rows)
    rows = [np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in rows]
    spacer = np.full((GAP, width, 3), 255, np.uint8)
    return np.concatenate([part for row in rows for part in (row, spacer)][:-1], axis=0)


def write_side_by_side(data_root: str, out_path: str, error_scale: float) -> str:
    """Build :func:`side_by_side_figure` from both test runs' predictions and the GT; returns the written path."""
    scenes = {}
    for scene in held_out_scenes(data_root):
        gt = read_hdr(osp.join(data_root, 'Test', scene, 'HDRImg.hdr'))
        scenes[scene] = (read_hdr(prediction_path('baseline', scene)), read_hdr(prediction_path('SKT', scene)), gt)
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    if not cv2.imwrite(out_path, side_by_side_figure(scenes, error_scale)):
        raise OSError(f'Could not write {out_path}')
    return out_path


def write_demo_page(data_root: str, out_html: str, error_scale: float) -> str:
    """The comparison page of both test runs and the GT (:func:`basicsr_skt.reporting.compare_page.write_compare_page`);
    returns its path."""
    runs = [osp.join('results', test_name(label)) for label in RUNS]
    page = write_compare_page(runs, out_html, labels=list(RUNS), gt_root=osp.join(data_root, 'Test'),
                              title='SKT demo: baseline vs SKT vs GT (held-out test scenes)', error_scale=error_scale)
    print(f'{"page":<16} {len(page["scenes"])} scenes, {page["bytes"] / 1e6:.1f} MB with its folder {page["files"]}')
    return out_html


def side_by_side_table(baseline: Dict[str, Dict[str, float]],
                       skt: Dict[str, Dict[str, float]],
                       metrics: Optional[Sequence[str]] = None) -> str:
    """Markdown table: per scene and the mean, each metric for baseline, SKT and SKT - baseline
    (:func:`basicsr_skt.reporting.compare.comparison_table`, the same table as ``scripts/compare_results.py``).

    Args:
        baseline: scene -> metric -> value of the baseline run.
        skt: The same for the SKT run.
        metrics: Columns to show, in this order; those missing in either run (e.g. ``cvvdp`` without the package)
            are left out. None: every shared metric.
    """
    if metrics is not None:
        metrics = [m for m in metrics if all(m in next(iter(run.values()), {}) for run in (baseline, skt))]
    return comparison_table({'base': baseline, 'SKT': skt}, metrics)


def read_metrics(label: str) -> Dict[str, Dict[str, float]]:
    """Per-scene metrics of a test run (``results/<name>/demo_test_metrics.csv``), without the ``mean`` row."""
    return read_metrics_csv(osp.join('results', test_name(label), f'{TEST_DATASET}_metrics.csv'))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', default='datasets/demo', help='demo dataset root (generated if absent)')
    parser.add_argument('--num-train', type=int, default=8, help='generated training scenes')
    parser.add_argument('--num-val', type=int, default=3, help='generated validation scenes (during training)')
    parser.add_argument('--num-test', type=int, default=3, help='generated held-out test scenes (final table)')
    parser.add_argument('--iters', type=int, default=None, help=f'training iterations of both runs ({DEFAULT_ITERS})')
    parser.add_argument('--seed', type=int, default=0, help='seed of the generated scenes')
    parser.add_argument('--runs', nargs='+', choices=tuple(RUNS), default=list(RUNS), help='which runs to train/test')
    parser.add_argument('--metrics', nargs='+', default=list(TABLE_METRICS), help='columns of the final table')
    parser.add_argument('--logs', default=osp.join('results', 'demo_logs'), help='folder of the per-step logs')
    parser.add_argument(
        '--figure', default=osp.join('results', 'demo_side_by_side.png'), help='side-by-side PNG (both runs only)')
    parser.add_argument(
        '--html', default=osp.join('results', 'demo_compare.html'), help='comparison page (both runs only)')
    parser.add_argument(
        '--error-scale', type=float, default=DEFAULT_ERROR_SCALE, help='μ-law error at the top of the colour scale')
    return parser.parse_args(argv)


def run_demo(args: argparse.Namespace) -> Dict[str, float]:
    """Run every step; returns step -> wall time in seconds."""
    timings: Dict[str, float] = {}
    log = lambda step: osp.join(args.logs, f'{step.replace(" ", "_")}.log')  # noqa: E731
    if demo_data_ready(args.data, args.num_val, args.num_test):
        print(f'{"data":<16} reusing {args.data} (delete it to regenerate)')
    else:  # --force replaces only demo_* scene folders (the older layout without Validation/, or EVs -2/0/+2)
        timings['data'] = run_step([
            sys.executable,
            osp.join(REPO, 'scripts', 'make_demo_data.py'), '--out', args.data, '--num-train',
            str(args.num_train), '--num-val',
            str(args.num_val), '--num-test',
            str(args.num_test), '--seed',
            str(args.seed), '--force'
        ], 'data', log('data'))
    if 'SKT' in args.runs:  # resumable: scenes already done are skipped
        timings['priors'] = run_step([
            sys.executable,
            osp.join(REPO, 'scripts', 'make_semantic_priors.py'), '--dataroot',
            osp.join(args.data, 'Training'), '--backend', 'vgg16'
        ], 'semantic priors', log('priors'))
    iters = DEFAULT_ITERS if args.iters is None else args.iters
    for label in args.runs:
        cmd = [sys.executable, '-m', 'basicsr_skt.train', '-opt', RUNS[label][0]]
        if args.iters is not None:
            cmd += ['--force_yml'] + iteration_overrides(args.iters, skt=label == 'SKT')
        step = f'train {label}'
        timings[step] = run_step(cmd, step, log(step), total=iters, progress=training_progress)
    for label in args.runs:
        checkpoint = osp.join('experiments', RUNS[label][1], 'models', 'net_g_latest.pth')
        step = f'test {label}'
        timings[step] = run_step([
            sys.executable, '-m', 'basicsr_skt.test', '-opt', TEST_OPT, '--force_yml', f'name={test_name(label)}',
            f'path:pretrain_network_g={checkpoint}'
        ], step, log(step))
    return timings


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.data != 'datasets/demo':
        sys.exit('--data other than datasets/demo needs edited option files (dataroot); see README "Configs"')
    print(f'SKT demo: each step logs to {args.logs}/<step>.log')
    try:
        timings = run_demo(args)
    except StepFailed as err:
        print(f'\nerror: {err}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the running step was stopped by run_step
        print('\ninterrupted; finished steps are reused by the next run (data, priors)', file=sys.stderr)
        return 130
    print(f'\nHeld-out test scenes ({args.data}/Test; training validated on {args.data}/Validation):')
    if set(args.runs) == set(RUNS):
        print(side_by_side_table(read_metrics('baseline'), read_metrics('SKT'), args.metrics))
        print(f'All metrics: results/{test_name("baseline")}/{TEST_DATASET}_metrics.md and the same for SKT')
        print(f'Side-by-side figure: {write_side_by_side(args.data, args.figure, args.error_scale)}')
    else:
        for label in args.runs:
            with open(osp.join('results', test_name(label), f'{TEST_DATASET}_metrics.md')) as f:
                print(f'\n{label}:\n{f.read()}')
    steps = ', '.join(f'{k} {v:.0f} s' for k, v in timings.items())
    print(f'Timings: {steps}; total {sum(timings.values()):.0f} s')
    print(f'Training curves: tensorboard --logdir {osp.join(os.getcwd(), "tb_logger")}')
    if set(args.runs) == set(RUNS):
        print(f'Comparison page (open it in a browser): {write_demo_page(args.data, args.html, args.error_scale)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
