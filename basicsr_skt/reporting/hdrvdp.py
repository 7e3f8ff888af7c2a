"""Export prediction / ground-truth pairs and a MATLAB (or Octave) script that scores them with HDR-VDP-2.2.

HDR-VDP-2 (Mantiuk et al., SIGGRAPH 2011) only exists as MATLAB code, so it cannot run here; this script prepares
everything for a user who has MATLAB:

    python scripts/export_hdrvdp.py results/test_HDRTransformer_Kalantari17 datasets/Kalantari17/Test
    # then in MATLAB (HDR-VDP-2.2 on the path):
    #   addpath('/path/to/hdrvdp-2.2.1'); run('results/test_HDRTransformer_Kalantari17/hdrvdp/run_hdrvdp.m')

Input: a ``python -m basicsr_skt.test`` results folder (predictions ``visualization/<dataset>/<scene>_<suffix>.hdr``)
and the test set root (``<scene>/HDRImg.hdr``). Output (``--out``, default ``<results>/hdrvdp``):

* ``pred/<scene>.hdr`` and ``gt/<scene>.hdr``: the pairs, copied byte for byte (a GT in ``.exr`` is converted to
  ``.hdr``);
* ``scenes.txt``: the scene names, one per line;
* ``run_hdrvdp.m``: loops over the scenes, calls ``hdrvdp(test, reference, color_encoding, ppd, options)`` and writes
  ``hdrvdp_q.csv`` (``scene,Q`` plus a ``mean`` row; Q is HDR-VDP-2's quality correlate, 100 = no visible
  difference, higher is better).

Settings written into the .m file (edit them there or pass them here):

* colour encoding ``sRGB-display`` (default, the protocol of Kalantari'17-style deghosting papers): the linear HDR
  values in [0, 1] (clipped) are taken as pixel values of an sRGB display with 100 cd/m² peak and 1 cd/m² black;
  or ``rgb-bt.709``: absolute linear BT.709 RGB, obtained as ``--peak-luminance`` x the linear values (cd/m²).
* pixels per degree: ``hdrvdp_pix_per_deg(diagonal_in, [width height], distance_m)``, default a 24-inch
  1920 x 1200 display seen from 0.5 m (HDR-VDP's own example: about 45 pixels per degree).
* options: ``{}``, or ``{'surround_l', L}`` with ``--surround-luminance L`` (cd/m²; HDR-VDP-2.2's option name,
  HDR-VDP-3 calls it ``'surround'``).
"""
import os
import os.path as osp
import shutil
from datetime import date
from typing import List, Optional, Sequence, Tuple

from basicsr_skt.utils.hdr_io import read_hdr, write_hdr
from basicsr_skt.utils.paths import check_name, check_output_path

COLOR_ENCODINGS = ('sRGB-display', 'rgb-bt.709')


def find_prediction_dir(results: str, dataset: Optional[str]) -> str:
    """``<results>/visualization/<dataset>`` (the only dataset when None), or ``results`` itself if it holds .hdr."""
    vis = osp.join(results, 'visualization')
    if dataset is not None:
        folder = osp.join(vis, dataset)
        if not osp.isdir(folder):
            raise FileNotFoundError(f'{folder} does not exist')
        return folder
    if osp.isdir(vis):
        datasets = sorted(d for d in os.listdir(vis) if osp.isdir(osp.join(vis, d)))
        if len(datasets) != 1:
            raise FileNotFoundError(f'{vis}: expected one dataset folder, found {datasets}; pass --dataset')
        return osp.join(vis, datasets[0])
    if any(f.endswith('.hdr') for f in os.listdir(results)):
        return results
    raise FileNotFoundError(f'{results}: no visualization/<dataset>/ folder and no .hdr files')


def gt_scenes(gt_root: str, gt_name: str) -> List[str]:
    """Sorted scene folders of ``gt_root`` that hold ``gt_name``."""
    if not osp.isdir(gt_root):
        raise FileNotFoundError(f'GT root {gt_root} does not exist')
    return sorted(s for s in os.listdir(gt_root) if osp.isfile(osp.join(gt_root, s, gt_name)))


def match_pairs(pred_dir: str, gt_root: str, gt_name: str, suffix: str,
                skip_missing: bool) -> List[Tuple[str, str, str]]:
    """(scene, prediction path, GT path) for every GT scene; predictions are ``<scene>_<suffix>.hdr``.

    Raises:
        FileNotFoundError: no GT scene, or scenes without a prediction (unless ``skip_missing``).
    """
    scenes = gt_scenes(gt_root, gt_name)
    if not scenes:
        raise FileNotFoundError(f'{gt_root}: no <scene>/{gt_name}')
    pairs, missing = [], []
    for scene in scenes:
        pred = osp.join(pred_dir, f'{scene}_{suffix}.hdr' if suffix else f'{scene}.hdr')
        if osp.isfile(pred):
            pairs.append((scene, pred, osp.join(gt_root, scene, gt_name)))
        else:
            missing.append(osp.basename(pred))
    if missing and not skip_missing:
        raise FileNotFoundError(f'{pred_dir}: missing predictions {missing} (check --suffix, or --skip-missing)')
    if not pairs:
        raise FileNotFoundError(f'{pred_dir}: no prediction matches a GT scene of {gt_root}')
    return pairs


def copy_as_hdr(src: str, dst: str) -> None:
    """Copy a ``.hdr`` file verbatim; convert other HDR formats (``.exr``) to Radiance ``.hdr``."""
    os.makedirs(osp.dirname(dst), exist_ok=True)
    if src.lower().endswith('.hdr'):
        shutil.copyfile(src, dst)
    else:
        write_hdr(dst, read_hdr(src, allow_negative=True).clip(min=0))


def matlab_string(text: str) -> str:
    """A single-quoted MATLAB string literal."""
    return "'" + text.replace("'", "''") + "'"


def matlab_script(scenes: Sequence[str], color_encoding: str, diagonal_in: float, resolution: Sequence[int],
                  distance_m: float, peak_luminance: float, surround: Optional[float]) -> str:
    """The text of ``run_hdrvdp.m`` (MATLAB; also valid Octave with an ``hdrread`` or pfstools' reader)."""
    scene_list = ', ...\n    '.join(matlab_string(s) for s in scenes)
    options = '{}' if surround is None else f"{{'surround_l', {surround:g}}}"
    return f"""% run_hdrvdp.m: HDR-VDP-2.2 quality (Q) of every exported prediction against its ground truth.
% Generated by basicsr-skt scripts/export_hdrvdp.py on {date.today().isoformat()} for {len(scenes)} scenes.
%
% Usage (MATLAB, any folder):
%   addpath('/path/to/hdrvdp-2.2.1');   % HDR-VDP-2.2 from http://hdrvdp.sourceforge.net
%   run('/path/to/this/folder/run_hdrvdp.m');
% Reads pred/<scene>.hdr (test) and gt/<scene>.hdr (reference), both Radiance RGBE (linear RGB), and writes
% hdrvdp_q.csv (scene,Q; last row: mean). Q: 100 = no visible difference, lower = worse.
%
% Settings:
%   color_encoding 'sRGB-display': the linear HDR values, clipped to [0, 1], are read as pixel values of an sRGB
%     display (100 cd/m^2 peak, 1 cd/m^2 black), as in Kalantari'17-style deghosting evaluations.
%   color_encoding 'rgb-bt.709': absolute linear BT.709 RGB in cd/m^2 = peak_luminance * linear values.
%   ppd: pixels per visual degree from the display diagonal (inches), resolution [width height] and viewing
%     distance (metres), computed by HDR-VDP's hdrvdp_pix_per_deg.
%   options: e.g. {{'surround_l', 13}} sets the surround luminance (HDR-VDP-3 calls this option 'surround').

here = fileparts(mfilename('fullpath'));
color_encoding = {matlab_string(color_encoding)};
display_diagonal_in = {diagonal_in:g};
display_resolution = [{int(resolution[0])} {int(resolution[1])}];
viewing_distance_m = {distance_m:g};
peak_luminance = {peak_luminance:g};  % used by 'rgb-bt.709' only
options = {options};
ppd = hdrvdp_pix_per_deg(display_diagonal_in, display_resolution, viewing_distance_m);

if exist('hdrread') > 0
    read_hdr = @(path) double(hdrread(path));
elseif exist('pfs_read_image') > 0
    read_hdr = @(path) double(pfs_read_image(path));
else
    error('run_hdrvdp: no Radiance .hdr reader (hdrread: MATLAB Image Processing Toolbox; or pfstools)');
end

scenes = {{ ...
    {scene_list}}};
Q = zeros(numel(scenes), 1);
for i = 1:numel(scenes)
    test = read_hdr(fullfile(here, 'pred', [scenes{{i}} '.hdr']));
    reference = read_hdr(fullfile(here, 'gt', [scenes{{i}} '.hdr']));
    if strcmpi(color_encoding, 'sRGB-display')
        test = min(max(test, 0), 1);
        reference = min(max(reference, 0), 1);
    else
        test = max(test, 0) * peak_luminance;
        reference = max(reference, 0) * peak_luminance;
    end
    res = hdrvdp(test, reference, color_encoding, ppd, options);
    Q(i) = res.Q;
    fprintf('%s: Q = %.4f\\n', scenes{{i}}, Q(i));
end

fid = fopen(fullfile(here, 'hdrvdp_q.csv'), 'w');
fprintf(fid, 'scene,Q\\n');
for i = 1:numel(scenes)
    fprintf(fid, '%s,%.6f\\n', scenes{{i}}, Q(i));
end
fprintf(fid, 'mean,%.6f\\n', mean(Q));
fclose(fid);
fprintf('Mean Q over %d scenes: %.4f (written to %s)\\n', numel(scenes), mean(Q), fullfile(here, 'hdrvdp_q.csv'));
"""


def export(results: str,
           gt_root: str,
           out: Optional[str] = None,
           dataset: Optional[str] = None,
           suffix: Optional[str] = None,
           gt_name: str = 'HDRImg.hdr',
           color_encoding: str = 'sRGB-display',
           diagonal_in: float = 24.0,
           resolution: Sequence[int] = (1920, 1200),
           distance_m: float = 0.5,
           peak_luminance: float = 100.0,
           surround: Optional[float] = None,
           skip_missing: bool = False) -> str:
    """Write the pairs, ``scenes.txt`` and ``run_hdrvdp.m`` (see the module docstring); returns the export folder.

    ``suffix`` defaults to the results folder's name (the test pipeline's default ``val.suffix``, the run name).
    """
    if color_encoding not in COLOR_ENCODINGS:
        raise ValueError(f'color_encoding must be one of {COLOR_ENCODINGS}, got {color_encoding!r}')
    out = out or osp.join(results, 'hdrvdp')
    suffix = osp.basename(osp.normpath(results)) if suffix is None else suffix
    pred_dir = find_prediction_dir(results, dataset)
    hint = 'choose an --out outside the test set and the prediction folder (default: <results>/hdrvdp)'
    check_output_path(out, input_trees=[gt_root, pred_dir], what='--out', hint=hint)
    pairs = match_pairs(pred_dir, gt_root, gt_name, suffix, skip_missing)
    for scene, pred, gt in pairs:
        check_name(scene, f'Scene name under {gt_root}')
        targets = ((pred, osp.join(out, 'pred', f'{scene}.hdr')), (gt, osp.join(out, 'gt', f'{scene}.hdr')))
        for source, target in targets:
            check_output_path(target, inputs=[pred, gt], what='--out file', hint=hint)
            copy_as_hdr(source, target)
    scenes = [scene for scene, _, _ in pairs]
    with open(osp.join(out, 'scenes.txt'), 'w') as f:
        f.write('\n'.join(scenes) + '\n')
    with open(osp.join(out, 'run_hdrvdp.m'), 'w') as f:
        f.write(matlab_script(scenes, color_encoding, diagonal_in, resolution, distance_m, peak_luminance, surround))
    return out
