#!/usr/bin/env python
"""Training-sample throughput of three ways to feed 128 x 128 multi-exposure crops, batch 16, to a network.

(a) official: the HDR-Transformer recipe — every training crop pre-cut into its own folder (three 16-bit TIFFs,
    ``exposure.txt``, ``label.hdr``) and decoded per sample;
(b) folder: ``HDRMultiExposureDataset`` on the full scenes (``io_backend: disk``, decoded images cached per worker);
(c) lmdb: ``HDRMultiExposureDataset`` on the LMDB of the same scenes (``io_backend: lmdb``, only the crop is read).

Each sample gets the full preprocessing (``concat(L ** 2.2 / t, L)`` per frame, tensors) and samples are collated
into batches by a ``DataLoader`` with 0 and 2 workers. Source: demo scenes at Kalantari size (1500 x 1000). Every
configuration runs in its own process (fair peak-RSS numbers) with one torch thread; the first batches (worker
start, caches) are not timed; files are read from a warm page cache (they were just written). Prints one Markdown
table, plus where the time goes per sample in one process.

    python benchmarks/bench_dataloader.py                       # 8 scenes, ~2 minutes on 2 cores
    python benchmarks/bench_dataloader.py --scenes 6 --min-seconds 2 --keep bench_data
    python benchmarks/bench_dataloader.py --tune-malloc         # glibc heap kept between batches (see --help)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from os import path as osp
from typing import Dict, List, Optional

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler
from torch.utils.data._utils.collate import default_collate

from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
from basicsr_skt.data.lmdb_pack import pack_lmdb
from basicsr_skt.data.scene_reader import FolderSceneReader
from basicsr_skt.synthesis.demo_scenes import DemoSceneConfig, make_demo_dataset
from basicsr_skt.utils.hdr_io import write_hdr
import basicsr_skt  # noqa: F401

METHODS = ('official', 'folder', 'lmdb')
GAMMA = 2.2


class OfficialCropDataset(Dataset):
    """One pre-cut crop folder per sample, decoded and preprocessed per sample with the operations of the official
    HDR-Transformer loader: ``np.loadtxt`` exposures, ``cv2.imread`` of each TIFF divided by 2 ** 16 (float64),
    ``L ** 2.2 / (t + 1e-8)``, concatenation, float32 channels-first tensors. (The official code reads the label with
    imageio's FreeImage plug-in, which is not installed here; OpenCV's RGBE reader is used instead.)"""

    def __init__(self, root: str):
        self.folders = sorted(osp.join(root, name) for name in os.listdir(root))

    def __len__(self) -> int:
        return len(self.folders)

    def __getitem__(self, index: int) -> Dict[str, object]:
        folder = self.folders[index]
        times = np.power(2, np.loadtxt(osp.join(folder, 'exposure.txt')))
        inputs = []
        for i, t in enumerate(times):
            ldr = np.float32(cv2.imread(osp.join(folder, f'{i}.tif'), cv2.IMREAD_UNCHANGED) / 2**16)
            linear = ldr**GAMMA / (t + 1e-8)
            inputs.append(np.concatenate([linear, ldr], axis=2).astype(np.float32).transpose(2, 0, 1))
        label = cv2.imread(osp.join(folder, 'label.hdr'), cv2.IMREAD_UNCHANGED)
        return {
            'lq': torch.from_numpy(np.stack(inputs)),
            'gt': torch.from_numpy(label.astype(np.float32).transpose(2, 0, 1).copy())
        }


# ------------------------------------------------------------------------------------------------------ data
def folder_size(path: str) -> int:
    return sum(osp.getsize(osp.join(root, name)) for root, _, names in os.walk(path) for name in names)


def write_official_crops(scene_dir: str, out_dir: str, crop: int, stride: int) -> int:
    """Pre-cut every ``crop`` window at ``stride`` of every scene into its own folder; returns the number of crops."""
    reader = FolderSceneReader(scene_dir, cache_images=False)
    count = 0
    for scene in reader.scene_names():
        record = reader.index_scene(scene)
        frames = [reader.read_full(scene, f'lq_{i}') for i in range(len(record.lq_paths))]
        gt = reader.read_full(scene, 'gt')
        evs = np.log2(record.exposures)
        height, width = gt.shape[:2]
        for top in range(0, height - crop + 1, stride):
            for left in range(0, width - crop + 1, stride):
                folder = osp.join(out_dir, f'{scene}_{top:04d}_{left:04d}')
                os.makedirs(folder)
                for i, frame in enumerate(frames):  # OpenCV's default TIFF settings, as the official crop script
                    cv2.imwrite(
                        osp.join(folder, f'{i}.tif'), np.ascontiguousarray(frame[top:top + crop, left:left + crop]))
                with open(osp.join(folder, 'exposure.txt'), 'w') as f:
                    f.write(''.join(f'{ev:g}\n' for ev in evs))
                write_hdr(osp.join(folder, 'label.hdr'), gt[top:top + crop, left:left + crop])
                count += 1
    return count


def prepare(data_dir: str, num_scenes: int, crop: int, stride: int) -> Dict[str, object]:
    """Scenes, their LMDB and the pre-cut crops under ``data_dir`` (reused when already there)."""
    scenes = osp.join(data_dir, 'scenes')
    timings = {}
    if not osp.isdir(osp.join(scenes, 'Training')):
        start = time.perf_counter()
        make_demo_dataset(
            scenes,
            num_train=num_scenes,
            num_val=0,
            config=DemoSceneConfig(height=1000, width=1500),
            seed=0,
            progress=True)
        timings['generate_s'] = time.perf_counter() - start
    db_path = osp.join(data_dir, 'Training.lmdb')
    if not osp.isdir(db_path):
        start = time.perf_counter()
        pack_lmdb(FolderSceneReader(osp.join(scenes, 'Training'), cache_images=False), db_path, progress=True)
        timings['pack_lmdb_s'] = time.perf_counter() - start
    crops = osp.join(data_dir, f'official_crops_{crop}_stride{stride}')
    if not osp.isdir(crops):
        start = time.perf_counter()
        write_official_crops(osp.join(scenes, 'Training'), crops + '.partial', crop, stride)
        os.rename(crops + '.partial', crops)
        timings['write_crops_s'] = time.perf_counter() - start
    num_crops = len(os.listdir(crops))
    sizes = {
        'official': folder_size(crops),
        'folder': folder_size(osp.join(scenes, 'Training')),
        'lmdb': folder_size(db_path)
    }
    return {
        'scenes': osp.join(scenes, 'Training'),
        'lmdb': db_path,
        'crops': crops,
        'num_crops': num_crops,
        'sizes': sizes,
        'timings': timings
    }


def build_dataset(method: str, paths: Dict[str, object], crop: int) -> Dataset:
    if method == 'official':
        return OfficialCropDataset(paths['crops'])
    root, backend = (paths['scenes'], 'disk') if method == 'folder' else (paths['lmdb'], 'lmdb')
    return HDRMultiExposureDataset({
        'phase': 'train',
        'dataroot': root,
        'gt_size': crop,
        'io_backend': {
            'type': backend
        }
    })


# ------------------------------------------------------------------------------------------------------ timing
def memory_mb(pid: str = 'self') -> Dict[str, float]:
    """``{'peak': VmHWM, 'private': RssAnon}`` of a live process in MB (VmHWM counts the pages of a memory-mapped
    LMDB that the process touched; RssAnon is its own memory: caches, arrays)."""
    values = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            name, _, rest = line.partition(':')
            if name in ('VmHWM', 'RssAnon'):
                values['peak' if name == 'VmHWM' else 'private'] = int(rest.split()[0]) / 1024
    return values


def run_child(method: str, workers: int, paths: Dict[str, object], args: argparse.Namespace) -> Dict[str, float]:
    """Samples per second of one configuration in this process (after warm-up batches)."""
    torch.manual_seed(0)
    dataset = build_dataset(method, paths, args.crop)
    total = args.batch * (args.warmup + args.max_batches)
    loader = DataLoader(
        dataset,
        batch_size=args.batch,
        num_workers=workers,
        sampler=RandomSampler(dataset, replacement=True, num_samples=total))
    start = time.perf_counter()
    iterator = iter(loader)
    for _ in range(args.warmup):
        next(iterator)
    warmup_s = time.perf_counter() - start
    start, batches = time.perf_counter(), 0
    while batches < args.min_batches or (time.perf_counter() - start < args.min_seconds and batches < args.max_batches):
        batch = next(iterator)
        assert batch['lq'].shape == (args.batch, 3, 6, args.crop, args.crop)
        batches += 1
    elapsed = time.perf_counter() - start
    workers_memory = [memory_mb(str(w.pid))
                      for w in getattr(iterator, '_workers', [])]  # private attribute: report only
    main_memory = memory_mb()
    return {
        'samples_per_s': batches * args.batch / elapsed,
        'warmup_s': warmup_s,
        'rss_main_mb': main_memory['peak'],
        'private_main_mb': main_memory['private'],
        'rss_worker_mb': max((m['peak'] for m in workers_memory), default=0.0),
        'private_worker_mb': max((m['private'] for m in workers_memory), default=0.0),
    }


def collate_into_shared_memory(items: List[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """What ``default_collate`` does inside a worker: stack into freshly allocated shared memory."""
    out = {}
    for key in ('lq', 'gt'):
        elems = [item[key] for item in items]
        storage = elems[0]._typed_storage()._new_shared(len(elems) * elems[0].numel(), device=elems[0].device)
        batch = elems[0].new(storage).resize_(len(elems), *elems[0].shape)
        out[key] = torch.stack(elems, out=batch)
    return out


def stage_times(paths: Dict[str, object], args: argparse.Namespace, samples: int = 320) -> Dict[str, Dict[str, float]]:
    """Microseconds per sample of reading, preprocessing and collation, in this process (caches warm)."""
    import random

    out = {}
    official = OfficialCropDataset(paths['crops'])
    start = time.perf_counter()
    for _ in range(samples):
        official[random.randrange(len(official))]
    out['(a) official'] = {'decode 4 files + preprocess': (time.perf_counter() - start) / samples * 1e6}
    for method in ('folder', 'lmdb'):
        dataset = build_dataset(method, paths, args.crop)
        for index in range(len(dataset)):
            dataset[index]  # fill the folder cache / map the records
        start = time.perf_counter()
        for _ in range(samples):
            dataset.read_training_crop(dataset.scenes[random.randrange(len(dataset))])
        read = time.perf_counter() - start
        start = time.perf_counter()
        items = [dataset[random.randrange(len(dataset))] for _ in range(samples)]
        whole = time.perf_counter() - start
        label = '(b) folder' if method == 'folder' else '(c) lmdb'
        out[label] = {'read crop': read / samples * 1e6, 'preprocess': (whole - read) / samples * 1e6}
    batches = [items[first:first + args.batch] for first in range(0, samples - args.batch + 1, args.batch)]
    timings = {}
    for name, collate in (('in the main process', default_collate), ('in a worker (shared memory)',
                                                                     collate_into_shared_memory)):
        start = time.perf_counter()
        for batch in batches:
            collate(batch)
        timings[name] = (time.perf_counter() - start) / (len(batches) * args.batch) * 1e6
    out['batch of 16'] = timings
    return out


# ------------------------------------------------------------------------------------------------------ report
def _main_worker(result: Dict[str, object], kind: str) -> str:
    worker = f'{result[kind + "_worker_mb"]:.0f}' if result['workers'] else '-'
    return f'{result[kind + "_main_mb"]:.0f} / {worker}'


def markdown_table(results: List[Dict[str, object]], sizes: Dict[str, int], num_crops: int, stride: int,
                   crop: int) -> str:
    base = {r['workers']: r['samples_per_s'] for r in results if r['method'] == 'official'}
    names = {
        'official': '(a) official: pre-cut crop folders',
        'folder': '(b) ours, folder backend',
        'lmdb': '(c) ours, LMDB backend'
    }
    lines = [
        '| method | workers | samples/s | vs (a) | per worker | first batches (s) | peak RSS main / worker (MB) | '
        'private main / worker (MB) | on disk (MB) |', '|---|---|---|---|---|---|---|---|---|'
    ]
    for r in results:
        per_worker = r['samples_per_s'] / max(1, r['workers'])
        memory = [_main_worker(r, kind) for kind in ('rss', 'private')]
        lines.append(f'| {names[r["method"]]} | {r["workers"]} | {r["samples_per_s"]:.0f} | '
                     f'{r["samples_per_s"] / base[r["workers"]]:.1f}x | {per_worker:.0f} | {r["warmup_s"]:.1f} | '
                     f'{memory[0]} | {memory[1]} | {sizes[r["method"]] / 2**20:.0f} |')
    per_crop = sizes['official'] / num_crops
    lines.append('')
    lines.append(f'(a) holds {num_crops} crops of {crop}² at stride {stride} ({per_crop / 1024:.0f} KB each); the '
                 f'official stride 64 on Kalantari (22,792 crops) takes {22792 * per_crop / 2**30:.1f} GB. "first '
                 f'batches": the untimed warm-up (worker start; (b) decodes and caches every scene in every worker).')
    return '\n'.join(lines)


def child_env(args: argparse.Namespace) -> Dict[str, str]:
    """Environment of the timed processes; ``--tune-malloc`` stops glibc from trimming (and re-faulting) the heap."""
    env = dict(os.environ)
    if args.tune_malloc:
        env.update(MALLOC_TRIM_THRESHOLD_=str(256 << 20), MALLOC_MMAP_THRESHOLD_=str(32 << 20))
    return env


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--scenes', type=int, default=8, help='generated 1500 x 1000 scenes')
    parser.add_argument('--crop', type=int, default=128, help='training crop size')
    parser.add_argument('--batch', type=int, default=16, help='batch size')
    parser.add_argument('--workers', type=int, nargs='+', default=[0, 2], help='DataLoader worker counts')
    parser.add_argument('--crop-stride', type=int, default=128, help='stride of the pre-cut crops of (a)')
    parser.add_argument('--warmup', type=int, default=40, help='untimed batches first (worker start, caches)')
    parser.add_argument('--min-batches', type=int, default=10, help='timed batches at least')
    parser.add_argument('--max-batches', type=int, default=400, help='timed batches at most')
    parser.add_argument('--min-seconds', type=float, default=4.0, help='time each configuration at least this long')
    parser.add_argument(
        '--tune-malloc',
        action='store_true',
        help='run the timed processes with MALLOC_TRIM_THRESHOLD_=256 MiB and MALLOC_MMAP_THRESHOLD_=32 MiB: glibc '
        'then keeps the heap between batches instead of returning it and faulting ~22 MB per batch back in')
    parser.add_argument('--keep', help='data folder to create or reuse (default: a temporary folder, removed)')
    parser.add_argument('--child', nargs=2, metavar=('METHOD', 'WORKERS'), help=argparse.SUPPRESS)
    parser.add_argument('--paths', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    # On this kind of 2-core machine torch's intra-op threads make torch.stack (the collation) ~25x slower; the
    # loader's own work is single-threaded (workers run with one thread anyway).
    torch.set_num_threads(1)
    if args.child:
        print(json.dumps(run_child(args.child[0], int(args.child[1]), json.loads(args.paths), args)))
        return
    with tempfile.TemporaryDirectory(prefix='bench_dataloader_') as tmp:
        data_dir = args.keep or tmp
        paths = prepare(data_dir, args.scenes, args.crop, args.crop_stride)
        print(f'data: {paths["timings"]}', flush=True)
        results = []
        for method in METHODS:
            for workers in args.workers:
                command = [
                    sys.executable,
                    osp.abspath(__file__), '--child', method,
                    str(workers), '--paths',
                    json.dumps(paths)
                ] + [a for a in (argv if argv is not None else sys.argv[1:])]
                output = subprocess.run(command, check=True, capture_output=True, text=True, env=child_env(args)).stdout
                result = json.loads(output.strip().splitlines()[-1])
                results.append({'method': method, 'workers': workers, **result})
                print(f'{method}, {workers} workers: {result["samples_per_s"]:.0f} samples/s', flush=True)
        print()
        print(markdown_table(results, paths['sizes'], paths['num_crops'], args.crop_stride, args.crop))
        print()
        print('Where the time goes (µs per sample, one process, caches warm):')
        for method, stages in stage_times(paths, args).items():
            print(f'  {method}: ' + ', '.join(f'{name} {value:.0f}' for name, value in stages.items()))


if __name__ == '__main__':
    main()
