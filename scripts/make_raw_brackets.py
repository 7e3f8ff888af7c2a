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
from os import path as osp
from typing import List, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, REPO_ROOT)

from basicsr_skt.data.raw_synthesis import RawBracketConfig, make_raw_dataset  # noqa: E402
from basicsr_skt.utils.errors import run_cli, strip_debug_flag  # noqa: E402
from basicsr_skt.utils.input_checks import check_writable_dir  # noqa: E402

DEFAULTS = RawBracketConfig()


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Simulate SYNTHETIC RAW exposure brackets (BracketIRE layout) from HDR photographs.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--input', help='folder of .hdr / .exr radiance maps (one scene per image)')
    source.add_argument('--procedural', type=int, help='make this many scenes from generated radiance instead')
    parser.add_argument('--out', required=True, help='output split folder (one sub-folder per scene)')
    parser.add_argument('--images', nargs='+', help='file stems to use (default: every image in --input)')
    parser.add_argument(
        '--procedural-size', type=int, nargs=2, default=[96, 144], help='height width of procedural radiance maps')
    parser.add_argument('--num-frames', type=int, default=DEFAULTS.num_frames, help='frames per scene')
    parser.add_argument('--ratio', type=float, default=DEFAULTS.ratio, help='exposure ratio between neighbours')
    parser.add_argument('--black-level', type=int, default=DEFAULTS.black_level, help='sensor black level (DN)')
    parser.add_argument('--white-level', type=int, default=DEFAULTS.white_level, help='sensor white level (DN)')
    parser.add_argument(
        '--percentile', type=float, default=DEFAULTS.percentile, help='normalisation percentile of the reference')
    parser.add_argument('--target', type=float, default=DEFAULTS.target, help='linear level of that percentile')
    parser.add_argument('--shot-noise', type=float, default=DEFAULTS.shot_noise, help='Poisson noise variance per unit')
    parser.add_argument('--read-noise', type=float, default=DEFAULTS.read_noise, help='Gaussian noise std')
    parser.add_argument('--max-size', type=int, default=DEFAULTS.max_size, help='longest mosaic side in pixels')
    parser.add_argument(
        '--max-shift', type=float, default=DEFAULTS.max_shift, help='camera motion: largest corner displacement (px)')
    parser.add_argument(
        '--object-speed',
        type=float,
        nargs=2,
        default=list(DEFAULTS.object_speed),
        help='local motion per frame step (px range); 0 0 disables it')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--force', action='store_true', help='replace existing scene folders of the same names')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        check_writable_dir(args.out, 'output folder (--out)')
        config = RawBracketConfig(
            num_frames=args.num_frames,
            ratio=args.ratio,
            black_level=args.black_level,
            white_level=args.white_level,
            percentile=args.percentile,
            target=args.target,
            shot_noise=args.shot_noise,
            read_noise=args.read_noise,
            max_size=args.max_size,
            max_shift=args.max_shift,
            object_speed=tuple(args.object_speed))
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
