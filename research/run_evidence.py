#!/usr/bin/env python
"""Evidence v2: does SKT boost the ORM? A pre-registered, paired, multi-seed experiment (``docs/evidence_plan.md``).

One command builds the data, extracts the semantic priors, trains every arm for every seed, tests each final
checkpoint (EMA weights) on the held-out test split and writes the report and its JSON summary from the runs' own
outputs, after every finished seed:

    # validation screen (never touches the test split): report in <work>/screen.md
    python -m research.run_evidence --hdr-dir ../shared/data/hdr --validation-only --runs baseline skt no_semantics \\
        oracle_teacher --seeds 0 1 2
    # the pre-registered pilot (3 seeds), then more seeds as the plan's decision rule says
    python -m research.run_evidence --hdr-dir ../shared/data/hdr --seeds 0 1 2 --notes research/evidence_notes.md
    # test on your own photographs (never trained or tuned on): a separate table
    python -m research.run_evidence --hdr-dir ../shared/data/hdr --seeds 0 1 2 --extra-test my_hdr_photos/

Resumable: data, priors, finished trainings (their final checkpoint exists) and finished tests are reused, an
interrupted training continues with ``--auto_resume``, and the report is rewritten after every finished seed. A run
whose configuration changed (another recipe in the same ``--work``) stops the script instead of being reused. Delete
``--work`` (default ``evidence/``) to start over. Every report also writes ``<report>_scores.json``, the per-scene test
scores of every run: commit it, and a fresh machine (whose ``--work`` is gone) continues the experiment with the next
seeds and ``--earlier-scores <report>_scores.json``; the finished seeds then enter the report from that file.

Data (``--data-recipe hard``, the default): brackets simulated from HDR photographs with Kalantari's exposure
convention (EVs 0/2/4 relative to the shortest frame, so the GT stays <= 1 where the reference clips), a bright
reference (3-20 % of its pixels saturated), noise x1-8, large motion and occluders over clipped or dark regions
(missing content); ``--variants`` captures per training photograph, ``--eval-variants`` per validation / test
photograph (different motion and noise), plus generated scenes. Split by *source*: no photograph (and no generated
scene) is in two splits. ``--data-recipe v1`` gives the first experiment's data (EVs -2/0/+2, dim references).

Arms (``--runs``): ``baseline`` (ORM alone), ``skt`` (joint, defaults), ``no_semantics`` (SPGRM without any
GT-derived input: a second network without semantics), ``oracle_teacher`` (diagnostic: SKT whose teacher gets the
oracle prior, the μ-law GT pooled to 4-px cells; validation only, never tested, never a claim) and the ablations
``no_skam``, ``no_colour``, ``no_content``. The same seed gives every arm the same initial ORM, data order and crops.
``--skt-mode staged`` trains every SKT arm in stages of half of ``--iters`` (the ORM alone, the teacher on it frozen,
the ORM under the frozen teacher: :func:`stage_runs`), with the arm ``finetune_control`` as its matched control.
Recipe: EMA weights (``--ema-decay``; validation and test use them), cosine learning-rate decay, ``--iters``.
"""
import argparse
import copy
import glob
import json
import os
import os.path as osp
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from basicsr_skt.metrics.region_metric import REGIONS
from basicsr_skt.reporting.charts import line_chart
from basicsr_skt.reporting.compare import read_metrics_csv
from basicsr_skt.reporting.compare_page import write_compare_page
from basicsr_skt.synthesis.splits import SPLITS
from basicsr_skt.synthesis.synthetic_brackets import DARK_LEVEL
from basicsr_skt.utils.option_checks import SKT_DISTILL_SECTIONS, dump_options_yaml, load_options_yaml
from research.evidence_data import EXTRA_FOLDER, SPLIT_FOLDERS, EvidenceData, build_data, build_extra_test
from research.evidence_tables import (EQUIVALENCE_MARGIN, ORACLE_CELL, Final, Scores, arm_table, contrast_summaries,
                                      contrast_table, finished_seeds, finite_json, largest_delta_scenes, mean_curves,
                                      mean_only, merge_scores, oracle_check, primary_contrast, readout, scene_mean,
                                      scene_picture, scores_from_json, scores_to_json, share_table, validation_scores)
from research.paths import REPO, portable_argv, repo_relative
from research.train_logs import logged_scalars, read_experiment_logs, validation_curves

#: How the report names this script (run from the repository root).
COMMAND = 'python -m research.run_evidence'
_MARKDOWN_LINK = re.compile(r'(\]\(\s*)([^)\s]+)')  # the target of [text](target)
_EXTERNAL_LINK = re.compile(r'^[a-zA-Z][a-zA-Z0-9+.-]*:')  # http:, https:, mailto:, ...

OPTIONS = osp.join(REPO, 'options', 'demo')
METRICS = ('psnr_mu', 'psnr_l', 'ssim_mu', 'ssim_l')
TEACHER_METRICS = ('teacher_psnr_mu', 'teacher0_psnr_mu', 'teacher_ssim_mu')
REGION_METRICS = tuple(f'{m}_{r}' for m in ('psnr_mu', 'ssim_mu') for r in REGIONS)
#: The teacher's PSNR-μ per region on validation, with its priors and with them zeroed (issue 19: is its gain from the
#: priors where content is missing?).
TEACHER_REGION_METRICS = tuple(f'{prefix}psnr_mu_{r}' for prefix in ('teacher_', 'teacher0_') for r in REGIONS)
#: run label -> (description, changes to the SKT demo config; None = the baseline config)
RUNS: 'OrderedDict[str, Tuple[str, Optional[Dict[str, Any]]]]' = OrderedDict([
    ('baseline', ('ORM alone', None)),
    ('skt', ('SKT joint, all terms (defaults)', {})),
    ('no_semantics', ('SKT, SPGRM without any GT-derived input (no priors)', {'use_semantics': False})),
    ('oracle_teacher', ('diagnostic: SKT whose teacher gets the oracle prior (μ-law GT on 4-px cells)', {
        'oracle': True
    })),
    ('oracle_xattn', ('diagnostic: the oracle teacher with cross-attention fusion instead of SFT', {
        'oracle': True,
        'network_t': {
            'type': 'SPGRMProbe',
            'fusion': 'cross_attention'
        }
    })),
    ('finetune_control', ('matched control of staged SKT: the stage-0 ORM trained as long as the student, without '
                          'a teacher (`--skt-mode staged`)', None)),
    ('no_skam', ('SKT without SKAM (no feature-level term)', {'drop': ['skam_opt']})),
    ('no_colour', ('SKT without the colour term', {'drop': ['colour_opt']})),
    ('no_content', ('SKT without the content term', {'drop': ['content_opt']})),
])
DEFAULT_ARMS = ('baseline', 'skt', 'no_semantics')
#: Arms that are never tested (diagnostics on validation only).
DIAGNOSTIC = ('oracle_teacher', 'oracle_xattn')


# ----------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------
def data_spec(args: argparse.Namespace) -> EvidenceData:
    """The data recipe of the command line."""
    return EvidenceData(hdr_dir=args.hdr_dir, recipe=args.data_recipe, max_size=args.max_size, variants=args.variants,
                        eval_variants=args.eval_variants, demo_scenes=tuple(args.demo_scenes),
                        val_fraction=args.val_fraction, test_fraction=args.test_fraction, split_seed=args.split_seed,
                        data_seed=args.data_seed)


def checkout_pythonpath() -> str:
    """``PYTHONPATH`` of a child process: this checkout first (``research`` is not installed), then the caller's."""
    return os.pathsep.join([REPO] + [p for p in [os.environ.get('PYTHONPATH')] if p])


def run_priors(dataroot: str, backend: str, extra: Sequence[str] = ()) -> None:
    """Semantic priors of one split folder (resumable: finished scenes are skipped); ``oracle``: research's
    diagnostic backend (:mod:`research.make_oracle_priors`)."""
    script = ['-m', 'research.make_oracle_priors'] if backend == 'oracle' else [
        osp.join(REPO, 'scripts', 'make_semantic_priors.py'), '--backend', backend]
    env = dict(os.environ, PYTHONPATH=checkout_pythonpath())
    subprocess.run([sys.executable, *script, '--dataroot', dataroot, '--device', 'cpu', *extra], check=True, env=env)


def build_priors(data_dir: str) -> float:
    """VGG16 priors of the training and validation scenes (validation: the teacher's held-out metrics)."""
    start = time.time()
    for split in ('train', 'val'):
        run_priors(osp.join(data_dir, SPLIT_FOLDERS[split]), 'vgg16')
    return time.time() - start


def build_oracle_data(data_dir: str, oracle_dir: str) -> float:
    """A copy of the training and validation scenes with oracle priors (diagnostics only) in ``oracle_dir``."""
    start = time.time()
    for split in ('train', 'val'):
        target = osp.join(oracle_dir, SPLIT_FOLDERS[split])
        if not osp.isdir(target):
            shutil.copytree(osp.join(data_dir, SPLIT_FOLDERS[split]), target + '.partial',
                            ignore=shutil.ignore_patterns('skb_*'), dirs_exist_ok=True)
            os.replace(target + '.partial', target)
        run_priors(target, 'oracle', ['--cell', str(ORACLE_CELL)])
    return time.time() - start


# ----------------------------------------------------------------------------------------------------------------
# Configs
# ----------------------------------------------------------------------------------------------------------------
load_yaml = load_options_yaml
dump_yaml = dump_options_yaml


def run_name(label: str, seed: int) -> str:
    return f'evidence_{label}_s{seed}'


def region_metric_options(args: argparse.Namespace) -> 'OrderedDict[str, Dict[str, Any]]':
    """``val.metrics`` entries of the region metrics (PSNR-μ and SSIM-μ per region)."""
    noise = data_spec(args).region_noise()
    return OrderedDict((f'{m}_{r}', dict(type=f'calculate_region_{m}', region=r, better='higher', **noise))
                       for m in ('psnr_mu', 'ssim_mu') for r in REGIONS)


def scheduler_options(args: argparse.Namespace) -> Dict[str, Any]:
    if args.lr_schedule == 'cosine':
        return {'type': 'CosineAnnealingRestartLR', 'periods': [args.iters], 'restart_weights': [1],
                'eta_min': args.eta_min}
    return {'type': 'MultiStepLR', 'milestones': [int(args.iters * 0.75)], 'gamma': 0.5}


def train_options(label: str, seed: int, data_dir: str, args: argparse.Namespace) -> Dict[str, Any]:
    """The demo config of the arm on the evidence data, with the low-noise recipe, ``args.iters`` iterations."""
    _, change = RUNS[label]
    skt = change is not None
    opt = load_yaml(osp.join(OPTIONS, 'train_demo_skt_hdrtransformer.yml' if skt else 'train_demo_hdrtransformer.yml'))
    if skt and change.get('oracle'):
        data_dir = osp.join(osp.dirname(data_dir), 'data_oracle')
    opt['name'] = run_name(label, seed)
    opt['manual_seed'] = seed
    opt['num_gpu'] = 1 if args.device == 'cuda' else 0
    opt['datasets']['train']['dataroot'] = osp.join(data_dir, 'Training')
    opt['datasets']['val'].update(name='evidence_val', dataroot=osp.join(data_dir, 'Validation'))
    if skt:
        opt['datasets']['val']['skb'] = True  # the teacher's held-out metrics (the ORM's validation ignores priors)
    opt['train']['total_iter'] = args.iters
    opt['train']['ema_decay'] = args.ema_decay
    opt['train']['ema_warmup'] = args.ema_decay > 0  # a fixed 0.999 EMA still holds the initial weights (notes)
    opt['train']['scheduler'] = scheduler_options(args)
    opt['val']['val_freq'] = max(args.iters // args.num_val_points, 1)
    opt['val']['metrics'].update(region_metric_options(args))
    opt['logger'].update(print_freq=max(args.iters // 40, 1), save_checkpoint_freq=args.iters)
    if skt:
        opt['skt']['distill_warmup_iter'] = int(round(args.warmup_fraction * args.iters))
        for section in change.get('drop', []):
            opt['skt'].pop(section)
        if 'use_semantics' in change:
            opt['network_t']['use_semantics'] = change['use_semantics']
        if change.get('oracle'):
            opt['network_t']['embed_channels'] = 3
        opt['network_t'].update(change.get('network_t', {}))
        scale_distillation(opt['skt'], args.distill_scale)
    return opt


def scale_distillation(skt_opt: Dict[str, Any], factor: float) -> None:
    """Multiply the ``loss_weight`` of the distillation terms present in an ``skt`` option section (in place)."""
    for section in SKT_DISTILL_SECTIONS:
        if section in skt_opt:
            skt_opt[section]['loss_weight'] *= factor


def test_options(name: str, datasets: Dict[str, str], train_opt: Dict[str, Any], checkpoint: str,
                 args: argparse.Namespace) -> Dict[str, Any]:
    """Test config of one final checkpoint (EMA weights when present) on one or more folders of scenes.

    Args:
        name: Test name (results go to ``results/<name>/<dataset>_metrics.csv``).
        datasets: dataset name -> scene folder; predictions are saved for ``evidence_test`` only (pictures).
        train_opt: The run's training config (its ``network_g``).
        checkpoint: The final ``net_g`` file.
        args: Parsed arguments (region-metric noise).
    """
    opt = load_yaml(osp.join(OPTIONS, 'test_demo_hdrtransformer.yml'))
    template = opt['datasets'].pop('test')
    for index, (dataset, dataroot) in enumerate(datasets.items(), start=1):
        opt['datasets'][f'test_{index}'] = dict(template, name=dataset, dataroot=dataroot)
    opt['name'] = name
    opt['num_gpu'] = train_opt['num_gpu']
    opt['network_g'] = train_opt['network_g']
    opt['path']['pretrain_network_g'] = checkpoint
    opt['path']['param_key_g'] = 'params_ema'
    metrics = OrderedDict((m, {'type': f'calculate_{m}'}) for m in METRICS)
    metrics['lpips'] = {'type': 'calculate_lpips', 'better': 'lower'}
    metrics.update(region_metric_options(args))
    opt['val'].update(save_img=True, suffix='pred', figure_scenes=0, pbar=False, metrics=metrics)
    return opt


# ----------------------------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------------------------
def thread_env(args: argparse.Namespace) -> Dict[str, str]:
    """Environment of a run: this checkout's code first on the path (the runs start in ``--work`` with
    ``python -m research.train``), ``--threads`` intra-op threads (parallel runs must not oversubscribe the cores: an
    OpenMP team waiting for a busy core slows a step down many times), no GPU unless ``--device cuda``."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    env['PYTHONPATH'] = checkout_pythonpath()
    if args.device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    return env


def log_file(work: str, name: str, step: str):
    """Console output of one step goes to ``<work>/logs/<name>_<step>.log`` (runs may go in parallel)."""
    os.makedirs(osp.join(work, 'logs'), exist_ok=True)
    return open(osp.join(work, 'logs', f'{name}_{step}.log'), 'a')


def checkpoint_path(work: str, label: str, seed: int, args: argparse.Namespace) -> str:
    return osp.join(work, 'experiments', run_name(label, seed), 'models', f'net_g_{run_iters(label, args)}.pth')


def results_csv(work: str, test_name: str, dataset: str) -> str:
    return osp.join(work, 'results', test_name, f'{dataset}_metrics.csv')


def same_file(a: str, b: str) -> bool:
    with open(a, 'rb') as fa, open(b, 'rb') as fb:
        return fa.read() == fb.read()


def staged(label: str, args: argparse.Namespace) -> bool:
    """Whether the arm is trained in stages (``--skt-mode staged``): every SKT arm and ``finetune_control``."""
    return args.skt_mode == 'staged' and (RUNS[label][1] is not None or label == 'finetune_control')


def run_iters(label: str, args: argparse.Namespace) -> int:
    """Iterations of the arm's own (final) run: half of ``--iters`` for a staged arm, whose ORM had the first half in
    stage 0 (every arm's ORM is trained ``--iters`` iterations in all)."""
    return args.iters // 2 if staged(label, args) else args.iters


def half_args(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(**dict(vars(args), iters=args.iters // 2))


def stage_runs(label: str, seed: int, work: str, data_dir: str,
               args: argparse.Namespace) -> List[Tuple[str, Dict[str, Any], int]]:
    """(run name, config, iterations) of every run the arm needs, in order; the last is the arm's own run.

    Joint (default) and non-SKT arms: one run of ``--iters``. Staged arms (``--skt-mode staged``), each stage half of
    ``--iters`` with its own cosine decay: stage 0 ``evidence_pretrain_s<seed>`` (the ORM alone, shared by the arms of
    a seed), stage 1 ``evidence_<arm>_teacher_s<seed>`` (``skt.mode: staged_teacher`` on the frozen stage-0 EMA ORM),
    stage 2 the arm's run (``staged_student``: the stage-0 ORM under the frozen teacher, distillation from its first
    iteration). ``finetune_control`` is stage 2 without a teacher.
    """
    if not staged(label, args):
        return [(run_name(label, seed), train_options(label, seed, data_dir, args), args.iters)]
    half = half_args(args)
    pretrain = train_options('baseline', seed, data_dir, half)
    pretrain['name'] = f'evidence_pretrain_s{seed}'
    orm = osp.join(work, 'experiments', pretrain['name'], 'models', f'net_g_{half.iters}.pth')
    runs = [(pretrain['name'], pretrain, half.iters)]
    final = train_options('baseline' if label == 'finetune_control' else label, seed, data_dir, half)
    final['name'] = run_name(label, seed)
    final['path'].update(pretrain_network_g=orm, param_key_g='params_ema', strict_load_g=True)
    if label != 'finetune_control':
        teacher = copy.deepcopy(final)
        teacher['name'] = f'evidence_{label}_teacher_s{seed}'
        # the teacher does not depend on the student's --distill-scale (its run is the same and can be reused)
        unscaled = argparse.Namespace(**dict(vars(half), distill_scale=1.0))
        teacher['skt'] = train_options(label, seed, data_dir, unscaled)['skt']
        teacher['skt']['mode'] = 'staged_teacher'
        teacher['train'].update(ema_decay=0, ema_warmup=False)  # the ORM is frozen
        runs.append((teacher['name'], teacher, half.iters))
        final['skt'].update(mode='staged_student', distill_warmup_iter=0)
        final['path'].update(
            pretrain_network_t=osp.join(work, 'experiments', teacher['name'], 'models', f'net_t_{half.iters}.pth'),
            param_key_t='params', strict_load_t=True)
    return runs + [(final['name'], final, half.iters)]


#: One lock per stage-0 run name: the arms of a seed share it and may be trained side by side.
_STAGE_LOCKS: Dict[str, threading.Lock] = {}
_STAGE_LOCKS_GUARD = threading.Lock()


def train(label: str, seed: int, work: str, data_dir: str, args: argparse.Namespace, timings: Dict[str, Any]) -> None:
    """Train (or resume) the runs of one arm (:func:`stage_runs`); their wall times go to ``timings``."""
    for name, opt, iters in stage_runs(label, seed, work, data_dir, args):
        with _STAGE_LOCKS_GUARD:
            lock = _STAGE_LOCKS.setdefault(name, threading.Lock())
        with lock:
            train_run(name, opt, iters, work, args, timings)


def train_run(name: str, opt: Dict[str, Any], iters: int, work: str, args: argparse.Namespace,
              timings: Dict[str, Any]) -> None:
    """Train one config unless its final checkpoint exists; refuse a run of the same name with another config."""
    config = osp.join(work, 'configs', f'{name}.yml')
    fresh = dump_yaml(opt, config + '.new')
    if osp.isfile(config) and not same_file(config, fresh):
        raise SystemExit(f'{name} exists in {work} with another configuration ({config} vs {fresh}): use another '
                         '--work for another recipe, or delete the run')
    os.replace(fresh, config)
    network = 'net_t' if opt.get('skt', {}).get('mode') == 'staged_teacher' else 'net_g'
    if osp.isfile(osp.join(work, 'experiments', name, 'models', f'{network}_{iters}.pth')):
        return
    resume = ['--auto_resume'] if osp.isdir(osp.join(work, 'experiments', name)) else []
    start = time.time()
    print(f'\n=== train {name} ({iters} iterations)', flush=True)
    subprocess.run([sys.executable, '-m', 'research.train', '-opt', config] + resume, cwd=work, check=True,
                   env=thread_env(args), stdout=log_file(work, name, 'train'), stderr=subprocess.STDOUT)
    previous = timings.get(name, {}).get('train_s', 0) if resume else 0  # an interrupted attempt's time
    timings.setdefault(name, {}).update(train_s=previous + time.time() - start, commit=git_commit())


def test(label: str, seed: int, work: str, datasets: Dict[str, str], args: argparse.Namespace,
         timings: Dict[str, Any]) -> None:
    """Test the final checkpoint of one run on every folder of ``datasets`` (name -> folder) in one process;
    skipped when every dataset's metrics CSV exists."""
    name = run_name(label, seed)
    test_name = f'test_{name}'
    if all(osp.isfile(results_csv(work, test_name, dataset)) for dataset in datasets):
        return
    train_opt = train_options(label, seed, '<data>', args)
    opt = test_options(test_name, datasets, train_opt, checkpoint_path(work, label, seed, args), args)
    config = dump_yaml(opt, osp.join(work, 'configs', f'{test_name}.yml'))
    start = time.time()
    print(f'\n=== test {name} on {", ".join(datasets)}', flush=True)
    subprocess.run([sys.executable, '-m', 'basicsr_skt.test', '-opt', config], cwd=work, check=True,
                   env=thread_env(args), stdout=log_file(work, name, 'test'), stderr=subprocess.STDOUT)
    timings.setdefault(name, {})['test_s'] = time.time() - start


def one_run(label: str, seed: int, work: str, data_dir: str, args: argparse.Namespace, timings: Dict[str, Any],
            extra: Optional[Dict[str, Any]]) -> None:
    """Train one arm for one seed and, unless ``--validation-only`` or a diagnostic arm, test it (test split and
    ``--extra-test`` scenes)."""
    train(label, seed, work, data_dir, args, timings)
    if args.validation_only or label in DIAGNOSTIC:
        return
    datasets = OrderedDict(evidence_test=osp.join(data_dir, 'Test'))
    if extra is not None:
        datasets['evidence_extra'] = osp.join(work, 'extra', EXTRA_FOLDER)
    test(label, seed, work, datasets, args, timings)


# ----------------------------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------------------------
def read_test_scores(work: str, runs: Sequence[Tuple[str, int]], dataset: str) -> Scores:
    """Per-scene test metrics of every finished run (the ``mean`` row is recomputed, not read)."""
    scores: Scores = OrderedDict()
    for label, seed in runs:
        path = results_csv(work, f'test_{run_name(label, seed)}', dataset)
        if osp.isfile(path):
            scores.setdefault(label, {})[seed] = read_metrics_csv(path)
    return scores


def run_logs(work: str, runs: Sequence[Tuple[str, int]]):
    """(label, seed, parsed training log, validation curves of ``evidence_val``) of every run that has a log."""
    for label, seed in runs:
        try:
            log = read_experiment_logs(osp.join(work, 'experiments', run_name(label, seed)))
        except FileNotFoundError:
            continue
        yield label, seed, log, validation_curves(log).get('evidence_val', {})


def read_validation(work: str, runs: Sequence[Tuple[str, int]], args: argparse.Namespace) -> Final:
    """Final validation means (at the arm's :func:`run_iters`) of every run whose log has them: arm -> seed -> metric
    -> value."""
    final: Final = OrderedDict()
    for label, seed, _, curves in run_logs(work, runs):
        iters = run_iters(label, args)
        values = values_at(curves, iters)
        if values and staged(label, args) and RUNS[label][1] is not None:
            values.update(teacher_stage_validation(work, label, seed, iters))
        if values:
            final.setdefault(label, {})[seed] = values
    return final


def teacher_stage_validation(work: str, label: str, seed: int, iters: int) -> Dict[str, float]:
    """The ``teacher*`` metrics of a staged arm's teacher run (stage 1, on the frozen stage-0 ORM) at its final
    validation: what the teacher itself is worth, rather than on the moving student of stage 2."""
    try:
        log = read_experiment_logs(osp.join(work, 'experiments', f'evidence_{label}_teacher_s{seed}'))
    except FileNotFoundError:
        return {}
    values = values_at(validation_curves(log).get('evidence_val', {}), iters)
    return {m: v for m, v in values.items() if m.startswith('teacher')}


def values_at(curves: Dict[str, List[Tuple[int, float]]], iters: int) -> Dict[str, float]:
    """metric -> value of every validation curve that has a point at ``iters``."""
    return {m: dict(points)[iters] for m, points in curves.items() if iters in dict(points)}


def write_plot(path: str, series: Dict[str, List[Tuple[int, float]]], title: str, x_label: str = 'iteration') -> bool:
    series = {name: points for name, points in series.items() if points}
    if series:
        cv2.imwrite(path, line_chart(series, title, x_label))
    return bool(series)


def scene_predictions(work: str, scene: str, seed: int, arms: Sequence[str]) -> Dict[str, str]:
    """arm -> the saved test prediction of ``scene`` by the arm's run of ``seed`` (arms without one are left out)."""
    found = {arm: glob.glob(osp.join(work, 'results', f'test_{run_name(arm, seed)}', 'visualization', 'evidence_test',
                                     f'{scene}_pred.hdr')) for arm in arms}
    return {arm: paths[0] for arm, paths in found.items() if paths}


def train_minutes(timings: Dict[str, Any], label: str, seed: int) -> Optional[float]:
    """Training wall time of a run in minutes (None when not recorded)."""
    seconds = timings.get(run_name(label, seed), {}).get('train_s')
    return None if seconds is None else seconds / 60


def git_commit() -> str:
    try:
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def shown_command(args: argparse.Namespace) -> str:
    """The command line as the report records it: absolute paths made repository-relative."""
    return ' '.join([COMMAND] + portable_argv(args.argv))


def report_paths(args: argparse.Namespace, work: str) -> Tuple[str, str]:
    """(Markdown report, JSON summary): ``--report`` and the ``.json`` beside it; ``<work>/screen.*`` for
    ``--validation-only`` unless ``--report`` is given. The score archive is ``<report>_scores.json``."""
    report = args.report or (osp.join(work, 'screen.md') if args.validation_only else 'docs/evidence.md')
    return report, osp.splitext(report)[0] + '.json'


def read_earlier_scores(args: argparse.Namespace) -> Scores:
    """The test scores of ``--earlier-scores`` (empty without it); a missing or malformed file stops the script
    with one message before anything is trained."""
    if not args.earlier_scores:
        return OrderedDict()
    if args.validation_only:
        raise SystemExit('--earlier-scores holds test-split scores; it cannot be used with --validation-only')
    try:
        with open(args.earlier_scores, encoding='utf-8') as f:
            return scores_from_json(json.load(f), args.earlier_scores)
    except OSError as err:
        raise SystemExit(f'--earlier-scores {args.earlier_scores}: cannot read it ({err.strerror}); give the '
                         '<report>_scores.json that an earlier report wrote') from None
    except ValueError as err:  # json.JSONDecodeError is a ValueError
        raise SystemExit(f'--earlier-scores {args.earlier_scores}: {err}') from None


@dataclass
class ReportScores:
    """What the report's sections read, gathered once by :func:`collect_scores`.

    Attributes:
        split: ``'validation'`` (``--validation-only``) or ``'test'``.
        final_val: Final validation means, arm -> seed -> metric -> value (:func:`read_validation`).
        test_scores: Per-scene test scores of the runs here merged with the ``earlier`` ones.
        from_earlier: (arm, seed) of the runs known only from ``--earlier-scores``.
        main_scores: The scores of the main tables: validation means or test scores, diagnostics left out of the test.
        summaries: The paired contrasts of ``main_scores``.
        extra_scores: Per-scene scores on the ``--extra-test`` photographs (empty without them).
        extra_summaries: The paired contrasts of ``extra_scores``.
        done: Seeds with every non-diagnostic arm finished.
    """
    split: str
    final_val: Final
    test_scores: Scores
    from_earlier: List[Tuple[str, int]]
    main_scores: Scores
    summaries: list
    extra_scores: Scores
    extra_summaries: list
    done: List[int]


def collect_scores(args: argparse.Namespace, work: str, runs: List[Tuple[str, int]], extra: Optional[Dict[str, Any]],
                   earlier: Scores) -> ReportScores:
    """Read the runs' validation logs and test CSVs and merge the ``earlier`` test scores (a run here wins)."""
    final_val = read_validation(work, runs, args)
    local = OrderedDict() if args.validation_only else read_test_scores(
        work, [r for r in runs if r[0] not in DIAGNOSTIC], 'evidence_test')
    test_scores = merge_scores(local, earlier)
    from_earlier = [(arm, seed) for arm, per_seed in earlier.items() for seed in per_seed
                    if seed not in local.get(arm, {})]
    extra_scores = read_test_scores(work, runs, 'evidence_extra') if extra is not None else OrderedDict()
    main_scores = validation_scores(final_val) if args.validation_only else test_scores
    main_scores = OrderedDict((k, v) for k, v in main_scores.items() if k not in DIAGNOSTIC or args.validation_only)
    done = finished_seeds(main_scores, [a for a in dict.fromkeys(r[0] for r in runs) if a not in DIAGNOSTIC])
    return ReportScores(split='validation' if args.validation_only else 'test', final_val=final_val,
                        test_scores=test_scores, from_earlier=from_earlier, main_scores=main_scores,
                        summaries=contrast_summaries(main_scores, per_scene=not args.validation_only),
                        extra_scores=extra_scores,
                        extra_summaries=contrast_summaries(extra_scores) if extra_scores else [], done=done)


def write_curve_plots(work: str, runs: List[Tuple[str, int]], report_dir: str, stem: str) -> List[Tuple[str, str]]:
    """The training-curve PNGs beside the report (mean over seeds per arm); returns (title, file name) of each."""
    val_curves, gaps, teacher_curves = OrderedDict(), OrderedDict(), OrderedDict()
    for label, seed, log, curves in run_logs(work, runs):
        val_curves[label, seed] = curves.get('psnr_mu', [])
        teacher_curves[label, seed] = curves.get('teacher_psnr_mu', [])
        if label != 'baseline':
            gaps[label, seed] = logged_scalars(log).get('gap_psnr_mu', [])
    charts = [(f'{stem}_val_psnr_mu.png', val_curves, 'validation PSNR-mu (dB), EMA ORM',
               'validation PSNR-μ of the (EMA) ORM, mean over seeds'),
              (f'{stem}_val_teacher_psnr_mu.png', teacher_curves, 'validation PSNR-mu (dB), teacher',
               'validation PSNR-μ of the teacher'),
              (f'{stem}_teacher_gap.png', gaps, 'teacher - student PSNR-mu on the batch (dB)',
               'teacher − student PSNR-μ on the training batch')]
    return [(title, name) for name, curves, chart_title, title in charts
            if write_plot(osp.join(report_dir, name), mean_curves(curves), chart_title)]


def header_lines(args: argparse.Namespace) -> List[str]:
    """Title, the command (paths repository-relative: :func:`research.paths.portable_argv`) and the machine."""
    return [
        '# Evidence: does SKT boost the ORM?' + (' (validation screen)' if args.validation_only else ''), '',
        '*Generated by `research/run_evidence.py` from the runs\' own outputs; no number here is typed by hand. The '
        'plan (arms, recipe, metrics, decision rule) is `docs/evidence_plan.md`.*', '', '## Command', '', '```bash',
        shown_command(args), '```', '',
        f'Report written at commit `{git_commit()}`; machine: {platform.machine()}, {os.cpu_count()} CPU cores, '
        f'Python {platform.python_version()}; {time.strftime("%Y-%m-%d %H:%M")}.', ''
    ]


def data_lines(args: argparse.Namespace, manifest: Dict[str, Any], extra: Optional[Dict[str, Any]]) -> List[str]:
    """The data bullet of the setup: recipe, split by source and the shares of hard pixels."""
    config = manifest.get('bracket_config', {})
    hdr_dir = manifest['hdr_dir'] if manifest['hdr_dir'] is None else repo_relative(manifest['hdr_dir'])
    lines = [
        f'- **Data** (`{repo_relative(args.work)}/data/manifest.json`, recipe `{manifest.get("data_recipe", "v1")}`): '
        f'brackets simulated from the HDR photographs in `{hdr_dir}` (long side {manifest["max_size"]} px, EVs '
        f'{config.get("evs")} (t = 2^ev), reference clipped share {config.get("ref_clipped_share")}, noise gain '
        f'{config.get("noise_gain")}, object speed {config.get("object_speed")} px/frame, occluder '
        f'`{config.get("occluder")}`; {manifest["variants"]} captures per training photograph, '
        f'{manifest.get("eval_variants", 1)} per validation / test photograph) plus generated scenes. Split **by '
        'source**: no photograph is in two splits.'
    ]
    for part in SPLITS:
        photos = manifest['photo_sources'][part]
        lines.append(f'  - {part}: {len(manifest["scenes"][part])} scenes; photographs: {", ".join(photos) or "none"}; '
                     f'generated scenes: {len(manifest["demo_sources"][part])}')
    return lines + [
        '', share_table(manifest, extra), '',
        'Shares of reference pixels: saturated (a channel at the white level), near black (linear < '
        f'{DARK_LEVEL}), motion (covered by the moving object in some frame), missing (no frame shows the content), '
        'missing by occlusion (missing only because the object hides it).', ''
    ]


def recipe_lines(args: argparse.Namespace, runs: List[Tuple[str, int]], split: str) -> List[str]:
    """The ORM, recipe, SKT, priors and evaluation bullets of the setup."""
    train_opt = train_options('skt', runs[0][1], '<data>', args)
    orm = train_opt['network_g']
    return [
        f'- **ORM**: HDR-Transformer, embed_dim {orm["embed_dim"]}, depths {orm["depths"]}, heads {orm["num_heads"]} '
        '(the CPU demo configuration), trained from scratch.',
        f'- **Recipe**: {args.iters} iterations, batch {train_opt["datasets"]["train"]["batch_size_per_gpu"]}, '
        f'{train_opt["datasets"]["train"]["gt_size"]}² crops, Adam lr {train_opt["train"]["optim_g"]["lr"]}, '
        f'{args.lr_schedule} decay' + (f' to {args.eta_min:g}' if args.lr_schedule == 'cosine' else '') +
        f', EMA decay {args.ema_decay} (validation and test use the EMA weights, `params_ema`); the same seed gives '
        'every arm the same initial ORM, data order and crops.',
        (f'- **SKT**: SPGRM teacher ({train_opt["network_t"]["num_feat"]} features), mode '
         f'`{train_opt["skt"].get("mode")}`, warm-up {train_opt["skt"]["distill_warmup_iter"]} iterations; the loss '
         'settings are those of `options/demo/train_demo_skt_hdrtransformer.yml`.' if args.skt_mode == 'joint' else
         f'- **SKT, staged** (`--skt-mode staged`): stage 0, the ORM alone for {args.iters // 2} iterations (shared by '
         f'the arms of a seed); stage 1, the SPGRM teacher ({train_opt["network_t"]["num_feat"]} features) trained '
         f'{args.iters // 2} iterations on that frozen EMA ORM; stage 2, the stage-0 ORM trained {args.iters // 2} '
         'more iterations under the frozen teacher, distillation from its first iteration (`finetune_control`: the '
         'same without a teacher); each stage with its own cosine decay; the loss settings are those of '
         '`options/demo/train_demo_skt_hdrtransformer.yml`.'),
        '- **Semantic priors**: the offline VGG16 backend (`relu4_3` + Felzenszwalb segments) on the μ-law GT, for the '
        'training and validation scenes (no Segment Anything weights on this machine).',
        f'- **Evaluation**: the final iteration ({args.iters}) of each run on the {split} split (no checkpoint '
        'selection). Arms: ' + '; '.join(f'`{label}`: {RUNS[label][0]}' for label in dict.fromkeys(r[0] for r in runs)),
        ''
    ]


def earlier_lines(args: argparse.Namespace, scores: ReportScores) -> List[str]:
    """Which runs came from ``--earlier-scores`` and what a seed known by its means only enters."""
    if not scores.from_earlier:
        return []
    from_file = sorted({s for per_seed in scores.test_scores.values() for s, scenes in per_seed.items()
                        if mean_only(scenes)})
    return [f'Runs read from `--earlier-scores {repo_relative(args.earlier_scores)}` (their run folders are not on '
            'this machine): ' + ', '.join(f'{arm} s{seed}' for arm, seed in scores.from_earlier) + '. ' +
            (('Seed {} is known by its test means only: it enters' if len(from_file) == 1 else
              'Seeds {} are known by their test means only: they enter').format(', '.join(map(str, from_file))) +
             ' the tables and the t-based statistics, not the scene bootstrap, the crops or the training curves.'
             if from_file else 'The training curves and the teacher tables cover the runs trained here.'), '']


def results_lines(args: argparse.Namespace, scores: ReportScores, timings: Dict[str, Any]) -> List[str]:
    """The per-arm table, the paired contrasts and (test split) the plan's read-out."""
    shown = list(METRICS) + ['lpips'] + (list(TEACHER_METRICS) if args.validation_only else [])
    lines = [f'## Results ({scores.split} split)', '',
             f'Seeds with every arm finished: {", ".join(map(str, scores.done)) or "none"}.', '']
    lines += earlier_lines(args, scores)
    lines += [arm_table(scores.main_scores, shown, lambda arm, seed: train_minutes(timings, arm, seed)), '',
              f'Mean over seeds of the {scores.split}-mean metrics ± the seed-to-seed standard deviation' +
              ('; `teacher_*`: the teacher on the ORM\'s output, `teacher0_*`: the same teacher with its priors zeroed.'
               if args.validation_only else '.'), '']
    if not scores.summaries:
        return lines
    primary = primary_contrast(scores.main_scores)
    lines += ['### Paired contrasts', '', contrast_table(scores.summaries), '',
              'Δ = arm − control of the same seed (LPIPS: lower is better). Primary: '
              f'`{primary}` on PSNR-μ; Holm over the contrasts on PSNR-μ (paired t tests). '
              'TOST: equivalence within ±0.3 dB at 5 %. '
              'The bootstrap resamples seeds, then scenes within each seed.', '']
    if not args.validation_only:  # the plan's rule reads the test split only
        lines += ['**Read-out** (the plan\'s rule, `docs/evidence_plan.md` §6, applied by the script; final only '
                  'at the number of seeds the rule asks for):', '']
        lines += readout(scores.summaries, primary) + ['']
    return lines


def scene_lines(work: str, test_scores: Scores, report_dir: str, stem: str) -> List[str]:
    """The test scenes with the largest |Δ PSNR-μ| (SKT − baseline), each a picture of every arm's prediction."""
    picked = largest_delta_scenes(test_scores)
    if not picked:
        return []
    seed = min(s for s in test_scores['skt'] if not mean_only(test_scores['skt'][s]))
    lines = [f'### The {len(picked)} test scenes with the largest |Δ PSNR-μ| (SKT − baseline, seed {seed} crops)', '']
    for scene, delta in picked:
        path = osp.join(report_dir, f'{stem}_scene_{scene}.png')
        predictions = scene_predictions(work, scene, seed, list(test_scores))
        if not predictions:
            lines.append(f'- {scene}: no saved predictions (seed {seed})')
            continue
        cv2.imwrite(path, scene_picture(osp.join(work, 'data', 'Test', scene, 'HDRImg.hdr'), predictions))
        lines += [f'{scene}: mean Δ {delta:+.3f} dB', '', f'![{scene}]({osp.basename(path)})', '']
    return lines


def compare_page_lines(work: str, test_scores: Scores, stem: str) -> List[str]:
    """The interactive comparison page of the test split (``<work>/pages/<stem>_compare.html``: every arm and the GT at
    any exposure, error maps, flip, sortable metrics; :func:`~basicsr_skt.reporting.compare_page.write_compare_page`)
    for the smallest seed whose arms all kept their test predictions; [] when none did (e.g. mean-only earlier seeds).
    The page and its data stay in the work folder (tens of MB for 24 scenes): the report names where."""
    arms = list(test_scores)
    seeds = sorted({s for arm in arms for s in test_scores[arm] if not mean_only(test_scores[arm][s])})
    for seed in seeds:
        folders = [osp.join(work, 'results', f'test_{run_name(arm, seed)}') for arm in arms]
        if not all(glob.glob(osp.join(folder, 'visualization', 'evidence_test', '*.hdr')) for folder in folders):
            continue
        page = write_compare_page(folders, osp.join(work, 'pages', f'{stem}_compare.html'), labels=arms,
                                  gt_root=osp.join(work, 'data', 'Test'), dataset='evidence_test',
                                  title=f'{stem}: test split, seed {seed}')
        return [f'Every arm and the GT on the {len(page["scenes"])} test scenes of seed {seed}, at any exposure and '
                f'tone mapping, with error maps: `{repo_relative(page["html"])}` (in the work folder, not committed: '
                'open it from disk in a browser; its data folder lies beside it).', '']
    return []


def region_lines(args: argparse.Namespace, work: str, scores: ReportScores, report_dir: str, stem: str) -> List[str]:
    """Region metrics (test split, with the scene pictures; or validation) and the teacher per region."""
    lines = []
    if not args.validation_only and scores.test_scores:
        lines += ['### Region metrics (test split)', '', arm_table(scores.test_scores, REGION_METRICS), '',
                  'PSNR-μ / SSIM-μ inside the pixels saturated or near black in the reference (`extreme`), the motion '
                  'regions (`motion`) and the rest (`basicsr_skt/metrics/region_metric.py`); mean over the scenes '
                  'that have the region.', '']
        lines += scene_lines(work, scores.test_scores, report_dir, stem)
    elif args.validation_only and scores.final_val:
        lines += ['### Region metrics (validation)', '', arm_table(validation_scores(scores.final_val), REGION_METRICS),
                  '']
    if any(m in values for per_seed in scores.final_val.values() for values in per_seed.values()
           for m in TEACHER_REGION_METRICS):
        lines += ['### The teacher per region (validation)', '',
                  arm_table(validation_scores(scores.final_val), TEACHER_REGION_METRICS), '',
                  '`teacher_*`: the teacher on the live ORM\'s output with its priors; `teacher0_*`: the same '
                  'teacher with its priors zeroed. Regions as above.', '']
    return lines


def extra_test_lines(extra: Optional[Dict[str, Any]], scores: ReportScores) -> List[str]:
    """The table of ``--extra-test`` (the user's own photographs), with its contrasts."""
    if extra is None:
        return []
    lines = ['## Test on your own photographs (`--extra-test`)', '',
             f'{len(extra["scenes"])} scenes from the photographs in `{repo_relative(extra["extra_dir"])}` '
             f'({", ".join(extra["photographs"])}), never trained or tuned on; brackets with the test recipe.', '',
             arm_table(scores.extra_scores, list(METRICS) + ['lpips']) if scores.extra_scores else 'No run tested yet.',
             '']
    if scores.extra_summaries:
        lines += [contrast_table(scores.extra_summaries), '']
    return lines


def rebase_links(text: str, source_dir: str, target_dir: str) -> str:
    """Markdown text written in ``source_dir`` with its relative links (``[x](path)``, ``![x](path)``) rewritten to
    resolve from ``target_dir``; external links, anchors and absolute paths are left as they are."""

    def rebase(match: 're.Match') -> str:
        target = match.group(2)
        if _EXTERNAL_LINK.match(target) or target.startswith(('#', '/')):
            return match.group(0)
        path, sep, anchor = target.partition('#')
        moved = osp.relpath(osp.join(source_dir, path), target_dir).replace(osp.sep, '/')
        return match.group(1) + moved + sep + anchor

    if osp.abspath(source_dir) == osp.abspath(target_dir):
        return text
    return _MARKDOWN_LINK.sub(rebase, text)


def notes_lines(notes: str, report_dir: str) -> List[str]:
    """``--notes`` as the "Investigation notes" section, its relative links rebased onto the report's folder."""
    with open(notes, encoding='utf-8') as f:
        text = f.read().strip()
    return ['## Investigation notes', '', rebase_links(text, osp.dirname(osp.abspath(notes)), report_dir), '']


def wall_time_lines(args: argparse.Namespace, runs: List[Tuple[str, int]], timings: Dict[str, Any]) -> List[str]:
    """Training and test wall time of every run and stage, with the commit each was trained at."""
    lines = ['## Wall time', '', '| run | train (min) | test (s) | trained at commit |', '|---|---|---|---|']
    stage_names = [name for label, seed in runs for name in (f'evidence_pretrain_s{seed}',
                                                             f'evidence_{label}_teacher_s{seed}')]
    for row, name in [(f'{label} s{seed}', run_name(label, seed)) for label, seed in runs] + [
            (name[len('evidence_'):], name) for name in dict.fromkeys(stage_names)]:
        t = timings.get(name, {})
        if not t:
            continue
        lines.append(f'| {row} | {t.get("train_s", float("nan")) / 60:.1f} | '
                     f'{t.get("test_s", float("nan")):.0f} | {t.get("commit", "not recorded")} |')
    return lines + ['', f'Runs went {args.jobs} side by side with {args.threads} thread(s) each.']


def summary_json(args: argparse.Namespace, scores: ReportScores) -> Dict[str, Any]:
    """The JSON summary: contrasts and arm means of the main split, the command and the commit."""
    return {
        'format': 2,
        'split': scores.split,
        'commit': git_commit(),
        'command': shown_command(args),
        'iters': args.iters,
        'seeds_done': scores.done,
        'equivalence_margin_db': EQUIVALENCE_MARGIN,
        'contrasts': [s.as_dict() for s in scores.summaries],
        'extra_test_contrasts': [s.as_dict() for s in scores.extra_summaries],
        'arm_means': {
            label: {m: float(np.nanmean([scene_mean(per_seed[s], m) for s in per_seed])) for m in
                    next(iter(next(iter(per_seed.values())).values())).keys()}
            for label, per_seed in scores.main_scores.items() if per_seed
        },
    }


def write_report(args: argparse.Namespace, work: str, manifest: Dict[str, Any], extra: Optional[Dict[str, Any]],
                 runs: List[Tuple[str, int]], timings: Dict[str, Any],
                 earlier: Optional[Scores] = None) -> Tuple[str, str]:
    """The Markdown report, its PNGs, the JSON summary and the score archive, from the runs' logs and test CSVs
    and the ``earlier`` test scores (:func:`read_earlier_scores`; a run of ``runs`` that finished here wins)."""
    report, json_path = report_paths(args, work)
    report_dir = osp.dirname(osp.abspath(report))
    os.makedirs(report_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(report))[0]
    scores = collect_scores(args, work, runs, extra, earlier or OrderedDict())
    plots = write_curve_plots(work, runs, report_dir, stem)
    lines = header_lines(args) + ['## Setup', ''] + data_lines(args, manifest, extra)
    lines += recipe_lines(args, runs, scores.split) + results_lines(args, scores, timings)
    lines += region_lines(args, work, scores, report_dir, stem)
    if scores.split == 'test' and scores.test_scores:
        lines += compare_page_lines(work, scores.test_scores, stem)
    if any(label == 'oracle_teacher' for label, _ in runs):
        lines += oracle_check(scores.final_val)
    lines += extra_test_lines(extra, scores) + ['## Training curves', '']
    for title, name in plots:
        lines += [f'![{title}]({name})', '']
    if args.notes:
        lines += notes_lines(args.notes, report_dir)
    lines += wall_time_lines(args, runs, timings)
    with open(report, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    with open(json_path, 'w', encoding='utf-8') as f:
        json.dump(finite_json(summary_json(args, scores)), f, indent=1)
    if scores.test_scores:
        with open(osp.splitext(report)[0] + '_scores.json', 'w', encoding='utf-8') as f:
            json.dump(scores_to_json(scores.test_scores), f, indent=None, separators=(',', ':'))
            f.write('\n')
    return report, json_path


# ----------------------------------------------------------------------------------------------------------------
def add_shared_arguments(parser: argparse.ArgumentParser, work: str) -> Dict[str, Any]:
    """The arguments every evidence runner takes (v2 and ``research.run_evidence_v3``): folders, seeds, split, the
    recipe, the data recipe and how runs are run; ``work`` is the default ``--work``. Returns the argument groups
    (``recipe``, ``data``, ``running``) so that a runner adds its own options to them."""
    parser.add_argument('--hdr-dir', help='folder of real HDR photographs (.hdr/.exr) to simulate brackets from')
    parser.add_argument('--work', default=work, help='working folder (data, experiments, results)')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2], help='training seeds of every arm')
    parser.add_argument('--validation-only', action='store_true',
                        help='screening: train and report final validation metrics; never touches the test split')
    parser.add_argument('--earlier-scores', metavar='JSON',
                        help='test scores of runs whose folders are gone (the <report>_scores.json an earlier report '
                        'wrote, e.g. on another machine): they join the report; runs trained here win')
    parser.add_argument('--extra-test', metavar='DIR',
                        help='HDR photographs never trained or tuned on ("test on your own photographs"): brackets '
                        'with the test recipe, every arm\'s final checkpoint scored on them in a separate table')
    recipe = parser.add_argument_group('recipe')
    recipe.add_argument('--iters', type=int, default=2400, help='training iterations of every run')
    recipe.add_argument('--ema-decay', type=float, default=0.999, help='EMA of the ORM weights (0: off)')
    recipe.add_argument('--lr-schedule', choices=['cosine', 'step'], default='cosine',
                        help='cosine decay over --iters, or x0.5 at 75 %% (the first experiment)')
    recipe.add_argument('--eta-min', type=float, default=1e-6, help='final learning rate of the cosine decay')
    recipe.add_argument('--distill-scale', type=float, default=1.0,
                        help='multiplies the loss_weight of the distillation terms (content, colour, SKAM) of every '
                        'SKT arm: a screening knob (use a separate --work)')
    recipe.add_argument('--warmup-fraction', type=float, default=0.5, help='SKT warm-up as a share of --iters (joint)')
    recipe.add_argument('--num-val-points', type=int, default=8, help='validations per run')
    data = parser.add_argument_group('data')
    data.add_argument('--data-recipe', choices=['hard', 'v1'], default='hard',
                      help='hard: Kalantari EVs 0 2 4, bright references, strong noise, large motion, occluders; '
                      'v1: the first experiment\'s data')
    data.add_argument('--max-size', type=int, default=256, help='long side of the synthetic scenes')
    data.add_argument('--variants', type=int, default=2, help='synthetic captures per training photograph')
    data.add_argument('--eval-variants', type=int, default=4,
                      help='captures per validation / test / extra-test photograph (different motion and noise)')
    data.add_argument('--demo-scenes', type=int, nargs=3, default=[8, 4, 8], metavar=('TRAIN', 'VAL', 'TEST'),
                      help='generated scenes per split')
    data.add_argument('--val-fraction', type=float, default=0.2, help='share of photographs for validation')
    data.add_argument('--test-fraction', type=float, default=0.2, help='share of photographs for the test set')
    data.add_argument('--split-seed', type=int, default=0, help='seed of the split by source')
    data.add_argument('--data-seed', type=int, default=0, help='seed of the simulated captures')
    run = parser.add_argument_group('running')
    run.add_argument('--jobs', type=int, default=2, help='runs trained side by side')
    run.add_argument('--threads', type=int, default=max(1, (os.cpu_count() or 1) // 2),
                     help='intra-op threads per run (default: cores / 2, for --jobs 2)')
    run.add_argument('--device', choices=['cpu', 'cuda'], default='cpu', help='device of the runs (cuda: one GPU each)')
    run.add_argument('--notes', help='Markdown file appended as "Investigation notes" (what was tried)')
    return {'recipe': recipe, 'data': data, 'running': run}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--report', help='Markdown report (plots and the .json summary beside it); default '
                        'docs/evidence.md, or <work>/screen.md with --validation-only')
    parser.add_argument('--runs', nargs='+', choices=list(RUNS), default=list(DEFAULT_ARMS), help='arms to run')
    parser.add_argument('--grid', action='store_true', help='every arm of RUNS with the first seed')
    parser.add_argument('--extra', nargs='+', metavar='LABEL:SEED', help='further runs, e.g. no_skam:0')
    groups = add_shared_arguments(parser, 'evidence')
    groups['recipe'].add_argument(
        '--skt-mode', choices=['joint', 'staged'], default='joint',
        help='joint: ORM and teacher learn together for --iters; staged: the ORM alone for half of --iters, the '
        'teacher on it (frozen), then the ORM under the frozen teacher for the other half (arm finetune_control: the '
        'same without a teacher)')
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def planned_runs(args: argparse.Namespace) -> List[Tuple[str, int]]:
    """(label, seed) of every run, seed by seed: ``--grid``, or ``--runs`` x ``--seeds``, plus ``--extra``."""
    if args.grid:
        runs = [(label, args.seeds[0]) for label in RUNS]
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
    earlier = read_earlier_scores(args)
    work = osp.abspath(args.work)
    os.makedirs(osp.join(work, 'configs'), exist_ok=True)
    data_dir = osp.join(work, 'data')
    manifest = build_data(data_spec(args), data_dir)
    extra = None if args.validation_only or not args.extra_test else build_extra_test(
        data_spec(args), args.extra_test, osp.join(work, 'extra'), manifest)
    timings_path = osp.join(work, 'timings.json')
    timings = json.load(open(timings_path)) if osp.isfile(timings_path) else {}
    runs = planned_runs(args)
    if any(RUNS[label][1] is not None for label, _ in runs) and 'priors_s' not in timings:
        timings['priors_s'] = build_priors(data_dir)
    if any((RUNS[label][1] or {}).get('oracle') for label, _ in runs) and 'oracle_priors_s' not in timings:
        timings['oracle_priors_s'] = build_oracle_data(data_dir, osp.join(work, 'data_oracle'))
    lock = threading.Lock()

    def run(item: Tuple[str, int]) -> None:
        name = run_name(*item)
        run_timings: Dict[str, Any] = {name: dict(timings.get(name, {}))}
        one_run(item[0], item[1], work, data_dir, args, run_timings, extra)
        with lock:
            timings.update(run_timings)
            with open(timings_path, 'w') as f:
                json.dump(timings, f, indent=1)

    seeds = list(dict.fromkeys(seed for _, seed in runs))
    for seed in seeds:  # the report after every finished seed: an interruption loses at most the seed in progress
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for future in [pool.submit(run, item) for item in runs if item[1] == seed]:
                future.result()
        report, json_path = write_report(args, work, manifest, extra, [r for r in runs if r[1] in seeds[:seeds.index(
            seed) + 1]], timings, earlier)
        print(f'\n=== seed {seed} done; report: {report}, summary: {json_path}', flush=True)


if __name__ == '__main__':
    main()
