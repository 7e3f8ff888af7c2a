#!/usr/bin/env python
"""Size and opening time of the comparison page (``scripts/compare_results.py --html``) for large scenes.

One generated demo scene of ``--size`` (default 1000 x 1500, Kalantari's test size) is the GT (with its sensor-free,
partly flat content); ``--runs`` fake runs are the GT blurred (σ 0.7, 1.4, ... px) with 1 % multiplicative noise (a
network's prediction is smooth but not exact; the noise makes the sizes an upper estimate). The page is written
``--repeats`` times into a temporary folder and opened in headless Chromium each time; reported: seconds to write the
page, the bytes of the page and of the scene's data file (what every further scene adds: a page of 24 such scenes is
about the page + 24 x that), and the opening time: from the navigation until the first scene is decoded and every panel
drawn (wall clock on the Python side, and the page's own ``SKT.timings.firstSceneMs`` from its script's start).

    python benchmarks/bench_compare_page.py                     # ~1 min on 2 busy CPU cores
    python benchmarks/bench_compare_page.py --size 256 384 --runs 2
"""
import argparse
import csv
import os
import os.path as osp
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from basicsr_skt.reporting.browser import HeadlessChromium, find_chromium
from basicsr_skt.reporting.compare_page import write_compare_page
from basicsr_skt.synthesis.demo_scenes import KALANTARI_EVS, DemoSceneConfig, render_scene, scene_rng, write_scene
from basicsr_skt.utils.hdr_io import write_hdr


def make_runs(root: str, height: int, width: int, runs: int) -> list:
    """A GT scene folder and ``runs`` fake test results folders predicting it with noise."""
    scene = render_scene(scene_rng(0, 9, 0), DemoSceneConfig(height=height, width=width, evs=KALANTARI_EVS))
    write_scene(scene, osp.join(root, 'data', 'big_scene'))
    rng = np.random.default_rng(0)
    folders = []
    for index in range(runs):
        name = f'run{index}'
        vis = osp.join(root, name, 'visualization', 'bench')
        os.makedirs(vis)
        noise = 1 + 0.01 * rng.standard_normal(scene.gt.shape).astype(np.float32)
        blurred = cv2.GaussianBlur(scene.gt, (0, 0), 0.7 * (index + 1))
        write_hdr(osp.join(vis, f'big_scene_{name}.hdr'), np.maximum(blurred * noise, 0))
        with open(osp.join(root, name, 'bench_metrics.csv'), 'w', newline='') as f:
            csv.writer(f).writerows([['scene', 'psnr_mu'], ['big_scene', 30 + index]])
        folders.append(osp.join(root, name))
    return folders


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--size', type=int, nargs=2, default=[1000, 1500], metavar=('H', 'W'))
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args(argv)
    if find_chromium() is None:
        sys.exit('No chromium binary: apt-get install chromium')
    with tempfile.TemporaryDirectory() as root:
        runs = make_runs(root, *args.size, args.runs)
        write_s, open_s, page_ms, parts = [], [], [], []
        with HeadlessChromium(width=1400, height=1000, timeout=60) as browser:
            for repeat in range(args.repeats):
                out = osp.join(root, 'pages', f'page{repeat}.html')
                start = time.perf_counter()
                page = write_compare_page(runs, out, gt_root=osp.join(root, 'data'))
                write_s.append(time.perf_counter() - start)
                start = time.perf_counter()
                browser.open(Path(out).as_uri(), ready='SKT.ready')
                open_s.append(time.perf_counter() - start)
                page_ms.append(browser.evaluate('SKT.timings.firstSceneMs'))
                parts.append(browser.evaluate('SKT.timings.big_scene'))
        html_bytes = osp.getsize(out)
        scene_bytes = osp.getsize(osp.join(page['files'], 'scene_000.js'))
    height, width = args.size
    print(f'{height} x {width} scene, {args.runs} runs + GT, {args.repeats} repeats (median):')
    print(f'  write page: {statistics.median(write_s):.2f} s')
    print(f'  page {html_bytes / 1e3:.0f} kB + scene data {scene_bytes / 1e6:.1f} MB '
          f'(24 such scenes: {(html_bytes + 24 * scene_bytes) / 1e6:.0f} MB on disk, one scene loaded at a time)')
    print(f'  open in headless Chromium until every panel is drawn: {statistics.median(open_s):.2f} s wall '
          f'(page script: {statistics.median(page_ms) / 1e3:.2f} s); all: {[round(s, 2) for s in open_s]}')
    for key in ('loadMs', 'decodeMs', 'drawMs'):
        print(f'    {key[:-2]:<7} {statistics.median(p[key] for p in parts) / 1e3:.2f} s '
              '(load: the data script; decode: '
              'base64, zlib, row filter, error maps; draw: tone mapping and panels)' if key == 'loadMs' else
              f'    {key[:-2]:<7} {statistics.median(p[key] for p in parts) / 1e3:.2f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
