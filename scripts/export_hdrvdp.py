#!/usr/bin/env python
"""Export prediction / ground-truth pairs and a MATLAB (or Octave) script that scores them with HDR-VDP-2.2.

    python scripts/export_hdrvdp.py results/test_HDRTransformer_Kalantari17 datasets/Kalantari17/Test

The work (and what is written) is :mod:`basicsr_skt.reporting.hdrvdp`; ``--help`` prints its description.
"""
import argparse
import os.path as osp
import sys

from basicsr_skt.reporting import hdrvdp
from basicsr_skt.reporting.hdrvdp import COLOR_ENCODINGS, export
from basicsr_skt.utils.cli import ranged
from basicsr_skt.utils.errors import run_cli, strip_debug_flag


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=hdrvdp.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('results', help='results folder of a test run (results/<name>)')
    parser.add_argument('gt_root', help='test set root with <scene>/<gt-name>')
    parser.add_argument('--out', default=None, help='export folder (default: <results>/hdrvdp)')
    parser.add_argument('--dataset', default=None, help='dataset folder under visualization/ (default: the only one)')
    parser.add_argument('--suffix', default=None, help='prediction file suffix (default: the results folder name)')
    parser.add_argument('--gt-name', default='HDRImg.hdr', help='GT file name inside each scene folder')
    parser.add_argument('--color-encoding', default='sRGB-display', choices=COLOR_ENCODINGS, help='HDR-VDP encoding')
    parser.add_argument(
        '--display-diagonal',
        type=ranged(float, 0, 1000, low_open=True),
        default=24.0,
        help='display diagonal in inches')
    parser.add_argument(
        '--display-resolution',
        type=ranged(int, 1, 100000),
        nargs=2,
        default=(1920, 1200),
        metavar=('W', 'H'),
        help='display resolution in pixels')
    parser.add_argument(
        '--viewing-distance', type=ranged(float, 0, 100, low_open=True), default=0.5, help='viewing distance in metres')
    parser.add_argument(
        '--peak-luminance',
        type=ranged(float, 0, 1e5, low_open=True),
        default=100.0,
        help="cd/m^2 of linear value 1 for 'rgb-bt.709'")
    parser.add_argument(
        '--surround-luminance', type=ranged(float, 0, 1e5), default=None, help="HDR-VDP 'surround_l' in cd/m^2")
    parser.add_argument('--skip-missing', action='store_true', help='skip GT scenes without a prediction')
    return parser.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    try:
        out = export(args.results, args.gt_root, args.out, args.dataset, args.suffix, args.gt_name, args.color_encoding,
                     args.display_diagonal, args.display_resolution, args.viewing_distance, args.peak_luminance,
                     args.surround_luminance, args.skip_missing)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f'export_hdrvdp: {err}')
    with open(osp.join(out, 'scenes.txt')) as f:
        count = len(f.read().splitlines())
    print(f'{count} pairs and run_hdrvdp.m written to {out}')
    print(f"In MATLAB: addpath('/path/to/hdrvdp-2.2.1'); run('{osp.abspath(osp.join(out, 'run_hdrvdp.m'))}')")
    return out


def cli() -> int:
    """Command-line entry: :func:`main` on ``sys.argv`` (``--debug`` stripped); user errors exit 2."""

    def run() -> int:
        main(strip_debug_flag())
        return 0

    return run_cli(run)


if __name__ == '__main__':
    sys.exit(cli())
