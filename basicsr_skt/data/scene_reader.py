"""Per-scene access to multi-exposure data, whatever the storage: the :class:`SceneReader` interface, the
:class:`SceneRecord` a dataset keeps per scene, and :class:`FolderSceneReader` for scene folders in the Kalantari'17
layout (the LMDB reader is :class:`basicsr_skt.data.lmdb_reader.LmdbSceneReader`)."""
import glob
import json
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from os import path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from basicsr_skt.data.data_util import read_only
from basicsr_skt.data.lmdb_format import (EXPOSURES_KEY, GT_KEY, SKB_EMBEDDING_KEY, SKB_LABELS_KEY, SKB_META_KEY,
                                          RecordValue, lq_index, lq_key)
from basicsr_skt.utils.hdr_io import exposure_times, read_exposure_values, read_hdr, read_ldr_raw
from basicsr_skt.utils.scan import natural_key
from basicsr_skt.utils.scene_checks import (check_exposure_order, check_gt_content, check_same_bit_depth,
                                            check_same_channels)

#: Semantic-prior files of a scene folder (see the SKB storage contract) and the record each one becomes.
SKB_FILES = {SKB_EMBEDDING_KEY: 'skb_embedding.npy', SKB_LABELS_KEY: 'skb_labels.npy', SKB_META_KEY: 'skb_meta.json'}

#: Decoded scene: (uint8/uint16 H x W x 3 BGR frames, float32 H x W x 3 BGR GT), all read-only.
SceneImages = Tuple[List[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SceneRecord:
    """What a dataset knows about one scene after indexing (cheap checks only, no image decoded).

    Attributes:
        name: Scene name (folder name, or key prefix in an LMDB).
        lq_paths: Where the LDR frames come from, in frame order (files; for an LMDB ``<db>/<scene>/lq_<i>``).
        gt_path: Where the GT comes from (file; for an LMDB ``<db>/<scene>/gt``).
        exposures: float32 exposure times ``t = 2 ** ev``, shape (N,); None where they are read with the images
            (LMDB: from the ``exposures`` record).
    """
    name: str
    lq_paths: Tuple[str, ...]
    gt_path: str
    exposures: Optional[np.ndarray] = None


class SceneReader(ABC):
    """Per-scene access to the arrays of a multi-exposure dataset, whatever the storage (folder of files or LMDB).

    Record names follow the LMDB key scheme of :mod:`basicsr_skt.data.lmdb_format`: ``lq_<i>``, ``gt``, ``exposures``
    and, when present, ``skb_embedding``, ``skb_labels``, ``skb_meta``. Image-like records (``lq_<i>``, ``gt``,
    ``skb_labels``) have the image's (H, W) as their first two axes and can be read by window; the others are read
    whole.

    Returned arrays must be treated as read-only (a backend may return views of its cache).
    """

    #: Folder or database the reader serves (used in messages).
    location: str

    @abstractmethod
    def scene_names(self) -> List[str]:
        """Every scene available in the storage (before any ``scene_list`` / ``exclude_scenes`` filtering)."""

    @abstractmethod
    def index_scene(self, scene: str) -> SceneRecord:
        """Check one scene cheaply (files or keys present, frame count) and describe it; ValueError naming it."""

    @abstractmethod
    def keys(self, scene: str) -> List[str]:
        """Record names the scene has, frames first (``lq_0`` ...), then ``gt``, ``exposures``, SKB records."""

    @abstractmethod
    def image_size(self, scene: str) -> Tuple[int, int]:
        """``(H, W)`` of the scene's frames and GT."""

    @abstractmethod
    def read_full(self, scene: str, key: str) -> RecordValue:
        """A whole record: an array (see the table in :mod:`basicsr_skt.data.lmdb_format`) or, for ``skb_meta``, a
        dict."""

    def read_window(self, scene: str, key: str, top: int, left: int, height: int, width: int) -> np.ndarray:
        """Rows ``top:top + height`` and columns ``left:left + width`` of an image-like record."""
        return self.read_windows(scene, [key], top, left, height, width)[0]

    def read_windows(self, scene: str, keys: Sequence[str], top: int, left: int, height: int,
                     width: int) -> List[np.ndarray]:
        """The same window of several image-like records (one transaction / one decode where the backend can)."""
        return [
            image_window(self.read_full(scene, key), top, left, height, width, f'{self.location}: {scene}/{key}')
            for key in keys
        ]


def image_window(array: np.ndarray, top: int, left: int, height: int, width: int, where: str) -> np.ndarray:
    """``array[top:top + height, left:left + width]`` (a view), with bounds checked."""
    if array.ndim < 2:
        raise ValueError(f'{where}: a {array.ndim}-D record has no image window')
    if top < 0 or left < 0 or height < 1 or width < 1 or top + height > array.shape[0] or left + width > array.shape[1]:
        raise ValueError(f'{where}: window rows {top}:{top + height}, columns {left}:{left + width} is outside the '
                         f'{array.shape[1]} x {array.shape[0]} image')
    return array[top:top + height, left:left + width]


def _matching_files(folder: str, patterns: Sequence[str]) -> List[str]:
    """Files in ``folder`` matching any of ``patterns``, deduplicated, in natural file-name order."""
    found = {
        path
        for pattern in patterns
        for path in glob.glob(osp.join(glob.escape(folder), pattern)) if osp.isfile(path)
    }
    return sorted(found, key=lambda path: natural_key(osp.basename(path)))


def _size(img: np.ndarray) -> str:
    """``'W x H'`` of an image array."""
    return f'{img.shape[1]} x {img.shape[0]}'


class FolderSceneReader(SceneReader):
    """Scenes in the Kalantari'17 folder layout: ``dataroot/<scene>/{frames, exposure file, GT[, SKB files]}``.

    Frames are ordered by file name (natural order: shortest exposure first in Kalantari's data); the exposure file
    holds one EV per frame in the same order. Indexing checks files only; decoding a scene (on its first image read)
    checks sizes. Decoded scenes are kept in :attr:`cache` when ``cache_images`` (frames at their stored bit depth,
    GT float32: about 45 MB per 1500 x 1000 scene; semantic priors in :attr:`skb_cache`); otherwise only the most
    recently read scene is kept, so that reading several windows of one item decodes it once.
    Cached arrays are read-only.

    Args:
        dataroot: Folder with one sub-folder per scene.
        ldr_globs: LDR frame patterns.
        gt_globs: GT patterns; exactly one file per scene must match.
        exposure_file: EV file name inside each scene.
        num_frames: Expected frames per scene.
        cache_images: Keep every decoded scene in memory.
    """

    def __init__(self,
                 dataroot: str,
                 ldr_globs: Sequence[str] = ('*.tif', ),
                 gt_globs: Sequence[str] = ('HDRImg.hdr', ),
                 exposure_file: str = 'exposure.txt',
                 num_frames: int = 3,
                 cache_images: bool = True):
        self.location = self.dataroot = str(dataroot)
        self.ldr_globs, self.gt_globs = list(ldr_globs), list(gt_globs)
        self.exposure_file = exposure_file
        self.num_frames = num_frames
        self.cache_images = cache_images
        self.cache: Dict[str, SceneImages] = {}
        self.skb_cache: Dict[Tuple[str, str], RecordValue] = {}  # (scene, SKB key) -> array / meta, with cache_images
        self._recent: Optional[Tuple[str, SceneImages]] = None
        self._records: Dict[str, SceneRecord] = {}

    # ---------------------------------------------------------------- indexing (cheap checks)
    def scene_names(self) -> List[str]:
        return sorted((name for name in os.listdir(self.dataroot)
                       if not name.startswith('.') and osp.isdir(osp.join(self.dataroot, name))),
                      key=natural_key)

    def index_scene(self, scene: str) -> SceneRecord:
        folder = osp.join(self.dataroot, scene)
        gt_paths = _matching_files(folder, self.gt_globs)
        if len(gt_paths) != 1:
            found = [osp.basename(p) for p in gt_paths] or 'none'
            raise ValueError(f'Scene {scene!r} ({folder}): expected exactly one GT file matching {self.gt_globs}, '
                             f'found {found}{self._nested_hint(folder)}')
        exposure_path = osp.join(folder, self.exposure_file)
        excluded = {gt_paths[0], exposure_path}
        lq_paths = [path for path in _matching_files(folder, self.ldr_globs) if path not in excluded]
        if len(lq_paths) != self.num_frames:
            raise ValueError(f'Scene {scene!r} ({folder}): expected num_frames={self.num_frames} LDR frames matching '
                             f'{self.ldr_globs}, found {len(lq_paths)}: {[osp.basename(p) for p in lq_paths]}')
        if not osp.isfile(exposure_path):
            raise ValueError(f'Scene {scene!r}: exposure file {exposure_path} is missing')
        try:
            evs = read_exposure_values(exposure_path)
        except ValueError as err:
            raise ValueError(f'Scene {scene!r}: {err}') from err
        if len(evs) != self.num_frames:
            raise ValueError(f'Scene {scene!r}: exposure file {exposure_path} has {len(evs)} values, expected one per '
                             f'frame ({self.num_frames})')
        times = read_only(exposure_times(evs))
        if not np.all(np.isfinite(times)) or not np.all(times > 0):
            raise ValueError(f'Scene {scene!r}: exposure file {exposure_path} gives exposure times 2 ** ev = '
                             f'{times.tolist()}; EVs must lie within about [-120, 120] (one EV stop per line)')
        check_exposure_order(scene, times, [osp.basename(p) for p in lq_paths], f'exposure file {exposure_path}')
        record = SceneRecord(scene, tuple(lq_paths), gt_paths[0], times)
        self._records[scene] = record
        return record

    @staticmethod
    def _nested_hint(folder: str) -> str:
        """A hint for a scene folder that holds only folders: ``dataroot`` is probably one level too high."""
        try:
            entries = os.listdir(folder)
        except OSError:
            return ''
        subdirs = sorted(name for name in entries if osp.isdir(osp.join(folder, name)) and not name.startswith('.'))
        if not subdirs or any(osp.isfile(osp.join(folder, name)) for name in entries):
            return ''
        return (f'; it holds only folders ({", ".join(subdirs[:3])}{", ..." if len(subdirs) > 3 else ""}): is '
                'dataroot one level too high? Point it at the folder of scene folders (e.g. .../Training)')

    def record(self, scene: str) -> SceneRecord:
        """The scene's :class:`SceneRecord` (indexing it on first use)."""
        return self._records[scene] if scene in self._records else self.index_scene(scene)

    def keys(self, scene: str) -> List[str]:
        folder = osp.join(self.dataroot, scene)
        skb = [key for key, name in SKB_FILES.items() if osp.isfile(osp.join(folder, name))]
        return [lq_key(i) for i in range(len(self.record(scene).lq_paths))] + [GT_KEY, EXPOSURES_KEY] + skb

    # ---------------------------------------------------------------- reading (full checks)
    def _decode(self, record: SceneRecord) -> SceneImages:
        """Decode one scene; ValueError naming the scene and file for unreadable images or mismatched sizes."""
        try:
            frames = [read_ldr_raw(path)[0] for path in record.lq_paths]
            gt = read_hdr(record.gt_path)
        except ValueError as err:
            raise ValueError(f'Scene {record.name!r}: {err}') from err
        check_same_bit_depth(record.name, [osp.basename(path) for path in record.lq_paths],
                             [frame.dtype for frame in frames])
        ref_shape = frames[0].shape[:2]
        for path, frame in zip(record.lq_paths, frames):
            if frame.shape[:2] != ref_shape:
                raise ValueError(f'Scene {record.name!r}: frame {osp.basename(path)} is {_size(frame)} but '
                                 f'{osp.basename(record.lq_paths[0])} is {_size(frames[0])}; all frames must match')
        if gt.shape[:2] != ref_shape:
            raise ValueError(f'Scene {record.name!r}: GT {osp.basename(record.gt_path)} is {_size(gt)} but the frames '
                             f'are {_size(frames[0])}')
        check_same_channels(record.name, [osp.basename(path) for path in record.lq_paths], frames)
        check_gt_content(record.name, record.gt_path, gt)
        return [read_only(frame) for frame in frames], read_only(gt)

    def images(self, scene: str) -> SceneImages:
        """The decoded scene, from the cache when possible."""
        if scene in self.cache:
            return self.cache[scene]
        if self._recent is not None and self._recent[0] == scene:
            return self._recent[1]
        images = self._decode(self.record(scene))
        if self.cache_images:
            self.cache[scene] = images
        else:
            self._recent = (scene, images)
        return images

    def image_size(self, scene: str) -> Tuple[int, int]:
        height, width = self.images(scene)[1].shape[:2]
        return height, width

    def read_full(self, scene: str, key: str) -> RecordValue:
        index = lq_index(key)
        if index is not None and index < self.num_frames:
            return self.images(scene)[0][index]
        if key == GT_KEY:
            return self.images(scene)[1]
        if key == EXPOSURES_KEY:
            return self.record(scene).exposures
        if key in SKB_FILES:
            if not self.cache_images:
                return self._read_skb_file(scene, key)
            if (scene, key) not in self.skb_cache:
                self.skb_cache[scene, key] = self._read_skb_file(scene, key)
            return self.skb_cache[scene, key]
        raise ValueError(f'Scene {scene!r} ({self.dataroot}): unknown record {key!r}')

    def _read_skb_file(self, scene: str, key: str) -> RecordValue:
        path = osp.join(self.dataroot, scene, SKB_FILES[key])
        try:
            if key == SKB_META_KEY:
                with open(path, 'r', encoding='utf-8') as f:
                    meta = json.load(f)
                if not isinstance(meta, dict):
                    raise ValueError('expected a JSON object')
                return meta
            return read_only(np.load(path, allow_pickle=False))
        except Exception as err:  # noqa: B902 -- damaged files fail in numpy's / json's parsers in many ways
            raise ValueError(f'Scene {scene!r}: cannot read {path}: {err}') from err
