"""The base of the multi-exposure HDR datasets: what the sRGB (:class:`HDRMultiExposureDataset`) and RAW
(:class:`BracketIRERawDataset`) datasets share.

:class:`MultiExposureBase` parses the shared options, picks the storage (scene folders or an LMDB, through a
:class:`~basicsr_skt.data.scene_reader.SceneReader`), lists and filters the scenes, draws training crops and flips,
reads the semantic priors (SKB) of a crop or of the whole image and checks that they fit the scene, and assembles an
item. A dataset adds only its own options, its readers, its record names, its frame decoding / network input and,
where its data needs it (RAW mosaics), its own crop geometry. Error messages name the dataset's class.

Not a ``*_dataset.py`` module: it registers nothing.
"""
import copy
import random
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from os import path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch.utils import data

from basicsr_skt.data.data_util import BASICSR_DATASET_KEYS, positive_int_option
from basicsr_skt.data.lmdb_format import META_INFO_NAME, SKB_EMBEDDING_KEY, SKB_LABELS_KEY, SKB_META_KEY, is_lmdb_folder
from basicsr_skt.data.scene_reader import SKB_FILES, SceneReader, SceneRecord
from basicsr_skt.skb.format import check_crc, validate_meta
from basicsr_skt.skb.geometry import check_embedding_geometry, resample_embedding
from basicsr_skt.utils.option_checks import warn_unknown_keys
from basicsr_skt.utils.paths import check_name
from basicsr_skt.utils.scan import natural_key

__all__ = ['MultiExposureBase', 'CropWindow', 'BACKENDS', 'SHARED_OPTION_KEYS']

BACKENDS = ('disk', 'lmdb')
#: Option keys read by every multi-exposure dataset (each dataset adds its own ``OPTION_KEYS``).
SHARED_OPTION_KEYS = frozenset({
    'dataroot', 'num_frames', 'gt_size', 'use_hflip', 'use_rot', 'cache_images', 'scene_list', 'exclude_scenes',
    'io_backend', 'skb'
})


@dataclass(frozen=True)
class CropWindow:
    """One training crop: the window read from the stored grid and the flips applied to it afterwards.

    Attributes:
        top: First row of the window (>= 0).
        left: First column of the window (>= 0).
        height: Rows read (the crop size, plus one packed row for a Bayer-exact vertical flip of RAW data).
        width: Columns read (likewise for a horizontal flip).
        hflip: Mirror the columns.
        vflip: Mirror the rows.
        rot90: Transpose rows and columns (after the flips).
    """
    top: int
    left: int
    height: int
    width: int
    hflip: bool
    vflip: bool
    rot90: bool


class MultiExposureBase(data.Dataset, metaclass=ABCMeta):
    """Shared options, storage, scene selection, crops, augmentation and semantic priors of the multi-exposure
    datasets (BasicSR's dataset contract: built from the option dict, which is copied, never modified).

    Shared options: ``dataroot`` (folder of scene folders, or an ``.lmdb`` folder), ``phase`` (``'train'`` crops and
    augments; anything else gives whole images), ``num_frames`` (default :attr:`DEFAULT_NUM_FRAMES`), ``gt_size``
    (square training crop, required in training), ``use_hflip`` / ``use_rot`` (training flips, default true),
    ``cache_images`` (folder backend: keep decoded scenes, default true), ``scene_list`` / ``exclude_scenes`` (names, or
    a text file with one per line), ``io_backend`` (``{type: disk}`` or ``{type: lmdb}``) and ``skb`` (semantic
    priors: the crop's in training, the whole image's otherwise; every scene must have them).

    Training items draw one :class:`CropWindow` per item with python's ``random`` (seeded by BasicSR), read only
    that window of every image record and of the priors, then flip all of them alike.

    Subclasses set :attr:`OPTION_KEYS` and :attr:`DEFAULT_NUM_FRAMES` and implement :meth:`_read_format_options`,
    :meth:`_make_reader`, :meth:`_image_keys`, :meth:`_scene_layout` and :meth:`_make_item`; a dataset whose crops
    need another geometry overrides :meth:`_draw_window`, :meth:`_augment` and :meth:`_augment_priors`.

    Raises:
        ValueError: Bad options, a missing or mismatched ``dataroot``, unknown scenes in ``scene_list`` /
            ``exclude_scenes``, no scenes, or (``skb: true``) scenes without priors; the message starts with the
            dataset's class name.
    """

    #: The dataset's own option keys (besides :data:`SHARED_OPTION_KEYS` and BasicSR's).
    OPTION_KEYS: frozenset = frozenset()
    #: ``num_frames`` when the options do not give it.
    DEFAULT_NUM_FRAMES: int = 3

    def __init__(self, opt: Dict):
        super().__init__()
        self.opt = copy.deepcopy(dict(opt))
        warn_unknown_keys(f'dataset {self.opt.get("name", "")!r} ({type(self).__name__})', self.opt,
                          BASICSR_DATASET_KEYS | SHARED_OPTION_KEYS | self.OPTION_KEYS)
        self.is_train = self.opt.get('phase') == 'train'
        self.num_frames = positive_int_option(self.opt.get('num_frames', self.DEFAULT_NUM_FRAMES), 'num_frames')
        self._read_format_options()
        self.gt_size = self._read_gt_size()
        self.use_hflip = self.is_train and bool(self.opt.get('use_hflip', True))
        self.use_rot = self.is_train and bool(self.opt.get('use_rot', True))
        self.cache_images = bool(self.opt.get('cache_images', True))
        # Semantic priors feed the SKT teacher: training crops, and whole images at validation (the teacher's held-out
        # metrics). The ORM itself never reads them; test configs simply leave ``skb`` off.
        self.use_skb = bool(self.opt.get('skb', False))
        self.backend = self._read_io_backend()
        self.dataroot = self._read_dataroot()
        self.reader = self._make_reader()
        self.scenes = [self.reader.index_scene(name) for name in self._scene_names()]
        self._skb_checked: set = set()
        if self.use_skb:
            self._check_priors_present()

    # ------------------------------------------------------------------ what a dataset adds
    @abstractmethod
    def _read_format_options(self) -> None:
        """Parse the dataset's own options (called after ``num_frames``); sets at least :attr:`ref_index`."""

    @abstractmethod
    def _make_reader(self) -> SceneReader:
        """The reader of :attr:`dataroot` for :attr:`backend`."""

    @abstractmethod
    def _image_keys(self) -> List[str]:
        """Image-like records read per item: the frames given to the network, then the GT."""

    @abstractmethod
    def _scene_layout(self) -> str:
        """What one scene folder holds, for the "no scenes found" message."""

    @abstractmethod
    def _make_item(self, record: SceneRecord, images: List[np.ndarray], meta: Dict[str, object]) -> Dict[str, object]:
        """The item of one scene from its (cropped, flipped) image records, in :meth:`_image_keys` order, and its
        :meth:`scene_meta`; the base appends the priors."""

    def scene_meta(self, scene: str) -> Dict[str, object]:
        """Per-scene metadata given to :meth:`_make_item`, read before any image (none here: ``{}``)."""
        return {}

    # ------------------------------------------------------------------ options
    def _error(self, message: str) -> ValueError:
        """A ``ValueError`` whose message starts with the dataset's class name."""
        return ValueError(f'{type(self).__name__}: {message}')

    def _read_gt_size(self) -> int:
        gt_size = self.opt.get('gt_size')
        if gt_size is None:
            if self.is_train:
                raise self._error("option gt_size (training crop size) is required when phase == 'train'")
            return 0
        return positive_int_option(gt_size, 'gt_size')

    def _read_io_backend(self) -> str:
        backend = self.opt.get('io_backend') or {'type': 'disk'}
        backend_type = backend.get('type') if isinstance(backend, dict) else None
        if backend_type not in BACKENDS or set(backend) != {'type'}:
            raise self._error('io_backend must be {type: disk} (scene folders) or {type: lmdb} (dataroot is the '
                              f'.lmdb folder), got {backend!r}')
        return backend_type

    def _read_dataroot(self) -> str:
        dataroot = self.opt.get('dataroot')
        if not dataroot:
            raise self._error('option dataroot (folder of scene folders) is required')
        dataroot = osp.expanduser(str(dataroot))
        if not osp.isdir(dataroot):
            raise self._error(f'dataroot {dataroot} is not a folder')
        if self.backend == 'disk' and is_lmdb_folder(dataroot):
            raise self._error(f'dataroot {dataroot} is an LMDB database: set io_backend: {{type: lmdb}} to read it '
                              "(type 'disk' reads scene folders)")
        if self.backend == 'lmdb' and not is_lmdb_folder(dataroot):
            raise self._error(f'io_backend type lmdb needs dataroot to be an .lmdb folder made by '
                              f'scripts/make_lmdb.py, but {dataroot} has no data.mdb / {META_INFO_NAME}; use '
                              'io_backend: {type: disk} for a folder of scene folders')
        return dataroot

    # ------------------------------------------------------------------ scene selection
    def _scene_names(self) -> List[str]:
        available = sorted(self.reader.scene_names(), key=natural_key)
        scene_list = self.opt.get('scene_list')
        if scene_list is None:
            names = available
        else:
            names = self._read_scene_list(scene_list)
            missing = [name for name in names if name not in available]
            if missing:
                raise self._error(f'scene(s) {missing} from scene_list not found in {self.dataroot}')
        exclude = self.opt.get('exclude_scenes')
        if exclude is not None:
            excluded = self._read_scene_list(exclude)
            unknown = [name for name in excluded if name not in available]
            if unknown:
                raise self._error(f'scene(s) {unknown} from exclude_scenes not found in {self.dataroot}')
            names = [name for name in names if name not in set(excluded)]
        if not names:
            raise self._error(f'no scenes found in {self.dataroot} (expected one folder per scene with '
                              f'{self._scene_layout()})')
        for name in names:  # scene names become result file names: never a path
            check_name(name, f'Scene name in {self.dataroot}')
        return names

    def _read_scene_list(self, scene_list: object) -> List[str]:
        if isinstance(scene_list, str):
            if not osp.isfile(scene_list):
                raise self._error(f'scene_list file {scene_list} does not exist')
            with open(scene_list, 'r', encoding='utf-8') as f:
                return [line.strip() for line in f if line.strip() and not line.strip().startswith('#')]
        if isinstance(scene_list, (list, tuple)) and all(isinstance(name, str) for name in scene_list):
            return list(scene_list)
        raise ValueError(f'Option scene_list must be a list of scene names or a text file, got {scene_list!r}')

    # ------------------------------------------------------------------ crop / augment
    def _draw_window(self, record: SceneRecord) -> CropWindow:
        """A ``gt_size`` window drawn from the image size, then hflip / vflip / transpose drawn like BasicSR's
        ``augment``."""
        height, width = self.reader.image_size(record.name)
        if self.gt_size > height or self.gt_size > width:
            raise ValueError(f'Scene {record.name!r}: gt_size={self.gt_size} is larger than the images '
                             f'({width} x {height}, {record.gt_path})')
        top = random.randint(0, height - self.gt_size)
        left = random.randint(0, width - self.gt_size)
        hflip = self.use_hflip and random.random() < 0.5
        vflip = self.use_rot and random.random() < 0.5
        rot90 = self.use_rot and random.random() < 0.5
        return CropWindow(top, left, self.gt_size, self.gt_size, hflip, vflip, rot90)

    def _augment(self, images: Sequence[np.ndarray], window: CropWindow) -> List[np.ndarray]:
        """The window's flips, the same for every (h, w, C) image; returns views."""
        images = list(images)
        if window.hflip:
            images = [img[:, ::-1] for img in images]
        if window.vflip:
            images = [img[::-1] for img in images]
        if window.rot90:
            images = [img.transpose(1, 0, 2) for img in images]
        return images

    def _augment_priors(self, priors: Sequence[np.ndarray], window: CropWindow) -> List[np.ndarray]:
        """The window's flips for the (h, w, C) prior maps (here: those of the images)."""
        return self._augment(priors, window)

    def read_training_crop(self, record: SceneRecord) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Draw a :class:`CropWindow`, read only that window of every image record (and, with ``skb``, of the
        priors), and flip them alike.

        Returns:
            ``(images, priors)``: the image records in :meth:`_image_keys` order, each (gt_size, gt_size, C); the
            priors ``[embedding (gt_size, gt_size, C_e) float32, labels (gt_size, gt_size, 1) uint16]``, or ``[]``.
        """
        window = self._draw_window(record)
        images = self.reader.read_windows(record.name, self._image_keys(), window.top, window.left, window.height,
                                          window.width)
        priors = []
        if self.use_skb:
            priors = self._augment_priors(
                self._read_skb_window(record, window.top, window.left, window.height, window.width), window)
        return self._augment(images, window), priors

    def read_whole_scene(self, record: SceneRecord) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Every image record whole (read-only arrays), and with ``skb`` the priors of the whole image; as
        :meth:`read_training_crop`."""
        images = [self.reader.read_full(record.name, key) for key in self._image_keys()]
        priors = []
        if self.use_skb:
            height, width = images[-1].shape[:2]
            priors = self._read_skb_window(record, 0, 0, height, width)
        return images, priors

    # ------------------------------------------------------------------ semantic priors
    def _check_priors_present(self) -> None:
        """With ``skb: true`` every scene needs its semantic-prior records; name the scenes that lack them."""
        missing = [record.name for record in self.scenes if not set(SKB_FILES) <= set(self.reader.keys(record.name))]
        if missing:
            files = ', '.join(SKB_FILES.values())
            raise self._error(f'skb is true but {len(missing)} scene(s) of {self.dataroot} have no semantic priors '
                              f'({files}): {missing[:5]}{" ..." if len(missing) > 5 else ""}. Run '
                              'scripts/make_semantic_priors.py --dataroot on the scene folders (then re-pack an LMDB), '
                              'or set skb: false')

    def _skb_name(self, scene: str, key: str) -> str:
        if self.backend == 'lmdb':
            return f'LMDB {self.dataroot} record {scene}/{key}'
        return osp.join(self.dataroot, scene, SKB_FILES[key])

    def _check_scene_priors(self, scene: str, meta: object, embedding: np.ndarray, labels: np.ndarray) -> None:
        """The priors of one scene fit its images (checked once per scene and process): meta keys, label map size,
        embedding shape and grid geometry. A mismatch would otherwise misplace the priors silently."""
        if scene in self._skb_checked:
            return
        height, width = self.reader.image_size(scene)
        meta_name = self._skb_name(scene, SKB_META_KEY)
        validate_meta(meta, meta_name)
        if tuple(meta['image_size']) != (height, width):
            raise ValueError(f'Scene {scene!r}: {meta_name} says image_size {list(meta["image_size"])} but the images '
                             f'are {height} x {width} (H x W): the priors were made for another image; remake them '
                             'with scripts/make_semantic_priors.py --force')
        if labels.shape != (height, width):
            raise ValueError(f'Scene {scene!r}: label map {self._skb_name(scene, SKB_LABELS_KEY)} is '
                             f'{"x".join(str(n) for n in labels.shape)} but the images are {height} x {width} (H x W); '
                             'remake the priors with scripts/make_semantic_priors.py --force')
        embedding_name = self._skb_name(scene, SKB_EMBEDDING_KEY)
        if embedding.ndim != 3 or list(embedding.shape) != list(meta['embedding_shape']):
            raise ValueError(f'Scene {scene!r}: embedding {embedding_name} has shape {list(embedding.shape)}, '
                             f'{meta_name} says {list(meta["embedding_shape"])}; remake the priors with '
                             'scripts/make_semantic_priors.py --force')
        check_embedding_geometry(embedding.shape, meta['cell_size'], (height, width),
                                 f'Scene {scene!r}: {embedding_name}')
        for key, value in ((SKB_META_KEY, meta), (SKB_EMBEDDING_KEY, embedding), (SKB_LABELS_KEY, labels)):
            check_crc(SKB_FILES[key], self._skb_name(scene, key), value, meta)  # damage since writing
        self._skb_checked.add(scene)

    def _read_skb_window(self, record: SceneRecord, top: int, left: int, height: int, width: int) -> List[np.ndarray]:
        """The priors of pixels ``[top, top+height) x [left, left+width)``: (height, width, C) float32 embedding
        resampled to the pixel grid and the (height, width, 1) label map."""
        meta = self.reader.read_full(record.name, SKB_META_KEY)
        embedding = self.reader.read_full(record.name, SKB_EMBEDDING_KEY)
        labels = self.reader.read_full(record.name, SKB_LABELS_KEY)
        self._check_scene_priors(record.name, meta, embedding, labels)
        crop = resample_embedding(embedding, tuple(meta['cell_size']), top, left, height, width, channels_last=True)
        return [crop, labels[top:top + height, left:left + width, None]]

    @staticmethod
    def _prior_tensors(embedding: np.ndarray, labels: np.ndarray) -> Dict[str, torch.Tensor]:
        """``skb_embedding`` float32 (C, h, w) and ``skb_labels`` int64 (h, w) of an item."""
        return {
            'skb_embedding': torch.from_numpy(np.array(embedding.transpose(2, 0, 1), np.float32, order='C')),
            'skb_labels': torch.from_numpy(np.array(labels[..., 0], np.int64, order='C'))
        }

    # ------------------------------------------------------------------ items
    def __getitem__(self, index: int) -> Dict[str, object]:
        record = self.scenes[index]
        meta = self.scene_meta(record.name)
        images, priors = self.read_training_crop(record) if self.is_train else self.read_whole_scene(record)
        if self.backend == 'lmdb':
            self._check_gt_values(record, images[-1])  # files are checked when decoded; LMDB bytes are not
        item = self._make_item(record, images, meta)
        if priors:
            item.update(self._prior_tensors(*priors))
        return item

    @staticmethod
    def _check_gt_values(record: SceneRecord, gt: np.ndarray) -> None:
        """NaN/Inf/negative GT values from an LMDB (a corrupt record) would silently poison the loss."""
        num_bad = int(gt.size - np.count_nonzero(np.isfinite(gt)))
        num_negative = int(np.count_nonzero(gt < 0))
        if num_bad or num_negative:
            raise ValueError(f'Scene {record.name!r}: GT {record.gt_path} holds {num_bad} NaN/Inf and {num_negative} '
                             'negative values: the database is corrupt. Check it with scripts/make_lmdb.py --verify '
                             'and rebuild it with --force')

    def __len__(self) -> int:
        return len(self.scenes)
