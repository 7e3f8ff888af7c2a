"""HDR reconstruction of your own brackets, scene by scene: what ``scripts/inference.py`` runs.

Inputs are a scene folder, a folder of scene folders, or the frame files of one scene (:func:`find_scenes`). Each
scene is read (:func:`~basicsr_skt.inference.brackets.read_bracket`: exposure times, order, reference), predicted
(:func:`~basicsr_skt.inference.orm.predict`) and written to the output folder: ``<scene>.hdr`` (or ``.exr``),
``<scene>_mulaw.png``, ``<scene>_reinhard.png``, ``<scene>.json`` and optionally ``<scene>_compare.png``.
"""
import json
import os
import time
from dataclasses import dataclass
from os import path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import yaml
from tqdm import tqdm

from basicsr_skt.inference import brackets, display
from basicsr_skt.inference.orm import DEFAULT_TILE_OVERLAP, expected_frames, predict, resolve_device
from basicsr_skt.inference.weights import build_orm, registered_arch
from basicsr_skt.utils.amp import check_amp_device
from basicsr_skt.utils.figures import to_uint8
from basicsr_skt.utils.file_checks import check_writable_dir
from basicsr_skt.utils.hdr_io import network_input, write_hdr
from basicsr_skt.utils.option_checks import parse_key_values
from basicsr_skt.utils.paths import check_name, check_output_path

#: Checkpoint of an experiment folder given as the checkpoint.
LATEST_G = osp.join('models', 'net_g_latest.pth')

# One scene: (name, scene folder or None for a file list, frame files)
Scene = Tuple[str, Optional[str], List[str]]


@dataclass(frozen=True)
class InferenceConfig:
    """One inference run; each field is the ``--field-name`` option of ``scripts/inference.py``.

    ``inputs`` (scene folders, folders of scene folders, or the frame files of one scene), ``output`` (``-o``).
    Network: ``checkpoint`` (file or experiment folder), ``arch`` and ``arch_opt`` (``KEY=VALUE``), ``config`` (a
    BasicSR YAML whose ``network_g`` gives the arch), ``param_key``. Exposures: ``exposures`` (seconds) or ``ev``
    (stops) per frame, ``exposure_file``, ``ev_origin``, ``reference``, ``response``. Run: ``device``,
    ``pad_multiple``, ``tile`` / ``tile_overlap``, ``max_side``, ``amp`` (``bf16`` / ``fp16`` autocast, None:
    float32). Output: ``format`` (``hdr`` / ``exr``), ``name``, ``compare``, ``strip_height``.
    """
    inputs: Tuple[str, ...]
    output: str
    checkpoint: str
    arch: str = 'HDRTransformer'
    arch_opt: Tuple[str, ...] = ()
    config: Optional[str] = None
    param_key: Optional[str] = None
    exposures: Optional[Tuple[str, ...]] = None
    ev: Optional[Tuple[float, ...]] = None
    exposure_file: str = 'exposure.txt'
    ev_origin: str = 'auto'
    reference: Optional[int] = None
    response: str = 'gamma2.2'
    device: str = 'auto'
    pad_multiple: int = 8
    tile: Optional[int] = None
    tile_overlap: int = DEFAULT_TILE_OVERLAP
    max_side: Optional[int] = None
    amp: Optional[str] = None
    format: str = 'hdr'
    name: Optional[str] = None
    compare: bool = False
    strip_height: int = 360


# ------------------------------------------------------------------------------------------------------------ setup
def arch_spec(config: InferenceConfig) -> Tuple[str, Dict[str, Any]]:
    """(arch name, keyword arguments): ``config.config``'s network_g if given, else ``arch``; ``arch_opt`` on top."""
    name, opts = config.arch, {}
    if config.config:
        with open(config.config, 'r', encoding='utf-8') as f:
            opts = dict((yaml.safe_load(f) or {}).get('network_g') or {})
        if 'type' not in opts:
            raise ValueError(f'--config {config.config} has no network_g.type')
        name = opts.pop('type')
    opts.update(parse_key_values(list(config.arch_opt), '--arch-opt'))
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


def build_network(config: InferenceConfig, device: torch.device) -> Tuple[torch.nn.Module, str]:
    """(the ORM with the checkpoint's weights (strict), in eval mode on ``device``; the weights file)."""
    name, opts = arch_spec(config)
    registered_arch(name)  # an unknown name is reported before the checkpoint is looked for
    path = resolve_checkpoint(config.checkpoint)
    teacher = ''
    if osp.basename(path).startswith(('net_t_', 'net_skam_')):
        teacher = ' (an SKT teacher/SKAM file: inference uses the ORM only, pass net_g_*.pth of the same run)'
    net = build_orm(
        name,
        opts,
        path,
        device,
        config.param_key,
        what=f'Checkpoint {path}{teacher}',
        hint='. With scripts/inference.py: check --arch and --arch-opt (or --config)')
    return net, path


def find_scenes(inputs: Sequence[str], name: Optional[str]) -> List[Scene]:
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


def check_output_folder(config: InferenceConfig, scenes: List[Scene]) -> None:
    """``output`` must not be an input folder or lie inside one (the next run would take the PNGs for frames), and
    each scene name (``name`` or a folder name) must be one plain file name.

    Raises:
        UserInputError: Naming ``-o`` or the name, and the fix.
    """
    if config.name is not None:
        check_name(config.name, '--name')
    trees = [path for path in config.inputs if osp.isdir(path)] + [folder for _, folder, _ in scenes if folder]
    files = [path for _, _, paths in scenes for path in paths]
    check_output_path(
        config.output,
        inputs=files,
        input_trees=trees,
        what='-o/--output',
        hint='give an output folder outside the input folders, e.g. -o results/my_scene')
    for name, _, _ in scenes:
        check_name(name, 'Scene name')
    check_writable_dir(config.output, '-o/--output folder')


# ------------------------------------------------------------------------------------------------------------ work
def process_scene(scene: Scene, config: InferenceConfig, net: torch.nn.Module, device: torch.device,
                  gamma: float) -> Dict[str, Any]:
    """Read, predict and write one scene; returns its summary (also written to ``<scene>.json``)."""
    name, _, paths = scene
    start = time.perf_counter()
    seconds = [brackets.parse_exposure_time(text) for text in config.exposures] if config.exposures else None
    evs = list(config.ev) if config.ev is not None else None
    bracket = brackets.read_bracket(paths, name, seconds, evs, exposure_file_for(scene, config.exposure_file),
                                    config.ev_origin, config.reference, config.max_side)
    wanted = expected_frames(net)
    if wanted is not None and wanted != len(bracket.frames):
        raise ValueError(f'Scene {name!r}: {type(net).__name__} takes {wanted} frames, the bracket has '
                         f'{len(bracket.frames)}')
    lq = torch.from_numpy(network_input(bracket.frames, bracket.times, gamma))
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    pred = predict(net, lq, device, config.pad_multiple, config.tile, config.tile_overlap, amp=config.amp)
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    infer_s = time.perf_counter() - start
    hdr = np.ascontiguousarray(pred.numpy().transpose(1, 2, 0))
    outputs = write_outputs(bracket, hdr, config)
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
        'tile': config.tile,
        'amp': config.amp,
        'read_seconds': round(read_s, 3),
        'inference_seconds': round(infer_s, 3),
        'outputs': outputs,
    }
    with open(osp.join(config.output, f'{name}.json'), 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=2)
    return summary


def write_outputs(bracket: brackets.Bracket, hdr: np.ndarray, config: InferenceConfig) -> List[str]:
    """Linear HDR file, μ-law and Reinhard previews, optional comparison strip; returns the file names."""
    name = bracket.name
    hdr_path = osp.join(config.output, f'{name}.{config.format}')
    write_hdr(hdr_path, np.maximum(hdr, 0.0))
    mulaw, tonemapped = display.mu_law_display(hdr), display.reinhard(hdr)
    files = {
        hdr_path: None,
        osp.join(config.output, f'{name}_mulaw.png'): mulaw,
        osp.join(config.output, f'{name}_reinhard.png'): tonemapped
    }
    if config.compare:
        labels = [f'EV {ev:+.2f}' + (' (ref)' if i == bracket.ref_index else '') for i, ev in enumerate(bracket.evs)]
        tiles = list(zip(labels, bracket.frames)) + [('HDR mu-law', mulaw), ('HDR Reinhard', tonemapped)]
        files[osp.join(config.output, f'{name}_compare.png')] = display.comparison_strip(tiles, config.strip_height)
    for path, img in files.items():
        if img is not None:
            display.write_png(path, img if img.dtype == np.uint8 else to_uint8(img))
    return [osp.basename(path) for path in files]


def run_inference(config: InferenceConfig) -> List[Dict[str, Any]]:
    """Every scene of ``config.inputs`` (outputs checked before the network is built); returns their summaries."""
    gamma = brackets.parse_response(config.response)
    scenes = find_scenes(config.inputs, config.name)
    check_output_folder(config, scenes)
    device = resolve_device(config.device)
    check_amp_device(config.amp, device, '--amp')
    net, checkpoint = build_network(config, device)
    summaries = []
    progress = tqdm(scenes, unit='scene', desc='HDR inference', disable=len(scenes) == 1)
    for scene in progress:
        summary = process_scene(scene, config, net, device, gamma)
        summaries.append(summary)
        progress.write(f'{summary["scene"]}: {" ".join(summary["frames"])} (ref {summary["reference"]}), EV '
                       f'{summary["evs"]} from {summary["exposure_source"]}; {summary["inference_seconds"]:.2f} s on '
                       f'{summary["device"]} -> {config.output}/{summary["outputs"][0]}')
    print(f'{len(summaries)} scene(s) done with {checkpoint}')
    return summaries
