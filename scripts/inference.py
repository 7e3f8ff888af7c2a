"""Reconstruct HDR images from your own exposure brackets with a trained network (any resolution, CPU or GPU).

Inputs: a scene folder (Kalantari layout: frames + exposure.txt, or camera files with EXIF), a folder of scene
folders, or a list of frame files (8/16-bit TIFF/PNG, 8-bit JPEG). Exposure times, first available: --exposures
(seconds) or --ev (EV stops), the scene's exposure file, the files' EXIF ExposureTime. Frames are sorted from the
shortest to the longest exposure; the reference is the middle one unless --reference says otherwise. Per scene OUT/
gets <scene>.hdr (or .exr), <scene>_mulaw.png, <scene>_reinhard.png, <scene>.json and with --compare
<scene>_compare.png. The work is basicsr_skt.inference.pipeline; more in docs/inference.md.

Examples:
    python scripts/inference.py --checkpoint experiments/HDRT_Kalantari/models/net_g_latest.pth \\
        datasets/Kalantari17/Test -o results/kalantari_test                    # folder of scene folders
    python scripts/inference.py --checkpoint net_g_latest.pth --arch-opt embed_dim=12 'depths=[2]' 'num_heads=[2]' \\
        a.jpg b.jpg c.jpg --exposures 1/100 1/25 1/6 -o out --tile 512 --tile-overlap 64 --device cpu
"""
import argparse
import sys
from typing import List, Optional

import basicsr_skt  # noqa: F401  isort:skip  (registers the archs; must precede basicsr imports)
from basicsr_skt.inference import brackets
from basicsr_skt.inference.pipeline import LATEST_G, InferenceConfig, run_inference
from basicsr_skt.utils.cli import add_dataclass_arguments, dataclass_from_args, non_negative_int, ranged
from basicsr_skt.utils.errors import run_cli, strip_debug_flag

NETWORK = {
    'checkpoint': {'required': True, 'default': None, 'help': 'net_g_*.pth of our training (HDR or SKT run: the plain '
                   f'ORM), an experiment folder (uses {LATEST_G}), or an official HDR-Transformer / AHDRNet / SCTNet '
                   'checkpoint ({"state_dict": ...}, "module." prefixes)'},
    'arch': 'arch name in BasicSR ARCH_REGISTRY',
    'arch_opt': {'nargs': '*', 'metavar': 'KEY=VALUE', 'help': 'arch keyword argument, value parsed as YAML'},
    'config': 'take --arch and its options from network_g of this BasicSR YAML config',
    'param_key': 'checkpoint key of the weights (default: the first of params_ema, params, state_dict, ...)',
}
EXPOSURE = {
    'exposures': {'metavar': 'SECONDS', 'help': 'exposure time per frame in seconds, e.g. 1/100 1/25 1/6 (order of '
                  'the files given, or file-name order for a folder)'},
    'ev': {'type': str, 'metavar': 'EV', 'help': 'EV stop per frame, e.g. -2 0 2'},  # floats once inputs are split off
    'exposure_file': 'EV file (one per frame, file-name order): a name looked up in each scene folder, or a file path',
    'ev_origin': {'choices': brackets.EV_ORIGINS, 'help': 'what t is relative to. auto: an exposure file as written '
                  '(t = 2 ** ev, like the training dataset), EXIF / --exposures / --ev relative to the shortest frame '
                  '(Kalantari; the official checkpoints)'},
    'reference': 'reference frame index in exposure order (0 = shortest); default the middle',
    'response': 'assumed camera response: gamma2.2 (L ** 2.2, as the training data; an approximation for camera '
                'JPEGs), gamma<x>, or linear (frames already linear)',
}
RUN = {
    'device': 'auto (cuda if available), cpu, cuda, cuda:1, ...',
    'pad_multiple': 'reflect-pad H and W to this multiple',
    'tile': 'process overlapped tiles of this size (limits memory)',
    'tile_overlap': 'minimum overlap of neighbouring tiles',
    'max_side': 'downscale frames so their longer side is at most this (quick previews)',
    'amp': {'choices': ('bf16', 'fp16'), 'help': 'mixed-precision forward (bf16: CPU or a GPU with bfloat16; fp16: '
            'CUDA only); default float32'},
}
#: Valid ranges of the numeric options (argparse refuses others, naming the range).
RANGES = {
    'reference': non_negative_int,
    'pad_multiple': ranged(int, 1, 1024),
    'tile': ranged(int, 8),
    'tile_overlap': non_negative_int,
    'max_side': ranged(int, 8),
    'strip_height': ranged(int, 16, 4096),
}
OUTPUT = {
    'format': {'choices': ('hdr', 'exr'), 'help': 'linear HDR file format'},
    'name': 'scene name for a list of files (default: their folder name)',
    'compare': 'also write <scene>_compare.png: inputs and results',
    'strip_height': 'tile height of the comparison strip',
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        'inputs',
        nargs='*',
        help='a scene folder, a folder of scene folders, or the frame files of one scene (may also follow '
        '--arch-opt / --exposures / --ev: their trailing values that are not KEY=VALUE / numbers count as inputs)')
    parser.add_argument('-o', '--output', required=True, help='output folder')
    defaults = InferenceConfig(inputs=(), output='', checkpoint='')
    groups = (('network', NETWORK), ('exposure times (default: exposure file, else EXIF ExposureTime)', EXPOSURE),
              ('run', RUN), ('output', OUTPUT))
    for title, options in groups:
        add_dataclass_arguments(parser.add_argument_group(title), defaults, options, RANGES)
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parser.parse_args(argv)
    split_trailing_inputs(args, argv)
    if not args.inputs:
        parser.error('the following arguments are required: inputs')
    if args.ev is not None:
        args.ev = [float(text) for text in args.ev]
    return args


def split_trailing_inputs(args: argparse.Namespace, argv: List[str]) -> None:
    """Move the inputs swallowed by a multi-value option (``--ev -2 0 2 a.jpg b.jpg``) back to ``args.inputs``, in
    command-line order (it pairs files with --exposures / --ev values)."""
    checks = {'arch_opt': lambda text: '=' in text, 'exposures': brackets.is_exposure_time, 'ev': brackets.is_number}
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


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        run_inference(dataclass_from_args(InferenceConfig, args, ['inputs', 'output', *NETWORK, *EXPOSURE, *RUN,
                                                                  *OUTPUT]))
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(lambda: main(strip_debug_flag())))
