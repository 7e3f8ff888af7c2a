"""Generate a small procedural multi-exposure HDR dataset in the Kalantari'17 layout (no download needed).

Examples:
    python scripts/make_demo_data.py                          # datasets/demo/{Training,Test}, 4 + 2 scenes
    python scripts/make_demo_data.py --num-val 2 --num-test 3   # {Training,Validation,Test}: 4 + 2 + 3 scenes
    python scripts/make_demo_data.py --num-train 16 --height 256 --width 384 --seed 1 --force
    python scripts/make_demo_data.py --check                  # read back every scene with the training dataset class
"""
import argparse
import sys
from os import path as osp
from typing import List, Optional

from basicsr_skt.synthesis.demo_scenes import (KALANTARI_EVS, SPLITS, SPLITS_WITH_TEST, DemoSceneConfig,
                                               foreign_entries, make_demo_dataset)
from basicsr_skt.utils.cli import add_dataclass_arguments, dataclass_from_args, non_negative_int, ranged
from basicsr_skt.utils.errors import run_cli, strip_debug_flag
from basicsr_skt.utils.file_checks import check_writable_dir
from basicsr_skt.utils.scene_checks import check_increasing

CONFIG_OPTIONS = {
    'height': 'image height in pixels',
    'width': 'image width in pixels',
    'evs': 'EV stop per frame, shortest first (exposure time 2**ev; reference = middle frame); the default is '
           'Kalantari\'s convention (relative to the shortest frame: GT <= 1 where the shortest frame is unclipped)',
}
#: Valid ranges of the numeric options (argparse refuses others, naming the range).
CONFIG_RANGES = {'height': ranged(int, 8, 8192), 'width': ranged(int, 8, 8192), 'evs': ranged(float, -60, 60)}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Render procedural HDR scenes (LDR brackets with motion and noise + aligned HDR GT) into '
        '<out>/Training/demo_train_XXX and <out>/Test/demo_val_XXX, or with --num-test: <out>/Training/demo_train_XXX, '
        '<out>/Validation/demo_val_XXX (validation during training) and <out>/Test/demo_test_XXX (held-out test). The '
        'same seed gives byte-identical files.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--out', default='datasets/demo', help='dataset root folder')
    parser.add_argument('--num-train', type=non_negative_int, default=4, help='number of training scenes (Training/)')
    parser.add_argument(
        '--num-val',
        type=non_negative_int,
        default=2,
        help='number of validation scenes (Test/; Validation/ with --num-test)')
    parser.add_argument(
        '--num-test',
        type=non_negative_int,
        default=0,
        help='number of held-out test scenes (Test/demo_test_XXX); > 0 moves the validation scenes to Validation/')
    add_dataclass_arguments(parser, DemoSceneConfig(evs=KALANTARI_EVS), CONFIG_OPTIONS, CONFIG_RANGES)
    parser.add_argument(
        '--seed', type=non_negative_int, default=0, help='random seed (each scene gets its own derived stream)')
    parser.add_argument(
        '--force',
        action='store_true',
        help='delete existing demo_* scene folders under --out first, and write even where non-demo scenes exist')
    parser.add_argument(
        '--check',
        action='store_true',
        help='do not generate: read every scene under --out with HDRMultiExposureDataset and report')
    return parser.parse_args(argv)


def check_dataset(out_dir: str, num_frames: int) -> int:
    """Read every scene of every split folder present through the dataset class (full validation); return the number
    of scenes."""
    from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset

    total = 0
    layout = SPLITS_WITH_TEST if osp.isdir(osp.join(out_dir, SPLITS_WITH_TEST[1][0])) else SPLITS
    for folder, _, _ in layout:
        dataset = HDRMultiExposureDataset({
            'phase': 'val',
            'dataroot': osp.join(out_dir, folder),
            'num_frames': num_frames,
            'cache_images': False
        })
        for index in range(len(dataset)):
            item = dataset[index]
            print(f'{folder}/{item["scene"]}: lq {tuple(item["lq"].shape)}, gt {tuple(item["gt"].shape)}, '
                  f'max gt {item["gt"].max().item():.2f}, t = {item["exposures"].tolist()}')
        total += len(dataset)
    return total


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.check:
        total = check_dataset(args.out, len(args.evs))
        print(f'OK: {total} scenes under {args.out} read and validated')
        return 0
    try:
        check_writable_dir(args.out, '--out folder')
    except OSError as err:  # an existing file, an unwritable parent
        print(f'error: {err}', file=sys.stderr)
        return 1
    foreign = foreign_entries(args.out, args.num_test)
    if foreign and not args.force:
        print(f'error: {args.out} already holds {len(foreign)} entries that are not demo scenes '
              f'({", ".join(foreign[:5])}{", ..." if len(foreign) > 5 else ""}): generated scenes would be mixed into '
              'that dataset. Choose another --out (e.g. datasets/demo), or pass --force to add demo scenes anyway '
              '(only demo_* folders are ever replaced)', file=sys.stderr)
        return 1
    try:
        check_increasing(args.evs, '--evs')
        config = dataclass_from_args(DemoSceneConfig, args, CONFIG_OPTIONS)
        summary = make_demo_dataset(
            args.out,
            args.num_train,
            args.num_val,
            config=config,
            seed=args.seed,
            force=args.force,
            progress=True,
            num_test=args.num_test)
    except (FileExistsError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'Wrote {len(summary["scenes"])} scenes to {args.out} '
          f'(GT pixels > 1: {100 * summary["fraction_above_one"]:.1f} %, '
          f'clipped pixels in the longest exposure: {100 * summary["fraction_long_clipped"]:.1f} %)')
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(lambda: main(strip_debug_flag())))
