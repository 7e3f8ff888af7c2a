"""Reconstruct HDR images from your own exposure brackets with a trained network (any resolution, CPU or GPU).

Inputs: a scene folder (Kalantari layout: frames + exposure.txt, or camera files with EXIF), a folder of scene
folders, or a list of frame files (8/16-bit TIFF/PNG, 8-bit JPEG). Exposure times, first available: --exposures
(seconds) or --ev (EV stops), the scene's exposure file, the files' EXIF ExposureTime. Frames are sorted from the
shortest to the longest exposure; the reference (the frame the result is aligned to) is the middle one unless
--reference says otherwise. Camera frames are assumed to respond as L ** 2.2 (--response), like the training data.

Per scene OUT/ gets <scene>.hdr (or .exr: linear BGR radiance, relative scale), <scene>_mulaw.png (μ-law, as the
papers' figures), <scene>_reinhard.png (Reinhard'02 global operator, key 0.18 of the log-average luminance),
<scene>.json (frames, exposure times, EVs, timing) and with --compare <scene>_compare.png (inputs | results).

Examples:
    python scripts/inference.py --checkpoint experiments/HDRT_Kalantari/models/net_g_latest.pth \\
        datasets/Kalantari17/Test -o results/kalantari_test                    # folder of scene folders
    python scripts/inference.py --checkpoint HDR-Transformer_official.pth --arch HDRTransformer \\
        ../shared/data/brackets/stack_ghost -o results/stack_ghost --compare   # EXIF exposure times
    python scripts/inference.py --checkpoint net_g_latest.pth --arch-opt embed_dim=12 'depths=[2]' 'num_heads=[2]' \\
        a.jpg b.jpg c.jpg --exposures 1/100 1/25 1/6 -o out --tile 512 --tile-overlap 64 --device cpu
"""
import argparse
import json
import os
import sys
import time
from os import path as osp
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
import yaml
from tqdm import tqdm

import basicsr_skt  # noqa: F401  isort:skip  (registers the archs; must precede basicsr imports)
from basicsr.utils.registry import ARCH_REGISTRY
from basicsr_skt.inference import brackets, display
from basicsr_skt.inference.orm import expected_frames, predict
from basicsr_skt.inference.weights import load_weights
from basicsr_skt.utils.cli import non_negative_int, ranged, resolve_device
from basicsr_skt.utils.errors import run_cli, strip_debug_flag
from basicsr_skt.utils.figures import to_uint8
from basicsr_skt.utils.file_checks import check_writable_dir
from basicsr_skt.utils.hdr_io import network_input, write_hdr
from basicsr_skt.utils.option_checks import parse_key_values
from basicsr_skt.utils.paths import check_name, check_output_path

#: Checkpoint of an experiment folder given as --checkpoint.
LATEST_G = osp.join('models', 'net_g_latest.pth')

# One scene: (name, scene folder or None for a file list, frame files)
Scene = Tuple[str, Optional[str], List[str]]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        'inputs',
        nargs='*',
        help='a scene folder, a folder of scene folders, or the frame files of one scene (may also follow '
        '--arch-opt / --exposures / --ev: their trailing values that are not KEY=VALUE / numbers count as inputs)')
    parser.add_argument('-o', '--output', required=True, help='output folder')
    net = parser.add_argument_group('network')
    net.add_argument(
        '--checkpoint',
        required=True,
        help='net_g_*.pth of our training (HDR or SKT run: the plain ORM), an experiment folder (uses '
        f'{LATEST_G}), or an official HDR-Transformer / AHDRNet / SCTNet checkpoint ({{"state_dict": ...}}, '
        '"module." prefixes)')
    net.add_argument('--arch', default='HDRTransformer', help='arch name in BasicSR ARCH_REGISTRY')
    net.add_argument(
        '--arch-opt', nargs='*', default=[], metavar='KEY=VALUE', help='arch keyword argument, value parsed as YAML')
    net.add_argument('--config', help='take --arch and its options from network_g of this BasicSR YAML config')
    net.add_argument(
        '--param-key', help='checkpoint key of the weights (default: the first of params_ema, params, state_dict, ...)')
    exposure = parser.add_argument_group('exposure times (default: exposure file, else EXIF ExposureTime)')
    exposure.add_argument(
        '--exposures',
        nargs='+',
        metavar='SECONDS',
        help='exposure time per frame in seconds, e.g. 1/100 1/25 1/6 '
        '(order of the files given, or file-name order for a folder)')
    exposure.add_argument('--ev', nargs='+', metavar='EV', help='EV stop per frame, e.g. -2 0 2')
    exposure.add_argument(
        '--exposure-file',
        default='exposure.txt',
        help='EV file (one per frame, file-name order): a name looked up in each scene folder, or a file path')
    exposure.add_argument(
        '--ev-origin',
        choices=brackets.EV_ORIGINS,
        default='auto',
        help='what t is relative to. auto: an exposure file as written (t = 2 ** ev, like the training dataset), '
        'EXIF / --exposures / --ev relative to the shortest frame (Kalantari; the official checkpoints)')
    exposure.add_argument(
        '--reference',
        type=non_negative_int,
        help='reference frame index in exposure order (0 = shortest); default the middle')
    exposure.add_argument(
        '--response',
        default='gamma2.2',
        help='assumed camera response: gamma2.2 (L ** 2.2, as the training data; an approximation for camera '
        'JPEGs), gamma<x>, or linear (frames already linear)')
    run = parser.add_argument_group('run')
    run.add_argument('--device', default='auto', help="auto (cuda if available), cpu, cuda, cuda:1, ...")
    run.add_argument(
        '--pad-multiple', type=ranged(int, 1, 1024), default=8, help='reflect-pad H and W to this multiple')
    run.add_argument('--tile', type=ranged(int, 8), help='process overlapped tiles of this size (limits memory)')
    run.add_argument('--tile-overlap', type=non_negative_int, default=32, help='minimum overlap of neighbouring tiles')
    run.add_argument(
        '--max-side',
        type=ranged(int, 8),
        help='downscale frames so their longer side is at most this (quick previews)')
    out = parser.add_argument_group('output')
    out.add_argument('--format', choices=('hdr', 'exr'), default='hdr', help='linear HDR file format')
    out.add_argument('--name', help='scene name for a list of files (default: their folder name)')
    out.add_argument('--compare', action='store_true', help='also write <scene>_compare.png: inputs and results')
    out.add_argument(
        '--strip-height', type=ranged(int, 16, 4096), default=360, help='tile height of the comparison strip')
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parser.parse_args(argv)
    _split_trailing_inputs(args, argv)
    if not args.inputs:
        parser.error('the following arguments are required: inputs')
    return args


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _split_trailing_inputs(args: argparse.Namespace, argv: List[str]) -> None:
    """Move the inputs swallowed by a multi-value option (``--ev -2 0 2 a.jpg b.jpg``) back to ``args.inputs``, in
    command-line order (it pairs files with --exposures / --ev values)."""
    checks = {'arch_opt': lambda text: '=' in text, 'exposures': _is_exposure_time, 'ev': _is_number}
    for key, is_value in checks.items():
        values = getattr(args, key)
        if not values:
            continue
        count = next((i for i, text in enumerate(values) if not is_value(text)), len(values))
        if count < len(values):
            args.inputs = values[count:] + args.inputs
            setattr(args, key, values[:count] or ([] if key == 'arch_opt' else None))
    first_index = {token: index for index, token in reversed(list(enumerate(argv)))}
    args.inputs = sorted(args.inputs, key=lambda token: first_index.get(token, len(argv)))
    if args.ev is not None:
        args.ev = [float(text) for text in args.ev]


def _is_exposure_time(text: str) -> bool:
    try:
        brackets.parse_exposure_time(text)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------------------------------------ setup
def arch_spec(args: argparse.Namespace) -> Tuple[str, Dict[str, Any]]:
    """(arch name, keyword arguments): --config's network_g if given, else --arch; --arch-opt on top."""
    name, opts = args.arch, {}
    if args.config:
        with open(args.config, 'r', encoding='utf-8') as f:
            opts = dict((yaml.safe_load(f) or {}).get('network_g') or {})
        if 'type' not in opts:
            raise ValueError(f'--config {args.config} has no network_g.type')
        name = opts.pop('type')
    opts.update(parse_key_values(args.arch_opt, '--arch-opt'))
    return name, opts


def resolve_checkpoint(path: str) -> str:
    """The weights file: ``path`` itself, or ``<experiment>/models/net_g_latest.pth`` for an experiment folder."""
    if osp.isdir(path):
        for candidate in (osp.join(path, LATEST_G), osp.join(path, 'net_g_latest.pth')):
            if osp.isfile(candidate):
                return candidate
        raise ValueError(f'--checkpoint {path} is a folder without {LATEST_G}; pass the .pth file')
    if not osp.isfile(path):
        raise ValueError(f'Checkpoint not found: {path}')
    return path


def build_network(args: argparse.Namespace, device: torch.device) -> Tuple[torch.nn.Module, str]:
    """The ORM from the registry with the checkpoint's weights (strict), in eval mode on ``device``."""
    name, opts = arch_spec(args)
    try:
        arch = ARCH_REGISTRY.get(name)
    except KeyError as err:
        raise ValueError(f'Unknown --arch {name!r}: {err.args[0]}') from None
    net = arch(**opts)
    path = resolve_checkpoint(args.checkpoint)
    teacher = ''
    if osp.basename(path).startswith(('net_t_', 'net_skam_')):
        teacher = ' (an SKT teacher/SKAM file: inference uses the ORM only, pass net_g_*.pth of the same run)'
    load_weights(
        net,
        path,
        args.param_key,
        what=f'Checkpoint {path}{teacher}',
        hint='. With scripts/inference.py: check --arch and --arch-opt (or --config)')
    return net.to(device).eval(), path


def find_scenes(inputs: List[str], name: Optional[str]) -> List[Scene]:
    """Scenes from the command-line inputs (folders of frames, folders of scene folders, or frame files)."""
    missing = [path for path in inputs if not osp.exists(path)]
    if missing:
        raise ValueError(f'Input not found: {missing}')
    folders = [path for path in inputs if osp.isdir(path)]
    if folders and len(folders) != len(inputs):
        raise ValueError('Give either folders (scenes or folders of scenes) or the frame files of one scene, not both')
    if not folders:
        folder = osp.dirname(osp.abspath(inputs[0]))
        return [(name or osp.basename(folder), None, list(inputs))]
    scenes: List[Scene] = []
    for folder in folders:
        frames = brackets.list_frames(folder)
        if frames:
            scenes.append((osp.basename(osp.abspath(folder)), folder, frames))
            continue
        subfolders = sorted(osp.join(folder, sub) for sub in _subfolders(folder))
        found = [(osp.basename(sub), sub, brackets.list_frames(sub)) for sub in subfolders]
        found = [scene for scene in found if scene[2]]
        if not found:
            raise ValueError(f'{folder}: no frames ({"/".join(brackets.LDR_SUFFIXES)}) in it or in its sub-folders')
        scenes.extend(found)
    return scenes


def _subfolders(folder: str) -> List[str]:
    return [n for n in os.listdir(folder) if not n.startswith('.') and osp.isdir(osp.join(folder, n))]


def exposure_file_for(scene: Scene, exposure_file: str) -> Optional[str]:
    """The scene's exposure file: a path given on the command line, or the name inside the scene folder."""
    if osp.isfile(exposure_file):
        return exposure_file
    _, folder, _ = scene
    candidate = osp.join(folder, exposure_file) if folder else None
    return candidate if candidate and osp.isfile(candidate) else None


# ------------------------------------------------------------------------------------------------------------ work
def process_scene(scene: Scene, args: argparse.Namespace, net: torch.nn.Module, device: torch.device,
                  gamma: float) -> Dict[str, Any]:
    """Read, predict and write one scene; returns its summary (also written to ``<scene>.json``)."""
    name, _, paths = scene
    start = time.perf_counter()
    seconds = [brackets.parse_exposure_time(text) for text in args.exposures] if args.exposures else None
    bracket = brackets.read_bracket(paths, name, seconds, args.ev, exposure_file_for(scene, args.exposure_file),
                                    args.ev_origin, args.reference, args.max_side)
    wanted = expected_frames(net)
    if wanted is not None and wanted != len(bracket.frames):
        raise ValueError(f'Scene {name!r}: {type(net).__name__} takes {wanted} frames, the bracket has '
                         f'{len(bracket.frames)}')
    lq = torch.from_numpy(network_input(bracket.frames, bracket.times, gamma))
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    pred = predict(net, lq, device, args.pad_multiple, args.tile, args.tile_overlap)
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    infer_s = time.perf_counter() - start
    hdr = np.ascontiguousarray(pred.numpy().transpose(1, 2, 0))
    outputs = write_outputs(bracket, hdr, args)
    summary = {
        'scene': name,
        'frames': [osp.basename(p) for p in bracket.paths],
        'reference': osp.basename(bracket.paths[bracket.ref_index]),
        'exposure_source': bracket.exposure_source,
        'exposure_seconds': bracket.seconds,
        'ev_origin': bracket.ev_origin,
        'relative_times': [float(t) for t in bracket.times],
        'evs': [round(ev, 4) for ev in bracket.evs],
        'response_gamma': gamma,
        'input_size': list(bracket.original_size),
        'output_size': list(hdr.shape[:2]),
        'hdr_min': float(hdr.min()),
        'hdr_max': float(hdr.max()),
        'device': str(device),
        'tile': args.tile,
        'read_seconds': round(read_s, 3),
        'inference_seconds': round(infer_s, 3),
        'outputs': outputs,
    }
    with open(osp.join(args.output, f'{name}.json'), 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=2)
    return summary


def write_outputs(bracket: brackets.Bracket, hdr: np.ndarray, args: argparse.Namespace) -> List[str]:
    """Linear HDR file, μ-law and Reinhard previews, optional comparison strip; returns the file names."""
    name = bracket.name
    hdr_path = osp.join(args.output, f'{name}.{args.format}')
    write_hdr(hdr_path, np.maximum(hdr, 0.0))
    mulaw, tonemapped = display.mu_law_display(hdr), display.reinhard(hdr)
    files = {
        hdr_path: None,
        osp.join(args.output, f'{name}_mulaw.png'): mulaw,
        osp.join(args.output, f'{name}_reinhard.png'): tonemapped
    }
    if args.compare:
        labels = [f'EV {ev:+.2f}' + (' (ref)' if i == bracket.ref_index else '') for i, ev in enumerate(bracket.evs)]
        tiles = list(zip(labels, bracket.frames)) + [('HDR mu-law', mulaw), ('HDR Reinhard', tonemapped)]
        files[osp.join(args.output, f'{name}_compare.png')] = display.comparison_strip(tiles, args.strip_height)
    for path, img in files.items():
        if img is not None:
            display.write_png(path, img if img.dtype == np.uint8 else to_uint8(img))
    return [osp.basename(path) for path in files]


def check_output_folder(args: argparse.Namespace, scenes: List[Scene]) -> None:
    """``-o`` must not be an input folder or lie inside one (the next run would take the PNGs for frames), and each
    scene name (``--name`` or a folder name) must be one plain file name.

    Raises:
        UserInputError: Naming ``-o`` or the name, and the fix.
    """
    if args.name is not None:
        check_name(args.name, '--name')
    trees = [path for path in args.inputs if osp.isdir(path)] + [folder for _, folder, _ in scenes if folder]
    files = [path for _, _, paths in scenes for path in paths]
    check_output_path(
        args.output,
        inputs=files,
        input_trees=trees,
        what='-o/--output',
        hint='give an output folder outside the input folders, e.g. -o results/my_scene')
    for name, _, _ in scenes:
        check_name(name, 'Scene name')
    check_writable_dir(args.output, '-o/--output folder')


def run(args: argparse.Namespace) -> List[Dict[str, Any]]:
    gamma = brackets.parse_response(args.response)
    scenes = find_scenes(args.inputs, args.name)
    check_output_folder(args, scenes)
    device = resolve_device(args.device)
    net, checkpoint = build_network(args, device)
    summaries = []
    progress = tqdm(scenes, unit='scene', desc='HDR inference', disable=len(scenes) == 1)
    for scene in progress:
        summary = process_scene(scene, args, net, device, gamma)
        summaries.append(summary)
        progress.write(f'{summary["scene"]}: {" ".join(summary["frames"])} (ref {summary["reference"]}), EV '
                       f'{summary["evs"]} from {summary["exposure_source"]}; {summary["inference_seconds"]:.2f} s on '
                       f'{summary["device"]} -> {args.output}/{summary["outputs"][0]}')
    print(f'{len(summaries)} scene(s) done with {checkpoint}')
    return summaries


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(lambda: main(strip_debug_flag())))
