"""Pack multi-exposure HDR scenes (Kalantari'17 / Tel'23 / demo / synthetic layout) into one LMDB per split.

Lossless: LDR frames at their stored bit depth (uint16 for 16-bit TIFFs), GT float32 as decoded, exposure times and,
when a scene has them, its semantic priors (``skb_embedding.npy``, ``skb_labels.npy``, ``skb_meta.json``). Train from
the result with ``io_backend: {type: lmdb}`` and ``dataroot: <the .lmdb folder>``.

Examples:
    python scripts/make_lmdb.py --input datasets/Kalantari17/Training --output datasets/Kalantari17/Training.lmdb
    python scripts/make_lmdb.py --input datasets/Kalantari17 --splits Training Test   # -> <input>/<split>.lmdb
    python scripts/make_lmdb.py --input datasets/demo --splits Training Test --force
    python scripts/make_lmdb.py --input datasets/Kalantari17/Training --output datasets/Kalantari17/Training.lmdb \
        --verify                                                      # re-read every record, compare with the input
    python scripts/make_lmdb.py --raw --input datasets/demo_raw --splits Training Test  # BracketIRE RAW scenes
    python scripts/make_lmdb.py --pseudo-labels --input datasets/pseudo --output datasets/pseudo.lmdb  # pseudo labels
"""
import argparse
import sys
from os import path as osp
from typing import List, Optional, Tuple

from basicsr_skt.data.bracketire_dataset import RawFolderSceneReader
from basicsr_skt.data.lmdb_pack import pack_lmdb, verify_lmdb
from basicsr_skt.data.pseudo_label_dataset import PseudoLabelFolderReader
from basicsr_skt.data.scene_reader import FolderSceneReader
from basicsr_skt.utils.cli import ranged
from basicsr_skt.utils.errors import run_cli, strip_debug_flag
from basicsr_skt.utils.paths import check_output_path


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Pack scene folders (<scene>/{frames, exposure file, GT[, skb_*]}) into an LMDB with raw arrays '
        'and a meta_info.txt (key, shape, dtype, sha256). The database is built beside the target and renamed into '
        'place when complete.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        '--input', required=True, help='folder of scene folders (one split), or a dataset root with --splits')
    parser.add_argument(
        '--output',
        help='the .lmdb folder to write (one split); with --splits, the folder receiving <split>.lmdb '
        '(default: --input)')
    parser.add_argument(
        '--splits', nargs='+', help='split sub-folders of --input to pack, one LMDB each (e.g. Training Test)')
    parser.add_argument('--ldr-glob', nargs='+', default=['*.tif'], help='LDR frame pattern(s) inside a scene')
    parser.add_argument('--gt-glob', nargs='+', default=['HDRImg.hdr'], help='GT pattern(s) inside a scene')
    parser.add_argument('--exposure-file', default='exposure.txt', help='EV file inside a scene')
    parser.add_argument('--num-frames', type=ranged(int, 1, 64), help='frames per scene (default: 3; 5 with --raw)')
    parser.add_argument(
        '--raw',
        action='store_true',
        help='scenes in the BracketIRE RAW layout (raw_1..N.npy, raw_gt.npy, metadata.npy): records raw_<i>, raw_gt, '
        'raw_meta (packed RGGB); --ldr-glob/--gt-glob/--exposure-file are not used')
    parser.add_argument(
        '--pseudo-labels',
        action='store_true',
        help='scenes made by scripts/make_pseudo_labels.py: gt = PseudoHDR.hdr, plus the records confidence and '
        'pseudo_label (an unfinished scene is an error); --ldr-glob defaults to input_*.tif, --gt-glob is not used')
    parser.add_argument('--force', action='store_true', help='replace an existing database')
    parser.add_argument(
        '--verify',
        action='store_true',
        help='do not build: re-read every record of the existing database(s), check sizes and checksums against '
        'meta_info.txt and compare shapes and checksums with the scenes under --input')
    return parser.parse_args(argv)


def split_jobs(args: argparse.Namespace) -> List[Tuple[str, str]]:
    """(scene folder, .lmdb path) per split."""
    if not args.splits:
        if not args.output:
            raise ValueError('--output (the .lmdb folder to write) is required without --splits')
        return [(args.input, args.output)]
    out_dir = args.output or args.input
    return [(osp.join(args.input, split), osp.join(out_dir, f'{split}.lmdb')) for split in args.splits]


def _count(number: int, noun: str) -> str:
    return f'{number} {noun}' + ('' if number == 1 else 's')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        jobs = split_jobs(args)
        for scene_dir, db_path in jobs:
            if not db_path.rstrip('/').endswith('.lmdb'):
                raise ValueError(f'Output {db_path} must end in .lmdb (as BasicSR expects of LMDB dataroots)')
            if not osp.isdir(scene_dir):
                raise ValueError(f'Input {scene_dir} is not a folder of scene folders')
            if not args.verify:
                check_output_path(
                    db_path,
                    input_trees=[folder for folder, _ in jobs],
                    what='Output',
                    hint='the database folder would be read as a scene next time: write it beside '
                    'the scene folders, e.g. --input datasets/X --splits Training -> '
                    'datasets/X/Training.lmdb')
            if args.raw:
                source = RawFolderSceneReader(scene_dir, args.num_frames or 5, cache_images=False)
            elif args.pseudo_labels:
                ldr_globs = ['input_*.tif'] if args.ldr_glob == ['*.tif'] else args.ldr_glob
                source = PseudoLabelFolderReader(
                    scene_dir, ldr_globs, args.exposure_file, args.num_frames or 3, cache_images=False)
            else:
                source = FolderSceneReader(
                    scene_dir,
                    args.ldr_glob,
                    args.gt_glob,
                    args.exposure_file,
                    args.num_frames or 3,
                    cache_images=False)
            if args.verify:
                summary = verify_lmdb(db_path, source, progress=True)
                print(f'OK: {db_path}: {_count(summary["scenes"], "scene")}, {summary["records"]} records '
                      f'({summary["bytes"] / 2**20:.1f} MiB) match meta_info.txt and {scene_dir}')
            else:
                summary = pack_lmdb(source, db_path, force=args.force, progress=True)
                print(f'Wrote {db_path}: {_count(len(summary["scenes"]), "scene")}, {summary["records"]} records '
                      f'({summary["bytes"] / 2**20:.1f} MiB)')
    except (OSError, ValueError) as err:  # FileExistsError, PermissionError, LmdbDiskFullError (ENOSPC), bad scenes
        print(f'error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(lambda: main(strip_debug_flag())))
