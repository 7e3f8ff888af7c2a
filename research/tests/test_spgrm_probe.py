"""SPGRMProbe (research/spgrm_probe_arch.py): the teacher's research variants, cross-attention fusion and the condition
at the head; at its defaults it is the library's SPGRM."""
import math

import pytest
import torch
from helpers import TINY_SPGRM, randomise_tail, spgrm_inputs

from basicsr.archs import build_network
from basicsr_skt.archs.spgrm_arch import SPGRM
from basicsr_skt.utils.tonemap import mu_law
from research.spgrm_probe_arch import SPGRMCrossAttentionFusion, SPGRMProbe

TINY = dict(TINY_SPGRM, num_heads=2, window_size=4)


def test_probe_at_its_defaults_is_spgrm():
    """Same modules, same initial weights for the same seed, same output: SPGRMProbe only adds knobs."""
    torch.manual_seed(0)
    probe = SPGRMProbe(**TINY)
    torch.manual_seed(0)
    plain = SPGRM(**TINY_SPGRM)
    probe_state, plain_state = probe.state_dict(), plain.state_dict()
    assert list(probe_state) == list(plain_state)
    assert all(torch.equal(probe_state[k], plain_state[k]) for k in plain_state)
    randomise_tail(probe)
    randomise_tail(plain)
    orm, ref, emb, labels = spgrm_inputs()
    assert torch.equal(probe(orm, ref, emb, labels)['output'], plain(orm, ref, emb, labels)['output'])


def test_cross_attention_spgrm_is_identity_at_init_and_gives_documented_shapes():
    net = SPGRMProbe(fusion='cross_attention', **TINY)
    orm, ref, emb, labels = spgrm_inputs()
    out = net(orm, ref, emb, labels)
    assert set(out) == {'output', 'features', 'residual'}
    assert torch.equal(out['output'], orm)  # exact, thanks to the zero-initialised tail
    assert out['features'].shape == (2, 8, 12, 10)
    assert torch.equal(out['residual'], torch.zeros(2, 3, 12, 10))


def test_cross_attention_spgrm_gradients_reach_all_parameters_but_not_the_orm():
    net = SPGRMProbe(fusion='cross_attention', **TINY)
    orm, ref, emb, labels = spgrm_inputs()
    orm.requires_grad_(True)
    net(orm, ref, emb, labels)['output'].mean().backward()
    assert net.tail.weight.grad.abs().sum() > 0  # at init only the tail can learn (it is zero)
    net.zero_grad()
    randomise_tail(net)
    net(orm, ref, emb, labels)['output'].mean().backward()
    for name, param in net.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert orm.grad is None  # the ORM output is detached inside


def test_cross_attention_spgrm_without_semantics_ignores_the_skb():
    plain = SPGRMProbe(fusion='cross_attention', use_semantics=False, **TINY)
    with_sem = SPGRMProbe(fusion='cross_attention', **TINY)
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in with_sem.parameters())
    randomise_tail(plain)
    orm, ref, emb, labels = spgrm_inputs()
    _, _, emb2, labels2 = spgrm_inputs(seed=5)
    out = plain(orm, ref, emb, labels)['output']
    assert torch.equal(out, plain(orm, ref, emb2, labels2)['output'])
    assert torch.equal(out, plain(orm, ref)['output'])
    cond = plain.cond(plain.semantic_input(mu_law(orm), None, None))
    assert torch.equal(cond, cond[..., :1, :1].expand_as(cond))  # spatially constant: every query the same vector


def _head_output(net, orm, ref, emb, labels):
    seen = []
    handle = net.head.register_forward_hook(lambda module, args, out: seen.append(out))
    net(orm, ref, emb, labels)
    handle.remove()
    return seen[0]


@pytest.mark.parametrize('fusion', ['sft', 'cross_attention'])
def test_spgrm_condition_at_head_gives_the_first_layer_the_priors(fusion):
    orm, ref, emb, labels = spgrm_inputs()
    _, _, emb2, labels2 = spgrm_inputs(seed=5)
    plain_head = SPGRMProbe(fusion=fusion, **TINY)
    torch.testing.assert_close(_head_output(plain_head, orm, ref, emb, labels),
                               _head_output(plain_head, orm, ref, emb2, labels2), rtol=0, atol=0)
    net = SPGRMProbe(fusion=fusion, condition_at_head=True, **TINY)
    assert net.head.in_channels == 3 + 6 + TINY['num_feat']
    assert torch.equal(net(orm, ref, emb, labels)['output'], orm)  # still the identity at initialisation
    assert not torch.allclose(_head_output(net, orm, ref, emb, labels), _head_output(net, orm, ref, emb2, labels2))
    # the head's prior weights act on S_c exactly: zeroing them gives the plain head's response to (t, ref)
    with torch.no_grad():
        net.head.weight[:, 9:] = 0
    torch.manual_seed(0)
    same = SPGRMProbe(fusion=fusion, **TINY)
    with torch.no_grad():
        same.head.weight.copy_(net.head.weight[:, :9])
        same.head.bias.copy_(net.head.bias)
    torch.testing.assert_close(_head_output(net, orm, ref, emb, labels), _head_output(same, orm, ref, emb, labels))
    no_sem = SPGRMProbe(fusion=fusion, condition_at_head=True, use_semantics=False, **TINY)
    assert sum(p.numel() for p in no_sem.parameters()) == sum(p.numel() for p in net.parameters())


def test_probe_builds_from_the_registry_and_rejects_an_unknown_fusion():
    net = build_network(dict(type='SPGRMProbe', fusion='cross_attention', **TINY))
    assert isinstance(net, SPGRM) and net.fusion == 'cross_attention'
    assert all(isinstance(block, SPGRMCrossAttentionFusion) for block in net.fusions)
    with pytest.raises(ValueError, match='fusion'):
        SPGRMProbe(fusion='concat')


def test_cross_attention_with_padding_equals_global_attention():
    """A 5 x 6 map in one 8 x 8 window (padded): the padded keys must not count, i.e. plain global attention."""
    torch.manual_seed(0)
    block = SPGRMCrossAttentionFusion(num_feat=4, cond_feat=3, num_heads=2, window_size=8)
    feat, cond = torch.randn(1, 4, 5, 6), torch.randn(1, 3, 5, 6)
    q = block.q(block.norm_q(cond.flatten(2).transpose(1, 2)))  # (1, 30, 4)
    k, v = block.kv(block.norm_kv(feat.flatten(2).transpose(1, 2))).chunk(2, dim=-1)
    heads = []
    for h in range(2):
        sl = slice(2 * h, 2 * h + 2)
        weights = torch.softmax(q[..., sl] @ k[..., sl].transpose(1, 2) / math.sqrt(2), dim=-1)
        heads.append(weights @ v[..., sl])
    expected = feat + block.proj(torch.cat(heads, dim=-1)).transpose(1, 2).reshape(1, 4, 5, 6)
    torch.testing.assert_close(block(feat, cond), expected, atol=1e-5, rtol=1e-5)
