"""The data of Evidence v3 (``research/run_evidence_v3.py``, ``docs/evidence_v3_plan.md`` §1): v2's training
photographs split **by photograph** into a labelled part L and an unlabelled part U whose GT is withheld.

On top of v2's data (:func:`research.evidence_data.build_data`, unchanged: the same validation and test scenes),
:func:`build_v3_data` writes ``<work>/data_v3``:

* ``Labelled/``: L's scenes (Kalantari layout, with GT): ``--variants`` captures of each L photograph and the first
  ``labelled_demo`` generated training scenes of v2.
* ``UnlabelledGT/``: U's scenes with their GT (kept for the ceiling arm only): ``unlabelled_variants`` captures of
  each U photograph (v2's captures, then more with the same recipe), v2's other generated training scenes and
  ``extra_unlabelled_demo`` new ones.
* ``Unlabelled/``: the same scenes with frames and ``exposure.txt`` only: what the pseudo-labeller reads. No
  ``HDRImg.hdr`` is there, so U's GT cannot reach a teacher's labels.
* ``SupervisedU/``: U's real GT in the pseudo-label layout (target ``PseudoHDR.hdr`` = the GT, confidence 1): the
  ``dataroot_pseudo`` of ``supervised_lu``, so that its config differs from ``skt_u`` in that root only.

``u_fraction`` < 1 keeps a seeded share of U's sources (photographs and generated scenes) for the curve of the gain
against the size of U. Deterministic and resumable: an existing ``data_v3/manifest.json`` with the same settings is
reused; other settings in the same folder stop the script.
"""
import glob
import math
import os
import os.path as osp
import shutil
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Tuple

import cv2
import numpy as np

from basicsr_skt.synthesis.demo_scenes import render_scene, scene_rng, write_scene
from basicsr_skt.synthesis.synthetic_brackets import list_hdr_images, write_bracket
from basicsr_skt.utils.pseudo_label_files import (CONFIDENCE_FILE, FORMAT_VERSION, MARKER_FILE, PSEUDO_GT_FILE,
                                                  write_confidence, write_json)
from research.evidence_data import SPLIT_FOLDERS, EvidenceData, capture_name, capture_source, finish, read_manifest

#: Folders of ``data_v3``.
LABELLED, UNLABELLED, UNLABELLED_GT, SUPERVISED_U = 'Labelled', 'Unlabelled', 'UnlabelledGT', 'SupervisedU'
GT_FILE = 'HDRImg.hdr'
#: The only files of an unlabelled scene that the labeller gets.
_UNLABELLED_FILES = ('input_*.tif', 'exposure.txt')


@dataclass(frozen=True)
class LabelSplit:
    """How v2's training photographs are split into L and U.

    Attributes:
        label_seed: Seed of the split by photograph (and of the ``u_fraction`` subset).
        labelled_share: Share of the training photographs in L (rounded; at least 1).
        labelled_demo: v2's generated training scenes that go to L (the first ones); the rest go to U.
        unlabelled_variants: Captures per U photograph.
        extra_unlabelled_demo: New generated scenes in U (beyond v2's).
        u_fraction: Share of U's sources kept, in (0, 1].
    """
    label_seed: int = 0
    labelled_share: float = 0.45
    labelled_demo: int = 4
    unlabelled_variants: int = 4
    extra_unlabelled_demo: int = 8
    u_fraction: float = 1.0


def split_photographs(stems: List[str], split: LabelSplit) -> Tuple[List[str], List[str]]:
    """(L, U) photograph stems: a seeded permutation, the first ``round(labelled_share · n)`` (at least 1) in L."""
    order = [stems[i] for i in np.random.default_rng(split.label_seed).permutation(len(stems))]
    count = min(len(stems), max(1, int(round(split.labelled_share * len(stems))))) if stems else 0
    return sorted(order[:count]), sorted(order[count:])


def keep_share(sources: List[str], split: LabelSplit) -> List[str]:
    """The ``u_fraction`` share of U's sources (seeded, at least 1 when there are any), in their order."""
    if split.u_fraction >= 1 or not sources:
        return list(sources)
    rng = np.random.default_rng(split.label_seed + 1)
    chosen = set(rng.permutation(sources)[:max(1, math.ceil(split.u_fraction * len(sources)))])
    return [s for s in sources if s in chosen]


def copy_scene(source: str, target: str) -> None:
    """A Kalantari-layout scene folder without priors (``skb_*``: the runner makes its own, from the inputs)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns('skb_*'))


def copy_without_gt(source: str, target: str) -> None:
    """The frames and ``exposure.txt`` of a scene, nothing else: the labeller's input (no GT file exists there)."""
    os.makedirs(target)
    for pattern in _UNLABELLED_FILES:
        for path in glob.glob(osp.join(glob.escape(source), pattern)):
            shutil.copy2(path, target)


def write_gt_as_pseudo_label(source: str, target: str) -> None:
    """A scene with GT in the pseudo-label layout: frames, ``exposure.txt``, the GT as ``PseudoHDR.hdr``, confidence
    1 everywhere and a marker saying the target is the real GT (the ceiling arm, ``supervised_lu``)."""
    copy_without_gt(source, target)
    shutil.copy2(osp.join(source, GT_FILE), osp.join(target, PSEUDO_GT_FILE))
    height, width = cv2.imread(osp.join(target, 'input_1.tif'), cv2.IMREAD_UNCHANGED).shape[:2]
    write_confidence(osp.join(target, CONFIDENCE_FILE), np.ones((height, width)))
    write_json(osp.join(target, MARKER_FILE), {'format': FORMAT_VERSION, 'scene': osp.basename(target),
                                               'target': 'real GT (supervised_lu, the ceiling)'})


def unlabelled_sources(spec: EvidenceData, manifest: Dict[str, Any], split: LabelSplit,
                       u_photos: List[str]) -> List[str]:
    """U's generated scenes: v2's training scenes after the first ``labelled_demo``, then the new ones."""
    demo = manifest['demo_sources']['train']
    extra = [f'demo_train_{len(demo) + i:03d}' for i in range(split.extra_unlabelled_demo)]
    return keep_share(u_photos + demo[split.labelled_demo:] + extra, split)


def write_u_scene(spec: EvidenceData, manifest: Dict[str, Any], data_dir: str, source: str, tmp: str) -> List[str]:
    """Every U scene of one source into ``tmp/UnlabelledGT``; returns their names."""
    train_dir = osp.join(data_dir, SPLIT_FOLDERS['train'])
    demo = manifest['demo_sources']['train']
    if source.startswith('demo_train_'):
        index = int(source.rsplit('_', 1)[1])
        target = osp.join(tmp, UNLABELLED_GT, source)
        if index < len(demo):
            copy_scene(osp.join(train_dir, source), target)
        else:  # a new generated scene: the training stream of build_data, continued
            write_scene(render_scene(scene_rng(spec.data_seed, 10, index), spec.demo_config()), target)
        return [source]
    photos = {osp.splitext(osp.basename(p))[0]: p for p in list_hdr_images(manifest['hdr_dir'])}
    names = []
    for variant in range(int(manifest['v3_split']['unlabelled_variants'])):
        name = capture_name(source, variant)
        target = osp.join(tmp, UNLABELLED_GT, name)
        if osp.isdir(osp.join(train_dir, name)):
            copy_scene(osp.join(train_dir, name), target)  # v2's capture
        else:
            write_bracket(spec.capture(photos[source], variant), target)
        names.append(name)
    return names


def build_v3_data(spec: EvidenceData, manifest: Dict[str, Any], data_dir: str, split: LabelSplit,
                  out_dir: str) -> Dict[str, Any]:
    """The L / U folders of ``out_dir`` (see the module docstring) from v2's data in ``data_dir``.

    Returns:
        The v3 manifest: the split settings, L's and U's photographs, sources and scenes.

    Raises:
        SystemExit: ``out_dir`` was built with other settings.
    """
    wanted = asdict(split)
    existing = read_manifest(out_dir)
    if existing is not None:
        if existing['v3_split'] != wanted:
            raise SystemExit(f'{out_dir} was built with {existing["v3_split"]}, not {wanted}: use another --work for '
                             'another L / U split')
        return existing
    tmp = out_dir + '.partial'
    shutil.rmtree(tmp, ignore_errors=True)
    l_photos, u_photos = split_photographs(list(manifest['photo_sources']['train']), split)
    train_dir = osp.join(data_dir, SPLIT_FOLDERS['train'])
    l_scenes = [s for s in manifest['scenes']['train'] if capture_source(s) in l_photos]
    l_scenes += manifest['demo_sources']['train'][:split.labelled_demo]
    for scene in l_scenes:
        copy_scene(osp.join(train_dir, scene), osp.join(tmp, LABELLED, scene))
    u_sources = unlabelled_sources(spec, manifest, split, u_photos)
    context = dict(manifest, v3_split=wanted)
    u_scenes = [name for source in u_sources for name in write_u_scene(spec, context, data_dir, source, tmp)]
    for scene in u_scenes:
        copy_without_gt(osp.join(tmp, UNLABELLED_GT, scene), osp.join(tmp, UNLABELLED, scene))
        write_gt_as_pseudo_label(osp.join(tmp, UNLABELLED_GT, scene), osp.join(tmp, SUPERVISED_U, scene))
    if not l_scenes or not u_scenes:
        raise SystemExit(f'L has {len(l_scenes)} and U {len(u_scenes)} scenes: both need some (more training '
                         'photographs, --demo-scenes, or another --labelled-share)')
    return finish(tmp, out_dir, {
        'v3_split': wanted,
        'labelled_photos': l_photos,
        'unlabelled_photos': [s for s in u_photos if s in u_sources],
        'unlabelled_sources': u_sources,
        'scenes': {'labelled': l_scenes, 'unlabelled': u_scenes},
    })
