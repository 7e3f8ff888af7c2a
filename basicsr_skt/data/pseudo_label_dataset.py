"""Training on labelled and pseudo-labelled brackets together (SKT on unlabelled brackets).

* :class:`PseudoLabelFolderReader`: scene folders made by ``scripts/make_pseudo_labels.py``
  (:mod:`basicsr_skt.utils.pseudo_label_files`): the target is ``PseudoHDR.hdr``, plus the ``confidence`` record and
  the ``pseudo_label`` marker; a scene without its marker (unfinished) is an error. ``scripts/make_lmdb.py
  --pseudo-labels`` packs it through this reader.
* :class:`PseudoLabelHDRDataset`: the pseudo-labelled scenes of one root (folder or LMDB); items carry ``weight`` (the
  confidence map, cropped and flipped with the frames) and ``labeled: False``.
* :class:`SemiSupervisedHDRDataset`: a labelled root (``dataroot``, Kalantari layout with its real GT) and one or
  more pseudo-labelled roots (``dataroot_pseudo``) as one training set; labelled items carry ``weight`` = 1 and
  ``labeled: True``. The model weights the pseudo-labelled samples (``train.unlabeled_weight``, see
  ``basicsr_skt/models/unlabeled.py``).

The unlabelled scenes' real GT is never part of this: a pseudo-labelled scene folder holds none, and the readers look
for ``PseudoHDR.hdr`` only.
"""
import copy
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np
import torch
from torch.utils import data

from basicsr.utils.registry import DATASET_REGISTRY
from basicsr_skt.data.data_util import BASICSR_DATASET_KEYS
from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
from basicsr_skt.data.lmdb_format import GT_KEY, RecordValue, lq_key
from basicsr_skt.data.lmdb_reader import LmdbSceneReader
from basicsr_skt.data.multi_exposure import SHARED_OPTION_KEYS
from basicsr_skt.data.scene_reader import FolderSceneReader, SceneReader, SceneRecord
from basicsr_skt.utils.option_checks import warn_unknown_keys
from basicsr_skt.utils.pseudo_label_files import (CONFIDENCE_FILE, CONFIDENCE_KEY, FRAME_PATTERN, MARKER_FILE,
                                                  MARKER_KEY, PSEUDO_GT_FILE, read_confidence, read_marker)

__all__ = ['PseudoLabelFolderReader', 'PseudoLabelHDRDataset', 'SemiSupervisedHDRDataset', 'PSEUDO_OPTION_KEYS']

#: Options of :class:`SemiSupervisedHDRDataset` besides those of :class:`HDRMultiExposureDataset`.
PSEUDO_OPTION_KEYS = frozenset({'dataroot_pseudo', 'io_backend_pseudo'})
_REMAKE = 'rerun scripts/make_pseudo_labels.py (it resumes: finished scenes are skipped)'


class PseudoLabelFolderReader(FolderSceneReader):
    """Pseudo-labelled scene folders: frames, ``exposure.txt``, ``PseudoHDR.hdr`` (read as the ``gt`` record),
    ``Confidence.png`` (record ``confidence``: float32 (H, W, 1) in [0, 1]) and ``pseudo_label.json`` (record
    ``pseudo_label``, a dict). Indexing a scene without its marker or confidence file is a ValueError naming it.

    Args:
        dataroot: Folder of pseudo-labelled scene folders.
        ldr_globs: Frame patterns (default ``input_*.tif``, as written).
        exposure_file: EV file name.
        num_frames: Expected frames per scene.
        cache_images: Keep decoded scenes (and confidence maps) in memory.
    """

    def __init__(self,
                 dataroot: str,
                 ldr_globs: Sequence[str] = (FRAME_PATTERN, ),
                 exposure_file: str = 'exposure.txt',
                 num_frames: int = 3,
                 cache_images: bool = True):
        super().__init__(dataroot, ldr_globs, (PSEUDO_GT_FILE, ), exposure_file, num_frames, cache_images)
        self.confidence_cache: Dict[str, np.ndarray] = {}

    def index_scene(self, scene: str) -> SceneRecord:
        folder = osp.join(self.dataroot, scene)
        try:
            read_marker(folder)
        except (FileNotFoundError, ValueError) as err:
            raise ValueError(f'Pseudo-labelled scene {scene!r}: {err}; {_REMAKE}') from None
        if not osp.isfile(osp.join(folder, CONFIDENCE_FILE)):
            raise ValueError(f'Pseudo-labelled scene {scene!r}: {osp.join(folder, CONFIDENCE_FILE)} is missing; '
                             f'{_REMAKE} with --force')
        return super().index_scene(scene)

    def keys(self, scene: str) -> List[str]:
        keys = super().keys(scene)
        return keys[:keys.index(GT_KEY) + 1] + [CONFIDENCE_KEY, MARKER_KEY] + keys[keys.index(GT_KEY) + 1:]

    def read_full(self, scene: str, key: str) -> RecordValue:
        if key == MARKER_KEY:
            return read_marker(osp.join(self.dataroot, scene))
        if key != CONFIDENCE_KEY:
            return super().read_full(scene, key)
        if scene in self.confidence_cache:
            return self.confidence_cache[scene]
        path = osp.join(self.dataroot, scene, CONFIDENCE_FILE)
        confidence = read_confidence(path)
        height, width = self.image_size(scene)
        if confidence.shape[:2] != (height, width):
            raise ValueError(f'Pseudo-labelled scene {scene!r}: {path} is {confidence.shape[1]} x '
                             f'{confidence.shape[0]} but the frames are {width} x {height}; {_REMAKE} with --force')
        confidence.setflags(write=False)
        if self.cache_images:
            self.confidence_cache[scene] = confidence
        return confidence


@DATASET_REGISTRY.register()
class PseudoLabelHDRDataset(HDRMultiExposureDataset):
    """Pseudo-labelled brackets (``scripts/make_pseudo_labels.py``), from their folders or their LMDB.

    Options: those of :class:`HDRMultiExposureDataset`, except that the target is always ``PseudoHDR.hdr``
    (``gt_glob`` must be left out) and ``ldr_glob`` defaults to ``input_*.tif``.

    Items: those of :class:`HDRMultiExposureDataset` (``gt`` is the teacher's result) plus ``weight`` float32
    (1, H, W), the confidence map in [0, 1] (same crop and flips as the frames), and ``labeled`` False.

    Raises:
        ValueError: A ``gt_glob`` option, an unfinished scene (no marker), a missing or mis-sized confidence map
            (LMDB: a scene without the ``confidence`` / ``pseudo_label`` records), plus the errors of
            :class:`HDRMultiExposureDataset`.
    """

    def _read_format_options(self) -> None:
        if 'gt_glob' in self.opt:
            raise self._error(f'gt_glob is not an option of pseudo-labelled data: the target is always '
                              f'{PSEUDO_GT_FILE} (remove gt_glob)')
        self.opt.setdefault('ldr_glob', FRAME_PATTERN)
        super()._read_format_options()
        self.gt_globs = [PSEUDO_GT_FILE]

    def _make_reader(self) -> SceneReader:
        if self.backend == 'lmdb':
            reader = LmdbSceneReader(self.dataroot, num_frames=self.num_frames)
            unfinished = [
                name for name in reader.scene_names() if not {CONFIDENCE_KEY, MARKER_KEY} <= set(reader.keys(name))
            ]
            if unfinished:
                raise self._error(f'LMDB {self.dataroot} is not a pseudo-label database: scene(s) {unfinished[:5]} '
                                  f'have no {CONFIDENCE_KEY} / {MARKER_KEY} records; pack the folders made by '
                                  'scripts/make_pseudo_labels.py with scripts/make_lmdb.py --pseudo-labels')
            return reader
        return PseudoLabelFolderReader(self.dataroot, self.ldr_globs, self.exposure_file, self.num_frames,
                                       self.cache_images)

    def _image_keys(self) -> List[str]:
        """Frames, the confidence map, then the target (last, where the base class expects the GT)."""
        return [lq_key(i) for i in range(self.num_frames)] + [CONFIDENCE_KEY, GT_KEY]

    def _scene_layout(self) -> str:
        return (f'{self.num_frames} frames {self.ldr_globs}, {self.exposure_file}, {PSEUDO_GT_FILE}, '
                f'{CONFIDENCE_FILE} and {MARKER_FILE}, as scripts/make_pseudo_labels.py writes them')

    def _make_item(self, record: SceneRecord, images: List[np.ndarray], meta: Dict[str, object]) -> Dict[str, object]:
        item = super()._make_item(record, images[:-2] + images[-1:], meta)
        confidence = np.array(images[-2].transpose(2, 0, 1), dtype=np.float32, order='C')
        item.update(weight=torch.from_numpy(confidence), labeled=False)
        return item


@DATASET_REGISTRY.register()
class SemiSupervisedHDRDataset(data.Dataset):
    """Labelled scenes (``dataroot``) and pseudo-labelled scenes (``dataroot_pseudo``) as one training set.

    Options: every option of :class:`HDRMultiExposureDataset`, which apply to the labelled root (``scene_list`` /
    ``exclude_scenes`` select labelled scenes only) and, except ``gt_glob`` / ``scene_list`` / ``exclude_scenes``, to
    the pseudo-labelled roots as well; plus

        dataroot_pseudo (str | list[str]): Root(s) of pseudo-labelled scenes (folders made by
            ``scripts/make_pseudo_labels.py``, or their ``.lmdb``). Required.
        io_backend_pseudo (dict): ``{type: disk}`` or ``{type: lmdb}`` for the pseudo-labelled roots (default: the
            labelled root's ``io_backend``).

    Items: :class:`HDRMultiExposureDataset`'s, plus ``labeled`` (True for the labelled scenes) and ``weight`` float32
    (1, H, W): ones for labelled scenes, the confidence map for pseudo-labelled ones. Indices run over the labelled
    scenes first, then each pseudo-labelled root.

    Raises:
        ValueError: No ``dataroot_pseudo``, plus the errors of the two datasets.
    """

    def __init__(self, opt: Dict):
        super().__init__()
        self.opt = copy.deepcopy(dict(opt))
        warn_unknown_keys(
            f'dataset {self.opt.get("name", "")!r} ({type(self).__name__})', self.opt,
            BASICSR_DATASET_KEYS | SHARED_OPTION_KEYS | HDRMultiExposureDataset.OPTION_KEYS
            | PSEUDO_OPTION_KEYS)
        roots = self.opt.pop('dataroot_pseudo', None)
        roots = [roots] if isinstance(roots, str) else roots
        if not roots or not all(isinstance(root, str) and root for root in roots):
            raise ValueError(f'{type(self).__name__}: option dataroot_pseudo (folder of pseudo-labelled scenes made '
                             f'by scripts/make_pseudo_labels.py, or a list of them) is required, got {roots!r}')
        pseudo_backend = self.opt.pop('io_backend_pseudo', None) or self.opt.get('io_backend') or {'type': 'disk'}
        self.labeled = HDRMultiExposureDataset(self.opt)
        pseudo_opt = {
            key: value
            for key, value in self.opt.items() if key not in ('gt_glob', 'scene_list', 'exclude_scenes', 'ldr_glob')
        }
        self.pseudo = [
            PseudoLabelHDRDataset(dict(pseudo_opt, dataroot=root, io_backend=pseudo_backend)) for root in roots
        ]
        self.parts = [self.labeled] + self.pseudo
        self.offsets = np.cumsum([0] + [len(part) for part in self.parts]).tolist()

    @property
    def scenes(self) -> List[SceneRecord]:
        """Every scene record, labelled first (as indexed)."""
        return [record for part in self.parts for record in part.scenes]

    def __len__(self) -> int:
        return self.offsets[-1]

    def __getitem__(self, index: int) -> Dict[str, object]:
        if not 0 <= index < len(self):
            raise IndexError(f'{type(self).__name__}: index {index} out of range ({len(self)} scenes)')
        part = int(np.searchsorted(self.offsets, index, side='right')) - 1
        item = self.parts[part][index - self.offsets[part]]
        if part == 0:
            item.update(weight=torch.ones((1, ) + tuple(item['gt'].shape[-2:])), labeled=True)
        return item
