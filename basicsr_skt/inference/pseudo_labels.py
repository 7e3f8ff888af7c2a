"""Pseudo labels for unlabelled brackets: a trained ORM and its trained SKT teacher label brackets without ground
truth (``scripts/make_pseudo_labels.py`` is the command line; this module is the logic).

Per scene (a Kalantari-layout folder whose ``HDRImg.hdr``, if any, is never opened, or camera JPEG / TIFF frames with
EXIF exposure times, read exactly as ``scripts/inference.py`` reads them:
:func:`~basicsr_skt.inference.brackets.read_bracket`):

1. the ORM's result ``f_O`` (:func:`~basicsr_skt.inference.orm.run_orm`: whole image or tiles);
2. the semantic priors *from the inputs*, with the source the teacher was trained with: ``reference`` (the middle
   frame as stored) or ``orm`` (the μ-law of ``f_O``), extracted by the same backend with the same settings as the
   teacher's training priors (:mod:`basicsr_skt.skb.backend_settings`); priors from the GT (``gt``, ``oracle``) are
   refused, since an unlabelled bracket has none;
3. the teacher's result ``f_S = SPGRM(f_O, frames, priors)`` (:func:`~basicsr_skt.inference.teacher.run_teacher`),
   the training target;
4. a per-pixel confidence (:func:`confidence_map`); ``orm_agreement`` (default):
   ``c = exp(-mean_channels |T(f_S) - T(f_O)| / τ)`` with ``T`` the μ-law (μ = 5000): 1 where teacher and ORM agree,
   ``e^-1`` where they differ by τ in the μ-law domain; ``prior_agreement``: the same with the teacher's result with
   its priors zeroed in place of ``f_O`` (where the priors change the result, the label is less certain); ``none``:
   ones.

It writes the layout of :mod:`basicsr_skt.utils.pseudo_label_files` into ``<out>/<scene>/``, built in a hidden
``.<scene>.partial-<pid>`` folder and renamed into place, marker last: an interrupted run leaves no scene that looks
finished, and a rerun skips finished scenes.
"""
import hashlib
import os
import os.path as osp
import shutil
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from basicsr_skt.inference.brackets import Bracket, list_frames, read_bracket
from basicsr_skt.inference.orm import DEFAULT_TILE_OVERLAP, expected_frames, run_orm
from basicsr_skt.inference.teacher import priors_off, run_teacher, teacher_frames
from basicsr_skt.skb import format as skb_format
from basicsr_skt.skb.backend_settings import settings_mismatch
from basicsr_skt.skb.extractors import SemanticBackend
from basicsr_skt.skb.geometry import resample_embedding
from basicsr_skt.skb.preview import make_preview
from basicsr_skt.skb.source import hdr_to_display_rgb, ldr_to_display_rgb
from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.hdr_io import network_input, write_hdr
from basicsr_skt.utils.paths import check_name
from basicsr_skt.utils.pseudo_label_files import (CONFIDENCE_FILE, FORMAT_VERSION, MARKER_FILE, PSEUDO_GT_FILE,
                                                  frame_name, is_finished, read_marker, write_confidence, write_json)
from basicsr_skt.utils.tonemap import DEFAULT_MU, mu_law

__all__ = [
    'CONFIDENCE_TYPES', 'PRIOR_SOURCES', 'LabelSettings', 'Labeller', 'BracketScene', 'confidence_map',
    'bracket_from_arrays', 'find_bracket_scenes', 'prior_source_image', 'label_scene', 'label_scenes', 'file_sha256'
]

#: Confidence maps (see the module docstring).
CONFIDENCE_TYPES = ('orm_agreement', 'prior_agreement', 'none')
#: Prior sources an unlabelled bracket has (``scripts/make_semantic_priors.py --source``).
PRIOR_SOURCES = ('reference', 'orm')
#: Frame values are stored as 16-bit TIFF: exact for 8- and 16-bit inputs read without resizing.
_FRAME_SCALE = 65535.0


@dataclass(frozen=True)
class LabelSettings:
    """How the labels are made.

    Attributes:
        confidence: One of :data:`CONFIDENCE_TYPES`.
        tau: τ of the confidence, in μ-law units (> 0).
        mu: μ of the μ-law.
        prior_source: ``reference`` or ``orm`` (:data:`PRIOR_SOURCES`): what the priors are computed from.
        teacher_input: ``reference`` or ``all_frames`` (the teacher's ``skt.teacher_input``).
        gamma: Assumed camera response exponent (``L ** gamma``), as for inference.
        exposure_file: Exposure file name looked up in each scene folder (else EXIF ``ExposureTime``).
        pad_multiple: Reflect-pad the ORM's input to this multiple (whole images).
        tile: Run ORM and teacher on tiles of this side (None: whole images).
        tile_overlap: Minimum overlap of neighbouring tiles.
        max_side: Downscale frames so that their long side is at most this (None: full size).
        force: Redo finished scenes.
    """
    confidence: str = 'orm_agreement'
    tau: float = 0.05
    mu: float = DEFAULT_MU
    prior_source: str = 'reference'
    teacher_input: str = 'reference'
    gamma: float = 2.2
    exposure_file: str = 'exposure.txt'
    pad_multiple: int = 8
    tile: Optional[int] = None
    tile_overlap: int = DEFAULT_TILE_OVERLAP
    max_side: Optional[int] = None
    force: bool = False

    def __post_init__(self) -> None:
        if self.confidence not in CONFIDENCE_TYPES:
            raise UserInputError(f'confidence must be one of {CONFIDENCE_TYPES}, got {self.confidence!r}')
        if not self.tau > 0:
            raise UserInputError(f'tau must be > 0 (μ-law units, e.g. 0.05), got {self.tau}')
        if self.prior_source not in PRIOR_SOURCES:
            raise UserInputError(f'The priors of an unlabelled bracket can come from {PRIOR_SOURCES} only, got '
                                 f'{self.prior_source!r}: train the teacher on priors made with '
                                 'scripts/make_semantic_priors.py --source reference (or orm)')


@dataclass
class Labeller:
    """The trained networks and the prior extractor.

    Attributes:
        orm: The ORM, eval mode, on ``device``.
        teacher: SPGRM, eval mode, on ``device``.
        backend: Semantic backend with the teacher's training-prior settings (None when the teacher uses no priors).
        device: Where to run.
        provenance: Recorded in every marker (checkpoint files and hashes, arch names, backend settings).
        prior_meta: The teacher's training priors' ``skb_meta.json``: every new extraction must record the same
            backend settings (:func:`~basicsr_skt.skb.backend_settings.settings_mismatch`); None: not checked.
    """
    orm: nn.Module
    teacher: nn.Module
    backend: Optional[SemanticBackend]
    device: torch.device
    provenance: Dict[str, Any] = field(default_factory=dict)
    prior_meta: Optional[Dict[str, Any]] = None


@dataclass(frozen=True)
class BracketScene:
    """One unlabelled bracket: its name, folder and frame files (never its GT).

    Attributes:
        name: Scene name (the output folder's name).
        folder: Scene folder (for an LMDB: ``<db>/<scene>``).
        frames: Frame files (LMDB: record names), any order.
        load: Reads the bracket for brackets not in files (LMDB): ``load() -> Bracket``; None: the files are read by
            :func:`~basicsr_skt.inference.brackets.read_bracket`.
    """
    name: str
    folder: str
    frames: Tuple[str, ...]
    load: Optional[Callable[[], Bracket]] = None


# ------------------------------------------------------------------------------------------------------------ parts
def confidence_map(target: torch.Tensor, other: torch.Tensor, tau: float, mu: float = DEFAULT_MU) -> torch.Tensor:
    """``exp(-mean_c |T(target) - T(other)| / τ)``, the agreement of two HDR results in the μ-law domain.

    Args:
        target: (..., 3, H, W) linear HDR (the teacher's result), >= 0.
        other: Same shape (the ORM's result, or the teacher's with its priors zeroed).
        tau: Scale in μ-law units (> 0): a difference of τ gives ``e^-1``.
        mu: μ of the μ-law ``T(x) = log(1 + μ x) / log(1 + μ)`` (values clipped to [0, 1] first, as the losses'
            targets are).

    Returns:
        (..., H, W) confidence in (0, 1].
    """
    diff = (mu_law(target.clamp(0, 1), mu) - mu_law(other.clamp(0, 1), mu)).abs().mean(dim=-3)
    return torch.exp(-diff / tau)


def find_bracket_scenes(root: str) -> List[BracketScene]:
    """The brackets under ``root``: ``root`` itself when it holds frames, else each sub-folder that does.

    Frames are what :func:`~basicsr_skt.inference.brackets.list_frames` takes (LDR images: TIFF, PNG, JPEG): a
    Kalantari ``HDRImg.hdr`` is not one and is never opened.

    Raises:
        UserInputError: ``root`` is not a folder, or no frames in it or its sub-folders.
    """
    if not osp.isdir(root):
        raise UserInputError(f'Input {root} is not a folder (give a bracket folder or a folder of bracket folders)')
    frames = list_frames(root)
    if frames:
        return [BracketScene(osp.basename(osp.abspath(root)), root, tuple(frames))]
    scenes = []
    for name in sorted(os.listdir(root)):
        folder = osp.join(root, name)
        if name.startswith('.') or not osp.isdir(folder):
            continue
        found = list_frames(folder)
        if found:
            scenes.append(BracketScene(name, folder, tuple(found)))
    if not scenes:
        raise UserInputError(f'{root}: no frames (TIFF / PNG / JPEG) in it or in its sub-folders')
    return scenes


def bracket_from_arrays(name: str, frames: Sequence[np.ndarray], times: np.ndarray, paths: Sequence[str],
                        source: str) -> Bracket:
    """A :class:`~basicsr_skt.inference.brackets.Bracket` from stored frames (e.g. LMDB records), as the dataset reads
    them: uint8 / uint16 (H, W, 3) BGR, shortest exposure first (the reference in the middle), normalised by their bit
    depth; ``times`` as stored (``2 ** ev``, origin ``as-given``).

    Raises:
        UserInputError: Frames not uint8 / uint16 of one size, times not one positive increasing value per frame.
    """
    dtypes = {frame.dtype for frame in frames}
    if len(dtypes) != 1 or dtypes.pop() not in (np.uint8, np.uint16) or len({f.shape for f in frames}) != 1:
        raise UserInputError(f'Scene {name!r}: frames must be uint8 or uint16 arrays of one size and bit depth')
    times = np.asarray(times, np.float64)
    if times.shape != (len(frames), ) or not np.all(times > 0) or np.any(np.diff(times) <= 0):
        raise UserInputError(f'Scene {name!r}: exposure times {times.tolist()} must be positive, one per frame, '
                             'increasing (shortest exposure first)')
    white = float(np.iinfo(frames[0].dtype).max)
    return Bracket(
        name=name,
        paths=list(paths),
        frames=[frame.astype(np.float32) / np.float32(white) for frame in frames],
        times=times,
        seconds=None,
        ref_index=len(frames) // 2,
        exposure_source=source,
        ev_origin='as-given',
        original_size=tuple(frames[0].shape[:2]))


def prior_source_image(source: str, reference: np.ndarray, orm_hdr: torch.Tensor) -> np.ndarray:
    """uint8 (H, W, 3) RGB image given to the semantic backend, as ``scripts/make_semantic_priors.py`` makes it.

    Args:
        source: ``reference``: the middle frame as stored (here: as written, 16-bit); ``orm``: μ-law of ``orm_hdr``.
        reference: float32 (H, W, 3) BGR reference frame in [0, 1].
        orm_hdr: (3, H, W) ORM result.
    """
    if source == 'reference':
        return ldr_to_display_rgb(_frame_u16(reference), 65535)
    return hdr_to_display_rgb(orm_hdr)


def _frame_u16(frame: np.ndarray) -> np.ndarray:
    return np.round(np.clip(frame, 0, 1) * _FRAME_SCALE).astype(np.uint16)


def file_sha256(path: str) -> str:
    """``sha256:<hex>`` of a file (recorded in markers to tell which checkpoints made a label)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return f'sha256:{digest.hexdigest()}'


def _priors(labeller: Labeller, settings: LabelSettings, bracket: Bracket,
            orm_hdr: torch.Tensor) -> Tuple[Optional[Dict[str, Any]], Optional[torch.Tensor], Optional[torch.Tensor]]:
    """(SKB result, embedding (1, C, H, W), labels (1, H, W)) from the inputs, or Nones without a backend."""
    if labeller.backend is None:
        return None, None, None
    image = prior_source_image(settings.prior_source, bracket.frames[bracket.ref_index], orm_hdr)
    result = labeller.backend.extract(image)
    if labeller.prior_meta is not None:
        mismatch = settings_mismatch(labeller.prior_meta, result['meta'])
        if mismatch:
            raise UserInputError(f'Scene {bracket.name!r}: the priors differ from the teacher\'s training priors '
                                 f'({labeller.prior_meta.get("_folder", "")}) in {mismatch}')
    height, width = image.shape[:2]
    embedding = resample_embedding(
        torch.from_numpy(result['embedding'].astype(np.float32)), result['meta']['cell_size'], 0, 0, height, width)
    labels = torch.from_numpy(result['labels'].astype(np.int64))
    result['image'] = image
    return result, embedding[None].to(labeller.device), labels[None].to(labeller.device)


@torch.no_grad()
def label_bracket(labeller: Labeller, settings: LabelSettings, bracket: Bracket) -> Dict[str, Any]:
    """ORM, priors, teacher and confidence of one bracket (nothing written).

    Returns:
        ``{'orm': (3, H, W), 'teacher': (3, H, W), 'confidence': (H, W)}`` float32 CPU tensors and ``'skb'`` (the
        backend's result with the source ``image``, or None).
    """
    wanted = expected_frames(labeller.orm)
    if wanted is not None and wanted != len(bracket.frames):
        raise UserInputError(f'Scene {bracket.name!r}: the ORM takes {wanted} frames, the bracket has '
                             f'{len(bracket.frames)}')
    lq = torch.from_numpy(network_input(bracket.frames, bracket.times, settings.gamma))[None].to(labeller.device)
    orm_hdr = run_orm(labeller.orm, lq, settings.pad_multiple, settings.tile, settings.tile_overlap)
    skb, embedding, labels = _priors(labeller, settings, bracket, orm_hdr[0])
    frames = teacher_frames(lq, settings.teacher_input)
    teacher_hdr = run_teacher(labeller.teacher, orm_hdr, frames, embedding, labels, settings.tile,
                              settings.tile_overlap)
    if settings.confidence == 'orm_agreement':
        confidence = confidence_map(teacher_hdr, orm_hdr, settings.tau, settings.mu)
    elif settings.confidence == 'prior_agreement':
        with priors_off(labeller.teacher):
            without = run_teacher(labeller.teacher, orm_hdr, frames, None, None, settings.tile, settings.tile_overlap)
        confidence = confidence_map(teacher_hdr, without, settings.tau, settings.mu)
    else:
        confidence = torch.ones_like(teacher_hdr[:, 0])
    return {
        'orm': orm_hdr[0].float().cpu(),
        'teacher': teacher_hdr[0].float().cpu().clamp_min(0),
        'confidence': confidence[0].float().cpu(),
        'skb': skb
    }


# ------------------------------------------------------------------------------------------------------------ writing
def _write_scene(folder: str, bracket: Bracket, labels: Dict[str, Any], marker: Dict[str, Any]) -> None:
    """Every file of one pseudo-labelled scene into ``folder`` (the marker last)."""
    os.makedirs(folder)
    for index, frame in enumerate(bracket.frames):
        path = osp.join(folder, frame_name(index))
        if not cv2.imwrite(path, _frame_u16(frame)):
            raise OSError(f'OpenCV could not write {path}')
    with open(osp.join(folder, 'exposure.txt'), 'w', encoding='utf-8') as f:
        f.write(''.join(f'{float(np.log2(t))!r}\n' for t in bracket.times))
    write_hdr(osp.join(folder, PSEUDO_GT_FILE), labels['teacher'].numpy().transpose(1, 2, 0))
    write_confidence(osp.join(folder, CONFIDENCE_FILE), labels['confidence'].numpy())
    skb = labels['skb']
    if skb is not None:
        meta = dict(skb['meta'], source=marker['prior_source'], scene=bracket.name)
        skb_format.save_scene_priors(folder, skb['embedding'], skb['labels'], meta,
                                     make_preview(skb['image'], skb['labels']))
    write_json(osp.join(folder, MARKER_FILE), marker)


def _marker(bracket: Bracket, labels: Dict[str, Any], settings: LabelSettings, labeller: Labeller,
            seconds: float) -> Dict[str, Any]:
    confidence = labels['confidence']
    diff = mu_law(labels['teacher'].clamp(0, 1)) - mu_law(labels['orm'].clamp(0, 1))
    return {
        'format': FORMAT_VERSION,
        'scene': bracket.name,
        'source_frames': [osp.basename(p) for p in bracket.paths],
        'exposure_source': bracket.exposure_source,
        'ev_origin': bracket.ev_origin,
        'relative_times': [float(t) for t in bracket.times],
        'prior_source': settings.prior_source if labels['skb'] is not None else None,
        'settings': {
            key: value
            for key, value in asdict(settings).items() if key != 'force'
        },
        'provenance': labeller.provenance,
        'stats': {
            'confidence_mean': float(confidence.mean()),
            'confidence_min': float(confidence.min()),
            'teacher_minus_orm_mu_l1': float(diff.abs().mean()),
            'seconds': round(seconds, 3)
        }
    }


def label_scene(labeller: Labeller, settings: LabelSettings, scene: BracketScene, out_dir: str) -> Dict[str, Any]:
    """Label one bracket and write ``<out_dir>/<scene>/`` atomically; returns its marker."""
    check_name(scene.name, 'Scene name')
    start = time.perf_counter()
    exposure_file = osp.join(scene.folder, settings.exposure_file)
    bracket = scene.load() if scene.load is not None else read_bracket(
        scene.frames,
        scene.name,
        exposure_file=exposure_file if osp.isfile(exposure_file) else None,
        max_side=settings.max_side)
    labels = label_bracket(labeller, settings, bracket)
    marker = _marker(bracket, labels, settings, labeller, time.perf_counter() - start)
    target = osp.join(out_dir, scene.name)
    partial = osp.join(out_dir, f'.{scene.name}.partial-{os.getpid()}')
    if osp.exists(partial):
        shutil.rmtree(partial)
    try:
        _write_scene(partial, bracket, labels, marker)
        if osp.exists(target):
            shutil.rmtree(target)  # an unfinished scene, or --force
        os.replace(partial, target)
    finally:
        if osp.exists(partial):
            shutil.rmtree(partial)
    return marker


def label_scenes(labeller: Labeller,
                 settings: LabelSettings,
                 scenes: List[BracketScene],
                 out_dir: str,
                 progress: bool = True) -> Dict[str, Any]:
    """Label every scene not yet finished in ``out_dir`` (resumable); returns a summary.

    Returns:
        ``{'labelled': [names], 'skipped': [names], 'seconds_per_scene': float | None, 'confidence_mean': ...}``.
    """
    names = [scene.name for scene in scenes]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UserInputError(f'Several input brackets are named {duplicates}: their labels would overwrite each '
                             'other in the output; rename the folders')
    os.makedirs(out_dir, exist_ok=True)
    labelled, skipped, seconds, confidences = [], [], [], []
    bar = tqdm(scenes, unit='scene', desc='pseudo labels', disable=not progress)
    for scene in bar:
        folder = osp.join(out_dir, scene.name)
        if not settings.force and is_finished(folder):
            _warn_if_other_checkpoints(folder, labeller, bar)
            skipped.append(scene.name)
            continue
        marker = label_scene(labeller, settings, scene, out_dir)
        labelled.append(scene.name)
        seconds.append(marker['stats']['seconds'])
        confidences.append(marker['stats']['confidence_mean'])
        bar.set_postfix(scene=scene.name, confidence=f'{confidences[-1]:.3f}', sec=f'{seconds[-1]:.1f}')
    return {
        'labelled': labelled,
        'skipped': skipped,
        'seconds_per_scene': float(np.mean(seconds)) if seconds else None,
        'confidence_mean': float(np.mean(confidences)) if confidences else None,
    }


def _warn_if_other_checkpoints(folder: str, labeller: Labeller, bar: tqdm) -> None:
    previous = read_marker(folder).get('provenance', {})
    changed = [
        key for key in ('orm_sha256', 'teacher_sha256')
        if key in previous and key in labeller.provenance and previous[key] != labeller.provenance[key]
    ]
    if changed:
        bar.write(f'{osp.basename(folder)}: kept, but it was labelled with other checkpoints ({", ".join(changed)} '
                  'differ); --force relabels it')
