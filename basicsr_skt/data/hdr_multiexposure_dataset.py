"""Multi-exposure LDR brackets + HDR ground truth in the Kalantari'17 folder layout, cropped on the fly."""
import copy
import glob
import os
import random
import re
from dataclasses import dataclass
from os import path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch.utils import data

from basicsr.utils import get_root_logger
from basicsr.utils.registry import DATASET_REGISTRY
from basicsr_skt.utils.hdr_io import exposure_times, ldr_to_linear, read_exposure_values, read_hdr, read_ldr_raw

# Keys BasicSR itself puts into or reads from a dataset's option dict (not ours, but expected).
_BASICSR_KEYS = {
    'name', 'type', 'phase', 'scale', 'use_shuffle', 'num_worker_per_gpu', 'batch_size_per_gpu',
    'dataset_enlarge_ratio', 'prefetch_mode', 'pin_memory', 'persistent_workers', 'num_prefetch_queue'
}
_OWN_KEYS = {
    'dataroot', 'ldr_glob', 'gt_glob', 'exposure_file', 'num_frames', 'gamma', 'gt_size', 'use_hflip', 'use_rot',
    'cache_images', 'scene_list', 'exclude_scenes', 'io_backend'
}


@dataclass(frozen=True)
class SceneRecord:
    """Files of one scene, found at construction.

    Attributes:
        name: Scene folder name.
        lq_paths: LDR frames, sorted by file name (natural order: shortest exposure first in Kalantari's data).
        gt_path: HDR ground truth, aligned with the reference (middle) frame.
        exposures: float32 exposure times ``t = 2 ** ev``, one per frame, shape (N,).
    """
    name: str
    lq_paths: Tuple[str, ...]
    gt_path: str
    exposures: np.ndarray


def _natural_key(text: str) -> List[object]:
    """Sort key that orders ``input_2`` before ``input_10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', text)]


def _as_list(value: object, key: str) -> List[str]:
    """A glob option given as one string or a list of strings."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not values or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f'Option {key!r} must be a glob string or a non-empty list of glob strings, got {value!r}')
    return list(values)


def _positive_int(value: object, key: str) -> int:
    """Validate an option that must be a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f'Option {key!r} must be a positive integer, got {value!r}')
    return int(value)


def _matching_files(folder: str, patterns: Sequence[str]) -> List[str]:
    """Files in ``folder`` matching any of ``patterns``, deduplicated, in natural file-name order."""
    found = {
        path
        for pattern in patterns
        for path in glob.glob(osp.join(glob.escape(folder), pattern)) if osp.isfile(path)
    }
    return sorted(found, key=lambda path: _natural_key(osp.basename(path)))


@DATASET_REGISTRY.register()
class HDRMultiExposureDataset(data.Dataset):
    """Multi-exposure HDR dataset in the Kalantari'17 layout (also Tel'23 / SCTNet), read from disk.

    Layout: ``dataroot/<scene>/`` holds ``num_frames`` LDR frames (``ldr_glob``), an exposure file with one EV per
    frame and an HDR ground truth (``gt_glob``, ``.hdr`` or ``.exr``). Frames are ordered by file name (natural
    order), which in Kalantari's data is shortest to longest exposure; the exposure file follows the same order. The
    reference frame, to which the GT is aligned, is the middle one: index ``num_frames // 2`` (:attr:`ref_index`).

    Every image stays in OpenCV's **BGR** channel order. In the training phase one random ``gt_size`` crop location
    and one random flip / rot90 are drawn per item (with python's ``random``, seeded by BasicSR's
    ``set_random_seed`` and ``worker_init_fn``, so runs are reproducible) and applied identically to all frames and
    the GT; the HDR-domain channels ``L ** gamma / t`` are computed after cropping. Other phases return full images.

    Options (``opt`` is BasicSR's dataset option dict; it is copied, never modified):
        dataroot (str): Folder with one sub-folder per scene. Required.
        phase (str): ``'train'`` crops and augments; anything else returns full images. Set by BasicSR.
        ldr_glob (str | list[str]): LDR frame pattern(s), e.g. ``['*.tif', '*.png']``. Default ``'*.tif'``.
        gt_glob (str | list[str]): GT pattern(s); exactly one file must match. Default ``'HDRImg.hdr'``.
        exposure_file (str): EV file name inside each scene. Default ``'exposure.txt'``.
        num_frames (int): Expected frames per scene. Default 3.
        gamma (float): Camera response exponent for ``L ** gamma / t``. Default 2.2.
        gt_size (int): Square training crop size; required when ``phase == 'train'``.
        use_hflip (bool): Random horizontal flip in training. Default True.
        use_rot (bool): Random vertical flip and transpose (rot90) in training. Default True.
        cache_images (bool): Keep decoded full images in memory after their first read (LDR frames stay uint8 /
            uint16, GT float32; about 45 MB per 1500 x 1000 Kalantari scene). Each data-loader worker fills its own
            cache: set ``persistent_workers: true`` to keep it across epochs, or False to bound memory. Default True.
        scene_list (list[str] | str): Scene names, or a text file with one name per line, to use instead of every
            sub-folder of ``dataroot``.
        exclude_scenes (list[str] | str): Scene names (or a text file) to leave out, e.g. the scenes held out for
            validation from the training split. Every name must exist.
        io_backend (dict): ``{'type': 'disk'}`` (the only backend so far).

    Items (dict):
        lq (Tensor): float32 ``(N, 6, H, W)``: per frame ``concat(L ** gamma / t, L)``, both BGR, ``L`` in [0, 1].
        gt (Tensor): float32 ``(3, H, W)`` BGR linear radiance (Kalantari's GT lies mostly in [0, 1]).
        exposures (Tensor): float32 ``(N,)`` exposure times ``t = 2 ** ev``.
        scene (str): Scene folder name.
        lq_paths (list[str]): Frame files in frame order.
        gt_path (str): GT file.

    Raises:
        ValueError: At construction for bad options, a missing/empty ``dataroot``, a scene with the wrong number of
            frames, a missing/ambiguous GT, or a bad exposure file; when reading an item for unreadable images,
            frames of different sizes, a GT of another size, NaN/Inf in the GT, or ``gt_size`` larger than the
            image. Each message names the scene and the file.
    """

    def __init__(self, opt: Dict):
        super().__init__()
        self.opt = copy.deepcopy(dict(opt))
        self._warn_unknown_keys()
        self.is_train = self.opt.get('phase') == 'train'
        self.num_frames = _positive_int(self.opt.get('num_frames', 3), 'num_frames')
        self.ref_index = self.num_frames // 2
        self.gamma = float(self.opt.get('gamma', 2.2))
        if self.gamma <= 0:
            raise ValueError(f'Option gamma must be > 0, got {self.gamma}')
        self.gt_size = self._read_gt_size()
        self.use_hflip = self.is_train and bool(self.opt.get('use_hflip', True))
        self.use_rot = self.is_train and bool(self.opt.get('use_rot', True))
        self.cache_images = bool(self.opt.get('cache_images', True))
        self.ldr_globs = _as_list(self.opt.get('ldr_glob', '*.tif'), 'ldr_glob')
        self.gt_globs = _as_list(self.opt.get('gt_glob', 'HDRImg.hdr'), 'gt_glob')
        self.exposure_file = str(self.opt.get('exposure_file', 'exposure.txt'))
        self._check_io_backend()
        self.dataroot = self._read_dataroot()
        self.scenes = [self._index_scene(name) for name in self._scene_names()]
        self._cache: Dict[int, Tuple[List[np.ndarray], List[int], np.ndarray]] = {}

    # ------------------------------------------------------------------ options
    def _warn_unknown_keys(self) -> None:
        unknown = sorted(set(self.opt) - _BASICSR_KEYS - _OWN_KEYS)
        if unknown:
            get_root_logger().warning(f'HDRMultiExposureDataset ignores unknown option(s): {unknown}')

    def _read_gt_size(self) -> int:
        gt_size = self.opt.get('gt_size')
        if gt_size is None:
            if self.is_train:
                raise ValueError('HDRMultiExposureDataset: option gt_size (training crop size) is required when '
                                 "phase == 'train'")
            return 0
        return _positive_int(gt_size, 'gt_size')

    def _check_io_backend(self) -> None:
        backend = self.opt.get('io_backend') or {'type': 'disk'}
        backend_type = backend.get('type') if isinstance(backend, dict) else None
        if backend_type != 'disk':
            raise ValueError(f'HDRMultiExposureDataset supports io_backend type "disk" only, got {backend!r}')

    def _read_dataroot(self) -> str:
        dataroot = self.opt.get('dataroot')
        if not dataroot:
            raise ValueError('HDRMultiExposureDataset: option dataroot (folder of scene folders) is required')
        dataroot = osp.expanduser(str(dataroot))
        if not osp.isdir(dataroot):
            raise ValueError(f'HDRMultiExposureDataset: dataroot {dataroot} is not a folder')
        return dataroot

    # ------------------------------------------------------------------ indexing (cheap checks)
    def _scene_names(self) -> List[str]:
        available = sorted((name for name in os.listdir(self.dataroot)
                            if not name.startswith('.') and osp.isdir(osp.join(self.dataroot, name))),
                           key=_natural_key)
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

    def _index_scene(self, name: str) -> SceneRecord:
        folder = osp.join(self.dataroot, name)
        gt_paths = _matching_files(folder, self.gt_globs)
        if len(gt_paths) != 1:
            found = [osp.basename(p) for p in gt_paths] or 'none'
            raise ValueError(f'Scene {name!r} ({folder}): expected exactly one GT file matching {self.gt_globs}, '
                             f'found {found}')
        exposure_path = osp.join(folder, self.exposure_file)
        excluded = {gt_paths[0], exposure_path}
        lq_paths = [path for path in _matching_files(folder, self.ldr_globs) if path not in excluded]
        if len(lq_paths) != self.num_frames:
            raise ValueError(f'Scene {name!r} ({folder}): expected num_frames={self.num_frames} LDR frames matching '
                             f'{self.ldr_globs}, found {len(lq_paths)}: {[osp.basename(p) for p in lq_paths]}')
        if not osp.isfile(exposure_path):
            raise ValueError(f'Scene {name!r}: exposure file {exposure_path} is missing')
        try:
            evs = read_exposure_values(exposure_path)
        except ValueError as err:
            raise ValueError(f'Scene {name!r}: {err}') from err
        if len(evs) != self.num_frames:
            raise ValueError(f'Scene {name!r}: exposure file {exposure_path} has {len(evs)} values, expected one per '
                             f'frame ({self.num_frames})')
        return SceneRecord(name, tuple(lq_paths), gt_paths[0], exposure_times(evs))

    # ------------------------------------------------------------------ reading (full checks)
    def _read_scene_images(self, record: SceneRecord) -> Tuple[List[np.ndarray], List[int], np.ndarray]:
        """Decode one scene: (uint8/uint16 BGR frames, their white levels, float32 BGR GT).

        Raises ``ValueError`` naming the scene and file for unreadable images or mismatched sizes. A future io backend
        (e.g. LMDB) overrides only this method.
        """
        try:
            raw = [read_ldr_raw(path) for path in record.lq_paths]
            gt = read_hdr(record.gt_path)
        except ValueError as err:
            raise ValueError(f'Scene {record.name!r}: {err}') from err
        frames, white_levels = [img for img, _ in raw], [white for _, white in raw]
        ref_shape = frames[0].shape[:2]
        for path, frame in zip(record.lq_paths, frames):
            if frame.shape[:2] != ref_shape:
                raise ValueError(f'Scene {record.name!r}: frame {osp.basename(path)} is {_size(frame)} but '
                                 f'{osp.basename(record.lq_paths[0])} is {_size(frames[0])}; all frames must match')
        if gt.shape[:2] != ref_shape:
            raise ValueError(f'Scene {record.name!r}: GT {osp.basename(record.gt_path)} is {_size(gt)} but the frames '
                             f'are {_size(frames[0])}')
        return frames, white_levels, gt

    def _scene_images(self, index: int) -> Tuple[List[np.ndarray], List[int], np.ndarray]:
        if index in self._cache:
            return self._cache[index]
        images = self._read_scene_images(self.scenes[index])
        if self.cache_images:
            self._cache[index] = images
        return images

    # ------------------------------------------------------------------ crop / augment
    def _random_crop(self, record: SceneRecord, images: List[np.ndarray]) -> List[np.ndarray]:
        height, width = images[0].shape[:2]
        if self.gt_size > height or self.gt_size > width:
            raise ValueError(f'Scene {record.name!r}: gt_size={self.gt_size} is larger than the images '
                             f'({width} x {height}, {record.gt_path})')
        top = random.randint(0, height - self.gt_size)
        left = random.randint(0, width - self.gt_size)
        return [img[top:top + self.gt_size, left:left + self.gt_size] for img in images]

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
    def _network_input(self, frames: List[np.ndarray], white_levels: List[int], times: np.ndarray) -> torch.Tensor:
        """Per frame ``concat(L ** gamma / t, L)`` -> float32 tensor (N, 6, H, W)."""
        stacked = []
        for frame, white, t in zip(frames, white_levels, times):
            ldr = frame.astype(np.float32) / np.float32(white)
            stacked.append(np.concatenate([ldr_to_linear(ldr, np.float32(t), self.gamma), ldr], axis=2))
        return torch.from_numpy(np.ascontiguousarray(np.stack(stacked).transpose(0, 3, 1, 2)))

    def __getitem__(self, index: int) -> Dict[str, object]:
        record = self.scenes[index]
        frames, white_levels, gt = self._scene_images(index)
        images = list(frames) + [gt]
        if self.is_train:
            images = self._augment(self._random_crop(record, images))
        lq = self._network_input(images[:-1], white_levels, record.exposures)
        gt_tensor = torch.from_numpy(np.ascontiguousarray(images[-1].transpose(2, 0, 1), dtype=np.float32))
        return {
            'lq': lq,
            'gt': gt_tensor,
            'exposures': torch.from_numpy(record.exposures.copy()),
            'scene': record.name,
            'lq_paths': list(record.lq_paths),
            'gt_path': record.gt_path,
        }

    def __len__(self) -> int:
        return len(self.scenes)


def _size(img: np.ndarray) -> str:
    """``'W x H'`` of an image array."""
    return f'{img.shape[1]} x {img.shape[0]}'
