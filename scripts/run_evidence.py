#!/usr/bin/env python
"""Evidence: does SKT boost the ORM? Baseline vs SKT (and ablations) with the same seed, data and iterations.

One command builds the data, extracts the semantic priors, trains every run, tests each final checkpoint on the
held-out test split and writes the report (tables and plots) from the runs' own outputs:

    python scripts/run_evidence.py --hdr-dir ../shared/data/hdr                 # main pair, seed 0 (~1 h, 2 cores)
    python scripts/run_evidence.py --hdr-dir ../shared/data/hdr --grid          # + 4 ablations, seed 1 of the pair
    python scripts/run_evidence.py --hdr-dir ../shared/data/hdr --runs baseline skt no_skam --seeds 0 1

Resumable: data, priors, finished trainings (their final checkpoint exists) and finished tests are reused; an
interrupted training continues with ``--auto_resume``. Delete ``--work`` (default ``evidence/``) to start over.

Data: one synthetic scene per HDR photograph (``scripts/make_synthetic_brackets.py``'s simulation, ``--variants``
captures per training photograph) plus generated demo scenes, split by *source*: no photograph (and no demo scene)
is in two splits. Training uses ``train``, validation curves use ``val``; ``test`` is only used for the final
numbers, at the fixed last iteration (no checkpoint selection).

Runs (``--runs``): ``baseline`` (ORM alone), ``skt`` (joint, defaults), ``no_skam``, ``no_colour``, ``no_content``
(each removes one term), ``no_semantics`` (SPGRM with the priors zeroed: a second network without semantics).
"""
import argparse
import json
import os
import os.path as osp
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, REPO)

import cv2  # noqa: E402

from basicsr_skt.data.demo_scenes import DemoSceneConfig, render_scene, scene_rng, write_scene  # noqa: E402
from basicsr_skt.data.splits import SPLITS, check_disjoint, split_by_source  # noqa: E402
from basicsr_skt.data.synthetic_brackets import (BracketConfig, bracket_rng, list_hdr_images,  # noqa: E402
                                                 simulate_bracket, write_bracket)
from basicsr_skt.utils.compare import comparison_table, read_metrics_csv  # noqa: E402
from basicsr_skt.utils.figures import line_chart  # noqa: E402
from basicsr_skt.utils.hdr_io import read_hdr  # noqa: E402
from basicsr_skt.utils.input_checks import dump_options_yaml, load_options_yaml  # noqa: E402
from basicsr_skt.utils.train_logs import logged_scalars, read_experiment_logs, validation_curves  # noqa: E402

OPTIONS = osp.join(REPO, 'options', 'demo')
SPLIT_FOLDERS = {'train': 'Training', 'val': 'Validation', 'test': 'Test'}
METRICS = ('psnr_mu', 'psnr_l', 'ssim_mu', 'ssim_l')
#: run label -> (description, changes to the SKT demo config; None = the baseline config)
RUNS: 'OrderedDict[str, Tuple[str, Optional[Dict[str, Any]]]]' = OrderedDict([
    ('baseline', ('ORM alone', None)),
    ('skt', ('SKT joint, all terms (defaults)', {})),
    ('no_skam', ('SKT without SKAM (no feature-level term)', {'drop': ['skam_opt']})),
    ('no_colour', ('SKT without the colour term', {'drop': ['colour_opt']})),
    ('no_content', ('SKT without the content term', {'drop': ['content_opt']})),
    ('no_semantics', ('SKT, SPGRM without semantic priors (zeros)', {'use_semantics': False})),
])
MAIN_PAIR = ('baseline', 'skt')


# ----------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------
def demo_sources(counts: Sequence[int]) -> 'OrderedDict[str, List[str]]':
    """Demo scene names per split; each generated scene is its own source."""
    return OrderedDict((split, [f'demo_{split}_{i:03d}' for i in range(count)]) for split, count in zip(SPLITS, counts))


def build_data(args: argparse.Namespace, data_dir: str) -> Dict[str, Any]:
    """Scenes in ``data_dir/{Training,Validation,Test}``; returns the manifest (sources per split, scene names)."""
    manifest_path = osp.join(data_dir, 'manifest.json')
    if osp.isfile(manifest_path):
        with open(manifest_path) as f:
            return json.load(f)
    tmp_dir = data_dir + '.partial'
    shutil.rmtree(tmp_dir, ignore_errors=True)
    photos = list_hdr_images(args.hdr_dir) if args.hdr_dir else []
    stems = [osp.splitext(osp.basename(p))[0] for p in photos]
    photo_splits = split_by_source(stems, args.val_fraction, args.test_fraction, args.split_seed) if photos else {
        s: []
        for s in SPLITS
    }
    demo_splits = demo_sources(args.demo_scenes)
    check_disjoint(photo_splits)
    config = BracketConfig(max_size=args.max_size)
    scenes = OrderedDict((split, []) for split in SPLITS)
    jobs = []
    for split in SPLITS:
        for stem in photo_splits[split]:
            for variant in range(args.variants if split == 'train' else 1):
                jobs.append((split, stem, f'{stem}_v{variant}' if split == 'train' else stem, variant))
    from tqdm import tqdm
    for split, stem, name, variant in tqdm(jobs, desc='synthetic scenes', unit='scene'):
        path = photos[stems.index(stem)]
        bracket = simulate_bracket(read_hdr(path), config, bracket_rng(args.data_seed + 1000 * variant, stem))
        bracket.info.update(source=osp.basename(path), variant=variant)
        folder = osp.join(tmp_dir, SPLIT_FOLDERS[split], name)
        os.makedirs(folder)
        write_bracket(bracket, folder)
        scenes[split].append(name)
    for stream, split in enumerate(SPLITS):
        for index, name in enumerate(demo_splits[split]):
            write_scene(render_scene(scene_rng(args.data_seed, 10 + stream, index), DemoSceneConfig()),
                        osp.join(tmp_dir, SPLIT_FOLDERS[split], name))
            scenes[split].append(name)
    empty = [split for split in SPLITS if not scenes[split]]
    if empty:
        raise ValueError(f'No scenes in split(s) {empty}: give --hdr-dir with at least 3 photographs or more '
                         '--demo-scenes')
    manifest = {
        'photo_sources': photo_splits,
        'demo_sources': demo_splits,
        'scenes': scenes,
        'hdr_dir': args.hdr_dir,
        'max_size': args.max_size,
        'variants': args.variants,
        'data_seed': args.data_seed,
        'split_seed': args.split_seed
    }
    with open(osp.join(tmp_dir, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp_dir, data_dir)
    return manifest


def build_priors(data_dir: str) -> float:
    """VGG16 semantic priors of the training scenes (resumable: finished scenes are skipped); returns seconds."""
    start = time.time()
    command = [sys.executable, osp.join(REPO, 'scripts', 'make_semantic_priors.py'), '--dataroot',
               osp.join(data_dir, 'Training'), '--backend', 'vgg16']
    subprocess.run(command, check=True)
    return time.time() - start


# ----------------------------------------------------------------------------------------------------------------
# Configs
# ----------------------------------------------------------------------------------------------------------------
load_yaml = load_options_yaml
dump_yaml = dump_options_yaml


def run_name(label: str, seed: int) -> str:
    return f'evidence_{label}_s{seed}'


def train_options(label: str, seed: int, data_dir: str, args: argparse.Namespace) -> Dict[str, Any]:
    """The demo config of the run (baseline or SKT) on the evidence data, ``args.iters`` iterations, ``seed``."""
    description, change = RUNS[label]
    skt = change is not None
    opt = load_yaml(osp.join(OPTIONS, 'train_demo_skt_hdrtransformer.yml' if skt else 'train_demo_hdrtransformer.yml'))
    opt['name'] = run_name(label, seed)
    opt['manual_seed'] = seed
    opt['num_gpu'] = 1 if args.device == 'cuda' else 0
    opt['datasets']['train']['dataroot'] = osp.join(data_dir, 'Training')
    opt['datasets']['val'].update(name='evidence_val', dataroot=osp.join(data_dir, 'Validation'))
    opt['train']['total_iter'] = args.iters
    opt['train']['scheduler']['milestones'] = [int(args.iters * 0.75)]
    opt['val']['val_freq'] = max(args.iters // args.num_val_points, 1)
    opt['logger'].update(print_freq=max(args.iters // 40, 1), save_checkpoint_freq=args.iters)
    if skt:
        opt['skt']['warmup_iter'] = int(round(args.warmup_fraction * args.iters))
        for section in change.get('drop', []):
            opt['skt'].pop(section)
        if 'use_semantics' in change:
            opt['network_t']['use_semantics'] = change['use_semantics']
    return opt


def test_options(label: str, seed: int, data_dir: str, train_opt: Dict[str, Any], checkpoint: str) -> Dict[str, Any]:
    opt = load_yaml(osp.join(OPTIONS, 'test_demo_hdrtransformer.yml'))
    opt['name'] = f'test_{run_name(label, seed)}'
    opt['num_gpu'] = train_opt['num_gpu']
    opt['datasets']['test'].update(name='evidence_test', dataroot=osp.join(data_dir, 'Test'))
    opt['network_g'] = train_opt['network_g']
    opt['path']['pretrain_network_g'] = checkpoint
    opt['val'].update(save_img=False, figure_scenes=0, pbar=False)
    return opt


# ----------------------------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------------------------
def thread_env(args: argparse.Namespace) -> Dict[str, str]:
    """Environment of a run: ``--threads`` intra-op threads (parallel runs must not oversubscribe the cores: an
    OpenMP team waiting for a busy core slows a step down many times), no GPU unless ``--device cuda``."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    if args.device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    return env


def log_file(work: str, name: str, step: str):
    """Console output of one step goes to ``<work>/logs/<name>_<step>.log`` (runs may go in parallel)."""
    os.makedirs(osp.join(work, 'logs'), exist_ok=True)
    return open(osp.join(work, 'logs', f'{name}_{step}.log'), 'a')


def train_and_test(label: str, seed: int, work: str, data_dir: str, args: argparse.Namespace,
                   timings: Dict[str, Any]) -> None:
    """Train (or resume) one run and test its final checkpoint; wall times go to ``timings``."""
    name = run_name(label, seed)
    train_opt = train_options(label, seed, data_dir, args)
    checkpoint = osp.join(work, 'experiments', name, 'models', f'net_g_{args.iters}.pth')
    if not osp.isfile(checkpoint):
        config = dump_yaml(train_opt, osp.join(work, 'configs', f'{name}.yml'))
        resume = ['--auto_resume'] if osp.isdir(osp.join(work, 'experiments', name)) else []
        start = time.time()
        print(f'\n=== train {name} ({RUNS[label][0]}, {args.iters} iterations)', flush=True)
        subprocess.run([sys.executable, '-m', 'basicsr_skt.train', '-opt', config] + resume, cwd=work, check=True,
                       env=thread_env(args), stdout=log_file(work, name, 'train'), stderr=subprocess.STDOUT)
        previous = timings.get(name, {}).get('train_s', 0) if resume else 0  # an interrupted attempt's time
        timings.setdefault(name, {}).update(train_s=previous + time.time() - start, commit=git_commit())
    results = osp.join(work, 'results', f'test_{name}', 'evidence_test_metrics.csv')
    if not osp.isfile(results):
        config = dump_yaml(test_options(label, seed, data_dir, train_opt, checkpoint),
                           osp.join(work, 'configs', f'test_{name}.yml'))
        start = time.time()
        print(f'\n=== test {name}', flush=True)
        subprocess.run([sys.executable, '-m', 'basicsr_skt.test', '-opt', config], cwd=work, check=True,
                       env=thread_env(args), stdout=log_file(work, name, 'test'), stderr=subprocess.STDOUT)
        timings.setdefault(name, {})['test_s'] = time.time() - start


# ----------------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------------
def mean_and_spread(values: Sequence[float]) -> str:
    """``mean ± half range`` over seeds (just the mean for one seed)."""
    if len(values) == 1:
        return f'{values[0]:.4f}'
    return f'{np.mean(values):.4f} ± {(max(values) - min(values)) / 2:.4f}'


def summary_table(test_means: Dict[str, Dict[int, Dict[str, float]]], timings: Dict[str, Any]) -> str:
    header = ['run', 'seeds'] + list(METRICS) + ['Δ psnr_mu vs baseline', 'Δ ssim_mu vs baseline', 'train min']
    lines = ['| ' + ' | '.join(header) + ' |', '|---' * len(header) + '|']
    base = test_means.get('baseline', {})
    for label, per_seed in test_means.items():
        seeds = sorted(per_seed)
        cells = [label, ', '.join(map(str, seeds))]
        cells += [mean_and_spread([per_seed[s][m] for s in seeds]) for m in METRICS]
        for metric in ('psnr_mu', 'ssim_mu'):
            paired = [per_seed[s][metric] - base[s][metric] for s in seeds if s in base]
            cells.append('–' if label == 'baseline' or not paired else ' / '.join(f'{d:+.4f}' for d in paired))
        minutes = [timings.get(run_name(label, s), {}).get('train_s') for s in seeds]
        cells.append(', '.join('?' if m is None else f'{m / 60:.1f}' for m in minutes))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def seed_wins(test_means: Dict[str, Dict[int, Dict[str, float]]]) -> List[str]:
    """One line per run: in how many seeds it beats the baseline on PSNR-μ and SSIM-μ, and the mean paired Δ."""
    base = test_means.get('baseline', {})
    lines = []
    for label, per_seed in test_means.items():
        seeds = [s for s in sorted(per_seed) if s in base]
        if label == 'baseline' or not seeds:
            continue
        parts = []
        for metric in ('psnr_mu', 'ssim_mu'):
            deltas = [per_seed[s][metric] - base[s][metric] for s in seeds]
            parts.append(f'{metric} higher in {sum(d > 0 for d in deltas)} of {len(seeds)} seeds (mean Δ '
                         f'{np.mean(deltas):+.4f})')
        lines.append(f'- `{label}` vs baseline: ' + '; '.join(parts))
    return lines + [''] if lines else []


def write_plot(path: str, series: Dict[str, List[Tuple[int, float]]], title: str, x_label: str = 'iteration') -> None:
    series = {name: points for name, points in series.items() if points}
    if series:
        cv2.imwrite(path, line_chart(series, title, x_label))


def git_commit() -> str:
    try:
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def write_report(args: argparse.Namespace, work: str, manifest: Dict[str, Any], runs: List[Tuple[str, int]],
                 timings: Dict[str, Any]) -> str:
    """``args.report`` (Markdown) and its PNG plots beside it, from the runs' logs and test CSVs only."""
    report_dir = osp.dirname(osp.abspath(args.report))
    os.makedirs(report_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(args.report))[0]
    test_means: 'OrderedDict[str, Dict[int, Dict[str, float]]]' = OrderedDict()
    per_scene: Dict[Tuple[str, int], Any] = {}
    val_curves, gaps = OrderedDict(), OrderedDict()
    for label, seed in runs:
        name = run_name(label, seed)
        scenes = read_metrics_csv(osp.join(work, 'results', f'test_{name}', 'evidence_test_metrics.csv'),
                                  keep_mean=True)
        test_means.setdefault(label, {})[seed] = scenes.pop('mean')
        per_scene[label, seed] = scenes
        log = read_experiment_logs(osp.join(work, 'experiments', name))
        val_curves[f'{label} s{seed}'] = validation_curves(log).get('evidence_val', {}).get('psnr_mu', [])
        if label != 'baseline':
            gaps[f'{label} s{seed}'] = logged_scalars(log).get('gap_psnr_mu', [])
    write_plot(osp.join(report_dir, f'{stem}_val_psnr_mu.png'), val_curves, 'validation PSNR-mu (dB), mean of val')
    write_plot(osp.join(report_dir, f'{stem}_teacher_gap.png'), gaps, 'teacher - student PSNR-mu on the batch (dB)')

    train_opt = train_options('skt', runs[0][1], '<data>', args)
    orm = train_opt['network_g']
    lines = [
        '# Evidence: does SKT boost the ORM?', '',
        '*Generated by `scripts/run_evidence.py` from the runs\' own outputs; no number here is typed by hand.*', '',
        '## Command', '', '```bash', 'python scripts/run_evidence.py ' + ' '.join(args.argv), '```', '',
        f'Report written at commit `{git_commit()}` (each run\'s training commit: "Wall time"); machine: '
        f'{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}; report written '
        f'{time.strftime("%Y-%m-%d %H:%M")}.', '', '## Setup', '',
        f'- **Data** (`{args.work}/data/manifest.json`): synthetic brackets simulated from the HDR photographs in '
        f'`{manifest["hdr_dir"]}` (long side {manifest["max_size"]} px, EV -2/0/+2, gamma 2.2 response, '
        f'Poisson-Gaussian noise, 16-bit, hand-held motion + a moving object; {manifest["variants"]} captures per '
        'training photograph) plus generated demo scenes (128 x 192). Split **by source**: no photograph is in two '
        'splits.'
    ]
    for split in SPLITS:
        photos = manifest['photo_sources'][split]
        lines.append(f'  - {split}: {len(manifest["scenes"][split])} scenes; photographs: '
                     f'{", ".join(photos) or "none"}; demo scenes: {len(manifest["demo_sources"][split])}')
    lines += [
        f'- **ORM**: HDR-Transformer, embed_dim {orm["embed_dim"]}, depths {orm["depths"]}, heads {orm["num_heads"]} '
        '(the CPU demo configuration), trained from scratch.',
        f'- **Training**: {args.iters} iterations, batch {train_opt["datasets"]["train"]["batch_size_per_gpu"]}, '
        f'{train_opt["datasets"]["train"]["gt_size"]}² crops, Adam lr {train_opt["train"]["optim_g"]["lr"]}, '
        f'lr x0.5 at {train_opt["train"]["scheduler"]["milestones"][0]}; the same seed gives every run the same '
        'initial ORM, data order and crops.',
        f'- **SKT**: SPGRM teacher ({train_opt["network_t"]["num_feat"]} features), distillation after a warm-up of '
        f'{train_opt["skt"]["warmup_iter"]} iterations; λ_content {train_opt["skt"]["content_opt"]["loss_weight"]}, '
        f'λ_colour {train_opt["skt"]["colour_opt"]["loss_weight"]}, '
        f'λ_skam {train_opt["skt"]["skam_opt"]["loss_weight"]}, mask ratio to {train_opt["skt"]["mask"]["ratio_max"]} '
        'over the first half.',
        '- **Semantic priors**: the offline VGG16 backend (ImageNet VGG16 `relu4_3` + Felzenszwalb segments) on the '
        'μ-law GT. No Segment Anything weights exist on this machine, so SAM was not used; a SAM checkpoint would '
        'replace this backend (`scripts/make_semantic_priors.py --backend sam`).',
        f'- **Evaluation**: the final iteration ({args.iters}) of each run on the test split (no checkpoint '
        'selection); validation curves use the validation split only.', '', '## Results (test split)', '',
        summary_table(test_means, timings), '',
        'Values are the mean over test scenes; with several seeds, mean ± half the range over seeds. Δ is paired '
        'by seed (run − baseline of the same seed).', ''
    ]
    lines += seed_wins(test_means)
    for label in RUNS:
        if label in test_means:
            lines.append(f'- `{label}`: {RUNS[label][0]}')
    seed = runs[0][1]
    if ('baseline', seed) in per_scene and ('skt', seed) in per_scene:
        lines += [
            '', f'### Per scene, baseline vs SKT (seed {seed})', '',
            comparison_table({
                'base': per_scene['baseline', seed],
                'SKT': per_scene['skt', seed]
            }, metrics=['psnr_mu', 'ssim_mu'])
        ]
    lines += [
        '', '## Training curves', '', f'![validation PSNR-mu]({stem}_val_psnr_mu.png)', '',
        f'![teacher-student gap]({stem}_teacher_gap.png)', '',
        'The gap plot shows teacher (SPGRM) minus student (ORM) PSNR-μ on each logged training batch: distillation can '
        'only help while it is positive.', ''
    ]
    final_gaps = {name: points[-1][1] for name, points in gaps.items() if points}
    if final_gaps:
        lines.append('Last logged gap: ' + ', '.join(f'{name} {value:+.2f} dB' for name, value in final_gaps.items()))
        lines.append('')
    if args.notes:
        with open(args.notes, encoding='utf-8') as f:
            lines += ['## Investigation notes', '', f.read().strip(), '']
    lines += ['## Wall time', '', '| run | train (min) | test (s) | trained at commit |', '|---|---|---|---|']
    for label, seed in runs:
        t = timings.get(run_name(label, seed), {})
        train_min, test_s = t.get('train_s', float('nan')) / 60, t.get('test_s', float('nan'))
        lines.append(f'| {label} s{seed} | {train_min:.1f} | {test_s:.0f} | {t.get("commit", "not recorded")} |')
    lines += ['', f'Runs went {args.jobs} side by side with {args.threads} thread(s) each on a shared machine, so '
              'minutes compare runs of one report only.']
    with open(args.report, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    return args.report


# ----------------------------------------------------------------------------------------------------------------
def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--hdr-dir', help='folder of real HDR photographs (.hdr/.exr) to simulate brackets from')
    parser.add_argument('--work', default='evidence', help='working folder (data, experiments, results)')
    parser.add_argument('--report', default='docs/evidence.md', help='Markdown report (plots written beside it)')
    parser.add_argument('--runs', nargs='+', choices=list(RUNS), default=list(MAIN_PAIR), help='runs to make')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0], help='training seeds of every run')
    parser.add_argument('--grid', action='store_true',
                        help='every run of RUNS with seed 0, and the main pair also with seed 1')
    parser.add_argument('--extra', nargs='+', metavar='LABEL:SEED', help='further runs, e.g. no_semantics:0')
    parser.add_argument('--iters', type=int, default=1500, help='training iterations of every run')
    parser.add_argument('--warmup-fraction', type=float, default=0.5, help='SKT warm-up as a share of --iters')
    parser.add_argument('--num-val-points', type=int, default=6, help='validations per run')
    parser.add_argument('--max-size', type=int, default=256, help='long side of the synthetic scenes')
    parser.add_argument('--variants', type=int, default=2, help='synthetic captures per training photograph')
    parser.add_argument('--demo-scenes', type=int, nargs=3, default=[8, 2, 3], metavar=('TRAIN', 'VAL', 'TEST'),
                        help='generated demo scenes per split')
    parser.add_argument('--val-fraction', type=float, default=0.2, help='share of photographs for validation')
    parser.add_argument('--test-fraction', type=float, default=0.2, help='share of photographs for the test set')
    parser.add_argument('--split-seed', type=int, default=0, help='seed of the split by source')
    parser.add_argument('--data-seed', type=int, default=0, help='seed of the simulated captures')
    parser.add_argument('--jobs', type=int, default=2, help='runs trained side by side')
    parser.add_argument('--threads', type=int, default=max(1, (os.cpu_count() or 1) // 2),
                        help='intra-op threads per run (default: cores / 2, for --jobs 2)')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu',
                        help='device of the runs (cuda: one GPU each)')
    parser.add_argument('--notes', help='Markdown file appended as "Investigation notes" (what was tried)')
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def planned_runs(args: argparse.Namespace) -> List[Tuple[str, int]]:
    """(label, seed) of every run: ``--grid``, or ``--runs`` x ``--seeds``, plus ``--extra`` (no duplicates)."""
    if args.grid:
        runs = [(label, 0) for label in RUNS] + [(label, 1) for label in MAIN_PAIR]
    else:
        runs = [(label, seed) for seed in args.seeds for label in args.runs]
    for item in args.extra or []:
        label, _, seed = item.partition(':')
        if label not in RUNS or not seed.isdigit():
            raise SystemExit(f'--extra takes LABEL:SEED with LABEL one of {list(RUNS)}, got {item!r}')
        runs.append((label, int(seed)))
    return list(dict.fromkeys(runs))


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    work = osp.abspath(args.work)
    os.makedirs(osp.join(work, 'configs'), exist_ok=True)
    data_dir = osp.join(work, 'data')
    manifest = build_data(args, data_dir)
    timings_path = osp.join(work, 'timings.json')
    timings = json.load(open(timings_path)) if osp.isfile(timings_path) else {}
    runs = planned_runs(args)
    if any(label != 'baseline' for label, _ in runs) and 'priors_s' not in timings:
        timings['priors_s'] = build_priors(data_dir)
    lock = threading.Lock()

    def one_run(run: Tuple[str, int]) -> None:
        run_timings: Dict[str, Any] = {run_name(*run): dict(timings.get(run_name(*run), {}))}
        train_and_test(run[0], run[1], work, data_dir, args, run_timings)
        with lock:
            timings.update(run_timings)
            with open(timings_path, 'w') as f:
                json.dump(timings, f, indent=1)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for future in [pool.submit(one_run, run) for run in runs]:
            future.result()
    print(f'\n=== report: {write_report(args, work, manifest, runs, timings)}')


if __name__ == '__main__':
    main()
