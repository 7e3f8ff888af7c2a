#!/usr/bin/env python
"""HDR-Transformer inference with cached shifted-window masks (ours) vs. a mask rebuilt in every layer and forward.

The official port rebuilds the attention mask in each layer on every forward whenever the input size differs from
the constructor's ``img_size`` (i.e. at test time). Both variants run side by side in one process on the same
weights and inputs; the table reports mean seconds per forward and the ratio.

    python benchmarks/bench_mask_cache.py                 # full official configuration, 2 sizes
    python benchmarks/bench_mask_cache.py --sizes 256x384 --repeats 5
"""
import argparse
import time
from typing import List, Tuple

import torch

import basicsr_skt  # noqa: F401
from basicsr_skt.archs.hdr_transformer_arch import HDRTransformer, shifted_window_mask


class RebuildEveryCall:
    """Stand-in for the cache that builds the mask anew on every call (the official behaviour)."""

    def __init__(self):
        self.calls = 0

    def get(self, height, width, window_size, shift_size, device, dtype):
        self.calls += 1
        return shifted_window_mask(height, width, window_size, shift_size, device).to(dtype)


def set_mask_source(net: HDRTransformer, source) -> None:
    for module in net.modules():
        if hasattr(module, 'mask_cache') and module is not net:
            module.mask_cache = source


def time_interleaved(net: HDRTransformer, frames: List[torch.Tensor], sources: list, repeats: int) -> List[float]:
    """Mean seconds per forward of each mask source, alternating sources run by run (fair under CPU drift)."""
    totals = [0.0] * len(sources)
    with torch.no_grad():
        for source in sources:  # warm-up (fills the cache of the cached variant)
            set_mask_source(net, source)
            net(*frames)
        for _ in range(repeats):
            for i, source in enumerate(sources):
                set_mask_source(net, source)
                start = time.perf_counter()
                net(*frames)
                totals[i] += time.perf_counter() - start
    return [t / repeats for t in totals]


def parse_size(text: str) -> Tuple[int, int]:
    h, w = text.lower().split('x')
    return int(h), int(w)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', nargs='+', default=['128x192', '256x256'], help='input sizes HxW (multiples of 8)')
    parser.add_argument('--repeats', type=int, default=3, help='timed forwards per variant and size')
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = HDRTransformer().eval()
    print(f'HDR-Transformer, official configuration ({sum(p.numel() for p in net.parameters()):,} parameters), '
          f'CPU, {args.threads} threads, mean of {args.repeats} forwards\n')
    print('| input | cached masks (s) | rebuilt per layer (s) | masks built per forward | speed-up |')
    print('|---|---|---|---|---|')
    for size in args.sizes:
        h, w = parse_size(size)
        frames = [torch.rand(1, 6, h, w) for _ in range(3)]
        net.mask_cache.clear()
        rebuild = RebuildEveryCall()
        cached, rebuilt = time_interleaved(net, frames, [net.mask_cache, rebuild], args.repeats)
        with torch.no_grad():
            set_mask_source(net, net.mask_cache)
            out_cached = net(*frames)
            set_mask_source(net, rebuild)
            out_rebuilt = net(*frames)
        per_forward = rebuild.calls // (args.repeats + 2)
        assert torch.equal(out_cached, out_rebuilt), 'both variants must give identical outputs'
        print(f'| {h}x{w} | {cached:.3f} | {rebuilt:.3f} | {per_forward} vs 0 | {rebuilt / cached:.2f}x |')
    set_mask_source(net, net.mask_cache)


if __name__ == '__main__':
    main()
