#!/usr/bin/env python
"""Full-resolution inference of HDR-Transformer (official size): whole image vs overlapped tiles vs the official tiles.

Variants (each measured in its own subprocess, so that its peak RSS is its own):

* ``whole``: the whole image in one forward (the arch reflect-pads to the 8-pixel window); the reference output.
* ``tile<T>``: :func:`basicsr_skt.inference.run_orm` with ``tile=T`` (:func:`~basicsr_skt.utils.tiling.tiled_forward`),
  ``T x T`` tiles overlapping by ``--overlaps`` pixels, cross-faded (what ``val.tile`` / ``val.tile_overlap`` do in a
  test run).
* ``official256``: the official HDR-Transformer test code (``dataset/dataset_sig17.py``, ``Img_Dataset``): LDR frames
  padded with ones to ``(H // 256 + 1) x (W // 256 + 1)`` tiles of 256, non-overlapping tiles, output cropped.

Reported: median seconds per image (``--warmup`` untimed runs, then ``--repeats`` timed runs; CUDA synchronised),
peak RSS of the process (and peak CUDA memory on a GPU), PSNR-μ and max |Δ| of each output against the whole-image
output (how far tiling moves the prediction), and PSNR-μ against the ground truth of the generated scene (meaningful
only with ``--checkpoint``: without one the network is randomly initialised with ``--seed``).

    python benchmarks/bench_inference.py                       # 1000 x 1500 on CPU: ~15 GB RAM for `whole`
    python benchmarks/bench_inference.py --size 256 384        # quick
    python benchmarks/bench_inference.py --device cuda --warmup 10 --repeats 100   # SAFNet's timing protocol

The input is a generated demo scene (``basicsr_skt.synthesis.demo_scenes``) of the requested size, rendered once.
"""
import argparse
import json
import math
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

import basicsr_skt  # noqa: F401  isort:skip
from basicsr.archs import build_network
from basicsr_skt.inference.orm import forward_frames, run_orm
from basicsr_skt.inference.weights import load_weights
from basicsr_skt.metrics.hdr_metrics import calculate_psnr_mu
from basicsr_skt.synthesis.demo_scenes import DemoSceneConfig, render_scene, scene_rng
from basicsr_skt.utils.hdr_io import network_input
from basicsr_skt.utils.tiling import tile_starts

ORM = {'type': 'HDRTransformer'}  # official configuration, 1,222,113 parameters
WINDOW = 8
OFFICIAL_PATCH = 256
GAMMA = 2.2


# ----------------------------------------------------------------------------------------------------------------
# Input
# ----------------------------------------------------------------------------------------------------------------
def render_input(path: str, height: int, width: int, seed: int) -> None:
    """Render a demo scene of ``height x width`` and save LDR frames (N, H, W, 3) in [0, 1], EVs and GT (npz)."""
    scene = render_scene(scene_rng(seed, 0, 0), DemoSceneConfig(height=height, width=width))
    ldrs = np.stack([f.astype(np.float32) / 65535.0 for f in scene.frames])
    np.savez(path, ldrs=ldrs, evs=np.asarray(scene.evs, np.float32), gt=scene.gt)


def frames_tensor(ldrs: np.ndarray, evs: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) LDRs in [0, 1] -> (1, N, 6, H, W) frames ``concat(L ** 2.2 / t, L)``, t = 2 ** ev."""
    return torch.from_numpy(network_input(ldrs, 2.0**evs, GAMMA))[None]


# ----------------------------------------------------------------------------------------------------------------
# Variants
# ----------------------------------------------------------------------------------------------------------------
def official_tiles(net: torch.nn.Module, ldrs: np.ndarray, evs: np.ndarray, device: torch.device) -> torch.Tensor:
    """The official test scheme: pad the LDRs with ones to whole 256-tiles (always adding one), run the tiles
    without overlap, crop. Returns (1, 3, H, W)."""
    _, height, width, _ = ldrs.shape
    pad_h, pad_w = (height // OFFICIAL_PATCH + 1) * OFFICIAL_PATCH, (width // OFFICIAL_PATCH + 1) * OFFICIAL_PATCH
    padded = np.ones((ldrs.shape[0], pad_h, pad_w, 3), np.float32)
    padded[:, :height, :width] = ldrs
    frames = frames_tensor(padded, evs).to(device)
    output = torch.empty(1, 3, pad_h, pad_w, device=device)
    for top in range(0, pad_h, OFFICIAL_PATCH):
        for left in range(0, pad_w, OFFICIAL_PATCH):
            tile = frames[..., top:top + OFFICIAL_PATCH, left:left + OFFICIAL_PATCH]
            output[..., top:top + OFFICIAL_PATCH, left:left + OFFICIAL_PATCH] = forward_frames(net, tile)
    return output[..., :height, :width]


def num_tiles(variant: str, height: int, width: int, overlap: int) -> int:
    if variant == 'whole':
        return 1
    if variant == 'official256':
        return (height // OFFICIAL_PATCH + 1) * (width // OFFICIAL_PATCH + 1)
    tile = int(variant[len('tile'):])
    return len(tile_starts(height, tile, overlap, WINDOW)) * len(tile_starts(width, tile, overlap, WINDOW))


def run_variant(variant: str, net: torch.nn.Module, ldrs: np.ndarray, evs: np.ndarray, overlap: int,
                device: torch.device) -> torch.Tensor:
    """One full-image prediction (1, 3, H, W) with the given variant (input preparation included in the time)."""
    if variant == 'official256':
        return official_tiles(net, ldrs, evs, device)
    frames = frames_tensor(ldrs, evs).to(device)
    if variant == 'whole':
        return run_orm(net, frames)
    return run_orm(net, frames, WINDOW, int(variant[len('tile'):]), overlap)


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def worker(args: argparse.Namespace) -> None:
    """Child process: build the net, run warm-ups and timed repeats of one variant, save its output, print JSON."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    data = np.load(args.input)
    torch.manual_seed(args.seed)
    net = build_network(dict(ORM))
    if args.checkpoint:
        load_weights(net, args.checkpoint)  # params_ema, else params, else state_dict
    net = net.to(device).eval()
    seconds: List[float] = []
    with torch.no_grad():
        for index in range(args.warmup + args.repeats):
            synchronize(device)
            start = time.perf_counter()
            output = run_variant(args.worker, net, data['ldrs'], data['evs'], args.overlap, device)
            synchronize(device)
            if index >= args.warmup:
                seconds.append(time.perf_counter() - start)
    np.save(args.output, output[0].float().cpu().permute(1, 2, 0).numpy())
    result = {'seconds': seconds, 'peak_rss_gib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    if device.type == 'cuda':
        result['peak_cuda_gib'] = torch.cuda.max_memory_allocated(device) / 2**30
    print(json.dumps(result))


# ----------------------------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------------------------
def variants(args: argparse.Namespace) -> List[Dict[str, object]]:
    """(name, overlap) of every variant to measure, in table order."""
    rows = [{'variant': 'whole', 'overlap': 0}] if not args.skip_whole else []
    rows += [{'variant': f'tile{t}', 'overlap': o} for t, o in zip(args.tiles, args.overlaps)]
    if not args.skip_official:
        rows.append({'variant': 'official256', 'overlap': 0})
    return rows


def measure(row: Dict[str, object], args: argparse.Namespace, input_path: str, root: str) -> Dict[str, object]:
    """Run one variant in a subprocess; returns its JSON result plus the output path."""
    output = osp.join(root, f'{row["variant"]}.npy')
    cmd = [
        sys.executable, __file__, '--worker',
        str(row['variant']), '--input', input_path, '--output', output, '--overlap',
        str(row['overlap']), '--threads',
        str(args.threads), '--device', args.device, '--warmup',
        str(args.warmup), '--repeats',
        str(args.repeats), '--seed',
        str(args.seed)
    ] + (['--checkpoint', args.checkpoint] if args.checkpoint else [])
    print(f'... {row["variant"]}', file=sys.stderr, flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f'{row["variant"]} failed (exit {done.returncode}):\n{done.stderr[-3000:]}')
    return dict(row, output=output, **json.loads(done.stdout.strip().splitlines()[-1]))


def psnr_text(value: float) -> str:
    return 'identical' if math.isinf(value) else f'{value:.2f}'


def table(results: Sequence[Dict[str, object]], gt: np.ndarray, args: argparse.Namespace) -> str:
    height, width = gt.shape[:2]
    reference = np.load(results[0]['output']) if results[0]['variant'] == 'whole' else None
    gpu = args.device != 'cpu'
    header = ['variant', 'tiles', 'overlap', 's / image (median)', 'peak RSS (GiB)'
              ] + (['peak CUDA (GiB)'] if gpu else [])
    header += ['PSNR-μ vs whole (dB)', 'max abs Δ vs whole', 'PSNR-μ vs GT (dB)']
    lines = ['| ' + ' | '.join(header) + ' |', '|---' * len(header) + '|']
    for row in results:
        pred = np.load(row['output'])
        cells = [
            str(row['variant']),
            str(num_tiles(str(row['variant']), height, width, int(row['overlap']))),
            str(row['overlap']), f'{statistics.median(row["seconds"]):.2f}', f'{row["peak_rss_gib"]:.2f}'
        ]
        cells += [f'{row["peak_cuda_gib"]:.2f}'] if gpu else []
        if reference is None:
            cells += ['-', '-']
        else:
            cells += [psnr_text(calculate_psnr_mu(pred, reference)), f'{float(np.abs(pred - reference).max()):.2e}']
        cells.append(f'{calculate_psnr_mu(pred, gt):.2f}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--size', type=int, nargs=2, default=(1000, 1500), metavar=('H', 'W'), help='image size')
    parser.add_argument('--tiles', type=int, nargs='+', default=[256, 512], help='tile sizes of the tiled variants')
    parser.add_argument('--overlaps', type=int, nargs='+', default=[32, 64], help='overlap of each tile size')
    parser.add_argument('--skip-whole', action='store_true', help='no whole-image run (needs ~15 GB RAM at full size)')
    parser.add_argument('--skip-official', action='store_true', help='no official 256-tile run')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda' ('cuda:1', ...)")
    parser.add_argument('--threads', type=int, default=torch.get_num_threads(), help='torch CPU threads')
    parser.add_argument('--warmup', type=int, default=0, help='untimed runs first (SAFNet: 10 on GPU)')
    parser.add_argument('--repeats', type=int, default=1, help='timed runs; the median is reported (SAFNet: 100)')
    parser.add_argument('--seed', type=int, default=0, help='network init (without --checkpoint) and scene seed')
    parser.add_argument('--checkpoint', default=None, help='ORM weights (BasicSR or official checkpoint)')
    parser.add_argument('--out', default=None, help='also write the table to this Markdown file')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    parser.add_argument('--input', help=argparse.SUPPRESS)
    parser.add_argument('--output', help=argparse.SUPPRESS)
    parser.add_argument('--overlap', type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if len(args.tiles) != len(args.overlaps):
        parser.error('--tiles and --overlaps need the same number of values')
    if args.repeats < 1 or args.warmup < 0:
        parser.error('--repeats must be >= 1 and --warmup >= 0')
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    height, width = args.size
    with tempfile.TemporaryDirectory() as root:
        input_path = osp.join(root, 'input.npz')
        render_input(input_path, height, width, args.seed)
        results = [measure(row, args, input_path, root) for row in variants(args)]
        text = table(results, np.load(input_path)['gt'], args)
    weights = args.checkpoint or f'random init (seed {args.seed})'
    title = (f'HDR-Transformer (official size), {height} x {width}, {args.device}, {args.threads} threads, '
             f'{args.warmup} warm-up + {args.repeats} timed run(s), weights: {weights}')
    print(f'{title}\n\n{text}')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(f'{title}\n\n{text}\n')


if __name__ == '__main__':
    main()
