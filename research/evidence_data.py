"""The data of the evidence experiment (``research/run_evidence.py``): brackets simulated from HDR photographs, split by
source, plus generated scenes, with the share of hard pixels (saturated, near black, motion, missing) of every scene.

A :class:`EvidenceData` names the whole recipe; :func:`build_data` writes ``<data_dir>/{Training,Validation,Test}`` and
a ``manifest.json``, :func:`build_extra_test` the user's held-out photographs with the test recipe. Both are
deterministic (the same recipe gives the same files) and resumable: an existing manifest is read, not rebuilt.
"""
import json
import os
import os.path as osp
import re
import shutil
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from basicsr_skt.synthesis.demo_scenes import DemoScene, DemoSceneConfig, render_scene, scene_rng, write_scene
from basicsr_skt.synthesis.splits import SPLITS, check_disjoint, split_by_source
from basicsr_skt.synthesis.synthetic_brackets import (DARK_LEVEL, BracketConfig, bracket_rng, list_hdr_images,
                                                      missing_content, scene_shares, simulate_bracket, write_bracket)
from basicsr_skt.utils.hdr_io import read_hdr

#: Folder of each split inside the data folder (the layout of Kalantari's dataset).
SPLIT_FOLDERS = {'train': 'Training', 'val': 'Validation', 'test': 'Test'}
#: Folder of the ``--extra-test`` scenes inside ``<work>/extra``.
EXTRA_FOLDER = 'ExtraTest'
#: A scene simulated from a photograph: ``<photo>_v<capture>`` (:func:`capture_name`).
CAPTURE_NAME = re.compile(r'(?P<photo>.+)_v(?P<capture>\d+)')


@dataclass(frozen=True)
class EvidenceData:
    """The data recipe of one experiment.

    Attributes:
        hdr_dir: Folder of HDR photographs (.hdr / .exr) to simulate brackets from; None: generated scenes only.
        recipe: ``hard`` (Kalantari's EVs 0/2/4 relative to the shortest frame, bright references with 3-20 % of the
            pixels saturated, noise x1-8, large motion and occluders over clipped or dark regions) or ``v1`` (the
            first experiment: EVs -2/0/+2, dim references).
        max_size: Long side of the photograph scenes (px).
        variants: Captures per training photograph.
        eval_variants: Captures per validation, test and extra-test photograph (different motion and noise).
        demo_scenes: Generated scenes per split (train, val, test); each is its own source.
        val_fraction: Share of the photographs for validation.
        test_fraction: Share of the photographs for the test split.
        split_seed: Seed of the split by source.
        data_seed: Seed of the simulated captures.
    """
    hdr_dir: Optional[str] = None
    recipe: str = 'hard'
    max_size: int = 256
    variants: int = 2
    eval_variants: int = 4
    demo_scenes: Tuple[int, int, int] = (8, 4, 8)
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    split_seed: int = 0
    data_seed: int = 0

    def bracket_config(self) -> BracketConfig:
        """The capture recipe of every photograph scene (train, validation, test and extra test alike)."""
        if self.recipe == 'v1':
            return BracketConfig(max_size=self.max_size)
        return BracketConfig(evs=(0.0, 2.0, 4.0), max_size=self.max_size, ref_clipped_share=(0.03, 0.2),
                             noise_gain=(1.0, 8.0), max_shift=12.0, object_size=(0.15, 0.25),
                             object_speed=(12.0, 32.0), occluder='covering', object_motion='free')

    def demo_config(self) -> DemoSceneConfig:
        """Generated scenes: Kalantari's exposure convention with the hard recipe."""
        return DemoSceneConfig(evs=(0.0, 2.0, 4.0)) if self.recipe == 'hard' else DemoSceneConfig()

    def region_noise(self) -> Dict[str, float]:
        """Noise model of the region metrics' motion mask: the recipe's noise at its largest gain."""
        config = self.bracket_config()
        gain = config.noise_gain[1]
        return {'shot_noise': config.shot_noise * gain, 'read_noise': config.read_noise * gain}

    def demo_sources(self) -> 'OrderedDict[str, List[str]]':
        """Generated scene names per split."""
        return OrderedDict((split, [f'demo_{split}_{i:03d}' for i in range(count)])
                           for split, count in zip(SPLITS, self.demo_scenes))

    def capture(self, path: str, variant: int):
        """Capture ``variant`` of the photograph at ``path`` (a :class:`SyntheticBracket`; deterministic)."""
        stem = osp.splitext(osp.basename(path))[0]
        bracket = simulate_bracket(read_hdr(path), self.bracket_config(),
                                   bracket_rng(self.data_seed + 1000 * variant, stem))
        bracket.info.update(source=osp.basename(path), variant=variant)
        return bracket


def capture_name(photo: str, capture: int) -> str:
    """The scene name of capture ``capture`` simulated from photograph ``photo`` (file stem): ``<photo>_v<capture>``."""
    return f'{photo}_v{capture}'


def capture_source(scene: str) -> Optional[str]:
    """The photograph a :func:`capture_name` scene was simulated from; None for any other name (generated scenes)."""
    match = CAPTURE_NAME.fullmatch(scene)
    return match.group('photo') if match else None


def demo_shares(scene: DemoScene) -> Dict[str, float]:
    """The shares of :func:`scene_shares` for a generated scene (no occluder: nothing is missing by occlusion)."""
    ref = len(scene.evs) // 2
    times = [2.0**ev for ev in scene.evs]
    missing = missing_content(scene.gt, times, ref, None, [(0, 0)] * len(times))
    return {
        'saturated': float(np.mean(scene.frames[ref].max(axis=2) == 65535)),
        'dark': float(np.mean(scene.gt.max(axis=2) * times[ref] < DARK_LEVEL)),
        'motion': float(np.mean(scene.motion_mask)),
        'missing': float(np.mean(missing)),
        'missing_occluded': 0.0
    }


def read_manifest(folder: str) -> Optional[Dict[str, Any]]:
    """``folder/manifest.json`` if it exists (a finished build), else None."""
    path = osp.join(folder, 'manifest.json')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def finish(tmp_dir: str, folder: str, manifest: Dict[str, Any]) -> Dict[str, Any]:
    """Write the manifest into ``tmp_dir`` and move it to ``folder`` in one step (no half-built folder survives)."""
    with open(osp.join(tmp_dir, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp_dir, folder)
    return manifest


def build_data(spec: EvidenceData, data_dir: str) -> Dict[str, Any]:
    """Scenes in ``data_dir/{Training,Validation,Test}``.

    Returns:
        The manifest: sources and scenes per split, the hard-pixel shares per scene, and the recipe.

    Raises:
        ValueError: A split has no scene (fewer than 3 photographs and no generated scenes for it).
    """
    manifest = read_manifest(data_dir)
    if manifest is not None:
        return manifest
    tmp_dir = data_dir + '.partial'
    shutil.rmtree(tmp_dir, ignore_errors=True)
    photos = list_hdr_images(spec.hdr_dir) if spec.hdr_dir else []
    stems = [osp.splitext(osp.basename(p))[0] for p in photos]
    photo_splits = split_by_source(stems, spec.val_fraction, spec.test_fraction, spec.split_seed) if photos else {
        s: []
        for s in SPLITS
    }
    check_disjoint(photo_splits)
    scenes: 'OrderedDict[str, List[str]]' = OrderedDict((split, []) for split in SPLITS)
    shares: Dict[str, Dict[str, Dict[str, float]]] = {split: {} for split in SPLITS}
    from tqdm import tqdm
    jobs = [(split, stem, variant) for split in SPLITS for stem in photo_splits[split]
            for variant in range(spec.variants if split == 'train' else spec.eval_variants)]
    for split, stem, variant in tqdm(jobs, desc='synthetic scenes', unit='scene'):
        name = capture_name(stem, variant)
        bracket = spec.capture(photos[stems.index(stem)], variant)
        folder = osp.join(tmp_dir, SPLIT_FOLDERS[split], name)
        os.makedirs(folder)
        write_bracket(bracket, folder)
        scenes[split].append(name)
        shares[split][name] = scene_shares(bracket.info)
    demo_splits = spec.demo_sources()
    for stream, split in enumerate(SPLITS):
        for index, name in enumerate(demo_splits[split]):
            scene = render_scene(scene_rng(spec.data_seed, 10 + stream, index), spec.demo_config())
            write_scene(scene, osp.join(tmp_dir, SPLIT_FOLDERS[split], name))
            scenes[split].append(name)
            shares[split][name] = demo_shares(scene)
    empty = [split for split in SPLITS if not scenes[split]]
    if empty:
        raise ValueError(f'No scenes in split(s) {empty}: give --hdr-dir with at least 3 photographs or more '
                         '--demo-scenes')
    manifest = {
        'photo_sources': photo_splits,
        'demo_sources': demo_splits,
        'scenes': scenes,
        'shares': shares,
        'hdr_dir': spec.hdr_dir,
        'data_recipe': spec.recipe,
        'bracket_config': {k: (list(v) if isinstance(v, tuple) else v)
                           for k, v in spec.bracket_config().__dict__.items()},
        'max_size': spec.max_size,
        'variants': spec.variants,
        'eval_variants': spec.eval_variants,
        'data_seed': spec.data_seed,
        'split_seed': spec.split_seed
    }
    return finish(tmp_dir, data_dir, manifest)


def build_extra_test(spec: EvidenceData, extra_dir: str, root: str, manifest: Dict[str, Any]) -> Dict[str, Any]:
    """Brackets of the photographs in ``extra_dir`` with the test recipe, in ``root/ExtraTest``.

    Args:
        spec: The experiment's recipe (its ``eval_variants`` captures per photograph).
        extra_dir: The user's HDR photographs, never trained or tuned on.
        root: Output folder (``<work>/extra``); never inside ``extra_dir``.
        manifest: The experiment's manifest (:func:`build_data`), to refuse its own photographs.

    Returns:
        The extra-test manifest: folder, photographs, scenes and their hard-pixel shares.

    Raises:
        SystemExit: A photograph of ``extra_dir`` has the name of one of the experiment (it may have been trained on).
    """
    extra = read_manifest(root)
    if extra is not None:
        return extra
    photos = list_hdr_images(extra_dir)
    known = {s for split in manifest['photo_sources'].values() for s in split}
    clash = sorted({osp.splitext(osp.basename(p))[0] for p in photos} & known)
    if clash:
        raise SystemExit(f'--extra-test photographs {clash} are also in --hdr-dir: they are part of the experiment, '
                         'not held out')
    tmp = root + '.partial'
    shutil.rmtree(tmp, ignore_errors=True)
    scenes, shares = [], {}
    for path in photos:
        for variant in range(spec.eval_variants):
            name = capture_name(osp.splitext(osp.basename(path))[0], variant)
            bracket = spec.capture(path, variant)
            folder = osp.join(tmp, EXTRA_FOLDER, name)
            os.makedirs(folder)
            write_bracket(bracket, folder)
            scenes.append(name)
            shares[name] = scene_shares(bracket.info)
    extra = {'extra_dir': extra_dir, 'photographs': [osp.basename(p) for p in photos], 'scenes': scenes,
             'shares': shares}
    return finish(tmp, root, extra)
