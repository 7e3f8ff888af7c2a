"""Multi-exposure LDR brackets + HDR ground truth (Kalantari'17 layout, or its LMDB), cropped on the fly."""
import copy
import random
from os import path as osp
from typing import Dict, List, Sequence

import numpy as np
import torch
from torch.utils import data

from basicsr.utils.registry import DATASET_REGISTRY
from basicsr_skt.data.data_util import BASICSR_DATASET_KEYS, positive_int_option
from basicsr_skt.data.lmdb_format import (EXPOSURES_KEY, GT_KEY, META_INFO_NAME, SKB_EMBEDDING_KEY, SKB_LABELS_KEY,
                                          SKB_META_KEY, is_lmdb_folder, lq_key)
from basicsr_skt.data.lmdb_reader import LmdbSceneReader
from basicsr_skt.data.scene_reader import SKB_FILES, FolderSceneReader, SceneReader, SceneRecord
from basicsr_skt.skb.format import validate_meta
from basicsr_skt.skb.geometry import check_embedding_geometry, resample_embedding
from basicsr_skt.utils.hdr_io import LDR_WHITE_LEVELS
from basicsr_skt.utils.input_checks import warn_unknown_keys
from basicsr_skt.utils.scan import natural_key

__all__ = ['HDRMultiExposureDataset']

_OWN_KEYS = {
    'dataroot', 'ldr_glob', 'gt_glob', 'exposure_file', 'num_frames', 'gamma', 'gt_size', 'use_hflip', 'use_rot',
    'cache_images', 'scene_list', 'exclude_scenes', 'io_backend', 'skb'
}
_BACKENDS = ('disk', 'lmdb')


def _as_list(value: object, key: str) -> List[str]:
    """A glob option given as one string or a list of strings."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not values or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f'Option {key!r} must be a glob string or a non-empty list of glob strings, got {value!r}')
    return list(values)


@DATASET_REGISTRY.register()
class HDRMultiExposureDataset(data.Dataset):
    """Multi-exposure HDR dataset in the Kalantari'17 layout (also Tel'23 / SCTNet), read from disk or from an LMDB.

    Layout (``io_backend: {type: disk}``): ``dataroot/<scene>/`` holds ``num_frames`` LDR frames (``ldr_glob``), an
    exposure file with one EV per frame and an HDR ground truth (``gt_glob``, ``.hdr`` or ``.exr``). Frames are ordered
    by file name (natural order), which in Kalantari's data is shortest to longest exposure; the exposure file follows
    the same order. The reference frame, to which the GT is aligned, is the middle one: index ``num_frames // 2``
    (:attr:`ref_index`). With ``io_backend: {type: lmdb}``, ``dataroot`` is an ``.lmdb`` folder made by
    ``scripts/make_lmdb.py`` from such a folder; scenes, frame counts and sizes come from its ``meta_info.txt``.

    Every image stays in OpenCV's **BGR** channel order. In the training phase one random ``gt_size`` crop location
    and one random flip / rot90 are drawn per item (with python's ``random``, seeded by BasicSR's
    ``set_random_seed`` and ``worker_init_fn``, so runs are reproducible) and applied identically to all frames and
    the GT. The crop window is drawn from the image size first and only that window is read from the backend (a view
    of the cached image for ``disk``; the window's rows of the memory-mapped record for ``lmdb``), so both backends
    give identical items for the same seed. The HDR-domain channels ``L ** gamma / t`` are computed after cropping.
    Other phases return full images.

    Options (``opt`` is BasicSR's dataset option dict; it is copied, never modified):
        dataroot (str): Folder with one sub-folder per scene (``disk``), or the ``.lmdb`` folder (``lmdb``). Required.
        phase (str): ``'train'`` crops and augments; anything else returns full images. Set by BasicSR.
        ldr_glob (str | list[str]): LDR frame pattern(s), e.g. ``['*.tif', '*.png']``. Default ``'*.tif'``. Disk only.
        gt_glob (str | list[str]): GT pattern(s); exactly one file must match. Default ``'HDRImg.hdr'``. Disk only.
        exposure_file (str): EV file name inside each scene. Default ``'exposure.txt'``. Disk only.
        num_frames (int): Expected frames per scene. Default 3.
        gamma (float): Camera response exponent for ``L ** gamma / t``. Default 2.2.
        gt_size (int): Square training crop size; required when ``phase == 'train'``.
        use_hflip (bool): Random horizontal flip in training. Default True.
        use_rot (bool): Random vertical flip and transpose (rot90) in training. Default True.
        cache_images (bool): Disk only: keep decoded full images in memory after their first read (LDR frames stay
            uint8 / uint16, GT float32; about 45 MB per 1500 x 1000 Kalantari scene). Each data-loader worker fills its
            own cache: set ``persistent_workers: true`` to keep it across epochs, or False to bound memory. Default
            True. (An LMDB needs no cache: the OS page cache shares its pages between workers.)
        scene_list (list[str] | str): Scene names, or a text file with one name per line, to use instead of every
            scene of ``dataroot``.
        exclude_scenes (list[str] | str): Scene names (or a text file) to leave out, e.g. the scenes held out for
            validation from the training split. Every name must exist.
        io_backend (dict): ``{'type': 'disk'}`` (default) or ``{'type': 'lmdb'}``.

    Items (dict):
        lq (Tensor): float32 ``(N, 6, H, W)``: per frame ``concat(L ** gamma / t, L)``, both BGR, ``L`` in [0, 1].
        gt (Tensor): float32 ``(3, H, W)`` BGR linear radiance (Kalantari's GT lies mostly in [0, 1]).
        exposures (Tensor): float32 ``(N,)`` exposure times ``t = 2 ** ev``.
        scene (str): Scene name.
        lq_paths (list[str]): Frame files in frame order (LMDB: ``<dataroot>/<scene>/lq_<i>``).
        gt_path (str): GT file (LMDB: ``<dataroot>/<scene>/gt``).

    Raises:
        ValueError: At construction for bad options, a missing/empty ``dataroot``, a scene with the wrong number of
            frames, a missing/ambiguous GT, or a bad exposure file (LMDB: no ``meta_info.txt``, or a scene whose keys
            are missing from it); when reading an item for unreadable images, frames of different sizes, a GT of
            another size, frames of different bit depths, NaN/Inf/negative GT values, ``gt_size`` larger than the image,
            semantic priors that do not fit the scene (LMDB: a key missing from the database, a record whose size
            does not match ``meta_info.txt``). Each message names the scene and the file or key; see
            ``docs/bad-inputs.md``. Unknown option keys are logged as warnings with a "did you mean" suggestion.
    """

    def __init__(self, opt: Dict):
        super().__init__()
        self.opt = copy.deepcopy(dict(opt))
        self._warn_unknown_keys()
        self.is_train = self.opt.get('phase') == 'train'
        self.num_frames = positive_int_option(self.opt.get('num_frames', 3), 'num_frames')
        self.ref_index = self.num_frames // 2
        self.gamma = float(self.opt.get('gamma', 2.2))
        if self.gamma <= 0:
            raise ValueError(f'Option gamma must be > 0, got {self.gamma}')
        self.gt_size = self._read_gt_size()
        self.use_hflip = self.is_train and bool(self.opt.get('use_hflip', True))
        self.use_rot = self.is_train and bool(self.opt.get('use_rot', True))
        self.cache_images = bool(self.opt.get('cache_images', True))
        # Semantic priors feed the SKT teacher: training crops, and whole images at validation (the teacher's held-out
        # metrics). The ORM itself never reads them; test configs simply leave ``skb`` off.
        self.use_skb = bool(self.opt.get('skb', False))
        self.ldr_globs = _as_list(self.opt.get('ldr_glob', '*.tif'), 'ldr_glob')
        self.gt_globs = _as_list(self.opt.get('gt_glob', 'HDRImg.hdr'), 'gt_glob')
        self.exposure_file = str(self.opt.get('exposure_file', 'exposure.txt'))
        self.backend = self._read_io_backend()
        self.dataroot = self._read_dataroot()
        self.reader = self._make_reader()
        self.scenes = [self.reader.index_scene(name) for name in self._scene_names()]
        self._skb_checked: set = set()
        if self.use_skb:
            self._check_priors_present()

    # ------------------------------------------------------------------ options
    def _warn_unknown_keys(self) -> None:
        """Warn (BasicSR's logger) about option keys nothing reads, suggesting the closest known key."""
        warn_unknown_keys(f'dataset {self.opt.get("name", "")!r} (HDRMultiExposureDataset)', self.opt,
                          BASICSR_DATASET_KEYS | _OWN_KEYS)

    def _read_gt_size(self) -> int:
        gt_size = self.opt.get('gt_size')
        if gt_size is None:
            if self.is_train:
                raise ValueError('HDRMultiExposureDataset: option gt_size (training crop size) is required when '
                                 "phase == 'train'")
            return 0
        return positive_int_option(gt_size, 'gt_size')

    def _read_io_backend(self) -> str:
        backend = self.opt.get('io_backend') or {'type': 'disk'}
        backend_type = backend.get('type') if isinstance(backend, dict) else None
        if backend_type not in _BACKENDS or set(backend) != {'type'}:
            raise ValueError(f'HDRMultiExposureDataset: io_backend must be {{type: disk}} (scene folders) or '
                             f'{{type: lmdb}} (dataroot is the .lmdb folder), got {backend!r}')
        return backend_type

    def _read_dataroot(self) -> str:
        dataroot = self.opt.get('dataroot')
        if not dataroot:
            raise ValueError('HDRMultiExposureDataset: option dataroot (folder of scene folders) is required')
        dataroot = osp.expanduser(str(dataroot))
        if not osp.isdir(dataroot):
            raise ValueError(f'HDRMultiExposureDataset: dataroot {dataroot} is not a folder')
        if self.backend == 'disk' and is_lmdb_folder(dataroot):
            raise ValueError(f'HDRMultiExposureDataset: dataroot {dataroot} is an LMDB database: set '
                             "io_backend: {type: lmdb} to read it (type 'disk' reads scene folders)")
        if self.backend == 'lmdb' and not is_lmdb_folder(dataroot):
            raise ValueError(f'HDRMultiExposureDataset: io_backend type lmdb needs dataroot to be an .lmdb folder made '
                             f'by scripts/make_lmdb.py, but {dataroot} has no data.mdb / {META_INFO_NAME}; use '
                             "io_backend: {type: disk} for a folder of scene folders")
        return dataroot

    def _make_reader(self) -> SceneReader:
        if self.backend == 'lmdb':
            return LmdbSceneReader(self.dataroot, num_frames=self.num_frames)
        return FolderSceneReader(self.dataroot, self.ldr_globs, self.gt_globs, self.exposure_file, self.num_frames,
                                 self.cache_images)

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
                raise ValueError(f'HDRMultiExposureDataset: scene(s) {missing} from scene_list not found in '
                                 f'{self.dataroot}')
        exclude = self.opt.get('exclude_scenes')
        if exclude is not None:
            excluded = self._read_scene_list(exclude)
            unknown = [name for name in excluded if name not in available]
            if unknown:
                raise ValueError(f'HDRMultiExposureDataset: scene(s) {unknown} from exclude_scenes not found in '
                                 f'{self.dataroot}')
            names = [name for name in names if name not in set(excluded)]
        if not names:
            raise ValueError(f'HDRMultiExposureDataset: no scenes found in {self.dataroot} (expected one folder per '
                             f'scene with {self.num_frames} frames {self.ldr_globs}, {self.exposure_file} and '
                             f'{self.gt_globs})')
        return names

    @staticmethod
    def _read_scene_list(scene_list: object) -> List[str]:
        if isinstance(scene_list, str):
            if not osp.isfile(scene_list):
                raise ValueError(f'HDRMultiExposureDataset: scene_list file {scene_list} does not exist')
            with open(scene_list, 'r', encoding='utf-8') as f:
                return [line.strip() for line in f if line.strip() and not line.strip().startswith('#')]
        if isinstance(scene_list, (list, tuple)) and all(isinstance(name, str) for name in scene_list):
            return list(scene_list)
        raise ValueError(f'Option scene_list must be a list of scene names or a text file, got {scene_list!r}')

    # ------------------------------------------------------------------ crop / augment
    def _image_keys(self) -> List[str]:
        """Records read per item: the frames, then the GT."""
        return [lq_key(i) for i in range(self.num_frames)] + [GT_KEY]

    def _read_random_crop(self, record: SceneRecord, keys: Sequence[str]) -> List[np.ndarray]:
        """Draw the crop window from the image size, then read only that window of every record (and, with
        ``skb: true``, the SKB crop appended as two H x W x C arrays: embedding resampled to the pixel grid, labels)."""
        height, width = self.reader.image_size(record.name)
        if self.gt_size > height or self.gt_size > width:
            raise ValueError(f'Scene {record.name!r}: gt_size={self.gt_size} is larger than the images '
                             f'({width} x {height}, {record.gt_path})')
        top = random.randint(0, height - self.gt_size)
        left = random.randint(0, width - self.gt_size)
        images = self.reader.read_windows(record.name, keys, top, left, self.gt_size, self.gt_size)
        if self.use_skb:
            images = list(images) + self._read_skb_window(record, top, left, self.gt_size, self.gt_size)
        return images

    # ------------------------------------------------------------------ semantic priors
    def _check_priors_present(self) -> None:
        """With ``skb: true`` every scene needs its semantic-prior records; name the scenes that lack them."""
        missing = [record.name for record in self.scenes if not set(SKB_FILES) <= set(self.reader.keys(record.name))]
        if missing:
            files = ', '.join(SKB_FILES.values())
            raise ValueError(f'HDRMultiExposureDataset: skb is true but {len(missing)} scene(s) of {self.dataroot} '
                             f'have no semantic priors ({files}): {missing[:5]}{" ..." if len(missing) > 5 else ""}. '
                             'Run scripts/make_semantic_priors.py --dataroot on the scene folders (then re-pack an '
                             'LMDB), or set skb: false')

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

    def _augment(self, images: List[np.ndarray]) -> List[np.ndarray]:
        """Same hflip / vflip / transpose for every image, drawn like BasicSR's ``augment``; returns views."""
        hflip = self.use_hflip and random.random() < 0.5
        vflip = self.use_rot and random.random() < 0.5
        rot90 = self.use_rot and random.random() < 0.5
        if hflip:
            images = [img[:, ::-1] for img in images]
        if vflip:
            images = [img[::-1] for img in images]
        if rot90:
            images = [img.transpose(1, 0, 2) for img in images]
        return images

    # ------------------------------------------------------------------ items
    def _network_input(self, frames: List[np.ndarray], times: np.ndarray) -> torch.Tensor:
        """Per frame ``concat(L ** gamma / t, L)`` -> float32 tensor (N, 6, H, W), written in place channels-first."""
        height, width = frames[0].shape[:2]
        stacked = np.empty((len(frames), 6, height, width), np.float32)
        for index, (frame, t) in enumerate(zip(frames, times)):
            ldr, linear = stacked[index, 3:], stacked[index, :3]
            np.divide(frame.transpose(2, 0, 1), np.float32(LDR_WHITE_LEVELS[frame.dtype]), out=ldr)
            np.power(ldr, np.float32(self.gamma), out=linear)  # ldr_to_linear (L ** gamma / t), without temporaries
            np.divide(linear, np.float32(t), out=linear)
        return torch.from_numpy(stacked)

    def __getitem__(self, index: int) -> Dict[str, object]:
        record = self.scenes[index]
        keys = self._image_keys()
        if self.is_train:
            images = self._augment(self._read_random_crop(record, keys))
        else:
            images = [self.reader.read_full(record.name, key) for key in keys]
            if self.use_skb:
                height, width = images[-1].shape[:2]
                images += self._read_skb_window(record, 0, 0, height, width)
        exposures = np.asarray(self.reader.read_full(record.name, EXPOSURES_KEY), dtype=np.float32)
        skb = {}
        if self.use_skb:
            embedding, labels = images[-2:]
            images = images[:-2]
            skb = {
                'skb_embedding': torch.from_numpy(np.array(embedding.transpose(2, 0, 1), np.float32, order='C')),
                'skb_labels': torch.from_numpy(np.array(labels[..., 0], np.int64, order='C'))
            }
        if self.backend == 'lmdb':
            self._check_gt_values(record, images[-1])  # files are checked by read_hdr; LMDB bytes are not
        lq = self._network_input(images[:-1], exposures)
        gt_tensor = torch.from_numpy(np.array(images[-1].transpose(2, 0, 1), dtype=np.float32, order='C'))
        return {
            'lq': lq,
            'gt': gt_tensor,
            'exposures': torch.from_numpy(exposures.copy()),
            'scene': record.name,
            'lq_paths': list(record.lq_paths),
            'gt_path': record.gt_path,
            **skb,
        }

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
