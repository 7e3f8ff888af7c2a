"""The offline SKB extraction over a folder-layout dataset: what ``scripts/make_semantic_priors.py`` runs.

For each scene a display-referred source image is made (``gt``: μ-law of the GT clipped to [0, 1]; ``reference``: the
middle LDR frame as is; ``orm``: μ-law of an ORM checkpoint's output; RAW scenes: the RAW display rendering on the
packed grid), a semantic backend (Segment Anything or VGG16 + superpixels, or one the caller builds) embeds and
segments it, and the files of :mod:`~basicsr_skt.skb.format` are written next to the scene's files (or under
``skb_root/<scene>``). Scenes already done with the same backend and source are skipped unless ``force``.

The one module of ``skb/`` above ``data/`` and ``inference/``: it indexes scenes through the datasets (their globs,
scene lists and checks) and runs an ORM through :func:`~basicsr_skt.inference.orm.run_orm`. Nothing in the library
imports it.
"""
import time
from dataclasses import dataclass
from os import path as osp
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from tqdm import tqdm

from basicsr_skt.data.bracketire_dataset import BracketIRERawDataset
from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
from basicsr_skt.inference.orm import resolve_device, run_orm
from basicsr_skt.inference.weights import build_orm
from basicsr_skt.skb import format as skb_format
from basicsr_skt.skb.extractors import SemanticBackend
from basicsr_skt.skb.preview import make_preview
from basicsr_skt.skb.sam_backend import SamBackend
from basicsr_skt.skb.source import hdr_to_display_rgb, ldr_to_display_rgb, raw_to_display_rgb
from basicsr_skt.skb.vgg_backend import Vgg16Backend
from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.file_checks import check_writable_dir
from basicsr_skt.utils.hdr_io import read_hdr, read_ldr_raw
from basicsr_skt.utils.option_checks import parse_key_values
from basicsr_skt.utils.paths import is_within, safe_join

#: Default ``min_area_fraction``: SMHDR's 1000-pixel minimum on Kalantari's 1500 x 1000 frames.
MIN_AREA_FRACTION = 1000 / (1500 * 1000)
#: The backends by command-line name.
BACKENDS = ('sam', 'vgg16')
#: The files one scene's priors take on disk.
SKB_FILES = (skb_format.EMBEDDING_FILE, skb_format.LABELS_FILE, skb_format.META_FILE, skb_format.PREVIEW_FILE)

SceneDataset = Union[HDRMultiExposureDataset, BracketIRERawDataset]


@dataclass(frozen=True)
class ExtractionConfig:
    """One extraction run; each field is the ``--field-name`` option of ``scripts/make_semantic_priors.py``.

    Data: ``dataroot`` (one sub-folder per scene), ``scene_list`` (names, or one text file), ``ldr_glob`` /
    ``gt_glob`` (sRGB scenes), ``num_frames`` (None: 3, or 5 with ``raw``), ``raw`` (BracketIRE RAW layout),
    ``frame_indices`` (RAW: frames given to the ORM), ``source`` (one of ``skb_format.SOURCES``), ``skb_root``
    (write to ``<skb_root>/<scene>/`` instead of next to the scene files).
    Backend: ``backend`` (one of :data:`BACKENDS`), SAM's ``sam_type`` / ``sam_checkpoint`` / ``points_per_side`` /
    ``pred_iou_thresh`` / ``stability_score_thresh``; ``min_area`` (pixels; replaces ``min_area_fraction``, the share
    of the image area under which segments become background 0); VGG16's ``vgg_weights`` /
    ``vgg_layer`` / ``vgg_max_side``; ``segmenter`` / ``segment_max_side`` (superpixels); ``device``.
    ORM source: ``orm_checkpoint``, ``orm_arch`` (ARCH_REGISTRY name), ``orm_opt`` (``KEY=VALUE`` arch arguments),
    ``orm_param_key``, ``orm_pad_multiple``. Run: ``force`` (redo scenes already done), ``no_preview``.
    """
    dataroot: str
    scene_list: Optional[Tuple[str, ...]] = None
    ldr_glob: str = '*.tif'
    gt_glob: str = 'HDRImg.hdr'
    num_frames: Optional[int] = None
    raw: bool = False
    frame_indices: Optional[Tuple[int, ...]] = None
    source: str = 'gt'
    skb_root: Optional[str] = None
    backend: str = 'sam'
    sam_type: str = 'vit_b'
    sam_checkpoint: Optional[str] = None
    points_per_side: int = 32
    pred_iou_thresh: float = 0.90
    stability_score_thresh: float = 0.92
    min_area: Optional[int] = None
    min_area_fraction: float = MIN_AREA_FRACTION
    vgg_weights: Optional[str] = None
    vgg_layer: str = 'relu4_3'
    vgg_max_side: int = 512
    segmenter: str = 'felzenszwalb'
    segment_max_side: Optional[int] = None
    device: str = 'auto'
    orm_checkpoint: Optional[str] = None
    orm_arch: str = 'HDRTransformer'
    orm_opt: Tuple[str, ...] = ()
    orm_param_key: Optional[str] = None
    orm_pad_multiple: int = 1
    force: bool = False
    no_preview: bool = False


@dataclass(frozen=True)
class Scene:
    """What the extraction needs of one scene."""
    index: int  # item index in the dataset
    name: str
    folder: str  # where the SKB files go
    lq_paths: Tuple[str, ...]
    gt_path: str


# ------------------------------------------------------------------------------------------------------------ setup
def build_dataset(config: ExtractionConfig) -> SceneDataset:
    """The validation-phase dataset (no image cache) that indexes ``config.dataroot``: RAW or sRGB."""
    if config.raw:
        opt: Dict[str, Any] = {'phase': 'val', 'dataroot': config.dataroot, 'num_frames': config.num_frames or 5}
        if config.frame_indices:
            opt['frame_indices'] = list(config.frame_indices)
    else:
        opt = {
            'phase': 'val',
            'dataroot': config.dataroot,
            'ldr_glob': config.ldr_glob,
            'gt_glob': config.gt_glob,
            'num_frames': config.num_frames or 3,
        }
    opt['cache_images'] = False
    if config.scene_list:
        is_file = len(config.scene_list) == 1 and osp.isfile(config.scene_list[0])
        opt['scene_list'] = config.scene_list[0] if is_file else list(config.scene_list)
    return BracketIRERawDataset(opt) if config.raw else HDRMultiExposureDataset(opt)


def discover_scenes(dataset: SceneDataset, dataroot: str, skb_root: Optional[str]) -> List[Scene]:
    """The dataset's scenes (its own indexing: globs, scene_list, checks) with the folder their SKB goes to."""
    scenes = []
    for index, record in enumerate(dataset.scenes):
        if not osp.isfile(record.gt_path):
            raise ValueError(f'Scene {record.name!r}: {record.gt_path} is not a file; extract SKB files from the '
                             'folder-layout dataset (then pack it into LMDB with scripts/make_lmdb.py)')
        folder = safe_join(skb_root or dataroot, record.name, 'Scene name')
        scenes.append(Scene(index, record.name, folder, tuple(record.lq_paths), record.gt_path))
    return scenes


def min_area_settings(config: ExtractionConfig) -> Dict[str, Any]:
    """``min_area`` / ``min_area_fraction`` of the backend: an absolute ``min_area`` wins over the fraction."""
    if config.min_area is not None:
        return {'min_area': config.min_area, 'min_area_fraction': None}
    return {'min_area': 1000, 'min_area_fraction': config.min_area_fraction}


def build_backend(config: ExtractionConfig, device: torch.device) -> SemanticBackend:
    """The semantic backend named by ``config.backend`` with its options."""
    if config.backend == 'sam':
        return SamBackend(
            sam_type=config.sam_type,
            checkpoint=config.sam_checkpoint,
            device=device,
            points_per_side=config.points_per_side,
            pred_iou_thresh=config.pred_iou_thresh,
            stability_score_thresh=config.stability_score_thresh,
            **min_area_settings(config))
    return Vgg16Backend(
        weights_path=config.vgg_weights,
        layer=config.vgg_layer,
        max_side=config.vgg_max_side,
        segmenter=config.segmenter,
        segment_max_side=config.segment_max_side,
        device=device,
        **min_area_settings(config))


def source_orm(config: ExtractionConfig, device: torch.device) -> torch.nn.Module:
    """The ORM from BasicSR's ARCH_REGISTRY with the checkpoint's weights (strict), in eval mode."""
    if not config.orm_checkpoint:
        raise ValueError('--source orm needs --orm-checkpoint')
    if not osp.isfile(config.orm_checkpoint):
        raise FileNotFoundError(f'ORM checkpoint not found: {config.orm_checkpoint}')
    return build_orm(
        config.orm_arch,
        parse_key_values(list(config.orm_opt), '--orm-opt'),
        config.orm_checkpoint,
        device,
        config.orm_param_key,
        option='--orm-arch',
        what=f'--orm-checkpoint {config.orm_checkpoint}',
        hint=' (--orm-arch / --orm-opt)')


# ------------------------------------------------------------------------------------------------------------ work
@torch.no_grad()
def orm_output(net: torch.nn.Module, lq: torch.Tensor, pad_multiple: int) -> torch.Tensor:
    """ORM prediction (3, H, W), linear BGR, for one scene's (N, C, H, W) frames."""
    device = next(net.parameters()).device
    return run_orm(net, lq[None].to(device), pad_multiple)[0].float().cpu()


def source_image(scene: Scene, source: str, dataset: SceneDataset, orm: Optional[torch.nn.Module],
                 pad_multiple: int) -> np.ndarray:
    """uint8 (H, W, 3) RGB image given to the semantic backend (RAW scenes: on the packed grid)."""
    if isinstance(dataset, BracketIRERawDataset):
        item = dataset[scene.index]
        if source == 'gt':
            packed = item['gt']
        elif source == 'reference':  # x_ref / hdr_scale: the reference frame on the GT's scale (t_ref = 1)
            packed = item['lq'][dataset.ref_index, :4]
        else:
            packed = orm_output(orm, item['lq'], pad_multiple)
        return raw_to_display_rgb(packed, item['wb'], item['ccm'])
    if source == 'gt':
        return hdr_to_display_rgb(read_hdr(scene.gt_path))
    if source == 'reference':
        frame, white_level = read_ldr_raw(scene.lq_paths[dataset.ref_index])
        return ldr_to_display_rgb(frame, white_level)
    return hdr_to_display_rgb(orm_output(orm, dataset[scene.index]['lq'], pad_multiple))


def scene_bytes(folder: str) -> int:
    """Bytes of the SKB files in ``folder``."""
    return sum(osp.getsize(osp.join(folder, name)) for name in SKB_FILES if osp.isfile(osp.join(folder, name)))


def process_scene(scene: Scene, config: ExtractionConfig, backend: SemanticBackend, dataset: SceneDataset,
                  orm: Optional[torch.nn.Module]) -> Dict[str, Any]:
    """Extract and write one scene's priors; returns their meta."""
    image = source_image(scene, config.source, dataset, orm, config.orm_pad_multiple)
    result = backend.extract(image)
    meta = dict(result['meta'], source=config.source, scene=scene.name)
    if config.source == 'orm':
        meta.update(orm_arch=config.orm_arch, orm_checkpoint=osp.basename(config.orm_checkpoint))
    preview = None if config.no_preview else make_preview(image, result['labels'])
    return skb_format.save_scene_priors(scene.folder, result['embedding'], result['labels'], meta, preview)


def previous_run(folder: str) -> Optional[str]:
    """``'<backend>/<source>'`` of existing SKB files in ``folder``, or None."""
    try:
        meta = skb_format.read_meta(folder)
    except (FileNotFoundError, ValueError):
        return None
    return f'{meta["backend"]}/{meta["source"]}'


def check_outputs_writable(scenes: List[Scene], config: ExtractionConfig) -> None:
    """Before any model is loaded: every folder that will receive SKB files must be writable, and ``skb_root``
    must not be a sub-folder of ``dataroot`` (it would be read as a scene folder next time)."""
    skb_root, dataroot = config.skb_root, config.dataroot
    if skb_root and is_within(skb_root, dataroot) and not is_within(dataroot, skb_root):
        raise UserInputError(f'--skb-root {skb_root} lies inside --dataroot {dataroot}: its folder would be '
                             'read as a scene by the dataset next time; give a folder outside the dataset, or omit '
                             '--skb-root to write the priors next to the scene files')
    if skb_root:
        check_writable_dir(skb_root, 'SKB output folder (--skb-root)')
        return
    for scene in scenes:
        check_writable_dir(scene.folder, f'SKB output folder of scene {scene.name!r} (or use --skb-root)')


def run_extraction(config: ExtractionConfig, backend: Optional[SemanticBackend] = None) -> Dict[str, Any]:
    """Extract every scene not yet done (outputs checked before any model is built).

    Args:
        config: The run's options.
        backend: A semantic backend built elsewhere (e.g. research's diagnostic oracle); None: the one of
            ``config.backend`` (:func:`build_backend`).

    Returns:
        The summary (also printed): ``backend``, ``source``, ``device``, ``processed`` and ``skipped`` scene names,
        ``seconds_per_scene`` and ``bytes_per_scene`` (None when nothing was processed).
    """
    device = resolve_device(config.device)
    dataset = build_dataset(config)
    scenes = discover_scenes(dataset, config.dataroot, config.skb_root)
    check_outputs_writable(scenes, config)
    backend = backend or build_backend(config, device)
    orm = source_orm(config, device) if config.source == 'orm' else None
    done, skipped, seconds, sizes = [], [], [], []
    progress = tqdm(scenes, unit='scene', desc=f'SKB {backend.name}/{config.source}')
    for scene in progress:
        if not config.force and skb_format.scene_priors_done(scene.folder, backend.name, config.source):
            skipped.append(scene.name)
            continue
        previous = previous_run(scene.folder)
        if previous is not None and previous != f'{backend.name}/{config.source}':
            progress.write(f'{scene.name}: replacing SKB files made with {previous}')
        start = time.perf_counter()
        meta = process_scene(scene, config, backend, dataset, orm)
        seconds.append(time.perf_counter() - start)
        sizes.append(scene_bytes(scene.folder))
        done.append(scene.name)
        progress.set_postfix(scene=scene.name, sec=f'{seconds[-1]:.1f}', segments=meta['num_segments'])
    summary = {
        'backend': backend.name,
        'source': config.source,
        'device': str(device),
        'processed': done,
        'skipped': skipped,
        'seconds_per_scene': float(np.mean(seconds)) if seconds else None,
        'bytes_per_scene': float(np.mean(sizes)) if sizes else None,
    }
    print_summary(summary)
    return summary


def print_summary(summary: Dict[str, Any]) -> None:
    """One line: what was extracted, skipped, and the time and disk space per scene."""
    line = (
        f'SKB {summary["backend"]}/{summary["source"]} on {summary["device"]}: {len(summary["processed"])} scene(s) '
        f'extracted, {len(summary["skipped"])} skipped (already done; --force redoes them)')
    if summary['processed']:
        line += (f'; {summary["seconds_per_scene"]:.2f} s per scene, '
                 f'{summary["bytes_per_scene"] / 2**20:.2f} MiB per scene on disk')
    print(line)


def check_scenes(config: ExtractionConfig) -> int:
    """Load and validate every scene's SKB files (printing one line each); returns the number of bad scenes."""
    scenes = discover_scenes(build_dataset(config), config.dataroot, config.skb_root)
    bad = 0
    for scene in scenes:
        try:
            priors = skb_format.load_scene_priors(scene.folder)
        except (FileNotFoundError, ValueError) as err:
            print(f'{scene.name}: {err}')
            bad += 1
            continue
        meta = priors['meta']
        print(f'{scene.name}: {meta["backend"]}/{meta["source"]}, embedding {meta["embedding_shape"]}, cell '
              f'{[round(v, 3) for v in meta["cell_size"]]}, {meta["num_segments"]} segments, '
              f'{scene_bytes(scene.folder) / 2**20:.2f} MiB')
    print(f'{len(scenes) - bad} of {len(scenes)} scenes have valid SKB files')
    return bad
