"""Generate a small procedural multi-exposure HDR dataset in the Kalantari'17 layout (no download needed).

Examples:
    python scripts/make_demo_data.py                          # datasets/demo/{Training,Test}, 4 + 2 scenes
    python scripts/make_demo_data.py --num-val 2 --num-test 3   # {Training,Validation,Test}: 4 + 2 + 3 scenes
    python scripts/make_demo_data.py --num-train 16 --height 256 --width 384 --seed 1 --force
    python scripts/make_demo_data.py --check                  # read back every scene with the training dataset class
"""
import argparse
import os
import sys
from os import path as osp
from typing import List, Optional

from basicsr_skt.data.demo_scenes import (KALANTARI_EVS, SPLITS, SPLITS_WITH_TEST, DemoSceneConfig, demo_splits,
                                          make_demo_dataset)
from basicsr_skt.utils.errors import run_cli, strip_debug_flag
from basicsr_skt.utils.scene_checks import check_increasing


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Render procedural HDR scenes (LDR brackets with motion and noise + aligned HDR GT) into '
        '<out>/Training/demo_train_XXX and <out>/Test/demo_val_XXX, or with --num-test: <out>/Training/demo_train_XXX, '
        '<out>/Validation/demo_val_XXX (validation during training) and <out>/Test/demo_test_XXX (held-out test). The '
        'same seed gives byte-identical files.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--out', default='datasets/demo', help='dataset root folder')
    parser.add_argument('--num-train', type=int, default=4, help='number of training scenes (Training/)')
    parser.add_argument(
        '--num-val', type=int, default=2, help='number of validation scenes (Test/; Validation/ with --num-test)')
    parser.add_argument(
        '--num-test',
        type=int,
        default=0,
        help='number of held-out test scenes (Test/demo_test_XXX); > 0 moves the validation scenes to Validation/')
    parser.add_argument('--height', type=int, default=128, help='image height in pixels')
    parser.add_argument('--width', type=int, default=192, help='image width in pixels')
    parser.add_argument(
        '--evs',
        type=float,
        nargs='+',
        default=list(KALANTARI_EVS),
        help='EV stop per frame, shortest first (exposure time 2**ev; reference = middle frame); the default is '
        'Kalantari\'s convention (relative to the shortest frame: GT <= 1 where the shortest frame is unclipped)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (each scene gets its own derived stream)')
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


def foreign_entries(out_dir: str, num_test: int = 0) -> List[str]:
    """Entries of the split folders (``<out>/Training``, ``<out>/Test``; also ``<out>/Validation`` with test scenes)
    that are not demo scenes of that split (``demo_train_*`` / ``demo_val_*`` / ``demo_test_*``).

    Generated scenes written beside them would silently become part of that (real) dataset.
    """
    found = []
    for folder, _, _ in demo_splits(num_test):
        split = osp.join(out_dir, folder)
        # demo scenes of either layout are ours (Test/ holds demo_val_* or demo_test_*): --force replaces them
        prefixes = tuple(f'{prefix}_' for name, prefix, _ in SPLITS + SPLITS_WITH_TEST if name == folder)
        if osp.isdir(split):
            found += [
                f'{folder}/{name}' for name in sorted(os.listdir(split))
                if not name.startswith('.') and not name.startswith(prefixes)
            ]
    return found


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.check:
        total = check_dataset(args.out, len(args.evs))
        print(f'OK: {total} scenes under {args.out} read and validated')
        return 0
    foreign = foreign_entries(args.out, args.num_test)
    if foreign and not args.force:
        print(f'error: {args.out} already holds {len(foreign)} entries that are not demo scenes '
              f'({", ".join(foreign[:5])}{", ..." if len(foreign) > 5 else ""}): generated scenes would be mixed into '
              'that dataset. Choose another --out (e.g. datasets/demo), or pass --force to add demo scenes anyway '
              '(only demo_* folders are ever replaced)', file=sys.stderr)
        return 1
    try:
        check_increasing(args.evs, '--evs')
        config = DemoSceneConfig(height=args.height, width=args.width, evs=tuple(args.evs))
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
