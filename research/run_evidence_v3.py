#!/usr/bin/env python
"""Evidence v3: SKT on unlabelled brackets (``docs/evidence_v3_plan.md``). Labels from the teacher, priors from the
inputs, paired over seeds against the ORM on the labelled part alone and against plain self-training.

    # screen (validation only; never touches the test split): report in <work>/screen.md
    python -m research.run_evidence_v3 --hdr-dir ../shared/data/hdr --work evidence_v3_screen --validation-only \\
        --runs baseline_l skt_u selftrain_u supervised_lu --seeds 0 --jobs 2 --threads 1
    # the pilot, then the seeds the plan's rule asks for: docs/evidence_v3.md, .json and _scores.json
    python -m research.run_evidence_v3 --hdr-dir ../shared/data/hdr --work evidence_v3 --seeds 0 1 2 --jobs 2 \\
        --threads 1

Per seed (every step resumable, reused when finished, refused when its configuration changed):

1. data (once): v2's data unchanged (:func:`research.evidence_data.build_data`), then the L / U split of its training
   photographs by photograph (``--label-seed``; :mod:`research.evidence_v3_data`); U's GT is withheld in a copy
   without ``HDRImg.hdr`` that the labeller reads. Priors from the inputs (``make_semantic_priors.py --source
   reference``, VGG16) of L and the validation scenes.
2. stage 0 ``evidence_pretrain_s<seed>``: the ORM on L alone, half of ``--iters``; shared by every arm of the seed.
   With ``--prior-source orm`` the teachers' priors are computed from that ORM's output instead, per seed, in a copy
   of L and the validation scenes (``<work>/priors_orm_s<seed>``, frames linked, not copied).
3. stage 1 teachers on the frozen stage-0 EMA ORM, trained on L: ``evidence_skt_u_teacher_s<seed>`` (SPGRM with the
   priors) and ``evidence_selftrain_u_teacher_s<seed>`` (the same network without priors).
4. labels: ``scripts/make_pseudo_labels.py`` over U with each teacher (``<work>/pseudo/<arm>_s<seed>``).
5. stage 2 ``evidence_<arm>_s<seed>`` from the stage-0 EMA ORM, half of ``--iters``: ``baseline_l`` (L alone),
   ``skt_u`` / ``selftrain_u`` (L + U labelled by that teacher, pixel loss on U weighted by λ_u × confidence,
   distillation from the same frozen teacher on U), ``supervised_lu`` (L + U with its real GT), optional ``skt_l``
   (v2's staged student on L under the semantic teacher).
6. test (EMA weights) on the test split (and ``--extra-test``); the report after every finished seed.
"""
import argparse
import copy
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import yaml

from research import run_evidence as v2
from research.evidence_data import EXTRA_FOLDER, SPLIT_FOLDERS, build_data, build_extra_test
from research.evidence_v3_data import LABELLED, SUPERVISED_U, UNLABELLED, LabelSplit, build_v3_data
from research.paths import REPO

#: arm -> what its stage 2 trains.
ARMS: 'OrderedDict[str, str]' = OrderedDict([
    ('baseline_l', 'the stage-0 ORM trained on L alone (the matched control: as long, no U)'),
    ('skt_u', 'L + U labelled by the semantic teacher (SPGRM, priors from the inputs), λ_u × confidence, '
     'distillation from that teacher on U'),
    ('selftrain_u', 'the same with a teacher without priors (plain self-training)'),
    ('supervised_lu', 'L + U with its real GT (the ceiling)'),
    ('skt_l', 'v2\'s staged student on L alone under the semantic teacher (continuity)'),
])
DEFAULT_ARMS = ('baseline_l', 'skt_u', 'selftrain_u', 'supervised_lu')
#: arm -> the teacher run it uses (its stage-1 run is ``evidence_<teacher>_teacher_s<seed>``).
TEACHERS = {'skt_u': 'skt_u', 'selftrain_u': 'selftrain_u', 'skt_l': 'skt_u'}
#: teacher -> the v2 arm whose SKT config it is (``no_semantics``: SPGRM without priors).
TEACHER_CONFIG = {'skt_u': 'skt', 'selftrain_u': 'no_semantics'}
#: The family (Holm), the primary first.
CONTRASTS = (('skt_u', 'baseline_l'), ('skt_u', 'selftrain_u'))
PRIMARY = 'skt_u - baseline_l'
COMMAND = 'python -m research.run_evidence_v3'


@dataclass(frozen=True)
class Paths:
    """The folders of one experiment (``--work``)."""
    work: str

    @property
    def data(self) -> str:  # v2's data: Training, Validation, Test
        return osp.join(self.work, 'data')

    @property
    def v3(self) -> str:  # Labelled, Unlabelled, UnlabelledGT, SupervisedU
        return osp.join(self.work, 'data_v3')

    def pseudo(self, arm: str, seed: int) -> str:
        return osp.join(self.work, 'pseudo', f'{arm}_s{seed}')

    def model(self, name: str, network: str, iters: int) -> str:
        return osp.join(self.work, 'experiments', name, 'models', f'{network}_{iters}.pth')


def half_iters(args: argparse.Namespace) -> int:
    return args.iters // 2


def teacher_name(teacher: str, seed: int) -> str:
    return f'evidence_{teacher}_teacher_s{seed}'


def pretrain_name(seed: int) -> str:
    return f'evidence_pretrain_s{seed}'


def prior_roots(seed: int, paths: Paths, args: argparse.Namespace) -> Tuple[str, str]:
    """(L, validation) folders whose priors the teacher arms read: the data's own (``--prior-source reference``) or
    the seed's copies with priors from the stage-0 ORM's output (``orm``)."""
    if args.prior_source == 'reference':
        return osp.join(paths.v3, LABELLED), osp.join(paths.data, SPLIT_FOLDERS['val'])
    base = osp.join(paths.work, f'priors_orm_s{seed}')
    return osp.join(base, LABELLED), osp.join(base, SPLIT_FOLDERS['val'])


# ------------------------------------------------------------------------------------------------------------ configs
def base_options(v2_arm: str, name: str, seed: int, paths: Paths, args: argparse.Namespace) -> Dict[str, Any]:
    """v2's config of ``v2_arm`` (recipe, validation, region metrics) for half of ``--iters``, trained on L."""
    opt = v2.train_options(v2_arm, seed, paths.data, v2.half_args(args))
    opt['name'] = name
    opt['datasets']['train']['dataroot'] = osp.join(paths.v3, LABELLED)
    return opt


def with_prior_roots(opt: Dict[str, Any], seed: int, paths: Paths, args: argparse.Namespace) -> Dict[str, Any]:
    """``opt`` reading L and the validation scenes from :func:`prior_roots` (a teacher arm's priors)."""
    labelled, val = prior_roots(seed, paths, args)
    opt['datasets']['train']['dataroot'] = labelled
    opt['datasets']['val']['dataroot'] = val
    return opt


def from_stage0(opt: Dict[str, Any], seed: int, paths: Paths, args: argparse.Namespace) -> Dict[str, Any]:
    """``opt`` starting from the stage-0 EMA ORM."""
    orm = paths.model(pretrain_name(seed), 'net_g', half_iters(args))
    opt['path'].update(pretrain_network_g=orm, param_key_g='params_ema', strict_load_g=True)
    return opt


def stage0_options(seed: int, paths: Paths, args: argparse.Namespace) -> Dict[str, Any]:
    """Stage 0: the ORM alone on L."""
    return base_options('baseline', pretrain_name(seed), seed, paths, args)


def teacher_options(teacher: str, seed: int, paths: Paths, args: argparse.Namespace) -> Dict[str, Any]:
    """Stage 1: the teacher on L on the frozen stage-0 EMA ORM (v2's staged teacher; priors from the inputs)."""
    unscaled = argparse.Namespace(**dict(vars(args), distill_scale=1.0))
    opt = with_prior_roots(from_stage0(base_options(TEACHER_CONFIG[teacher], teacher_name(teacher, seed), seed, paths,
                                                    unscaled), seed, paths, args), seed, paths, args)
    opt['skt']['mode'] = 'staged_teacher'
    opt['train'].update(ema_decay=0, ema_warmup=False)  # the ORM is frozen
    return opt


def pseudo_root(arm: str, seed: int, paths: Paths) -> Optional[str]:
    """The ``dataroot_pseudo`` of an arm (None: L alone)."""
    if arm == 'supervised_lu':
        return osp.join(paths.v3, SUPERVISED_U)
    return paths.pseudo(arm, seed) if arm in ('skt_u', 'selftrain_u') else None


def student_options(arm: str, seed: int, paths: Paths, args: argparse.Namespace) -> Dict[str, Any]:
    """Stage 2 of an arm: the stage-0 EMA ORM trained half of ``--iters`` more (the plan's §2 table)."""
    teacher = TEACHERS.get(arm)
    opt = from_stage0(base_options(TEACHER_CONFIG[teacher] if teacher else 'baseline', v2.run_name(arm, seed), seed,
                                   paths, args), seed, paths, args)
    if teacher:
        opt = with_prior_roots(opt, seed, paths, args)
        opt['skt'].update(mode='staged_student', distill_warmup_iter=0)
        opt['path'].update(pretrain_network_t=paths.model(teacher_name(teacher, seed), 'net_t', half_iters(args)),
                           param_key_t='params', strict_load_t=True)
    root = pseudo_root(arm, seed, paths)
    if root is None:
        return opt
    train = opt['datasets']['train']
    train.update(type='SemiSupervisedHDRDataset', dataroot_pseudo=root, io_backend_pseudo={'type': 'disk'})
    opt['train']['unlabeled_weight'] = 1.0 if arm == 'supervised_lu' else args.unlabeled_weight
    if teacher:  # the distillation terms on the unlabelled samples; SKAM only with --skam-unlabeled
        opt['skt']['distill_samples'] = 'unlabeled'
        if args.skam_unlabeled:
            opt['skt']['skam_samples'] = 'unlabeled'
        else:
            opt['skt'].pop('skam_opt', None)
    return opt


# ------------------------------------------------------------------------------------------------------------ running
def reuse_finished(name: str, config_text: str, record: str, finished: str, done: str, paths: Paths,
                   args: argparse.Namespace, timings: Dict[str, Any]) -> bool:
    """Hard-link the finished step ``name`` of ``--reuse-from`` into this ``--work`` when its recorded configuration
    (the training config, or the labels' command) equals ``config_text`` once the other folder's path reads as this
    one's: a screen cell shares stage 0 and the teachers it has in common with another cell instead of retraining them.

    Args:
        name: The step (run name, or ``labels_<arm>_s<seed>``).
        config_text: This step's configuration as this folder records it.
        record: The file (relative to ``--work``) that records the step's configuration (its YAML, or the labels'
            marker).
        finished: The step's output relative to ``--work`` (an experiment folder, or a labels folder).
        done: The file (relative to ``--work``) that exists once the step has finished.
        timings: This run's wall times; the other folder's entry of the step is copied into it.
    Returns:
        Whether this folder's step is the other's (taken over now or earlier); the caller reuses a step only when every
        step before it in the arm's chain is reused, so a step is never taken over on top of one trained here.
    """
    other = osp.abspath(args.reuse_from)
    if not osp.isfile(osp.join(other, done)):
        return False
    if osp.exists(osp.join(paths.work, finished)):
        mine = osp.join(paths.work, done)
        return osp.isfile(mine) and osp.samefile(mine, osp.join(other, done))
    with open(osp.join(other, record)) as f:
        if f.read().replace(other, paths.work) != config_text:
            return False
    shutil.copytree(osp.join(other, finished), osp.join(paths.work, finished), copy_function=os.link)
    if not osp.exists(osp.join(paths.work, done)):  # the labels' marker sits beside their folder
        os.link(osp.join(other, done), osp.join(paths.work, done))
    other_timings = osp.join(other, 'timings.json')
    if osp.isfile(other_timings):
        with open(other_timings) as f:
            recorded = json.load(f)
        if name in recorded:
            timings[name] = recorded[name]
    print(f'=== {name}: reused from {other}', flush=True)
    return True


_LOCKS: Dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def locked(name: str, step: Callable[[], None]) -> None:
    """Run ``step`` under the lock of ``name``: a step shared by the arms of a seed runs once."""
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(name, threading.Lock())
    with lock:
        step()


def build_priors(paths: Paths, args: argparse.Namespace) -> float:
    """VGG16 priors from the reference frame (``--source reference``) of L and the validation scenes."""
    start = time.time()
    for root in (osp.join(paths.v3, LABELLED), osp.join(paths.data, SPLIT_FOLDERS['val'])):
        v2.run_priors(root, 'vgg16', ['--source', 'reference'])
    return time.time() - start


def build_orm_priors(seed: int, paths: Paths, args: argparse.Namespace, timings: Dict[str, Any]) -> None:
    """``--prior-source orm``: VGG16 priors of L and the validation scenes from the stage-0 EMA ORM's output, in the
    seed's copies of those folders (frames linked); resumable (finished scenes are skipped)."""
    orm = stage0_options(seed, paths, args)['network_g']
    orm_opt = [f'{key}={yaml.safe_dump(value, default_flow_style=True).strip()}' for key, value in orm.items()
               if key != 'type']
    start = time.time()
    for source, target in zip((osp.join(paths.v3, LABELLED), osp.join(paths.data, SPLIT_FOLDERS['val'])),
                              prior_roots(seed, paths, args)):
        if not osp.isdir(target):
            shutil.copytree(source, target + '.partial', ignore=shutil.ignore_patterns('skb_*'), dirs_exist_ok=True,
                            copy_function=lambda src, dst: os.symlink(osp.abspath(src), dst))
            os.replace(target + '.partial', target)
        v2.run_priors(target, 'vgg16', ['--source', 'orm', '--orm-checkpoint',
                                        paths.model(pretrain_name(seed), 'net_g', half_iters(args)),
                                        '--orm-param-key', 'params_ema', '--orm-arch', orm['type'],
                                        '--orm-pad-multiple', '8', '--orm-opt', *orm_opt])
    timings.setdefault(f'priors_orm_s{seed}', time.time() - start)


def make_labels(arm: str, seed: int, paths: Paths, args: argparse.Namespace, timings: Dict[str, Any],
                chain: Dict[str, bool]) -> None:
    """U labelled by the arm's stage-1 teacher and the stage-0 EMA ORM (``scripts/make_pseudo_labels.py``; U's
    folder has no GT file); skipped when done; taken over from ``--reuse-from`` while ``chain['linked']``."""
    out, done = paths.pseudo(arm, seed), paths.pseudo(arm, seed) + '.done.json'
    name = teacher_name(TEACHERS[arm], seed)
    command = [sys.executable, osp.join(REPO, 'scripts', 'make_pseudo_labels.py'), osp.join(paths.v3, UNLABELLED),
               '-o', out, '--config', osp.join(paths.work, 'configs', f'{name}.yml'),
               '--orm-checkpoint', paths.model(pretrain_name(seed), 'net_g', half_iters(args)),
               '--teacher-checkpoint', paths.model(name, 'net_t', half_iters(args)),
               '--priors-like', prior_roots(seed, paths, args)[0], '--confidence', args.confidence,
               '--tau', str(args.tau), '--device', args.device]
    record = json.dumps({'command': command}, indent=1)
    if chain['linked']:
        marker = osp.relpath(done, paths.work)
        chain['linked'] = reuse_finished(f'labels_{arm}_s{seed}', record, marker, osp.relpath(out, paths.work),
                                         marker, paths, args, timings)
    if osp.isfile(done):
        return
    start = time.time()
    print(f'\n=== labels {arm} s{seed}', flush=True)
    subprocess.run(command, cwd=paths.work, check=True, env=v2.thread_env(args),
                   stdout=v2.log_file(paths.work, f'labels_{arm}_s{seed}', 'label'), stderr=subprocess.STDOUT)
    timings[f'labels_{arm}_s{seed}'] = {'label_s': time.time() - start, 'commit': v2.git_commit()}
    with open(done, 'w') as f:
        f.write(record)


def arm_steps(arm: str, seed: int, paths: Paths, args: argparse.Namespace,
              timings: Dict[str, Any]) -> List[Tuple[str, Callable[[], None]]]:
    """(name, step) of everything the arm's final run needs, in order."""
    half = half_iters(args)
    chain = {'linked': bool(args.reuse_from)}  # every step so far is --reuse-from's

    def train(opt: Dict[str, Any]) -> None:
        network = 'net_t' if opt.get('skt', {}).get('mode') == 'staged_teacher' else 'net_g'
        if chain['linked']:
            config = v2.dump_yaml(opt, osp.join(paths.work, 'configs', f'{opt["name"]}.yml.new'))
            with open(config) as f:
                chain['linked'] = reuse_finished(opt['name'], f.read(), osp.join('configs', f'{opt["name"]}.yml'),
                                                 osp.join('experiments', opt['name']),
                                                 osp.relpath(paths.model(opt['name'], network, half), paths.work),
                                                 paths, args, timings)
            os.remove(config)
        v2.train_run(opt['name'], opt, half, paths.work, args, timings)

    def trainer(opt: Dict[str, Any]) -> Tuple[str, Callable[[], None]]:
        return opt['name'], lambda: train(opt)

    def orm_priors() -> None:  # computed here: nothing after it is taken over
        build_orm_priors(seed, paths, args, timings)
        chain['linked'] = False

    steps = [trainer(stage0_options(seed, paths, args))]
    teacher = TEACHERS.get(arm)
    if teacher and args.prior_source == 'orm':
        steps.append((f'priors_orm_s{seed}', orm_priors))
    if teacher:
        steps.append(trainer(teacher_options(teacher, seed, paths, args)))
    if arm in ('skt_u', 'selftrain_u'):
        steps.append((f'labels_{arm}_s{seed}', lambda: make_labels(arm, seed, paths, args, timings, chain)))
    return steps + [trainer(student_options(arm, seed, paths, args))]


def test_arm(arm: str, seed: int, paths: Paths, datasets: Dict[str, str], args: argparse.Namespace,
             timings: Dict[str, Any]) -> None:
    """The final EMA weights of the arm's stage 2 on every folder of ``datasets``; skipped when tested."""
    name = v2.run_name(arm, seed)
    test_name = f'test_{name}'
    if all(osp.isfile(v2.results_csv(paths.work, test_name, dataset)) for dataset in datasets):
        return
    train_opt = student_options(arm, seed, paths, args)
    opt = v2.test_options(test_name, datasets, train_opt, paths.model(name, 'net_g', half_iters(args)), args)
    config = v2.dump_yaml(opt, osp.join(paths.work, 'configs', f'{test_name}.yml'))
    start = time.time()
    print(f'\n=== test {name} on {", ".join(datasets)}', flush=True)
    subprocess.run([sys.executable, '-m', 'basicsr_skt.test', '-opt', config], cwd=paths.work, check=True,
                   env=v2.thread_env(args), stdout=v2.log_file(paths.work, name, 'test'), stderr=subprocess.STDOUT)
    timings.setdefault(name, {})['test_s'] = time.time() - start


def one_arm(arm: str, seed: int, paths: Paths, args: argparse.Namespace, timings: Dict[str, Any],
            extra: Optional[Dict[str, Any]]) -> None:
    """Every step of one arm for one seed, then (unless ``--validation-only``) its tests."""
    for name, step in arm_steps(arm, seed, paths, args, timings):
        locked(name, step)
    if args.validation_only:
        return
    datasets = OrderedDict(evidence_test=osp.join(paths.data, SPLIT_FOLDERS['test']))
    if extra is not None:
        datasets['evidence_extra'] = osp.join(paths.work, 'extra', EXTRA_FOLDER)
    test_arm(arm, seed, paths, datasets, args, timings)


# ------------------------------------------------------------------------------------------------------------ CLI
def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--report', help='Markdown report (plots and the .json summary beside it); default '
                        'docs/evidence_v3.md, or <work>/screen.md with --validation-only')
    parser.add_argument('--runs', nargs='+', choices=list(ARMS), default=list(DEFAULT_ARMS), help='arms to run')
    groups = v2.add_shared_arguments(parser, 'evidence_v3')
    split = parser.add_argument_group('L / U split (docs/evidence_v3_plan.md §1)')
    defaults = LabelSplit()
    split.add_argument('--label-seed', type=int, default=defaults.label_seed, help='seed of the split by photograph')
    split.add_argument('--labelled-share', type=float, default=defaults.labelled_share,
                       help='share of the training photographs in L (rounded, at least 1)')
    split.add_argument('--labelled-demo', type=int, default=defaults.labelled_demo,
                       help='generated training scenes of v2 in L (the rest go to U)')
    split.add_argument('--unlabelled-variants', type=int, default=defaults.unlabelled_variants,
                       help='captures per U photograph')
    split.add_argument('--extra-unlabelled-demo', type=int, default=defaults.extra_unlabelled_demo,
                       help='new generated scenes in U')
    split.add_argument('--u-fraction', type=float, default=defaults.u_fraction,
                       help='share of U\'s sources used (the curve of the gain against |U|; use another --work)')
    recipe = groups['recipe']
    recipe.add_argument('--unlabeled-weight', type=float, default=1.0, help='λ_u of skt_u and selftrain_u')
    recipe.add_argument('--confidence', choices=['orm_agreement', 'prior_agreement', 'none'], default='none',
                        help='confidence map of the labels (scripts/make_pseudo_labels.py); the plan\'s screen B chose '
                        'none')
    recipe.add_argument('--tau', type=float, default=0.05, help='confidence scale in μ-law units')
    recipe.add_argument('--prior-source', choices=['reference', 'orm'], default='reference',
                        help='what the teachers\' priors are computed from: the reference frame, or the stage-0 ORM\'s '
                        'output (per seed); never the GT')
    parser.add_argument('--reuse-from', metavar='WORK', help='another --work of the same data: its finished stages '
                        'whose configuration equals this one\'s (paths aside) are linked, not rerun (screen cells)')
    recipe.add_argument('--skam-unlabeled', action='store_true', help='SKAM on the unlabelled samples too')
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if not 0 < args.u_fraction <= 1 or args.unlabeled_weight < 0 or args.tau <= 0 or args.iters < 2:
        parser.error('--u-fraction must be in (0, 1], --unlabeled-weight >= 0, --tau > 0 and --iters >= 2')
    return args


def label_split(args: argparse.Namespace) -> LabelSplit:
    return LabelSplit(label_seed=args.label_seed, labelled_share=args.labelled_share, labelled_demo=args.labelled_demo,
                      unlabelled_variants=args.unlabelled_variants, extra_unlabelled_demo=args.extra_unlabelled_demo,
                      u_fraction=args.u_fraction)


def timed(timings: Dict[str, Any], key: str, step: Callable[[], Any]) -> Any:
    """``step()``, its wall time recorded as ``timings[key]`` the first time it runs."""
    start = time.time()
    result = step()
    timings.setdefault(key, time.time() - start)
    return result


def main(argv: Optional[List[str]] = None) -> None:
    from research.evidence_v3_report import print_wall_times, write_report
    args = parse_args(argv)
    earlier = v2.read_earlier_scores(args)
    paths = Paths(osp.abspath(args.work))
    os.makedirs(osp.join(paths.work, 'configs'), exist_ok=True)
    timings_path = osp.join(paths.work, 'timings.json')
    timings = json.load(open(timings_path)) if osp.isfile(timings_path) else {}
    spec = v2.data_spec(args)
    manifest = timed(timings, 'data_v2_s', lambda: build_data(spec, paths.data))
    v3 = timed(timings, 'data_v3_s', lambda: build_v3_data(spec, manifest, paths.data, label_split(args), paths.v3))
    extra = None if args.validation_only or not args.extra_test else build_extra_test(
        spec, args.extra_test, osp.join(paths.work, 'extra'), manifest)
    if 'priors_s' not in timings:
        timings['priors_s'] = build_priors(paths, args)
    lock = threading.Lock()

    def run(arm: str, seed: int) -> None:
        with lock:
            before = copy.deepcopy(timings)
        local = copy.deepcopy(before)
        one_arm(arm, seed, paths, args, local, extra)
        with lock:  # only what this arm's steps recorded (another arm may have recorded more meanwhile)
            timings.update({k: v for k, v in local.items() if before.get(k) != v})
            with open(timings_path, 'w') as f:
                json.dump(timings, f, indent=1)

    runs: List[Tuple[str, int]] = []
    for seed in args.seeds:  # the report after every finished seed
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for future in [pool.submit(run, arm, seed) for arm in args.runs]:
                future.result()
        runs += [(arm, seed) for arm in args.runs]
        report, json_path = write_report(args, paths.work, manifest, v3, extra, runs, timings, earlier)
        print(f'\n=== seed {seed} done; report: {report}, summary: {json_path}', flush=True)
    print_wall_times(runs, timings)


if __name__ == '__main__':
    main()
