"""Shared helpers of the model/pipeline/options tests: tiny configs and generated demo data."""
import copy
import os.path as osp
from pathlib import Path
from typing import Any, Dict

import yaml

from basicsr.utils.options import ordered_yaml
from basicsr_skt.data.demo_scenes import DemoSceneConfig, make_demo_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]
OPTIONS_DIR = REPO_ROOT / 'options'
#: A 2-layer HDR-Transformer (shifted windows included) that trains in well under a second per step on a CPU.
TINY_HDRT = {
    'type': 'HDRTransformer',
    'embed_dim': 12,
    'depths': [2],
    'num_heads': [2],
    'mlp_ratio': 2,
    'window_size': 8,
    'drop_path_rate': 0.0
}
#: Small generated scenes (48 x 72: not a multiple of the 8-pixel window in width, so padding is exercised).
TINY_SCENES = DemoSceneConfig(height=48, width=72)


def make_tiny_demo(root: Path, num_train: int = 2, num_val: int = 2) -> Path:
    make_demo_dataset(str(root), num_train=num_train, num_val=num_val, config=TINY_SCENES, seed=0)
    return root


def load_yaml(path: Path) -> Dict[str, Any]:
    with open(path) as f:
        return yaml.load(f, Loader=ordered_yaml()[0])


def dump_yaml(opt: Dict[str, Any], path: Path) -> Path:
    with open(path, 'w') as f:
        yaml.dump(opt, f, Dumper=ordered_yaml()[1])
    return path


def tiny_train_options(demo_root: Path, name: str, total_iter: int = 2) -> Dict[str, Any]:
    """The CPU demo training config shrunk to a 2-iteration run on ``demo_root``."""
    opt = copy.deepcopy(load_yaml(OPTIONS_DIR / 'demo' / 'train_demo_hdrtransformer.yml'))
    opt['name'] = name
    opt['datasets']['train'].update(
        dataroot=osp.join(demo_root, 'Training'), gt_size=32, batch_size_per_gpu=2, dataset_enlarge_ratio=2)
    opt['datasets']['val']['dataroot'] = osp.join(demo_root, 'Test')
    opt['network_g'] = dict(TINY_HDRT)
    opt['train'].update(total_iter=total_iter)
    opt['train']['scheduler']['milestones'] = [1000]
    opt['val']['val_freq'] = total_iter
    opt['logger'].update(print_freq=1, save_checkpoint_freq=total_iter)
    return opt


def tiny_test_options(demo_root: Path, name: str, checkpoint: str) -> Dict[str, Any]:
    opt = copy.deepcopy(load_yaml(OPTIONS_DIR / 'demo' / 'test_demo_hdrtransformer.yml'))
    opt['name'] = name
    opt['datasets']['test']['dataroot'] = osp.join(demo_root, 'Test')
    opt['network_g'] = dict(TINY_HDRT)
    opt['path']['pretrain_network_g'] = checkpoint
    return opt
