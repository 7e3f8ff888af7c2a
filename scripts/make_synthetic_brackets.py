"""Simulate multi-exposure brackets from real HDR photographs (.hdr / .exr) into scenes in the Kalantari'17 layout.

Each photograph becomes ``<out>/<stem>/{input_1..N.tif, exposure.txt, HDRImg.hdr, bracket_info.json,
bracket_preview.png}``: exposure-normalised radiance, EV brackets through a camera response with Poisson-Gaussian noise,
16-bit quantisation and saturation, a random homography per non-reference frame plus a moving region, GT aligned with
the reference (middle) frame. Deterministic given --seed.

Examples:
    python scripts/make_synthetic_brackets.py --input ../shared/data/hdr --out datasets/synthetic/Training
    python scripts/make_synthetic_brackets.py --input photos --out datasets/synthetic/Test --images Cannon Desk \
        --evs -3 0 3 --response s_curve --max-size 512 --seed 1 --force
    # Kalantari's convention (EVs from the shortest frame), bright references, strong noise, occluded highlights:
    python scripts/make_synthetic_brackets.py --input photos --out datasets/hard/Training --evs 0 2 4 \
        --ref-clipped-share 0.03 0.2 --noise-gain 1 8 --object-size 0.15 0.25 --occluder covering --object-motion free
"""
import argparse
import sys
from typing import List, Optional

from basicsr_skt.synthesis.synthetic_brackets import (OBJECT_MOTIONS, OCCLUDERS, RESIZE_MODES, RESPONSES,
                                                      BracketConfig, make_synthetic_dataset)
from basicsr_skt.utils.cli import add_dataclass_arguments, dataclass_from_args, non_negative_int, ranged
from basicsr_skt.utils.errors import run_cli, strip_debug_flag
from basicsr_skt.utils.file_checks import check_writable_dir
from basicsr_skt.utils.scene_checks import check_increasing

OCCLUDER_HELP = ('place the moving region over reference pixels that are clipped (hidden in the shortest frame) or '
                 'dark (hidden in the longest frame): content that no frame shows; mixed: random / clipped / dark '
                 'per scene; covering: clipped / dark per scene')
#: The BracketConfig fields exposed as options (``--evs`` ...) and their help (or argparse keyword arguments).
CONFIG_OPTIONS = {
    'evs': 'EV per frame, shortest first',
    'response': {
        'choices': RESPONSES,
        'help': 'camera response curve'
    },
    'gamma': 'gamma of the response',
    's_curve_strength': 'contrast of the S-curve response',
    'percentile': "percentile of the reference exposure's brightest channel used for exposure normalisation",
    'target': 'linear level (1 = saturation) of that percentile',
    'shot_noise': 'Poisson noise variance per unit',
    'read_noise': 'Gaussian noise std',
    'max_size': 'longest output side in pixels',
    'resize': {
        'choices': RESIZE_MODES,
        'help': 'how larger photographs are fitted'
    },
    'max_shift': 'camera motion: largest corner displacement (px)',
    'object_speed': 'local motion: displacement range of the moving region per frame step (px); 0 0 disables it',
    'object_size': "range of the moving ellipse's semi-axes as a fraction of the shorter image side",
    'ref_clipped_share': {
        'metavar': ('LO', 'HI'),
        'help': ('expose the reference so that a share U(LO, HI) of its pixels saturate (replaces --percentile/'
                 '--target), e.g. 0.03 0.2 with --evs 0 2 4 for bright references whose GT stays <= 1')
    },
    'noise_gain': {
        'metavar': ('LO', 'HI'),
        'help': 'per-scene factor on both noise terms, drawn log-uniformly'
    },
    'occluder': {
        'choices': OCCLUDERS,
        'help': OCCLUDER_HELP
    },
    'object_motion': {
        'choices': OBJECT_MOTIONS,
        'help': ('linear: constant velocity (--object-speed); free: an independent position per frame, the covering '
                 "frame's where it hides the most")
    },
}

#: Valid ranges of the numeric options (argparse refuses others, naming the range).
CONFIG_RANGES = {
    'evs': ranged(float, -60, 60),
    'gamma': ranged(float, 0.1, 10),
    's_curve_strength': ranged(float, 0, 10, low_open=True),
    'percentile': ranged(float, 0, 100, low_open=True),
    'target': ranged(float, 0, 1, low_open=True),
    'shot_noise': ranged(float, 0, 1),
    'read_noise': ranged(float, 0, 1),
    'max_size': ranged(int, 16, 16384),
    'max_shift': ranged(float, 0, 1000),
    'object_size': ranged(float, 0, 0.5),
    'object_speed': ranged(float, 0, 1000),
    'ref_clipped_share': ranged(float, 0, 1),
    'noise_gain': ranged(float, 0, 100, low_open=True),
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Simulate hand-held multi-exposure captures of HDR photographs (one scene per image).',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--input', required=True, help='folder of .hdr / .exr / .pfm radiance maps')
    parser.add_argument('--out', required=True, help='output split folder (one sub-folder per scene)')
    parser.add_argument('--images', nargs='+', help='file stems to use (default: every image in --input)')
    add_dataclass_arguments(parser, BracketConfig(), CONFIG_OPTIONS, CONFIG_RANGES)
    parser.add_argument('--seed', type=non_negative_int, default=0, help='random seed')
    parser.add_argument('--force', action='store_true', help='replace existing scene folders of the same names')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        check_writable_dir(args.out, 'output folder (--out)')  # before any photograph is read
        check_increasing(args.evs, '--evs')
        config = dataclass_from_args(BracketConfig, args, CONFIG_OPTIONS)
        summary = make_synthetic_dataset(
            args.input, args.out, config, seed=args.seed, names=args.images, force=args.force, progress=True)
    except (OSError, ValueError) as err:  # FileExistsError, PermissionError, bad input images
        print(f'error: {err}', file=sys.stderr)
        return 1
    for name, fraction in summary['fraction_gt_above_one'].items():
        shares = summary['shares'][name]
        print(f'{name}: {100 * fraction:.2f} % of GT pixels > 1; reference saturated '
              f'{100 * shares["saturated"]:.2f} %, motion {100 * shares["motion"]:.2f} %, '
              f'missing content {100 * shares["missing"]:.2f} %')
    print(
        f'Wrote {len(summary["scenes"])} scenes to {args.out} (mean {100 * summary["mean_fraction_gt_above_one"]:.2f} '
        '% of GT pixels > 1, unreachable for a sigmoid output)')
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(lambda: main(strip_debug_flag())))
