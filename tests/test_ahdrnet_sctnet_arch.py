"""AHDRNet and SCTNet: equivalence with the official modules, parameter counts, checkpoint loading, any input size."""
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from helpers import TINY_AHDRNET, TINY_SCTNET

from basicsr.archs import build_network
from basicsr.utils.registry import ARCH_REGISTRY
from basicsr_skt.archs.ahdrnet_arch import AHDRNet
from basicsr_skt.archs.sctnet_arch import SCTNet
from basicsr_skt.utils.checkpoint import load_state_dict_file, unwrap_state_dict
from basicsr_skt.utils.feature_tap import FeatureTap

AHDRNET_FIXTURE = 'fixtures/ahdrnet_official_64x96_seed0.pt'
SCTNET_FIXTURE = 'fixtures/sctnet_official_64x96_seed0.pt'
#: Official AHDRNet constructor arguments (an ``args`` namespace) -> ours.
AHDRNET_ARGS = {
    'nChannel': 'in_chans',
    'nFeat': 'num_feat',
    'nDenselayer': 'num_dense_layers',
    'growthRate': 'growth_rate'
}
TOLERANCE = 1e-5


def frames(h: int, w: int, seed: int = 0, batch: int = 1):
    """Three frames concat(L**2.2 / t, L) with t = 1/4, 1, 4 (short, reference, long)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for t in (0.25, 1., 4.):
        ldr = torch.rand(batch, 3, h, w, generator=gen)
        out.append(torch.cat((ldr**2.2 / t, ldr), dim=1))
    return out


def tiny(config: dict, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_network(dict(config)).eval()


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@pytest.fixture(scope='module')
def ahdrnet_official(shared_dir):
    return torch.load(shared_dir / AHDRNET_FIXTURE, weights_only=True)


@pytest.fixture(scope='module')
def sctnet_official(shared_dir):
    return torch.load(shared_dir / SCTNET_FIXTURE, weights_only=True)


@pytest.fixture(scope='module')
def ahdrnet_loaded(ahdrnet_official):
    config = {AHDRNET_ARGS[k]: v for k, v in ahdrnet_official['config'].items()}
    net = AHDRNet(**config).eval()
    net.load_state_dict(ahdrnet_official['state_dict'], strict=True)
    return net


@pytest.fixture(scope='module')
def sctnet_loaded(sctnet_official):
    net = SCTNet(**sctnet_official['config']).eval()
    net.load_state_dict(sctnet_official['state_dict'], strict=True)
    return net


# ---------------------------------------------------------------------------------------------------- registry
def test_registered_under_plugin_names_distinct_from_basicsr():
    for name, cls in (('AHDRNet', AHDRNet), ('SCTNet', SCTNet)):
        assert ARCH_REGISTRY.get(name) is cls
        assert cls.__module__.startswith('basicsr_skt.archs.')  # not a BasicSR arch of the same name


def test_default_parameter_counts():
    assert sum(p.numel() for p in AHDRNet().parameters()) == 1_515_139
    assert sum(p.numel() for p in SCTNet().parameters()) == 994_555
    unused = sum(p.numel() for n, p in AHDRNet().named_parameters() if n.startswith(('attConv1', 'attConv3')))
    assert unused == 2 * (64 * 64 * 9 + 64)


# ---------------------------------------------------------------------------------------------------- AHDRNet parity
def test_ahdrnet_matches_official_output(ahdrnet_official, ahdrnet_loaded):
    assert sum(p.numel() for p in ahdrnet_loaded.parameters()) == ahdrnet_official['params']
    with torch.no_grad():
        out = ahdrnet_loaded(*ahdrnet_official['inputs'])
    assert out.shape == ahdrnet_official['output'].shape == (1, 3, 64, 96)
    assert max_diff(out, ahdrnet_official['output']) <= TOLERANCE


def test_ahdrnet_state_dict_keys_and_shapes_match_official(ahdrnet_official):
    ours, theirs = AHDRNet().state_dict(), ahdrnet_official['state_dict']
    assert list(ours) == list(theirs)  # same names, same order
    assert all(ours[k].shape == theirs[k].shape for k in theirs)


def _official_ahdrnet_reference(state: dict, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
    """The official forward written with functional convs on the state dict (independent of our modules)."""

    def conv(name, x, dilation=1):
        weight = state[f'{name}.weight']
        pad = dilation * (weight.shape[-1] // 2)
        return F.conv2d(x, weight, state[f'{name}.bias'], padding=pad, dilation=dilation)

    lrelu = torch.nn.functional.leaky_relu
    f1, f2, f3 = (lrelu(conv('conv1', x)) for x in (x1, x2, x3))
    f1 = f1 * torch.sigmoid(conv('att12', lrelu(conv('att11', torch.cat((f1, f2), 1)))))
    f3 = f3 * torch.sigmoid(conv('att32', lrelu(conv('att31', torch.cat((f3, f2), 1)))))
    x = conv('conv2', torch.cat((f1, f2, f3), 1))
    blocks = []
    for b in (1, 2, 3):
        dense = x
        for i in range(6):
            dense = torch.cat((dense, F.relu(conv(f'RDB{b}.dense_layers.{i}.conv', dense, dilation=2))), 1)
        x = x + conv(f'RDB{b}.conv_1x1', dense)
        blocks.append(x)
    fused = conv('GFF_3x3', conv('GFF_1x1', torch.cat(blocks, 1)))
    return torch.sigmoid(conv('conv3', conv('conv_up', fused + f2)))


def test_ahdrnet_odd_size_matches_official_computation(ahdrnet_official, ahdrnet_loaded):
    """Fully convolutional: a 37 x 53 crop of the fixture frames gives a 37 x 53 output equal to the official maths."""
    x = [f[..., :37, :53] for f in ahdrnet_official['inputs']]
    with torch.no_grad():
        out = ahdrnet_loaded(*x)
        expected = _official_ahdrnet_reference(ahdrnet_official['state_dict'], *x)
    assert out.shape == (1, 3, 37, 53)
    assert max_diff(out, expected) <= TOLERANCE
    assert 0 < out.min().item() and out.max().item() < 1


# ---------------------------------------------------------------------------------------------------- SCTNet parity
def test_sctnet_matches_official_output(sctnet_official, sctnet_loaded):
    assert sum(p.numel() for p in sctnet_loaded.parameters()) == sctnet_official['params']
    with torch.no_grad():
        out = sctnet_loaded(*sctnet_official['inputs'])
    assert out.shape == sctnet_official['output'].shape == (1, 3, 64, 96)
    assert max_diff(out, sctnet_official['output']) <= TOLERANCE


def test_sctnet_state_dict_keys_and_shapes_match_official(sctnet_official):
    ours, theirs = SCTNet(**sctnet_official['config']).state_dict(), sctnet_official['state_dict']
    masks = {k for k in ours if k.endswith('attn_mask')}
    assert set(ours) - masks == set(theirs)
    assert len(masks) == 12 and all('.blocks.1.' in k or '.blocks.3.' in k or '.blocks.5.' in k for k in masks)
    assert all(ours[k].shape == theirs[k].shape for k in theirs)
    index = 'layers.2.residual_group.blocks.3.attn.relative_position_index'
    assert torch.equal(ours[index], theirs[index])


def test_sctnet_loads_official_checkpoint_with_training_size_masks(sctnet_official, sctnet_loaded):
    """Official SCTNet checkpoints hold attn_mask buffers for its training img_size (72 x 72): derived, replaced."""
    state = OrderedDict(sctnet_official['state_dict'])
    for key in sctnet_loaded.state_dict():
        if key.endswith('attn_mask'):
            state[key] = torch.full((81, 64, 64), 7.)  # 9 x 9 windows of 72 x 72, garbage values
    net = SCTNet(**sctnet_official['config']).eval()
    net.load_state_dict(state, strict=True)
    masks = [buf for name, buf in net.named_buffers() if name.endswith('attn_mask')]
    assert len(masks) == 12  # kept at the model's img_size (128 x 128: 256 windows), values 0 / -100
    assert all(m.shape == (256, 64, 64) and set(m.unique().tolist()) == {-100., 0.} for m in masks)
    with torch.no_grad():
        assert max_diff(net(*sctnet_official['inputs']), sctnet_official['output']) <= TOLERANCE


def test_sctnet_odd_size_is_crop_of_padded_official_computation(sctnet_official, sctnet_loaded):
    """The official forward returns the reflect-padded size; ours returns exactly 37 x 53, the crop of that result."""
    x = [f[..., :37, :53] for f in sctnet_official['inputs']]
    padded = [F.pad(f, (0, 3, 0, 3), mode='reflect') for f in x]  # what the official check_image_size does
    with torch.no_grad():
        out = sctnet_loaded(*x)
        official_padded = sctnet_loaded.forward_aligned(*padded)
    assert out.shape == (1, 3, 37, 53) and official_padded.shape == (1, 3, 40, 56)
    assert torch.equal(out, official_padded[..., :37, :53])
    assert 0 < out.min().item() and out.max().item() < 1


def test_sctnet_forward_aligned_rejects_unaligned():
    with pytest.raises(ValueError, match='multiples of 8'):
        tiny(TINY_SCTNET).forward_aligned(*frames(20, 24))


# ---------------------------------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize('which', ['ahdrnet', 'sctnet'])
def test_official_dataparallel_checkpoint_file_loads(which, request, tmp_path):
    """``{'epoch', 'state_dict': {'module.' + k: v}, 'optimizer'}`` as the official scripts save it."""
    official = request.getfixturevalue(f'{which}_official')
    net = request.getfixturevalue(f'{which}_loaded')
    wrapped = {
        'epoch': 3,
        'state_dict': OrderedDict(('module.' + k, v) for k, v in official['state_dict'].items()),
        'optimizer': {}
    }
    path = tmp_path / 'official.pth'
    torch.save(wrapped, path)
    fresh = type(net)(**({} if which == 'ahdrnet' else official['config'])).eval()
    fresh.load_state_dict(load_state_dict_file(str(path)), strict=True)
    fresh.load_state_dict(unwrap_state_dict(wrapped), strict=True)
    with torch.no_grad():
        assert max_diff(fresh(*official['inputs']), official['output']) <= TOLERANCE


# ---------------------------------------------------------------------------------------------------- tiny nets
@pytest.mark.parametrize('config', [TINY_AHDRNET, TINY_SCTNET], ids=['AHDRNet', 'SCTNet'])
@pytest.mark.parametrize('size', [(37, 53), (5, 3)])
def test_any_size_returns_input_size_and_batch_items_are_independent(config, size):
    net = tiny(config)
    x = frames(*size, batch=2)
    with torch.no_grad():
        out = net(*x)
        alone = net(*[f[1:] for f in x])
    assert out.shape == (2, 3, *size)
    assert max_diff(out[1:], alone) <= TOLERANCE
    assert 0 <= out.min().item() and out.max().item() <= 1  # sigmoid (AHDRNet's Kaiming init saturates it)


@pytest.mark.parametrize(
    'config, tap, channels', [(TINY_AHDRNET, 'GFF_3x3', 8), (TINY_SCTNET, 'conv_after_body', 12)],
    ids=['AHDRNet', 'SCTNet'])
def test_train_mode_backward_and_default_tap(config, tap, channels):
    net = tiny(config).train()
    feature_tap = FeatureTap(net, tap)
    with feature_tap:
        out = net(*frames(16, 24))
    features = feature_tap.pop()
    assert features.shape == (1, channels, 16, 24)
    out.mean().backward()
    first = net.conv1.weight.grad
    assert first is not None and first.abs().sum().item() > 0


def test_ahdrnet_shares_its_first_conv_and_skips_unused_attention_convs():
    """attConv1/attConv3 (kept for official checkpoints) never change the output; conv1 serves every frame."""
    net = tiny(TINY_AHDRNET)
    x = frames(16, 16)
    with torch.no_grad():
        before = net(*x)
        net.attConv1.weight.add_(1.)
        net.attConv3.bias.add_(1.)
        assert torch.equal(net(*x), before)
        f1, f2, f3 = net.extract(*x)
        assert torch.equal(f2, net.relu(net.conv1(x[1])))
