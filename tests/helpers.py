"""Shared helpers of the model/pipeline/options tests: tiny configs and generated demo data."""
import copy
import importlib.util
import os
import os.path as osp
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import torch

from basicsr_skt.synthesis.demo_scenes import DemoSceneConfig, make_demo_dataset
from basicsr_skt.utils.option_checks import dump_options_yaml, load_options_yaml

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
#: A narrow AHDRNet (all official modules, 8 features, 2 dense layers of growth 4 per block).
TINY_AHDRNET = {'type': 'AHDRNet', 'num_feat': 8, 'num_dense_layers': 2, 'growth_rate': 4}
#: A 1-stage SCTNet (a window and a shifted-window layer, both SCABs) with 12 features (4 per frame).
TINY_SCTNET = {
    'type': 'SCTNet',
    'img_size': 32,
    'embed_dim': 12,
    'depths': [2],
    'num_heads': [2],
    'scab_heads': 2,
    'mlp_ratio': 2,
    'window_size': 8,
    'drop_path_rate': 0.0
}
#: Tiny stand-in of every shipped ORM, by registry name.
TINY_NETWORKS = {'HDRTransformer': TINY_HDRT, 'AHDRNet': TINY_AHDRNET, 'SCTNet': TINY_SCTNET}
#: A tiny SPGRM teacher (tests/test_skt_archs.py; research/tests/test_spgrm_probe.py for its research variant).
TINY_SPGRM = dict(embed_channels=5, num_feat=8, num_groups=2, num_blocks=1, embed_feat=4)
#: Small generated scenes (48 x 72: not a multiple of the 8-pixel window in width, so padding is exercised).
TINY_SCENES = DemoSceneConfig(height=48, width=72)


def eval_hdr_model(tmp_path: Path, **val: Any) -> Any:
    """A test-mode ``HDRModel`` on the tiny HDR-Transformer with ``val`` options, writing below ``tmp_path``."""
    from basicsr_skt.models.hdr_model import HDRModel
    opt = {
        'name': 'unit',
        'model_type': 'HDRModel',
        'num_gpu': 0,
        'is_train': False,
        'dist': False,
        'rank': 0,
        'world_size': 1,
        'network_g': dict(TINY_HDRT),
        'path': {
            'visualization': str(tmp_path / 'visualization'),
            'results_root': str(tmp_path)
        },
        'val': dict(val)
    }
    return HDRModel(opt)


def dataset_opt(dataroot: Path, phase: str = 'train', **kwargs: Any) -> Dict[str, Any]:
    """``HDRMultiExposureDataset`` options on ``dataroot`` (training: 16-pixel crops), updated with ``kwargs``."""
    opt = {'name': 'bad', 'type': 'HDRMultiExposureDataset', 'phase': phase, 'dataroot': str(dataroot)}
    if phase == 'train':
        opt['gt_size'] = 16
    opt.update(kwargs)
    return opt


def val_dataset(root: Path) -> Any:
    """A validation-phase ``HDRMultiExposureDataset`` on ``root`` without the image cache."""
    from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
    return HDRMultiExposureDataset({'name': 'v', 'phase': 'val', 'dataroot': str(root), 'cache_images': False})


def make_tiny_demo(root: Path, num_train: int = 2, num_val: int = 2) -> Path:
    make_demo_dataset(str(root), num_train=num_train, num_val=num_val, config=TINY_SCENES, seed=0)
    return root


def make_tiny_raw(root: Path, num_train: int = 2, num_val: int = 1) -> Path:
    """Synthetic BracketIRE-format scenes (5 frames, ratio 4) from procedural radiance: packed 42 x 66 each."""
    from basicsr_skt.synthesis.raw_synthesis import make_raw_dataset
    make_raw_dataset(str(root / 'Training'), procedural=num_train, seed=0)
    make_raw_dataset(str(root / 'Test'), procedural=num_val, seed=1)
    return root


def load_yaml(path: Path) -> Dict[str, Any]:
    return load_options_yaml(str(path))


def dump_yaml(opt: Dict[str, Any], path: Path) -> Path:
    dump_options_yaml(opt, str(path))
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


def tiny_skt_options(demo_root: Path, name: str, mode: str = 'joint', total_iter: int = 2) -> Dict[str, Any]:
    """The SKT demo config shrunk like :func:`tiny_train_options` (tiny ORM, priors on), ``skt.mode = mode``."""
    opt = load_yaml(OPTIONS_DIR / 'demo' / 'train_demo_skt_hdrtransformer.yml')
    tiny = tiny_train_options(demo_root, name, total_iter)
    for key in ('name', 'network_g', 'logger', 'val'):
        opt[key] = tiny[key]
    opt['datasets']['train'].update(tiny['datasets']['train'], skb=True)
    opt['datasets']['val'] = tiny['datasets']['val']
    opt['train'].update(total_iter=total_iter)
    opt['skt'].update(mode=mode, distill_warmup_iter=1)
    opt['network_skam']['orm_channels'] = TINY_HDRT['embed_dim']
    return opt


def add_fake_priors(root: Path, channels: int, image_size: Tuple[int, int] = (48, 72)) -> None:
    """Priors of the documented format (random embedding on 8-pixel cells, two-segment label map) for every scene
    of ``root/Training`` and ``root/Test``."""
    from basicsr_skt.skb.format import save_scene_priors
    rng = np.random.default_rng(0)
    height, width = image_size
    for split in ('Training', 'Test'):
        for scene in sorted(os.listdir(osp.join(root, split))):
            labels = np.zeros((height, width), np.uint16)
            labels[:, width // 2:] = 1
            embedding = rng.standard_normal((channels, -(-height // 8), -(-width // 8))).astype(np.float16)
            save_scene_priors(
                osp.join(root, split, scene), embedding, labels, {
                    'backend': 'vgg16',
                    'source': 'gt',
                    'cell_size': [8.0, 8.0]
                })


def run_python(args: List[str], cwd: Path, timeout: int = 300) -> str:
    """``python ARGS`` in ``cwd`` on the CPU, with the checkout first on the path (``research`` is not installed);
    asserts success and returns stdout + stderr."""
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get('PYTHONPATH', '')) if p)
    env = dict(os.environ, PYTHONUNBUFFERED='1', CUDA_VISIBLE_DEVICES='', PYTHONPATH=path)
    out = subprocess.run([sys.executable] + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f'{args} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}'
    return out.stdout + out.stderr


def load_script(name: str, module_name: str = '', folder: str = 'scripts') -> Any:
    """Import ``<folder>/<name>.py`` (``scripts`` or ``benchmarks``: not packages) as ``module_name`` (default
    ``name``)."""
    spec = importlib.util.spec_from_file_location(module_name or name, REPO_ROOT / folder / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def spgrm_inputs(b: int = 2, h: int = 12, w: int = 10, c_e: int = 5, seed: int = 0) -> Tuple[torch.Tensor, ...]:
    """Seeded SPGRM inputs: ORM output (B, 3, H, W) in [0, 1), reference input (B, 6, H, W), embedding
    (B, c_e, H, W) and labels (B, H, W) in 0..4."""
    gen = torch.Generator().manual_seed(seed)
    orm = torch.rand(b, 3, h, w, generator=gen)
    ref = torch.rand(b, 6, h, w, generator=gen)
    emb = torch.randn(b, c_e, h, w, generator=gen)
    labels = torch.randint(0, 5, (b, h, w), generator=gen)
    return orm, ref, emb, labels


def randomise_tail(net: torch.nn.Module, seed: int = 1) -> None:
    """Give an SPGRM's zero-initialised tail conv seeded random weights (x 0.1), so that its residual is in use."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        net.tail.weight.copy_(0.1 * torch.randn(net.tail.weight.shape, generator=gen))
        net.tail.bias.copy_(0.1 * torch.randn(net.tail.bias.shape, generator=gen))
