"""A self-contained HTML page comparing test runs scene by scene: the runs and the GT side by side (one shared pan and
zoom), re-rendered in the browser at any exposure and tone mapping from the linear HDR data, μ-law error maps on one
colour scale, a flip between two runs, the input frames with their EVs and a sortable per-scene metrics table.

    write_compare_page(['results/test_baseline', 'results/test_SKT'], 'results/cmp.html',
                       labels=['baseline', 'SKT'], gt_root='datasets/demo/Test')

Runs are ``python -m basicsr_skt.test`` results folders (``<dataset>_metrics.csv`` and
``visualization/<dataset>/<scene>_<name>.hdr``) or ``scripts/inference.py`` output folders (``<scene>.hdr`` / ``.exr``
and ``<scene>.json``); ``gt_root`` is the folder of scene folders they were made from (Kalantari layout: frames,
``exposure.txt``, ``HDRImg.hdr``), giving the GT, the error maps and the input frames.

The page is ``OUT.html`` plus a folder ``OUT_files/`` beside it holding one script per scene (the linear radiance of
every run and of the GT as planar RGBE bytes (:func:`pack_image`), zlib-compressed and base64-encoded, plus JPEG
thumbnails of the input
frames). The page loads a scene's script when the scene is shown, so a page of many large scenes opens as fast as one
scene; nothing is fetched from the network and no server is needed (open the file). Everything is written to temporary
names in the output folder and renamed at the end: an error leaves no partial page.
"""
import base64
import glob
import json
import os
import os.path as osp
import shutil
import tempfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from basicsr_skt.inference.brackets import list_frames
from basicsr_skt.metrics.hdr_metrics import calculate_psnr_l, calculate_psnr_mu
from basicsr_skt.reporting.compare import default_labels, find_metrics_csv, read_metrics_csv
from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.figures import DEFAULT_ERROR_SCALE, ERROR_COLORMAP, to_uint8
from basicsr_skt.utils.hdr_io import read_exposure_values, read_hdr, read_ldr
from basicsr_skt.utils.paths import check_output_path
from basicsr_skt.utils.tonemap import DEFAULT_MU

#: GT file names tried in a scene folder of ``gt_root`` (then the only ``*.hdr`` / ``*.exr`` file).
GT_NAMES = ('HDRImg.hdr', 'HDRImg.exr', 'gt.hdr', 'gt.exr')
#: Metrics shown with the smallest value in bold (all others: the largest).
LOWER_IS_BETTER = ('lpips', 'time_s')
#: Longest side of the input-frame thumbnails (px).
FRAME_SIDE = 400
#: Marker file of a page's data folder: only such a folder is replaced when a page is written again.
MARKER = '.basicsr_skt_compare_page'
HDR_SUFFIXES = ('.hdr', '.exr')
_ASSET_DIR = osp.dirname(osp.abspath(__file__))


@dataclass
class Run:
    """One run to compare.

    Attributes:
        label: Name shown on the page.
        folder: Its results / output folder.
        predictions: scene -> linear HDR prediction file.
        metrics: scene -> metric -> value (from the run's metrics CSV; empty for inference outputs).
        evs: scene -> EVs of the input frames (from ``<scene>.json`` of inference outputs).
    """
    label: str
    folder: str
    predictions: 'OrderedDict[str, str]'
    metrics: Dict[str, Dict[str, float]] = field(default_factory=dict)
    evs: Dict[str, List[float]] = field(default_factory=dict)


def _prediction_of(folder: str, scene: str, name: str, scenes: Sequence[str]) -> Optional[str]:
    """The prediction of ``scene`` in a test run's visualization folder: ``<scene>_<name>.hdr`` (``.exr``), else the
    only ``<scene>_<suffix>.hdr`` (a run with ``val.suffix``) that is not another scene's (``scenes``: all of them)."""
    for suffix in HDR_SUFFIXES:
        path = osp.join(folder, f'{scene}_{name}{suffix}')
        if osp.isfile(path):
            return path
    longer = [other + '_' for other in scenes if other != scene and other.startswith(scene + '_')]
    found = [
        p for suffix in HDR_SUFFIXES
        for p in sorted(glob.glob(osp.join(glob.escape(folder), f'{glob.escape(scene)}_*{suffix}')))
        if not osp.basename(p).startswith(tuple(longer))
    ]
    return found[0] if len(found) == 1 else None


def load_test_run(path: str, label: str, dataset: Optional[str] = None) -> Run:
    """A ``basicsr_skt.test`` results folder (or its metrics CSV): scenes of the CSV and their ``.hdr`` predictions.

    Raises:
        UserInputError: No visualization folder or a scene without prediction (names the file expected).
    """
    csv_path = find_metrics_csv(path, dataset)
    folder = osp.dirname(osp.abspath(csv_path))
    name = osp.basename(csv_path)[:-len('_metrics.csv')]
    vis = osp.join(folder, 'visualization', name)
    metrics = read_metrics_csv(csv_path)
    predictions = OrderedDict()
    for scene in metrics:
        found = _prediction_of(vis, scene, osp.basename(folder), list(metrics))
        if found is None:
            raise UserInputError(f'Run {label!r}: no HDR prediction for scene {scene!r} of {csv_path} (expected '
                                 f'{osp.join(vis, f"{scene}_{osp.basename(folder)}.hdr")}): test with val.save_img: '
                                 'true, or compare the folder the predictions were written to')
        predictions[scene] = found
    return Run(label, folder, predictions, metrics={s: dict(m) for s, m in metrics.items()})


def load_inference_run(folder: str, label: str) -> Run:
    """A ``scripts/inference.py`` output folder: every ``<scene>.json`` and the HDR file it names."""
    predictions, evs = OrderedDict(), {}
    for json_path in sorted(glob.glob(osp.join(glob.escape(folder), '*.json'))):
        try:
            with open(json_path, encoding='utf-8') as f:
                summary = json.load(f)
        except (OSError, ValueError) as err:
            raise UserInputError(f'Run {label!r}: cannot read {json_path} ({err})') from err
        if not isinstance(summary, dict) or 'scene' not in summary or 'outputs' not in summary:
            continue
        hdr = next((o for o in summary['outputs'] if osp.splitext(o)[1].lower() in HDR_SUFFIXES), None)
        if hdr is None or not osp.isfile(osp.join(folder, hdr)):
            raise UserInputError(f'Run {label!r}: {json_path} names no HDR file that exists in {folder} '
                                 f'(outputs {summary["outputs"]}): run scripts/inference.py again')
        predictions[summary['scene']] = osp.join(folder, hdr)
        if summary.get('evs'):
            evs[summary['scene']] = [float(ev) for ev in summary['evs']]
    return Run(label, folder, predictions, evs=evs)


def has_metrics_csv(path: str) -> bool:
    """Whether ``path`` is a metrics CSV or a folder holding a ``*_metrics.csv`` (a test results folder)."""
    return osp.isfile(path) or (osp.isdir(path) and bool(glob.glob(osp.join(glob.escape(path), '*_metrics.csv'))))


def load_run(path: str, label: str, dataset: Optional[str] = None) -> Run:
    """A test results folder (or metrics CSV) or an inference output folder.

    Raises:
        UserInputError: ``path`` is neither (says what each layout holds).
    """
    if has_metrics_csv(path):
        return load_test_run(path, label, dataset)
    if osp.isdir(path):
        run = load_inference_run(path, label)
        if run.predictions:
            return run
    raise UserInputError(f'Run {label!r}: {path} is neither a test results folder (<dataset>_metrics.csv and '
                         'visualization/<dataset>/<scene>_<name>.hdr, from python -m basicsr_skt.test) nor a '
                         'scripts/inference.py output folder (<scene>.json and <scene>.hdr)')


def common_scene_names(runs: Sequence[Run]) -> List[str]:
    """Scenes of the first run (its order) that every run has.

    Raises:
        UserInputError: No scene is shared (lists each run's first scenes).
    """
    scenes = [s for s in runs[0].predictions if all(s in run.predictions for run in runs[1:])]
    if not scenes:
        listing = '; '.join(f'{run.label} ({run.folder}): {list(run.predictions)[:5]}' for run in runs)
        raise UserInputError(f'The runs have no scene in common: {listing}. Compare runs tested on the same scenes')
    return scenes


def find_gt(scene_dir: str) -> str:
    """The GT file of a scene folder (:data:`GT_NAMES`, else its only ``.hdr`` / ``.exr`` file).

    Raises:
        UserInputError: The folder or its GT file is missing, or several HDR files leave it ambiguous.
    """
    if not osp.isdir(scene_dir):
        raise UserInputError(f'Scene folder {scene_dir} does not exist: --gt-root must be the folder of scene folders '
                             'the runs were tested on (e.g. datasets/demo/Test)')
    for name in GT_NAMES:
        if osp.isfile(osp.join(scene_dir, name)):
            return osp.join(scene_dir, name)
    found = sorted(p for p in os.listdir(scene_dir) if osp.splitext(p)[1].lower() in HDR_SUFFIXES)
    if len(found) != 1:
        raise UserInputError(f'Scene folder {scene_dir}: expected one GT HDR file ({", ".join(GT_NAMES)}), found '
                             f'{found or "none"}')
    return osp.join(scene_dir, found[0])


def encode_rgbe(img: np.ndarray) -> bytes:
    """Linear BGR radiance -> planar RGBE bytes (R, G, B, E planes of ``H * W`` bytes each; Radiance/OpenCV rounding,
    so an image read from a ``.hdr`` file is encoded to its original bytes).

    Args:
        img: float ``H x W x 3`` BGR linear radiance (negative values are stored as 0).

    Returns:
        ``4 * H * W`` bytes; a pixel decodes to ``(R, G, B) * 2 ** (E - 136)`` (0 where ``E == 0``).
    """
    rgb = np.maximum(np.asarray(img, dtype=np.float64)[:, :, ::-1], 0.0).reshape(-1, 3)
    peak = rgb.max(axis=1)
    mantissa, exponent = np.frexp(peak)
    valid = peak > 1e-32
    scale = np.where(valid, mantissa * 256.0 / np.where(valid, peak, 1.0), 0.0)
    planes = np.zeros((4, rgb.shape[0]), np.uint8)
    planes[:3] = np.clip(np.floor(rgb * scale[:, None]), 0, 255).T
    planes[3] = np.where(valid, exponent + 128, 0)
    return planes.tobytes()


def decode_rgbe(data: bytes, height: int, width: int) -> np.ndarray:
    """Inverse of :func:`encode_rgbe` (as the page's JavaScript decodes it): float32 ``H x W x 3`` BGR."""
    planes = np.frombuffer(data, np.uint8).reshape(4, height * width).astype(np.float64)
    factor = np.where(planes[3] > 0, np.exp2(planes[3] - 136.0), 0.0)
    rgb = (planes[:3] * factor).T.reshape(height, width, 3)
    return rgb[:, :, ::-1].astype(np.float32)


def pack_image(img: np.ndarray) -> str:
    """What the page decodes: :func:`encode_rgbe` planes, each row as differences to its left neighbour (mod 256,
    like PNG's Sub filter: smooth images compress better), zlib-compressed, base64-encoded."""
    height, width = img.shape[:2]
    planes = np.frombuffer(encode_rgbe(img), np.uint8).reshape(4 * height, width)
    delta = planes.copy()
    delta[:, 1:] = planes[:, 1:] - planes[:, :-1]  # uint8 arithmetic wraps around
    return base64.b64encode(zlib.compress(delta.tobytes(), 6)).decode('ascii')


def unpack_image(text: str, height: int, width: int) -> np.ndarray:
    """Inverse of :func:`pack_image` (what the page's script does): float32 ``H x W x 3`` BGR."""
    delta = np.frombuffer(zlib.decompress(base64.b64decode(text)), np.uint8).reshape(4 * height, width)
    planes = np.cumsum(delta, axis=1, dtype=np.uint64).astype(np.uint8)  # cumulative sums mod 256
    return decode_rgbe(planes.tobytes(), height, width)


def _frame_thumbnail(path: str) -> str:
    """A JPEG data URL of an LDR frame, longest side at most :data:`FRAME_SIDE`."""
    ldr = read_ldr(path)
    scale = FRAME_SIDE / max(ldr.shape[:2])
    if scale < 1:
        ldr = cv2.resize(ldr, (round(ldr.shape[1] * scale), round(ldr.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode('.jpg', to_uint8(ldr), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError(f'OpenCV failed to encode a thumbnail of {path}')
    return 'data:image/jpeg;base64,' + base64.b64encode(encoded.tobytes()).decode('ascii')


def _scene_frames(scene_dir: Optional[str], evs: Optional[List[float]]) -> Tuple[List[Dict[str, Any]], List[str]]:
    """(frame names and EVs, thumbnails) of a scene: the frames of its folder and its ``exposure.txt`` when there is
    a folder, else only the EVs an inference run recorded."""
    if scene_dir is None:
        return [{'name': f'frame {i + 1}', 'ev': ev} for i, ev in enumerate(evs or [])], []
    paths = list_frames(scene_dir)
    exposure = osp.join(scene_dir, 'exposure.txt')
    if osp.isfile(exposure):
        evs = read_exposure_values(exposure)
    names = [{'name': osp.basename(p), 'ev': (evs[i] if evs and i < len(evs) else None)} for i, p in enumerate(paths)]
    return names, [_frame_thumbnail(p) for p in paths]


def _read_prediction(path: str) -> np.ndarray:
    return np.maximum(read_hdr(path, allow_negative=True), 0.0)


def _check_size(scene: str, what: str, path: str, img: np.ndarray, ref: Tuple[str, str, np.ndarray]) -> None:
    if img.shape[:2] != ref[2].shape[:2]:
        raise UserInputError(f'Scene {scene!r}: {what} {path} is {img.shape[0]} x {img.shape[1]} but {ref[0]} '
                             f'{ref[1]} is {ref[2].shape[0]} x {ref[2].shape[1]} (H x W): compare runs made from '
                             'the same test images (same --max-side / crop)')


def _script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element."""
    return json.dumps(value, separators=(',', ':')).replace('</', '<\\/')


def _colormap() -> List[List[int]]:
    """The error maps' colours (RGB) for codes 0..255: OpenCV's :data:`ERROR_COLORMAP`, as the PNG figures."""
    bgr = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], ERROR_COLORMAP)[:, 0]
    return bgr[:, ::-1].astype(int).tolist()


def page_html(meta: Dict[str, Any]) -> str:
    """The page: controls, panels, frames, table, the page data (``meta``) and the viewer script, inline."""
    with open(osp.join(_ASSET_DIR, 'compare_page.js'), encoding='utf-8') as f:
        script = f.read()
    page = _PAGE.replace('{{TITLE}}', _html_escape(meta['title'])).replace('{{SCRIPT}}', script)
    return page.replace('{{META}}', _script_json(meta))


def _html_escape(text: str) -> str:
    return text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')


def check_page_outputs(out_html: str, files_dir: str, inputs: Sequence[str], input_trees: Sequence[str]) -> None:
    """Refuse a page or data folder that is an input, lies inside an input folder, or replaces a foreign folder.

    Raises:
        UserInputError: Naming the output and the collision.
    """
    if not out_html.lower().endswith(('.html', '.htm')):
        raise UserInputError(f'--html {out_html}: the page needs a .html name (its data go to a folder beside it)')
    hint = 'choose an --html outside the compared runs and the GT folder, e.g. results/compare.html'
    for what, path in (('--html', out_html), ('the page\'s data folder', files_dir)):
        check_output_path(path, inputs=inputs, input_trees=input_trees, what=what, hint=hint)
    if osp.isdir(out_html):
        raise UserInputError(f'--html {out_html} is a folder: give a file name ending in .html')
    if osp.exists(files_dir) and not osp.isfile(osp.join(files_dir, MARKER)):
        raise UserInputError(f'{files_dir} exists and was not written by a comparison page: the page keeps its data '
                             'in <page>_files/ beside it; move that folder or choose another --html')


def write_compare_page(runs: Sequence[str],
                       out_html: str,
                       labels: Optional[Sequence[str]] = None,
                       gt_root: Optional[str] = None,
                       dataset: Optional[str] = None,
                       title: Optional[str] = None,
                       error_scale: float = DEFAULT_ERROR_SCALE,
                       max_side: Optional[int] = None) -> Dict[str, Any]:
    """Write the comparison page of ``runs`` for every scene they share.

    Args:
        runs: Two or more run folders (test results folders, their metrics CSVs, or inference output folders); one is
            accepted too (no flip panel).
        out_html: The page (``.html``); its data go to ``<out_html without .html>_files/`` beside it.
        labels: One name per run (default: folder names).
        gt_root: Folder of the scene folders the runs were made from (GT, input frames, EVs); None: no GT, no error
            maps; metrics only from the runs' CSVs.
        dataset: ``<dataset>_metrics.csv`` to read when a results folder holds several.
        title: Page title (default: the labels).
        error_scale: μ-law error at the top of the error maps' colour scale (changeable on the page).
        max_side: Shrink every image (area average of the linear radiance) so that its longer side is at most this
            many pixels: about ``(max_side / long side) ** 2`` of the data; None: full resolution. The metrics
            table keeps the runs' full-resolution values.

    Returns:
        ``{'html': out_html, 'files': data folder, 'scenes': [names], 'skipped': [scenes some run lacks],
        'bytes': page + data size}``.

    Raises:
        UserInputError: Bad runs (no common scene, a missing HDR file, images of different sizes, labels not
            distinct) or outputs that collide with inputs; nothing is written then.
    """
    labels = list(labels) if labels else default_labels(list(runs))
    if len(labels) != len(runs) or len(set(labels)) != len(labels):
        raise UserInputError(f'Run labels {labels} must be distinct, one per run ({len(runs)}); pass --labels')
    loaded = [load_run(path, label, dataset) for path, label in zip(runs, labels)]
    scenes = common_scene_names(loaded)
    out_html = osp.abspath(out_html)
    files_dir = osp.splitext(out_html)[0] + '_files'
    trees = [run.folder for run in loaded] + ([gt_root] if gt_root else [])
    check_page_outputs(out_html, files_dir, [p for run in loaded for p in run.predictions.values()], trees)
    out_dir = osp.dirname(out_html)
    os.makedirs(out_dir, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix=f'.{osp.basename(files_dir)}.', dir=out_dir)
    try:
        if max_side is not None and max_side < 16:
            raise UserInputError(f'max_side (--html-max-side) must be at least 16 pixels, got {max_side}')
        meta = _write_scene_data(loaded, scenes, gt_root, tmp_dir, osp.basename(files_dir), error_scale, max_side)
        meta['title'] = title or ' vs '.join(labels)
        with open(osp.join(tmp_dir, MARKER), 'w') as f:
            f.write('Data of the comparison page ' + osp.basename(out_html) + '\n')
        html_tmp = osp.join(tmp_dir, 'page.html')
        with open(html_tmp, 'w', encoding='utf-8') as f:
            f.write(page_html(meta))
        size = sum(osp.getsize(osp.join(tmp_dir, name)) for name in os.listdir(tmp_dir))
        old = None
        if osp.exists(files_dir):
            old = tempfile.mkdtemp(prefix=f'.{osp.basename(files_dir)}.old.', dir=out_dir)
            os.replace(files_dir, osp.join(old, 'files'))
        os.replace(html_tmp, out_html + '.tmp')
        os.replace(tmp_dir, files_dir)
        os.replace(out_html + '.tmp', out_html)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        if osp.exists(out_html + '.tmp'):
            os.remove(out_html + '.tmp')
        raise
    skipped = sorted({s for run in loaded for s in run.predictions} - set(scenes))
    return {'html': out_html, 'files': files_dir, 'scenes': scenes, 'skipped': skipped, 'bytes': size}


def shrink(img: np.ndarray, max_side: Optional[int]) -> np.ndarray:
    """``img`` area-averaged so that its longer side is at most ``max_side`` (unchanged when None or smaller)."""
    if max_side is None or max(img.shape[:2]) <= max_side:
        return img
    scale = max_side / max(img.shape[:2])
    size = (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _write_scene_data(runs: Sequence[Run], scenes: Sequence[str], gt_root: Optional[str], folder: str,
                      folder_name: str, error_scale: float, max_side: Optional[int]) -> Dict[str, Any]:
    """Read, check and write every scene's script into ``folder``; returns the page data (``meta``)."""
    metric_names: List[str] = []
    for run in runs:
        for scene in scenes:
            metric_names += [m for m in run.metrics.get(scene, {}) if m not in metric_names]
    table: Dict[str, Dict[str, Dict[str, float]]] = {}
    scene_meta = []
    for index, scene in enumerate(scenes):
        images, first = OrderedDict(), None
        for run in runs:
            img = _read_prediction(run.predictions[scene])
            if first is None:
                first = (f'run {run.label!r}', run.predictions[scene], img)
            _check_size(scene, f'run {run.label!r}', run.predictions[scene], img, first)
            images[f'run:{run.label}'] = img
        scene_dir, gt = None, None
        if gt_root is not None:
            scene_dir = osp.join(gt_root, scene)
            gt_path = find_gt(scene_dir)
            gt = read_hdr(gt_path)
            _check_size(scene, 'GT', gt_path, gt, first)
            images['gt'] = gt
        table[scene] = {}
        for run in runs:
            values = dict(run.metrics.get(scene, {}))
            if not values and gt is not None:  # inference outputs carry no metrics: compute the cheap ones
                pred = images[f'run:{run.label}']
                values = {'psnr_mu': calculate_psnr_mu(pred, gt), 'psnr_l': calculate_psnr_l(pred, gt)}
                metric_names += [m for m in values if m not in metric_names]
            table[scene][run.label] = {k: (v if np.isfinite(v) else None) for k, v in values.items()}
        evs = next((run.evs[scene] for run in runs if scene in run.evs), None)
        frames, thumbnails = _scene_frames(scene_dir, evs)
        scene_id = f'scene_{index:03d}'
        images = OrderedDict((key, shrink(img, max_side)) for key, img in images.items())
        data = {'images': {key: pack_image(img) for key, img in images.items()}, 'frames': thumbnails}
        with open(osp.join(folder, f'{scene_id}.js'), 'w', encoding='ascii') as f:
            f.write(f'window.SKT_SCENE_DATA = window.SKT_SCENE_DATA || {{}};\n'
                    f'window.SKT_SCENE_DATA[{json.dumps(scene_id)}] = {_script_json(data)};\n')
        height, width = next(iter(images.values())).shape[:2]
        scene_meta.append({'id': scene_id, 'name': scene, 'file': f'{folder_name}/{scene_id}.js', 'height': height,
                           'width': width, 'frames': frames})
    return {
        'runs': [run.label for run in runs],
        'hasGt': gt_root is not None,
        'scenes': scene_meta,
        'metrics': metric_names,
        'table': table,
        'lowerBetter': [m for m in metric_names if m in LOWER_IS_BETTER],
        'mu': DEFAULT_MU,
        'errorScale': error_scale,
        'colormap': _colormap(),
    }


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{TITLE}}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 12px; background: #fafafa; color: #222; }
h1 { font-size: 18px; margin: 0 0 8px; }
#controls { display: flex; flex-wrap: wrap; gap: 14px; align-items: center; padding: 6px 0; position: sticky; top: 0;
  background: #fafafa; z-index: 2; border-bottom: 1px solid #ddd; }
#controls label { white-space: nowrap; }
#panels { display: grid; gap: 8px; margin-top: 8px; }
.panel .label { font-weight: 600; padding: 2px 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.panel canvas { display: block; background: #202020; cursor: grab; }
#frames { display: flex; gap: 8px; flex-wrap: wrap; }
#frames figure { margin: 0; }
#frames img { max-height: 160px; display: block; }
#frames figcaption { font-size: 12px; color: #555; }
table { border-collapse: collapse; margin-top: 6px; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #eee; cursor: pointer; position: sticky; }
th.sorted[data-dir="desc"]::after { content: " \\25BC"; }
th.sorted[data-dir="asc"]::after { content: " \\25B2"; }
td:first-child { text-align: left; }
tbody tr { cursor: pointer; }
tbody tr:hover { background: #eef4ff; }
tr.current { background: #dde8ff; }
td.best { font-weight: 700; }
#status { color: #555; }
.bar { display: inline-flex; align-items: center; gap: 4px; }
</style>
</head>
<body>
<h1 id="title">{{TITLE}}</h1>
<div id="controls">
  <span><button id="prev" title="previous scene">&#9664;</button>
    <select id="scene" aria-label="scene"></select>
    <button id="next" title="next scene">&#9654;</button></span>
  <label>exposure <input id="ev" type="range" min="-8" max="4" step="0.1" value="0"> EV <span id="ev-value">0.0</span>
  </label>
  <label>tone mapping <select id="tonemap">
    <option value="mulaw">μ-law (μ=5000, clip to 1)</option>
    <option value="reinhard">Reinhard L/(1+L), γ 2.2</option>
    <option value="linear">linear clip, γ 2.2</option>
  </select></label>
  <span id="error-controls" class="bar">|Δ| scale <input id="err-scale" type="range" min="0.005" max="0.5"
    step="0.005">
    <canvas id="colour-bar" width="120" height="12"></canvas> 0…<span id="colour-bar-max"></span></span>
  <span id="flip-controls">flip <select id="flip-a"></select> ⇄ <select id="flip-b"></select>
    <button id="flip" title="or press F">flip (F)</button></span>
  <button id="fit" title="or double-click an image">fit</button>
  <span id="status"></span>
</div>
<div id="viewer">
  <div id="panels"></div>
  <p style="color:#666;font-size:12px">Drag to pan, wheel to zoom (all panels together), double-click to fit. Images:
  linear radiance × 2<sup>EV</sup>, then the tone mapping. Error maps: mean over channels of
  |μ(clip(run, 0, 1)) − μ(clip(GT, 0, 1))|, independent of the exposure slider, one colour scale for every run.</p>
  <h3 id="frames-title">Input frames</h3>
  <div id="frames"></div>
</div>
<h3>Per-scene metrics (click a header to sort, a row to show the scene)</h3>
<table id="metrics"><thead></thead><tbody></tbody></table>
<script id="skt-meta" type="application/json">{{META}}</script>
<script>
{{SCRIPT}}
</script>
</body>
</html>
"""
