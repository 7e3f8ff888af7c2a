"""Generate SYNTHETIC RAW multi-exposure scenes in the BracketIRE layout from real HDR photographs (.hdr / .exr).

Each photograph becomes ``<out>/<stem>/{raw_1..N.npy, raw_gt.npy, metadata.npy, raw_info.json, raw_preview.png}``:
the display pipeline inverted (random white balance and colour matrix, RGGB mosaic), exposures ``ratio ** i``
(ratio 4), Poisson-Gaussian noise and clipping per exposure, camera and object motion, a 14-bit sensor with a black
level. ``--procedural N`` makes N scenes from generated radiance instead (no input needed: demos and tests).
Deterministic given --seed. These are synthetic scenes for testing the RAW path, not BracketIRE data.

Examples:
    python scripts/make_raw_brackets.py --input ../shared/data/hdr --out datasets/raw_synthetic/Training
    python scripts/make_raw_brackets.py --procedural 4 --out datasets/demo_raw/Training --seed 0
    python scripts/make_raw_brackets.py --procedural 2 --out datasets/demo_raw/Test --seed 1 --max-shift 0
"""
import argparse
import sys
from typing import List, Optional

from basicsr_skt.synthesis.raw_synthesis import RawBracketConfig, make_raw_dataset
from basicsr_skt.utils.cli import add_dataclass_arguments, dataclass_from_args, non_negative_int, positive_int, ranged
from basicsr_skt.utils.errors import run_cli, strip_debug_flag
from basicsr_skt.utils.file_checks import check_writable_dir
from basicsr_skt.utils.scene_checks import MAX_EV_STEP

#: The RawBracketConfig fields exposed as options (``--num-frames`` ...) and their help.
CONFIG_OPTIONS = {
    'num_frames': 'frames per scene',
    'ratio': 'exposure ratio between neighbours',
    'black_level': 'sensor black level (DN)',
    'white_level': 'sensor white level (DN)',
    'percentile': 'normalisation percentile of the reference',
    'target': 'linear level of that percentile',
    'shot_noise': 'Poisson noise variance per unit',
    'read_noise': 'Gaussian noise std',
    'max_size': 'longest mosaic side in pixels',
    'max_shift': 'camera motion: largest corner displacement (px)',
    'object_speed': 'local motion per frame step (px range); 0 0 disables it',
}

#: Valid ranges of the numeric options (argparse refuses others, naming the range).
CONFIG_RANGES = {
    'num_frames': ranged(int, 2, 16),
    'ratio': ranged(float, 1, 2**MAX_EV_STEP, low_open=True, what=f'at most {MAX_EV_STEP:g} stops between frames'),
    'black_level': ranged(int, 0, 65534),
    'white_level': ranged(int, 1, 65535),
    'percentile': ranged(float, 0, 100, low_open=True),
    'target': ranged(float, 0, 1, low_open=True),
    'shot_noise': ranged(float, 0, 1),
    'read_noise': ranged(float, 0, 1),
    'max_size': ranged(int, 16, 16384),
    'max_shift': ranged(float, 0, 1000),
    'object_speed': ranged(float, 0, 1000),
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Simulate SYNTHETIC RAW exposure brackets (BracketIRE layout) from HDR photographs.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--input', help='folder of .hdr / .exr / .pfm radiance maps (one scene per image)')
    source.add_argument('--procedural', type=positive_int, help='make this many scenes from generated radiance instead')
    parser.add_argument('--out', required=True, help='output split folder (one sub-folder per scene)')
    parser.add_argument('--images', nargs='+', help='file stems to use (default: every image in --input)')
    parser.add_argument(
        '--procedural-size',
        type=ranged(int, 8, 8192),
        nargs=2,
        default=[96, 144],
        help='height width of procedural radiance maps')
    add_dataclass_arguments(parser, RawBracketConfig(), CONFIG_OPTIONS, CONFIG_RANGES)
    parser.add_argument('--seed', type=non_negative_int, default=0, help='random seed')
    parser.add_argument('--force', action='store_true', help='replace existing scene folders of the same names')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        check_writable_dir(args.out, 'output folder (--out)')
        config = dataclass_from_args(RawBracketConfig, args, CONFIG_OPTIONS)
        summary = make_raw_dataset(
            args.out,
            args.input,
            config,
            seed=args.seed,
            names=args.images,
            procedural=args.procedural or 0,
            procedural_size=tuple(args.procedural_size),
            force=args.force,
            progress=True)
    except (OSError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    for name, fraction in summary['fraction_gt_above_16'].items():
        print(f'{name}: {100 * fraction:.2f} % of GT samples > 16 (above the shortest frame\'s range)')
    print(f'Wrote {len(summary["scenes"])} synthetic RAW scenes to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(lambda: main(strip_debug_flag())))
