#!/usr/bin/env python
"""How good are the pseudo-labels? Each label set of an Evidence v3 seed against the ground truth that the labeller
never saw (``data_v3/UnlabelledGT``, kept for the record), and the label sets against each other.

    python -m research.label_quality --gt evidence_v3/data_v3/UnlabelledGT \
        --labels skt_u=evidence_v3/pseudo/skt_u_s6 selftrain_u=evidence_v3/pseudo/selftrain_u_s6 \
        orm=evidence_v3/orm_u_s6 --json label_quality_s6.json

A label folder holds ``<scene>/PseudoHDR.hdr`` (``scripts/make_pseudo_labels.py``), ``<scene>/HDRImg.hdr`` or
``<scene>.hdr`` (``scripts/inference.py``, e.g. the stage-0 ORM's own results: the point the labels start from).
Prints, per label set, the mean PSNR-μ against the GT over all scenes, the photographs' captures and the generated
scenes, and each set's mean difference to the first; then the mean PSNR-μ between every two sets (how far apart the
labels are). A diagnostic read after training: nothing in it feeds a run.
"""
import argparse
import itertools
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np

from basicsr_skt.metrics.hdr_metrics import calculate_psnr_mu
from basicsr_skt.utils.errors import UserInputError, run_cli
from basicsr_skt.utils.hdr_io import read_hdr
from research.evidence_data import capture_source

GT_FILE = 'HDRImg.hdr'
LABEL_FILES = ('PseudoHDR.hdr', GT_FILE)


def gt_scenes(gt_root: str) -> List[str]:
    """The scene folders of ``gt_root`` that hold ``HDRImg.hdr``, sorted.

    Raises:
        UserInputError: ``gt_root`` is not a folder or has no such scene.
    """
    if not osp.isdir(gt_root):
        raise UserInputError(f'--gt {gt_root}: not a folder; give the scenes with ground truth (data_v3/UnlabelledGT)')
    scenes = sorted(s for s in os.listdir(gt_root) if osp.isfile(osp.join(gt_root, s, GT_FILE)))
    if not scenes:
        raise UserInputError(f'--gt {gt_root}: no <scene>/{GT_FILE} in it; give the scenes with ground truth')
    return scenes


def result_path(root: str, scene: str) -> str:
    """The HDR result of ``scene`` in the label folder ``root`` (see the module docstring for the layouts).

    Raises:
        UserInputError: none of the layouts holds the scene.
    """
    candidates = [osp.join(root, scene, name) for name in LABEL_FILES] + [osp.join(root, f'{scene}.hdr')]
    for path in candidates:
        if osp.isfile(path):
            return path
    raise UserInputError(f'{root}: no result for scene {scene} (looked for {", ".join(candidates)}); label every '
                         'scene of --gt into each folder')


def label_scores(gt_root: str, label_roots: Dict[str, str], mu: float = 5000.0) -> Dict[str, Dict[str, float]]:
    """Per-scene PSNR-μ of every label set against the GT, and of every two sets against each other.

    Args:
        gt_root: Scene folders with ``HDRImg.hdr`` (linear HDR).
        label_roots: Name -> label folder, in the order to report.
        mu: μ of the tone mapping.

    Returns:
        ``{name: {scene: dB}}`` for each set, plus ``{'a ~ b': {scene: dB}}`` for every pair (symmetric).

    Raises:
        UserInputError: a folder misses a scene, or a result's shape differs from its GT.
    """
    scores: Dict[str, Dict[str, float]] = {}
    pairs = list(itertools.combinations(label_roots, 2))
    for scene in gt_scenes(gt_root):
        gt = read_hdr(osp.join(gt_root, scene, GT_FILE))
        results = {}
        for name, root in label_roots.items():
            path = result_path(root, scene)
            results[name] = read_hdr(path)
            if results[name].shape != gt.shape:
                raise UserInputError(f'{path}: shape {results[name].shape} differs from its GT {gt.shape}')
            scores.setdefault(name, {})[scene] = calculate_psnr_mu(results[name], gt, mu=mu)
        for a, b in pairs:
            scores.setdefault(f'{a} ~ {b}', {})[scene] = calculate_psnr_mu(results[a], results[b], mu=mu)
    return scores


def group_means(per_scene: Dict[str, float]) -> Dict[str, float]:
    """Mean over all scenes, over the photographs' captures (``<photo>_v<k>``) and over the other (generated) ones;
    NaN for an empty group."""
    groups = {'all': list(per_scene), 'photographs': [s for s in per_scene if capture_source(s)],
              'generated': [s for s in per_scene if not capture_source(s)]}
    return {g: float(np.mean([per_scene[s] for s in scenes])) if scenes else float('nan')
            for g, scenes in groups.items()}


def quality_table(scores: Dict[str, Dict[str, float]], names: Sequence[str]) -> str:
    """Markdown: each label set's group means against the GT and its mean difference to the first set (with the
    number of scenes where it is higher), then each pair's agreement."""
    first = scores[names[0]]
    lines = ['| labels | scenes | PSNR-μ vs GT | photographs | generated | Δ vs ' + names[0] + ' | scenes higher |',
             '|---|---|---|---|---|---|---|']
    for name in names:
        means = group_means(scores[name])
        diffs = [scores[name][s] - first[s] for s in first]
        higher = sum(d > 0 for d in diffs)
        lines.append(f'| {name} | {len(diffs)} | {means["all"]:.3f} | {means["photographs"]:.3f} | '
                     f'{means["generated"]:.3f} | {np.mean(diffs):+.3f} | {higher} |')
    pair_lines = [f'| {pair} | {group_means(scores[pair])["all"]:.3f} |' for pair in scores if ' ~ ' in pair]
    if pair_lines:
        lines += ['', '| label sets | PSNR-μ between them |', '|---|---|'] + pair_lines
    return '\n'.join(lines)


def parse_labels(items: Sequence[str]) -> Dict[str, str]:
    """``NAME=DIR`` items -> ordered ``{name: dir}``.

    Raises:
        UserInputError: an item is not ``NAME=DIR``, a name repeats, or a folder is missing.
    """
    roots: Dict[str, str] = {}
    for item in items:
        name, sep, root = item.partition('=')
        if not sep or not name or not root or ' ~ ' in name:
            raise UserInputError(f'--labels {item!r}: write NAME=FOLDER, e.g. skt_u=evidence_v3/pseudo/skt_u_s6')
        if name in roots:
            raise UserInputError(f'--labels: the name {name!r} is given twice')
        if not osp.isdir(root):
            raise UserInputError(f'--labels {item}: {root} is not a folder')
        roots[name] = root
    return roots


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--gt', required=True, help='scene folders with HDRImg.hdr (data_v3/UnlabelledGT)')
    parser.add_argument('--labels', nargs='+', required=True, metavar='NAME=DIR', help='label folders to score')
    parser.add_argument('--mu', type=float, default=5000.0, help='μ of the tone mapping')
    parser.add_argument('--json', help='write the per-scene scores and the table here')
    args = parser.parse_args(argv)
    roots = parse_labels(args.labels)
    scores = label_scores(args.gt, roots, args.mu)
    table = quality_table(scores, list(roots))
    print(table)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'gt': args.gt, 'labels': roots, 'mu': args.mu, 'scores': scores, 'table': table}, f, indent=1)
    return 0


if __name__ == '__main__':
    raise SystemExit(run_cli(main))
