#!/usr/bin/env python
"""Training-step cost of SKT (joint) vs. the ORM alone, HDR-Transformer at the official size, measured side by side.

Batch 2 of 128 x 128 crops (synthetic data with SAM-sized priors: 256-channel embedding, label map), CPU. The two
models are stepped alternately in one process (fair under CPU frequency drift); peak memory (max RSS) is measured in
a separate process per model, since RSS peaks are process-wide. Also times the teacher and SKAM parts alone.

    python benchmarks/bench_train_step.py               # ~3 minutes on 2 cores
    python benchmarks/bench_train_step.py --iters 5 --size 64
"""
import argparse
import copy
import json
import resource
import subprocess
import sys
import tempfile
import time
from typing import Dict

import torch

import basicsr_skt  # noqa: F401  isort:skip
from basicsr.models import build_model

ORM = {'type': 'HDRTransformer'}  # official configuration, 1,222,113 parameters
SPGRM = {'type': 'SPGRM', 'embed_channels': 256}
SKT = {
    'mode': 'joint',
    'orm_tap': 'conv_after_body',
    'skam': {
        'type': 'SKAM',
        'orm_channels': 60,
        'teacher_channels': 64
    },
    'warmup_iter': 0,
    'content_opt': {
        'type': 'ContentDistillLoss',
        'loss_weight': 0.5
    },
    'colour_opt': {
        'type': 'ColourDistillLoss',
        'loss_weight': 0.1
    },
    'skam_opt': {
        'type': 'SKAMLoss',
        'loss_weight': 0.1
    }
}


def options(kind: str, root: str) -> Dict:
    opt = {
        'name': f'bench_{kind}',
        'model_type': 'HDRModel',
        'num_gpu': 0,
        'is_train': True,
        'dist': False,
        'rank': 0,
        'world_size': 1,
        'network_g': dict(ORM),
        'path': {
            'models': root,
            'training_states': root
        },
        'train': {
            'optim_g': {
                'type': 'Adam',
                'lr': 2e-4
            },
            'scheduler': {
                'type': 'MultiStepLR',
                'milestones': [10**6],
                'gamma': 0.5
            },
            'pixel_opt': {
                'type': 'MuLawL1Loss',
                'loss_weight': 1.0
            },
            'total_iter': 1000
        },
        'val': {}
    }
    if kind == 'skt':
        opt.update(model_type='SKTModel', network_t=dict(SPGRM), skt=copy.deepcopy(SKT))
    return opt


def batch(batch_size: int, size: int) -> Dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 12, (batch_size, size // 16, size // 16), generator=gen)
    return {
        'lq': torch.rand(batch_size, 3, 6, size, size, generator=gen),
        'gt': torch.rand(batch_size, 3, size, size, generator=gen),
        'skb_embedding': torch.randn(batch_size, 256, size, size, generator=gen),
        'skb_labels': labels.repeat_interleave(16, 1).repeat_interleave(16, 2),
        'scene': ['a'] * batch_size
    }


def step_seconds(model, data, current_iter: int) -> float:
    model.feed_data(data)
    start = time.perf_counter()
    model.optimize_parameters(current_iter)
    return time.perf_counter() - start


def part_seconds(model, data, repeats: int) -> Dict[str, float]:
    """Forward + backward of the teacher (SPGRM) and of SKAM alone, on the same batch."""
    model.feed_data(data)
    output, orm_features = (t.detach() for t in model.forward_student())  # SKAM's own backward only
    times = {'teacher (SPGRM fwd+bwd)': 0.0, 'SKAM heads (fwd+bwd)': 0.0}
    for _ in range(repeats):
        start = time.perf_counter()
        teacher_out, teacher_features = model.forward_teacher(output)
        model.reconstruction_loss(teacher_out, model.gt)[0].backward()
        times['teacher (SPGRM fwd+bwd)'] += time.perf_counter() - start
        start = time.perf_counter()
        mask = model.skam_mask(10**6, teacher_features)
        model.distill_losses['l_skam'](model.net_skam(orm_features, teacher_features.detach(), mask)).backward()
        times['SKAM heads (fwd+bwd)'] += time.perf_counter() - start
    return {k: v / repeats for k, v in times.items()}


def measure_memory(kind: str, args) -> None:
    """Child process: a few steps of one model, then print its peak RSS in MiB as JSON."""
    with tempfile.TemporaryDirectory() as root:
        model = build_model(options(kind, root))
        data = batch(args.batch, args.size)
        for it in range(1, 3):
            step_seconds(model, data, 10**6 + it)
    print(json.dumps({'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=3, help='timed steps per model (after one warm-up step)')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--size', type=int, default=128, help='crop size')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--memory-of', choices=['orm', 'skt'], help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.memory_of:
        return measure_memory(args.memory_of, args)

    with tempfile.TemporaryDirectory() as root:
        models = {kind: build_model(options(kind, root)) for kind in ('orm', 'skt')}
        data = batch(args.batch, args.size)
        for kind, model in models.items():  # warm-up (allocations, mask caches)
            step_seconds(model, data, 10**6)
        totals = {kind: 0.0 for kind in models}
        for it in range(args.iters):
            for kind, model in models.items():
                totals[kind] += step_seconds(model, data, 10**6 + it + 1)  # past warm-up: every term is on
        parts = part_seconds(models['skt'], data, max(args.iters // 2, 1))
    per_step = {kind: total / args.iters for kind, total in totals.items()}
    memory = {}
    for kind in ('orm', 'skt'):
        command = [sys.executable, __file__, '--memory-of', kind, '--batch', str(args.batch), '--size', str(args.size)]
        out = subprocess.run(command + ['--threads', str(args.threads)], capture_output=True, text=True, check=True)
        memory[kind] = json.loads(out.stdout.strip().splitlines()[-1])['peak_rss_mib']

    print(f'HDR-Transformer (official size) training step, batch {args.batch}, {args.size}² crops, CPU, '
          f'{args.threads} threads, mean of {args.iters} alternating steps\n')
    print('| run | s / iteration | peak RSS (MiB) |')
    print('|---|---|---|')
    print(f'| ORM alone (HDRModel) | {per_step["orm"]:.2f} | {memory["orm"]:.0f} |')
    print(f'| SKT joint (SKTModel) | {per_step["skt"]:.2f} | {memory["skt"]:.0f} |')
    print(f'| **ratio SKT / ORM** | **{per_step["skt"] / per_step["orm"]:.2f}×** | '
          f'**{memory["skt"] / memory["orm"]:.2f}×** |')
    print('\nWhere the extra time goes (measured alone on the same batch):\n')
    print('| part | s |')
    print('|---|---|')
    for part, seconds in parts.items():
        print(f'| {part} | {seconds:.2f} |')


if __name__ == '__main__':
    main()
