#!/usr/bin/env python
"""Training-step cost of SKT vs. the ORM alone, with the shipped SKT defaults, measured side by side (CPU).

Three models step alternately: the ORM alone (``HDRModel``), SKT ``joint`` (teacher trained in the same step) and the
SKT ``staged_student`` step (stage 2 of the staged recipe: the teacher frozen, forward only; stage 1, the teacher on
a frozen ORM, is a separate run of ``--iters`` teacher steps and is not timed here).

``--config demo`` takes ``network_g``, ``network_t``, ``skt``, crop and batch size from
options/demo/train_demo_skt_hdrtransformer.yml; ``--config official`` from options/train_skt_hdrtransformer.yml
(batch 2 of 128² crops by default, since the official batch of 16 does not fit a CPU budget). Synthetic batches with
priors of the teacher's embedding size. Both models use the same reconstruction loss (the config's ``pixel_opt``
only, so no VGG weights are needed) and step past the warm-up, so every distillation term is on.

How the numbers are made consistent:

* the two models are stepped alternately (fair under CPU frequency drift), after two warm-up steps each, with
  ``gc.collect()`` before every timed step (the same allocator state for both), and the **median** over ``--iters``
  steps is reported;
* the parts of the SKT step are measured *inside the real step* (``SKTModel.optimize_parameters``): each phase
  method is wrapped by an exclusive timer (time in nested phases is attributed to them, not to their caller), on
  alternate steps, so the parts of one step sum to that step's total by construction; the table checks that the
  median of the summed parts matches the median of the uninstrumented steps within ``--tolerance`` (default 10 %).
  (The first version timed the teacher and SKAM in a separate loop with gradients piling up and a mean of 3 steps,
  which is why its parts exceeded the measured difference.)

    python benchmarks/bench_train_step.py --config demo --threads 1 --iters 10 [--memory]
    python benchmarks/bench_train_step.py --config official --threads 1 --iters 4
"""
import argparse
import copy
import gc
import json
import os.path as osp
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict, defaultdict
from typing import Any, Dict, List

import torch

import basicsr_skt  # noqa: F401  isort:skip
from basicsr.archs import build_network
from basicsr.models import build_model
from basicsr_skt.utils.option_checks import load_options_yaml

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = {
    'demo': 'options/demo/train_demo_skt_hdrtransformer.yml',
    'official': 'options/train_skt_hdrtransformer.yml',
}
#: Methods of SKTModel timed as phases of one step, with their table labels (exclusive time).
SKT_PHASES = OrderedDict([
    ('optimize_parameters', 'bookkeeping (zero_grad, logging, EMA)'),
    ('forward_student', 'feature taps'),
    ('forward_teacher', 'teacher forward (SPGRM)'),
    ('update_teacher', 'teacher backward + step'),
    ('distillation_targets', 'distillation targets (EMA teacher)'),
    ('reconstruction_loss', 'reconstruction losses (ORM and teacher)'),
    ('distillation_terms', 'distillation terms forward (content, colour, SKAM loss)'),
    ('update_student', 'ORM backward (all terms) + step'),
    ('monitor', 'monitoring (gap, context share)'),
])


class PhaseTimer:
    """Exclusive wall time of wrapped callables, while ``enabled``: a nested call's time goes to the nested label."""

    def __init__(self) -> None:
        self.enabled = False
        self.seconds: Dict[str, float] = defaultdict(float)
        self._stack: List[float] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        """Replace ``owner.name`` (a bound method or a module's ``forward``) by a timed version on the instance."""
        function = getattr(owner, name)

        def timed(*args, **kwargs):
            if not self.enabled:
                return function(*args, **kwargs)
            self._stack.append(0.0)
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                nested = self._stack.pop()
                self.seconds[label] += elapsed - nested
                if self._stack:
                    self._stack[-1] += elapsed

        setattr(owner, name, timed)

    def take(self) -> Dict[str, float]:
        seconds, self.seconds = dict(self.seconds), defaultdict(float)
        return seconds


#: Rows of the table: model kind -> label.
KINDS = OrderedDict([('orm', 'ORM alone (HDRModel)'), ('skt', 'SKT joint (SKTModel)'),
                     ('student', 'SKT staged student (frozen teacher)')])


def options(config: Dict[str, Any], kind: str, root: str) -> Dict[str, Any]:
    """BasicSR options of one benchmarked model; ``student`` reads the random ORM and teacher :func:`build` saved."""
    opt = {
        'name': f'bench_{kind}',
        'model_type': 'HDRModel',
        'num_gpu': 0,
        'is_train': True,
        'dist': False,
        'rank': 0,
        'world_size': 1,
        'network_g': copy.deepcopy(config['network_g']),
        'path': {
            'models': root,
            'training_states': root
        },
        'train': {
            'optim_g': copy.deepcopy(config['train']['optim_g']),
            'scheduler': {
                'type': 'MultiStepLR',
                'milestones': [10**6],
                'gamma': 0.5
            },
            'pixel_opt': copy.deepcopy(config['train']['pixel_opt']),
            'total_iter': 10**7
        },
        'val': {}
    }
    if kind in ('skt', 'student'):
        skt = copy.deepcopy(config['skt'])
        skt['distill_warmup_iter'] = 0
        opt.update(model_type='SKTModel', network_t=copy.deepcopy(config['network_t']),
                   network_skam=copy.deepcopy(config['network_skam']), skt=skt)
    if kind == 'student':
        skt.pop('teacher_ema_decay', None)  # joint only
        skt['mode'] = 'staged_student'
        opt['path'].update(pretrain_network_g=osp.join(root, 'net_g_start.pth'),
                           pretrain_network_t=osp.join(root, 'net_t_frozen.pth'))
    return opt


def build(kind: str, config: Dict[str, Any], root: str):
    """The model of one row (for ``student``, first a random ORM and teacher saved in ``root`` to start from)."""
    if kind == 'student':
        for label, section in (('g_start', 'network_g'), ('t_frozen', 'network_t')):
            torch.save({'params': build_network(copy.deepcopy(config[section])).state_dict()},
                       osp.join(root, f'net_{label}.pth'))
    return build_model(options(config, kind, root))


def batch(batch_size: int, size: int, embed_channels: int) -> Dict[str, Any]:
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 12, (batch_size, size // 16, size // 16), generator=gen)
    return {
        'lq': torch.rand(batch_size, 3, 6, size, size, generator=gen),
        'gt': torch.rand(batch_size, 3, size, size, generator=gen),
        'skb_embedding': torch.randn(batch_size, embed_channels, size, size, generator=gen),
        'skb_labels': labels.repeat_interleave(16, 1).repeat_interleave(16, 2),
        'scene': ['a'] * batch_size
    }


def step_seconds(model, data, current_iter: int) -> float:
    model.feed_data(data)
    gc.collect()
    start = time.perf_counter()
    model.optimize_parameters(current_iter)
    return time.perf_counter() - start


def instrument(models: Dict[str, Any]) -> PhaseTimer:
    """Wrap the ORM forward in every model and every SKT phase; returns the (disabled) timer."""
    timer = PhaseTimer()
    for model in models.values():
        timer.wrap(model.get_bare_model(model.net_g), 'forward', 'ORM forward')
    for kind in ('skt', 'student'):
        skt = models[kind]
        for name, label in SKT_PHASES.items():
            timer.wrap(skt, name, label)
        if hasattr(skt, 'net_skam'):
            timer.wrap(skt.get_bare_model(skt.net_skam), 'forward', 'SKAM heads forward')
    return timer


def measure_memory(kind: str, config: Dict[str, Any], batch_size: int, size: int) -> None:
    """Child process: two steps of one model, then print its peak RSS in MiB as JSON (RSS peaks are process-wide)."""
    with tempfile.TemporaryDirectory() as root:
        model = build(kind, config, root)
        data = batch(batch_size, size, config['network_t']['embed_channels'])
        for it in range(1, 3):
            step_seconds(model, data, 10**6 + it)
    print(json.dumps({'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def peak_memory(kind: str, args) -> float:
    command = [sys.executable, __file__, '--memory-of', kind, '--config', args.config, '--threads', str(args.threads)]
    command += [f'--{name}={value}' for name, value in (('batch', args.batch), ('size', args.size)) if value]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])['peak_rss_mib']


def median(values: List[float]) -> float:
    return statistics.median(values) if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', choices=sorted(CONFIGS), default='demo', help='which shipped SKT config')
    parser.add_argument('--iters', type=int, default=10, help='timed steps per model and mode (after 2 warm-up steps)')
    parser.add_argument('--batch', type=int, default=None, help='default: demo config batch; official: 2')
    parser.add_argument('--size', type=int, default=None, help='crop size; default: demo gt_size; official: 128')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--tolerance', type=float, default=0.10, help='allowed |sum of parts - total| / total')
    parser.add_argument('--memory', action='store_true', help='also peak RSS per model (one child process each)')
    parser.add_argument('--memory-of', choices=list(KINDS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = load_options_yaml(osp.join(ROOT, CONFIGS[args.config]))
    train_data = config['datasets']['train']
    batch_size = args.batch or (train_data['batch_size_per_gpu'] if args.config == 'demo' else 2)
    size = args.size or (train_data['gt_size'] if args.config == 'demo' else 128)
    if args.memory_of:
        return measure_memory(args.memory_of, config, batch_size, size)

    # children first: a forked child starts with the parent's peak RSS, so the parent must still be small
    memory = {kind: peak_memory(kind, args) for kind in KINDS} if args.memory else {}
    with tempfile.TemporaryDirectory() as root:
        models = OrderedDict((kind, build(kind, config, root)) for kind in KINDS)
        data = batch(batch_size, size, config['network_t']['embed_channels'])
        timer = instrument(models)
        for it in range(2):  # warm-up (allocations, mask caches)
            for model in models.values():
                step_seconds(model, data, 10**6 + it)
        totals: Dict[str, List[float]] = {kind: [] for kind in models}
        parts: Dict[str, List[Dict[str, float]]] = {kind: [] for kind in models}
        for it in range(args.iters):
            for kind, model in models.items():
                totals[kind].append(step_seconds(model, data, 10**6 + 2 + 2 * it))
            for kind, model in models.items():
                timer.enabled = True
                total = step_seconds(model, data, 10**6 + 3 + 2 * it)
                timer.enabled = False
                measured = timer.take()
                measured['ORM backward + step' if kind == 'orm' else 'unattributed'] = total - sum(measured.values())
                parts[kind].append(measured)

    step = {kind: median(values) for kind, values in totals.items()}
    labels = ['ORM forward'] + list(SKT_PHASES.values()) + ['SKAM heads forward']
    table = OrderedDict()
    for kind in models:
        names = sorted({name
                        for step_parts in parts[kind]
                        for name in step_parts},
                       key=lambda n: (labels.index(n) if n in labels else len(labels), n))
        table[kind] = OrderedDict((name, median([p.get(name, 0.0) for p in parts[kind]])) for name in names)
    summed = {kind: median([sum(p.values()) for p in parts[kind]]) for kind in models}

    print(f'HDR-Transformer ({args.config} config) training step, batch {batch_size}, {size}² crops, CPU, '
          f'{args.threads} thread(s), median of {args.iters} alternating steps per model\n')
    print('| run | s / iteration | × ORM | sum of parts (instrumented steps) |'
          + (' peak RSS (MiB) | × ORM |' if memory else ''))
    print('|---|---|---|---|' + ('---|---|' if memory else ''))
    for kind, label in KINDS.items():
        rss = f' {memory[kind]:.0f} | {memory[kind] / memory["orm"]:.2f}× |' if memory else ''
        print(f'| {label} | {step[kind]:.3f} | **{step[kind] / step["orm"]:.2f}×** | {summed[kind]:.3f} |{rss}')
    print('\nParts of the SKT steps (exclusive, median per part; medians need not add up exactly):\n')
    print('| part | SKT joint s | staged student s | ORM s |')
    print('|---|---|---|---|')

    def cell(kind: str, name: str) -> str:
        seconds = table[kind].get(name)
        return '' if seconds is None else f'{seconds:.3f}'

    for name in table['skt']:
        print(f'| {name} | {cell("skt", name)} | {cell("student", name)} | {cell("orm", name)} |')
    print(f'| ORM backward + step (ORM run) | | | {cell("orm", "ORM backward + step")} |')
    consistent = True
    for kind in models:
        gap = abs(summed[kind] - step[kind]) / step[kind]
        consistent &= gap <= args.tolerance
        print(f'\n{kind}: |sum of parts - total| / total = {gap:.1%} (tolerance {args.tolerance:.0%})', end='')
    print()
    if not consistent:
        print('Parts and totals disagree beyond the tolerance: rerun with more --iters on an idle machine.')
        sys.exit(1)


if __name__ == '__main__':
    main()
