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
        --ref-clipped-share 0.03 0.2 --noise-gain 1 8 --object-speed 10 30 --occluder mixed
"""
import argparse
import sys
from os import path as osp
from typing import List, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, REPO_ROOT)

from basicsr_skt.data.synthetic_brackets import (OCCLUDERS, RESIZE_MODES, RESPONSES,  # noqa: E402
                                                 BracketConfig, make_synthetic_dataset)
from basicsr_skt.utils.errors import run_cli, strip_debug_flag  # noqa: E402
from basicsr_skt.utils.input_checks import check_increasing, check_writable_dir  # noqa: E402

DEFAULTS = BracketConfig()


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Simulate hand-held multi-exposure captures of HDR photographs (one scene per image).',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--input', required=True, help='folder of .hdr / .exr radiance maps')
    parser.add_argument('--out', required=True, help='output split folder (one sub-folder per scene)')
    parser.add_argument('--images', nargs='+', help='file stems to use (default: every image in --input)')
    parser.add_argument('--evs', type=float, nargs='+', default=list(DEFAULTS.evs), help='EV per frame, shortest first')
    parser.add_argument('--response', choices=RESPONSES, default=DEFAULTS.response, help='camera response curve')
    parser.add_argument('--gamma', type=float, default=DEFAULTS.gamma, help='gamma of the response')
    parser.add_argument(
        '--s-curve-strength', type=float, default=DEFAULTS.s_curve_strength, help='contrast of the S-curve response')
    parser.add_argument(
        '--percentile',
        type=float,
        default=DEFAULTS.percentile,
        help="percentile of the reference exposure's brightest channel used for exposure normalisation")
    parser.add_argument(
        '--target', type=float, default=DEFAULTS.target, help='linear level (1 = saturation) of that percentile')
    parser.add_argument('--shot-noise', type=float, default=DEFAULTS.shot_noise, help='Poisson noise variance per unit')
    parser.add_argument('--read-noise', type=float, default=DEFAULTS.read_noise, help='Gaussian noise std')
    parser.add_argument('--max-size', type=int, default=DEFAULTS.max_size, help='longest output side in pixels')
    parser.add_argument(
        '--resize', choices=RESIZE_MODES, default=DEFAULTS.resize, help='how larger photographs are fitted')
    parser.add_argument(
        '--max-shift', type=float, default=DEFAULTS.max_shift, help='camera motion: largest corner displacement (px)')
    parser.add_argument(
        '--object-speed',
        type=float,
        nargs=2,
        default=list(DEFAULTS.object_speed),
        help='local motion: displacement range of the moving region per frame step (px); 0 0 disables it')
    parser.add_argument(
        '--object-size',
        type=float,
        nargs=2,
        default=list(DEFAULTS.object_size),
        help="range of the moving ellipse's semi-axes as a fraction of the shorter image side")
    parser.add_argument(
        '--ref-clipped-share',
        type=float,
        nargs=2,
        metavar=('LO', 'HI'),
        default=DEFAULTS.ref_clipped_share,
        help='expose the reference so that a share U(LO, HI) of its pixels saturate (replaces --percentile/--target), '
        'e.g. 0.03 0.2 with --evs 0 2 4 for bright references whose GT stays <= 1')
    parser.add_argument(
        '--noise-gain',
        type=float,
        nargs=2,
        metavar=('LO', 'HI'),
        default=list(DEFAULTS.noise_gain),
        help='per-scene factor on both noise terms, drawn log-uniformly')
    parser.add_argument(
        '--occluder',
        choices=OCCLUDERS,
        default=DEFAULTS.occluder,
        help='place the moving region over reference pixels that are clipped (hidden in the shortest frame) or dark '
        '(hidden in the longest frame): content that no frame shows; mixed: random / clipped / dark per scene')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--force', action='store_true', help='replace existing scene folders of the same names')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        check_writable_dir(args.out, 'output folder (--out)')  # before any photograph is read
        check_increasing(args.evs, '--evs')
        config = BracketConfig(
            evs=tuple(args.evs),
            response=args.response,
            gamma=args.gamma,
            s_curve_strength=args.s_curve_strength,
            percentile=args.percentile,
            target=args.target,
            shot_noise=args.shot_noise,
            read_noise=args.read_noise,
            max_size=args.max_size,
            resize=args.resize,
            max_shift=args.max_shift,
            object_speed=tuple(args.object_speed),
            object_size=tuple(args.object_size),
            ref_clipped_share=None if args.ref_clipped_share is None else tuple(args.ref_clipped_share),
            noise_gain=tuple(args.noise_gain),
            occluder=args.occluder)
        summary = make_synthetic_dataset(
            args.input, args.out, config, seed=args.seed, names=args.images, force=args.force, progress=True)
    except (OSError, ValueError) as err:  # FileExistsError, PermissionError, bad input images
        print(f'error: {err}', file=sys.stderr)
        return 1
    for name, fraction in summary['fraction_gt_above_one'].items():
        shares = summary['shares'][name]
        print(f'{name}: {100 * fraction:.2f} % of GT pixels > 1; reference saturated '
              f'{100 * shares["saturated"]:.2f} %, motion {100 * shares["motion"]:.2f} %, missing content {100 * shares["missing"]:.2f} %')
    print(
        f'Wrote {len(summary["scenes"])} scenes to {args.out} (mean {100 * summary["mean_fraction_gt_above_one"]:.2f} '
        '% of GT pixels > 1, unreachable for a sigmoid output)')
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(lambda: main(strip_debug_flag())))
