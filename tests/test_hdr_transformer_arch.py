"""HDRTransformer: parameter count, equivalence with the official module, checkpoint loading, padding, mask cache."""
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from basicsr_skt.archs.hdr_transformer_arch import HDRTransformer, shifted_window_mask
from basicsr_skt.utils.checkpoint import unwrap_state_dict
from basicsr_skt.utils.padding import crop_to, pad_amount, pad_to_multiple

FIXTURE = 'fixtures/hdr_transformer_official_64x96_seed0.pt'
TINY = dict(embed_dim=12, depths=(2, 2), num_heads=(2, 2), img_size=16)  # depth 2: one shifted layer per CTB


def tiny_net(seed: int = 0, **overrides) -> HDRTransformer:
    torch.manual_seed(seed)
    return HDRTransformer(**{**TINY, **overrides}).eval()


def frames(h: int, w: int, seed: int = 0, batch: int = 1):
    """Three frames concat(L**2.2 / t, L) with t = 1/4, 1, 4 (short, reference, long)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for t in (0.25, 1., 4.):
        ldr = torch.rand(batch, 3, h, w, generator=gen)
        out.append(torch.cat((ldr**2.2 / t, ldr), dim=1))
    return out


@pytest.fixture(scope='module')
def official(shared_dir):
    return torch.load(shared_dir / FIXTURE, weights_only=True)


def _drop_masks(keys):
    return {k for k in keys if not k.endswith('attn_mask')}


# ---------------------------------------------------------------------------------------------------- official parity
def test_default_parameter_count():
    net = HDRTransformer()
    assert sum(p.numel() for p in net.parameters()) == 1_222_113
    assert len(net.shift_masks()) == 9  # odd layers of 3 x 6 are shifted


def test_matches_official_output(official):
    net = HDRTransformer(**official['config']).eval()
    assert sum(p.numel() for p in net.parameters()) == official['params']
    net.load_state_dict(official['state_dict'], strict=True)
    with torch.no_grad():
        out = net(*official['inputs'])
    assert out.shape == official['output'].shape == (1, 3, 64, 96)
    assert (out - official['output']).abs().max().item() <= 1e-5


def test_state_dict_keys_and_shapes_match_official(official):
    ours = HDRTransformer(**official['config']).state_dict()
    theirs = official['state_dict']
    assert _drop_masks(ours) == set(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in theirs)
    extra = set(ours) - set(theirs)
    assert len(extra) == 9 and all(k.endswith('attn_mask') for k in extra)
    index = 'layers.0.residual_group.blocks.0.attn.relative_position_index'
    assert torch.equal(ours[index], theirs[index])  # our own construction of the bias index equals the official one


def test_load_wrapped_dataparallel_checkpoint(official):
    wrapped = {'epoch': 3, 'state_dict': OrderedDict(('module.' + k, v) for k, v in official['state_dict'].items())}
    net = HDRTransformer(**official['config']).eval()
    net.load_state_dict(unwrap_state_dict(wrapped), strict=True)
    with torch.no_grad():
        assert (net(*official['inputs']) - official['output']).abs().max().item() <= 1e-5


def test_load_wrapped_checkpoint_without_shared():
    source, target = tiny_net(0), tiny_net(1)
    wrapped = {'state_dict': OrderedDict(('module.' + k, v) for k, v in source.state_dict().items())}
    target.load_state_dict(unwrap_state_dict(wrapped), strict=True)
    for (name, p_src), (_, p_tgt) in zip(source.state_dict().items(), target.state_dict().items()):
        assert torch.equal(p_src, p_tgt), name


def test_derived_masks_ignored_on_load():
    """State dicts without attn_mask, or with masks of another img_size, load strictly; own masks are kept."""
    net = tiny_net(0)
    own = {k: v.clone() for k, v in net.shift_masks().items()}
    assert own and all(v.shape == (4, 64, 64) for v in own.values())  # 16 x 16 -> 4 windows of 8 x 8
    other = tiny_net(1, img_size=32).state_dict()
    assert all(other[k].shape == (16, 64, 64) for k in own)
    without = {k: v for k, v in other.items() if not k.endswith('attn_mask')}
    for state in (other, without):
        net.load_state_dict(state, strict=True)
        assert all(torch.equal(net.shift_masks()[k], v) for k, v in own.items())
    assert 'layers.0.residual_group.blocks.1.attn_mask' in other  # the caller's dict is left untouched
    assert torch.equal(net.conv_last.weight, other['conv_last.weight'])


def test_mask_buffer_is_official_mask():
    """Buffer for img_size == an independent construction with the official slice recipe."""
    net = tiny_net()
    buffer = net.shift_masks()['layers.0.residual_group.blocks.1.attn_mask']
    assert torch.equal(buffer, _slice_recipe_mask(16, 16, 8, 4))


# ---------------------------------------------------------------------------------------------------- sizes & padding
@pytest.mark.parametrize('size', [(37, 53), (20, 30), (5, 3)])
def test_any_size_returns_input_size(size):
    net = tiny_net()
    with torch.no_grad():
        out = net(*frames(*size, batch=2))
    assert out.shape == (2, 3, *size)


def test_aligned_input_needs_no_padding():
    net = tiny_net()
    x = frames(24, 32)
    with torch.no_grad():
        assert torch.equal(net(*x), net.forward_aligned(*x))


def test_odd_input_equals_crop_of_padded_computation():
    net = tiny_net()
    x = frames(37, 53)
    padded = [F.pad(f, (0, 3, 0, 3), mode='reflect') for f in x]  # 37 x 53 -> 40 x 56 by hand
    with torch.no_grad():
        expected = net.forward_aligned(*padded)[..., :37, :53]
        assert torch.equal(net(*x), expected)


def test_forward_aligned_rejects_unaligned():
    with pytest.raises(ValueError, match='multiples of 8'):
        tiny_net().forward_aligned(*frames(20, 24))


def test_ones_give_open_unit_interval():
    with torch.no_grad():
        out = tiny_net()(*[torch.ones(1, 6, 16, 16)] * 3)
    assert out.min().item() > 0 and out.max().item() < 1


def test_batch_items_independent():
    """Masks broadcast over the batch: item 1 of a batch equals the same frames run alone."""
    net = tiny_net()
    x = frames(24, 16, batch=2)
    with torch.no_grad():
        assert torch.allclose(net(*x)[1:], net(*[f[1:] for f in x]), atol=1e-6)


def test_train_mode_backward():
    net = tiny_net(drop_path_rate=0.5, use_checkpoint=True).train()
    out = net(*frames(16, 24))
    out.mean().backward()
    assert net.conv_f1.weight.grad is not None and net.conv_f1.weight.grad.abs().sum() > 0


def test_pad_helpers_known_values():
    row = torch.arange(5.).view(1, 5)
    padded, size = pad_to_multiple(row, 8)
    assert size == (1, 5)
    # W: reflect (3 < 5) -> 0 1 2 3 4 3 2 1; H: pad 7 >= 1 row -> replicate
    assert torch.equal(padded[0], torch.tensor([0., 1, 2, 3, 4, 3, 2, 1]))
    assert padded.shape == (8, 8) and torch.equal(padded, padded[:1].expand(8, 8))
    assert torch.equal(crop_to(padded, *size), row)
    tiny, _ = pad_to_multiple(torch.tensor([[1., 2., 3.]]), 8, mode='reflect')  # pad 5 >= 3: replicate fallback
    assert torch.equal(tiny[0], torch.tensor([1., 2, 3, 3, 3, 3, 3, 3]))
    zeros, _ = pad_to_multiple(torch.ones(2, 3, 7, 8), 8, mode='constant')
    assert zeros.shape == (2, 3, 8, 8) and zeros[..., 7, :].abs().sum() == 0
    same = torch.rand(1, 6, 16, 24)
    assert pad_to_multiple(same, 8)[0] is same
    assert [pad_amount(n, 8) for n in (1, 8, 9, 1000, 1500)] == [7, 0, 7, 0, 4]
    with pytest.raises(ValueError):
        crop_to(same, 17, 24)
    with pytest.raises(ValueError):
        pad_to_multiple(same, 8, mode='wrap')


# ---------------------------------------------------------------------------------------------------- mask cache
def _slice_recipe_mask(h: int, w: int, ws: int, shift: int) -> torch.Tensor:
    """Reference: 3 x 3 regions from slices (0, -ws), (-ws, -shift), (-shift, end), windows compared pairwise."""
    regions = torch.zeros(h, w)
    cuts = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
    for i, rows in enumerate(cuts):
        for j, cols in enumerate(cuts):
            regions[rows, cols] = 3 * i + j
    wins = regions.view(h // ws, ws, w // ws, ws).transpose(1, 2).reshape(-1, ws * ws)
    same = wins[:, :, None] == wins[:, None, :]
    return torch.where(same, 0., -100.)


def test_mask_cache_reuses_and_separates_sizes():
    net = tiny_net()
    cache = net.mask_cache
    cache.clear()
    with torch.no_grad():
        net(*frames(20, 30))  # padded to 24 x 32
    assert len(cache) == 1
    first = cache.get(24, 32, 8, 4, torch.device('cpu'), torch.float32)
    assert cache.get(24, 32, 8, 4, torch.device('cpu'), torch.float32) is first
    other = cache.get(32, 24, 8, 4, torch.device('cpu'), torch.float32)
    assert other is not first and len(cache) == 2
    assert torch.equal(first, shifted_window_mask(24, 32, 8, 4))
    assert torch.equal(first, _slice_recipe_mask(24, 32, 8, 4))
    assert torch.equal(other, _slice_recipe_mask(32, 24, 8, 4))
    assert first.shape == other.shape == (12, 64, 64) and not torch.equal(first, other)
    double = cache.get(24, 32, 8, 4, torch.device('cpu'), torch.float64)
    assert double.dtype == torch.float64 and double is not first
    assert all(layer.residual_group.blocks[1].mask_cache is cache for layer in net.layers)  # shared by all layers


def test_registered_and_buildable_from_options():
    from basicsr.archs import build_network
    net = build_network({'type': 'HDRTransformer', **TINY})
    assert isinstance(net, HDRTransformer) and net.window_size == 8
