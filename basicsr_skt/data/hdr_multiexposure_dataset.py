"""Multi-exposure LDR brackets + HDR ground truth (Kalantari'17 layout, or its LMDB), cropped on the fly."""
from typing import Dict, List

import numpy as np
import torch

from basicsr.utils.registry import DATASET_REGISTRY
from basicsr_skt.data.lmdb_format import EXPOSURES_KEY, GT_KEY, lq_key
from basicsr_skt.data.lmdb_reader import LmdbSceneReader
from basicsr_skt.data.multi_exposure import MultiExposureBase
from basicsr_skt.data.scene_reader import FolderSceneReader, SceneReader, SceneRecord
from basicsr_skt.utils.hdr_io import network_input

__all__ = ['HDRMultiExposureDataset']


def _as_list(value: object, key: str) -> List[str]:
    """A glob option given as one string or a list of strings."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not values or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f'Option {key!r} must be a glob string or a non-empty list of glob strings, got {value!r}')
    return list(values)


@DATASET_REGISTRY.register()
class HDRMultiExposureDataset(MultiExposureBase):
    """Multi-exposure HDR dataset in the Kalantari'17 layout (also Tel'23 / SCTNet), read from disk or from an LMDB.

    Options, storage, scene selection, crops, flips and priors come from :class:`MultiExposureBase`; this class
    adds the sRGB frames, their exposure file and globs, and the network input.

    Layout (``io_backend: {type: disk}``): ``dataroot/<scene>/`` holds ``num_frames`` LDR frames (``ldr_glob``), an
    exposure file with one EV per frame and an HDR ground truth (``gt_glob``, ``.hdr``, ``.exr`` or ``.pfm``). Frames
    are ordered by file name (natural order), which in Kalantari's data is shortest to longest exposure; the exposure
    file follows the same order. The reference frame, to which the GT is aligned, is the middle one: index
    ``num_frames // 2``
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
        skb (bool): Also give the semantic priors (every scene needs them): the crop's in training, the whole
            image's otherwise. Default False.

    Items (dict):
        lq (Tensor): float32 ``(N, 6, H, W)``: per frame ``concat(L ** gamma / t, L)``, both BGR, ``L`` in [0, 1].
        gt (Tensor): float32 ``(3, H, W)`` BGR linear radiance (Kalantari's GT lies mostly in [0, 1]).
        exposures (Tensor): float32 ``(N,)`` exposure times ``t = 2 ** ev``.
        scene (str): Scene name.
        lq_paths (list[str]): Frame files in frame order (LMDB: ``<dataroot>/<scene>/lq_<i>``).
        gt_path (str): GT file (LMDB: ``<dataroot>/<scene>/gt``).
        skb_embedding (Tensor): With ``skb``: float32 ``(C, H, W)``, the embedding resampled to the pixel grid.
        skb_labels (Tensor): With ``skb``: int64 ``(H, W)`` segment labels (0 background, 1..K).

    Raises:
        ValueError: At construction for bad options, a missing/empty ``dataroot``, a scene with the wrong number of
            frames, a missing/ambiguous GT, or a bad exposure file (LMDB: no ``meta_info.txt``, or a scene whose keys
            are missing from it); when reading an item for unreadable images, frames of different sizes, a GT of
            another size, frames of different bit depths, NaN/Inf/negative GT values, ``gt_size`` larger than the image,
            semantic priors that do not fit the scene (LMDB: a key missing from the database, a record whose size
            does not match ``meta_info.txt``). Each message names the scene and the file or key; see
            ``docs/bad-inputs.md``. Unknown option keys are logged as warnings with a "did you mean" suggestion.
    """

    OPTION_KEYS = frozenset({'ldr_glob', 'gt_glob', 'exposure_file', 'gamma'})
    DEFAULT_NUM_FRAMES = 3

    def _read_format_options(self) -> None:
        self.ref_index = self.num_frames // 2
        self.gamma = float(self.opt.get('gamma', 2.2))
        if self.gamma <= 0:
            raise ValueError(f'Option gamma must be > 0, got {self.gamma}')
        self.ldr_globs = _as_list(self.opt.get('ldr_glob', '*.tif'), 'ldr_glob')
        self.gt_globs = _as_list(self.opt.get('gt_glob', 'HDRImg.hdr'), 'gt_glob')
        self.exposure_file = str(self.opt.get('exposure_file', 'exposure.txt'))

    def _make_reader(self) -> SceneReader:
        if self.backend == 'lmdb':
            return LmdbSceneReader(self.dataroot, num_frames=self.num_frames)
        return FolderSceneReader(self.dataroot, self.ldr_globs, self.gt_globs, self.exposure_file, self.num_frames,
                                 self.cache_images)

    def _image_keys(self) -> List[str]:
        """Records read per item: the frames, then the GT."""
        return [lq_key(i) for i in range(self.num_frames)] + [GT_KEY]

    def _scene_layout(self) -> str:
        return f'{self.num_frames} frames {self.ldr_globs}, {self.exposure_file} and {self.gt_globs}'

    # ------------------------------------------------------------------ items
    def _network_input(self, frames: List[np.ndarray], times: np.ndarray) -> torch.Tensor:
        """Per frame ``concat(L ** gamma / t, L)`` -> float32 tensor (N, 6, H, W) (:func:`network_input`)."""
        return torch.from_numpy(network_input(frames, times, self.gamma))

    def _make_item(self, record: SceneRecord, images: List[np.ndarray], meta: Dict[str, object]) -> Dict[str, object]:
        exposures = np.asarray(self.reader.read_full(record.name, EXPOSURES_KEY), dtype=np.float32)
        return {
            'lq': self._network_input(images[:-1], exposures),
            'gt': torch.from_numpy(np.array(images[-1].transpose(2, 0, 1), dtype=np.float32, order='C')),
            'exposures': torch.from_numpy(exposures.copy()),
            'scene': record.name,
            'lq_paths': list(record.lq_paths),
            'gt_path': record.gt_path,
        }
