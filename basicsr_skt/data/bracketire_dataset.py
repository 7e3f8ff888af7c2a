"""RAW multi-exposure brackets in the BracketIRE layout (or its LMDB), packed RGGB, cropped and flipped Bayer-exactly.

Layout of a scene folder ``dataroot/<scene>/`` (BracketIRE, ICLR 2025; ``scripts/make_raw_brackets.py`` writes it):

* ``raw_1.npy`` ... ``raw_N.npy``: the frames, shortest exposure first (N = 5 by default, exposure ratio 4 between
  neighbours), each an RGGB Bayer mosaic (H, W) (uint16 or float32, black level included) or already packed
  (H/2, W/2, 4).
* ``raw_gt.npy``: the HDR ground truth as linear RAW, float32 mosaic (H, W) (or packed), black level removed, in units
  of the reference frame's white level: 1 = what saturates the reference frame; up to 16 is seen unclipped by the
  frame two stops x 2 shorter. Aligned with the reference frame.
* ``metadata.npy``: ``np.save`` of a dict (read with ``allow_pickle=True``: load only data you trust) with ``wb``
  (3 or 4 white-balance gains), ``ccm`` (3 x 3 camera RGB -> linear sRGB), ``black_level`` (1 or 4 values),
  ``white_level``, ``exposures`` (N exposure times, any unit; default ``4 ** i``) and ``ref_index`` (the frame the GT
  is aligned with; default N // 2). See :func:`basicsr_skt.utils.raw_pipeline.normalise_raw_metadata`.
* Optional semantic priors (``skb_embedding.npy``, ``skb_labels.npy``, ``skb_meta.json``) on the **packed** grid
  (H/2 x W/2), made by ``scripts/make_semantic_priors.py --raw``.

Network input (our choice, the sRGB convention carried over): per selected frame ``concat(x_i / (t_i * s), x_i)``
with ``x_i = clip((raw_i - black) / (white - black), 0, 1)`` packed (4 channels), ``t_i`` the exposure time relative
to the reference frame and ``s = hdr_scale`` (16): 8 channels, (R, G1, G2, B) twice. The target ``gt`` is
``raw_gt / s`` (so that a sigmoid output in [0, 1] covers the shortest useful range), which makes ``MuLawL1Loss`` on
``(output, gt)`` BracketIRE's μ-law loss on RAW / 16.
"""
import glob
import random
from os import path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from basicsr.utils.registry import DATASET_REGISTRY
from basicsr_skt.data.data_util import read_only
from basicsr_skt.data.lmdb_format import (EXPOSURES_KEY, META_INFO_NAME, RAW_DTYPES, RAW_GT_KEY, RAW_META_KEY,
                                          RecordValue, raw_index, raw_key)
from basicsr_skt.data.lmdb_reader import LmdbSceneReader
from basicsr_skt.data.multi_exposure import CropWindow, MultiExposureBase
from basicsr_skt.data.scene_reader import SKB_FILES, FolderSceneReader, SceneReader, SceneRecord
from basicsr_skt.utils.raw_pipeline import (flip_packed, normalise_frame, normalise_raw_metadata, pack_bayer,
                                            transpose_packed)

__all__ = ['BracketIRERawDataset', 'RawFolderSceneReader', 'RawLmdbSceneReader', 'load_raw_array', 'load_metadata']

FRAME_FILE = 'raw_{}.npy'  # 1-based, as BracketIRE names them
GT_FILE = 'raw_gt.npy'
META_FILE = 'metadata.npy'
DEFAULT_NUM_FRAMES = 5
DEFAULT_HDR_SCALE = 16.0


def load_raw_array(path: str, what: str) -> np.ndarray:
    """A RAW ``.npy``: an (H, W) RGGB mosaic is packed to (H/2, W/2, 4); a packed (h, w, 4) array is kept.

    Raises:
        ValueError: Unreadable file, or another shape (the message names ``what`` and the file).
    """
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as err:  # noqa: B902 -- a damaged header fails in numpy's parser (TokenError, SyntaxError ...)
        raise ValueError(f'{what}: cannot read {path}: {err}') from err
    if array.ndim == 2:
        try:
            return pack_bayer(array)
        except ValueError as err:
            raise ValueError(f'{what}: {path}: {err}') from None
    if array.ndim == 3 and array.shape[2] == 4:
        return np.ascontiguousarray(array)
    raise ValueError(f'{what}: {path} has shape {array.shape}; expected an (H, W) RGGB mosaic or packed (H/2, W/2, 4)')


def load_metadata(path: str, num_frames: int) -> Dict[str, object]:
    """Read ``metadata.npy`` (a pickled dict) and normalise it (see ``normalise_raw_metadata``)."""
    try:
        value = np.load(path, allow_pickle=True)
    except Exception as err:  # noqa: B902 -- a damaged pickle fails in many ways
        raise ValueError(f'cannot read {path}: {err}') from err
    if isinstance(value, np.ndarray) and value.dtype == object and value.ndim == 0:
        value = value.item()
    return normalise_raw_metadata(value, num_frames, path)


def relative_exposures(meta: Dict[str, object]) -> np.ndarray:
    """float32 (N,) exposure times divided by the reference frame's (the reference gets 1)."""
    times = np.asarray(meta['exposures'], np.float64)
    return (times / times[int(meta['ref_index'])]).astype(np.float32)


class RawFolderSceneReader(FolderSceneReader):
    """Scenes in the BracketIRE folder layout (see the module docstring); records ``raw_<i>`` (0-based), ``raw_gt``,
    ``exposures`` (relative to the reference), ``raw_meta`` and the SKB records, all packed.

    Decoded scenes are cached like :class:`FolderSceneReader` (``cache_images``), read-only.

    Args:
        dataroot: Folder with one sub-folder per scene.
        num_frames: Frames per scene (``raw_1.npy`` ... ``raw_<num_frames>.npy``).
        cache_images: Keep every decoded scene in memory.
    """

    def __init__(self, dataroot: str, num_frames: int = DEFAULT_NUM_FRAMES, cache_images: bool = True):
        super().__init__(dataroot, ('raw_*.npy', ), (GT_FILE, ), META_FILE, num_frames, cache_images)
        self.meta: Dict[str, Dict[str, object]] = {}

    def index_scene(self, scene: str) -> SceneRecord:
        folder = osp.join(self.dataroot, scene)
        frames = [osp.join(folder, FRAME_FILE.format(i + 1)) for i in range(self.num_frames)]
        found = sorted(osp.basename(p) for p in glob.glob(osp.join(glob.escape(folder), 'raw_*.npy')))
        expected = sorted([osp.basename(p) for p in frames] + [GT_FILE])
        missing = [name for name in expected + [META_FILE] if not osp.isfile(osp.join(folder, name))]
        if missing or found != expected:
            raise ValueError(f'Scene {scene!r} ({folder}): expected {FRAME_FILE.format(1)} ... '
                             f'{FRAME_FILE.format(self.num_frames)} (num_frames={self.num_frames}), {GT_FILE} and '
                             f'{META_FILE}; missing {missing}, found {found}{self._nested_hint(folder)}')
        try:
            meta = load_metadata(osp.join(folder, META_FILE), self.num_frames)
        except ValueError as err:
            raise ValueError(f'Scene {scene!r}: {err}') from None
        self.meta[scene] = meta
        record = SceneRecord(scene, tuple(frames), osp.join(folder, GT_FILE), read_only(relative_exposures(meta)))
        self._records[scene] = record
        return record

    def keys(self, scene: str) -> List[str]:
        folder = osp.join(self.dataroot, scene)
        skb = [key for key, name in SKB_FILES.items() if osp.isfile(osp.join(folder, name))]
        frames = [raw_key(i) for i in range(len(self.record(scene).lq_paths))]
        return frames + [RAW_GT_KEY, EXPOSURES_KEY, RAW_META_KEY] + skb

    def _decode(self, record: SceneRecord):
        """Packed frames (stored dtype) and float32 packed GT; ValueError naming the scene and file."""
        what = f'Scene {record.name!r}'
        frames = [load_raw_array(path, what) for path in record.lq_paths]
        gt = load_raw_array(record.gt_path, what)
        for path, frame in zip(record.lq_paths, frames):
            if frame.dtype.name not in RAW_DTYPES or frame.shape != gt.shape:
                raise ValueError(f'{what}: {osp.basename(path)} is {frame.dtype} {frame.shape} (packed); frames must '
                                 f'be uint16/float32 with the GT\'s packed shape {gt.shape}')
        if len({frame.dtype for frame in frames}) > 1:
            raise ValueError(f'{what}: frames mix dtypes {[f.dtype.name for f in frames]}')
        if not np.issubdtype(gt.dtype, np.floating):
            raise ValueError(f'{what}: {GT_FILE} must be float (linear RAW), got {gt.dtype}')
        gt = gt.astype(np.float32, copy=False)
        if not np.all(np.isfinite(gt)) or gt.min() < 0:
            raise ValueError(f'{what}: {GT_FILE} holds NaN/Inf or negative values')
        return [read_only(frame) for frame in frames], read_only(gt)

    def read_full(self, scene: str, key: str) -> RecordValue:
        index = raw_index(key)
        if index is not None and index < self.num_frames:
            return self.images(scene)[0][index]
        if key == RAW_GT_KEY:
            return self.images(scene)[1]
        if key == RAW_META_KEY:
            self.record(scene)
            return self.meta[scene]
        return super().read_full(scene, key)


class RawLmdbSceneReader(LmdbSceneReader):
    """RAW scenes of an LMDB made by ``scripts/make_lmdb.py --raw`` (records of :class:`RawFolderSceneReader`)."""

    def index_scene(self, scene: str) -> SceneRecord:
        if scene not in self._scenes:
            raise ValueError(f'LMDB {self.db_path}: no scene {scene!r} in {META_INFO_NAME}')
        records = self._scenes[scene]
        frames = sorted(i for i in (raw_index(name) for name in records) if i is not None)
        where = f'LMDB {self.db_path}, scene {scene!r}'
        if not frames or frames != list(range(len(frames))):
            raise ValueError(f'{where}: RAW frames must be raw_0 ... raw_<N-1>, {META_INFO_NAME} lists {frames} (is '
                             'this an sRGB database? use HDRMultiExposureDataset)')
        if self.num_frames is not None and len(frames) != self.num_frames:
            raise ValueError(f'{where}: expected num_frames={self.num_frames} RAW frames, the database has '
                             f'{len(frames)}')
        gt, exposures = self.info(scene, RAW_GT_KEY), self.info(scene, EXPOSURES_KEY)
        self.info(scene, RAW_META_KEY)
        if gt.dtype != 'float32' or len(gt.shape) != 3 or gt.shape[2] != 4:
            raise ValueError(f'{where}: raw_gt must be float32 (h, w, 4), {META_INFO_NAME} says {gt.dtype} {gt.shape}')
        if exposures.dtype != 'float32' or exposures.shape != (len(frames), ):
            raise ValueError(f'{where}: exposures must be float32 ({len(frames)},)')
        for index in frames:
            info = records[raw_key(index)]
            if info.dtype not in RAW_DTYPES or info.shape != gt.shape:
                raise ValueError(f'{where}: {info.key} is {info.dtype} {info.shape}; frames must be uint16/float32 '
                                 f'with raw_gt\'s shape {gt.shape}')
        return SceneRecord(scene, tuple(osp.join(self.db_path, scene, raw_key(i)) for i in frames),
                           osp.join(self.db_path, scene, RAW_GT_KEY))

    def image_size(self, scene: str) -> Tuple[int, int]:
        shape = self.info(scene, RAW_GT_KEY).shape
        return int(shape[0]), int(shape[1])


@DATASET_REGISTRY.register()
class BracketIRERawDataset(MultiExposureBase):
    """RAW multi-exposure HDR dataset in the BracketIRE layout, from scene folders or an LMDB (see module docstring).

    Options, storage, scene selection and priors come from :class:`MultiExposureBase`; this class adds the RAW
    readers, the frame selection, the Bayer-exact crop geometry and the network input.

    Everything lives on the **packed** grid (H/2 x W/2, 4 channels R, G1, G2, B): ``gt_size`` counts packed pixels, so
    any crop offset is an even offset of the mosaic and keeps the Bayer phase. Flips are Bayer-exact too: a flip
    mirrors the mosaic and drops one mosaic row / column so that the result is again RGGB with real samples in every
    channel (:func:`~basicsr_skt.utils.raw_pipeline.flip_packed`; the crop window is read one packed pixel larger along
    a flipped axis, so a flip is only drawn when the image has that pixel to spare), and rot90 is the transpose, which
    swaps G1 and G2 (:func:`~basicsr_skt.utils.raw_pipeline.transpose_packed`). Semantic priors (packed grid) follow
    the same window and flips (the SKB grid is mirrored; the half-cell offset of a flipped mosaic is below the SKB's
    resolution).

    Options (``opt`` is copied, never modified): ``dataroot``; ``io_backend`` (``{type: disk}`` scene folders or
    ``{type: lmdb}`` an ``.lmdb`` made by ``scripts/make_lmdb.py --raw``); ``num_frames`` (5); ``frame_indices``
    (frames given to the network, ascending, default all: the middle one of the selection must be the scene's
    ``ref_index``; e.g. ``[1, 2, 3]`` for 3-frame ORMs such as HDR-Transformer); ``hdr_scale`` (16: ``gt = raw_gt /
    hdr_scale``, and the linear input channels share that scale); ``gt_size`` (packed training crop, required in
    training); ``use_hflip``, ``use_rot`` (true); ``cache_images`` (true); ``scene_list``, ``exclude_scenes``; ``skb``
    (priors of the crop in training, of the whole image otherwise).

    Items: ``lq`` float32 (n, 8, h, w) with n = len(frame_indices): ``concat(x / (t * hdr_scale), x)``, x the packed
    normalised frame in [0, 1]; ``gt`` float32 (4, h, w) = raw_gt / hdr_scale (mostly in [0, 1]); ``exposures`` (n,)
    relative to the reference; ``wb`` float32 (4,) gains (R, G1, G2, B); ``ccm`` float32 (3, 3); ``scene``,
    ``lq_paths``, ``gt_path``; with ``skb`` ``skb_embedding`` float32 (C, h, w) and ``skb_labels`` int64 (h, w).
    """

    OPTION_KEYS = frozenset({'frame_indices', 'hdr_scale'})
    DEFAULT_NUM_FRAMES = DEFAULT_NUM_FRAMES

    def __init__(self, opt: Dict):
        super().__init__(opt)
        self._meta_checked: set = set()

    def _read_format_options(self) -> None:
        self.frame_indices = self._read_frame_indices()
        self.ref_index = len(self.frame_indices) // 2  # position of the reference in `lq`
        self.hdr_scale = float(self.opt.get('hdr_scale', DEFAULT_HDR_SCALE))
        if not self.hdr_scale > 0:
            raise ValueError(f'Option hdr_scale must be > 0, got {self.hdr_scale}')

    def _read_frame_indices(self) -> List[int]:
        indices = self.opt.get('frame_indices')
        if indices is None:
            return list(range(self.num_frames))
        if (not isinstance(indices, (list, tuple)) or not indices or list(indices) != sorted(set(indices))
                or not all(isinstance(i, int) and 0 <= i < self.num_frames for i in indices)):
            raise ValueError(
                f'Option frame_indices must be ascending distinct frame indices in [0, {self.num_frames}), '
                f'got {indices!r}')
        return list(indices)

    def _make_reader(self) -> SceneReader:
        if self.backend == 'lmdb':
            return RawLmdbSceneReader(self.dataroot, num_frames=self.num_frames)
        return RawFolderSceneReader(self.dataroot, self.num_frames, self.cache_images)

    def _image_keys(self) -> List[str]:
        return [raw_key(i) for i in self.frame_indices] + [RAW_GT_KEY]

    def _scene_layout(self) -> str:
        return f'{FRAME_FILE.format(1)} ... {FRAME_FILE.format(self.num_frames)}, {GT_FILE} and {META_FILE}'

    # ------------------------------------------------------------------ metadata
    def scene_meta(self, scene: str) -> Dict[str, object]:
        """The scene's normalised metadata; checks once that the selection's middle frame is its reference."""
        meta = self.reader.read_full(scene, RAW_META_KEY)
        if scene not in self._meta_checked:
            if int(meta['ref_index']) != self.frame_indices[self.ref_index]:
                raise ValueError(
                    f'Scene {scene!r}: the GT is aligned with frame {meta["ref_index"]} (ref_index), but '
                    f'frame_indices {self.frame_indices} put frame {self.frame_indices[self.ref_index]} in '
                    'the middle (the reference position of the ORM); choose frame_indices centred on '
                    f'{meta["ref_index"]}')
            self._meta_checked.add(scene)
        return meta

    # ------------------------------------------------------------------ crop / augment
    def _draw_window(self, record: SceneRecord) -> CropWindow:
        """Flips first, then a window one packed pixel larger along each flipped axis."""
        height, width = self.reader.image_size(record.name)
        size = self.gt_size
        if size > height or size > width:
            raise ValueError(f'Scene {record.name!r}: gt_size={size} (packed pixels) is larger than the packed images '
                             f'({width} x {height}, {record.gt_path})')
        hflip = self.use_hflip and random.random() < 0.5 and width > size
        vflip = self.use_rot and random.random() < 0.5 and height > size
        rot90 = self.use_rot and random.random() < 0.5
        win_h, win_w = size + int(vflip), size + int(hflip)
        top, left = random.randint(0, height - win_h), random.randint(0, width - win_w)
        return CropWindow(top, left, win_h, win_w, hflip, vflip, rot90)

    def _augment(self, images: Sequence[np.ndarray], window: CropWindow) -> List[np.ndarray]:
        return self.augment(images, window.hflip, window.vflip, window.rot90)

    def _augment_priors(self, priors: Sequence[np.ndarray], window: CropWindow) -> List[np.ndarray]:
        return self.augment_grid(priors, window.hflip, window.vflip, window.rot90)

    @staticmethod
    def augment(images: Sequence[np.ndarray], hflip: bool, vflip: bool, rot90: bool) -> List[np.ndarray]:
        """Bayer-exact hflip / vflip (each needs one extra packed pixel along its axis) and transpose of packed
        (h, w, 4) arrays."""
        out = list(images)
        if hflip:
            out = [flip_packed(img, 1) for img in out]
        if vflip:
            out = [flip_packed(img, 0) for img in out]
        if rot90:
            out = [transpose_packed(img) for img in out]
        return out

    @staticmethod
    def augment_grid(images: Sequence[np.ndarray], hflip: bool, vflip: bool, rot90: bool) -> List[np.ndarray]:
        """The same geometry for (h, w, C) maps on the packed grid (SKB): mirror, keep the first cells, transpose."""
        out = list(images)
        if hflip:
            out = [img[:, ::-1][:, :img.shape[1] - 1] for img in out]
        if vflip:
            out = [img[::-1][:img.shape[0] - 1] for img in out]
        if rot90:
            out = [img.transpose(1, 0, 2) for img in out]
        return out

    # ------------------------------------------------------------------ items
    def _network_input(self, frames: List[np.ndarray], times: np.ndarray, meta: Dict[str, object]) -> torch.Tensor:
        """Per frame ``concat(x / (t * hdr_scale), x)`` -> float32 (n, 8, h, w)."""
        stacked = []
        for frame, t in zip(frames, times):
            x = normalise_frame(frame, meta['black_level'], meta['white_level']).transpose(2, 0, 1)
            stacked.append(np.concatenate([x / np.float32(t * self.hdr_scale), x], axis=0))
        return torch.from_numpy(np.ascontiguousarray(np.stack(stacked), dtype=np.float32))

    def _make_item(self, record: SceneRecord, images: List[np.ndarray], meta: Dict[str, object]) -> Dict[str, object]:
        exposures = np.asarray(self.reader.read_full(record.name, EXPOSURES_KEY), np.float32)[self.frame_indices]
        gt = images[-1].transpose(2, 0, 1) / np.float32(self.hdr_scale)
        return {
            'lq': self._network_input(images[:-1], exposures, meta),
            'gt': torch.from_numpy(np.ascontiguousarray(gt, dtype=np.float32)),
            'exposures': torch.from_numpy(exposures.copy()),
            'wb': torch.tensor(meta['wb'], dtype=torch.float32),
            'ccm': torch.tensor(meta['ccm'], dtype=torch.float32),
            'scene': record.name,
            'lq_paths': [record.lq_paths[i] for i in self.frame_indices],
            'gt_path': record.gt_path,
        }
