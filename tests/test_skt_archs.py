"""SPGRM, SKAM, the label-map / mask helpers and the SKT schedules: known values and equivalences (CPU, tiny sizes)."""
import math

import pytest
import torch
import torch.nn.functional as F
from helpers import TINY_SPGRM, randomise_tail, spgrm_inputs

from basicsr.archs import build_network
from basicsr_skt.archs.skam_arch import SKAM
from basicsr_skt.archs.spgrm_arch import SPGRM
from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.masks import (broadcast_segment_values, label_boundaries, num_hidden, random_patch_mask,
                                     segment_mean_map, segment_means, semantic_mask)
from basicsr_skt.utils.schedules import distill_weight, linear_ramp, mask_ratio_schedule
from basicsr_skt.utils.tonemap import inverse_mu_law, mu_law

TINY = TINY_SPGRM


# ---------------------------------------------------------------------------------------------------- label helpers
def test_segment_means_hand_computed():
    values = torch.tensor([[[1., 2., 3.], [4., 5., 6.]]]).unsqueeze(0)  # (1, 1, 2, 3)
    values = torch.cat([values, 10 * values], dim=1)  # two channels
    labels = torch.tensor([[[0, 0, 2], [2, 2, 0]]])
    means, counts = segment_means(values, labels)
    # label 0: pixels 1, 2, 6 -> mean 3; label 1: absent -> 0; label 2: pixels 3, 4, 5 -> mean 4
    torch.testing.assert_close(means[0], torch.tensor([[3., 30.], [0., 0.], [4., 40.]]))
    torch.testing.assert_close(counts[0], torch.tensor([3., 0., 3.]))
    expected_map = torch.tensor([[3., 3., 4.], [4., 4., 3.]])
    torch.testing.assert_close(segment_mean_map(values, labels)[0, 0], expected_map)
    torch.testing.assert_close(segment_mean_map(values, labels)[0, 1], 10 * expected_map)


def test_segment_means_keep_batch_items_apart():
    labels = torch.zeros(2, 2, 2, dtype=torch.long)
    values = torch.stack([torch.full((1, 2, 2), 1.), torch.full((1, 2, 2), 5.)])
    torch.testing.assert_close(segment_means(values, labels)[0][:, 0, 0], torch.tensor([1., 5.]))
    painted = broadcast_segment_values(torch.tensor([[[7.], [8.]], [[9.], [6.]]]), torch.tensor([[[0, 1]], [[1, 1]]]))
    torch.testing.assert_close(painted, torch.tensor([[[[7., 8.]]], [[[6., 6.]]]]))


def test_label_boundaries_hand_computed():
    labels = torch.tensor([[[1, 1, 1, 1], [1, 1, 2, 2], [1, 1, 2, 2]]])
    expected = torch.tensor([[0., 0., 1., 1.], [0., 1., 1., 1.], [0., 1., 1., 0.]])
    torch.testing.assert_close(label_boundaries(labels)[0, 0], expected)
    assert label_boundaries(torch.zeros(1, 3, 3, dtype=torch.long)).sum() == 0
    with pytest.raises(ValueError):
        label_boundaries(torch.zeros(1, 3, 3))  # float labels


# ------------------------------------------------------------------------------------------------------------ SPGRM
def test_spgrm_is_identity_at_init_and_gives_documented_shapes():
    net = SPGRM(**TINY)
    orm, ref, emb, labels = spgrm_inputs()
    out = net(orm, ref, emb, labels)
    assert set(out) == {'output', 'features', 'residual'}
    assert torch.equal(out['output'], orm)  # exact, thanks to the zero-initialised tail
    assert out['features'].shape == (2, 8, 12, 10)
    assert torch.equal(out['residual'], torch.zeros(2, 3, 12, 10))


def test_spgrm_output_follows_the_mu_law_residual_formula():
    net = SPGRM(**TINY)
    randomise_tail(net)
    orm, ref, emb, labels = spgrm_inputs()
    out = net(orm, ref, emb, labels)
    expected = inverse_mu_law((mu_law(orm) + out['residual']).clamp(0, 1))
    torch.testing.assert_close(out['output'], expected, atol=2e-6, rtol=1e-5)
    assert out['residual'].abs().max() > 0.01  # the residual is really in use here
    assert out['output'].min() >= 0 and out['output'].max() <= 1


def test_spgrm_gradients_reach_all_parameters_but_not_the_orm():
    net = SPGRM(**TINY)
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


def test_spgrm_semantic_input_is_embedding_boundary_and_segment_colour():
    net = SPGRM(**TINY)
    orm, _, emb, _ = spgrm_inputs(b=1, h=2, w=3)
    labels = torch.tensor([[[0, 0, 2], [2, 2, 0]]])
    sem = net.semantic_input(mu_law(orm), emb, labels)
    assert sem.shape == (1, 4 + 4, 2, 3)
    torch.testing.assert_close(sem[:, :4], net.embed_proj(emb))
    torch.testing.assert_close(sem[0, 4], label_boundaries(labels)[0, 0])
    tm = mu_law(orm)[0]
    for label, pixels in ((0, [(0, 0), (0, 1), (1, 2)]), (2, [(0, 2), (1, 0), (1, 1)])):
        mean = torch.stack([tm[:, y, x] for y, x in pixels]).mean(0)
        for y, x in pixels:
            torch.testing.assert_close(sem[0, 5:, y, x], mean)


def test_spgrm_resizes_an_embedding_of_another_size():
    net = SPGRM(**TINY)
    orm, ref, _, labels = spgrm_inputs(h=8, w=8)
    small = torch.randn(2, 5, 4, 4)
    resized = F.interpolate(small, size=(8, 8), mode='bilinear', align_corners=False)
    torch.testing.assert_close(net.semantic_input(orm, small, labels), net.semantic_input(orm, resized, labels))


def test_spgrm_without_semantics_ignores_the_skb():
    plain = SPGRM(use_semantics=False, **TINY)
    with_sem = SPGRM(**TINY)
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in with_sem.parameters())
    randomise_tail(plain)
    orm, ref, emb, labels = spgrm_inputs()
    _, _, emb2, labels2 = spgrm_inputs(seed=5)
    out = plain(orm, ref, emb, labels)['output']
    assert torch.equal(out, plain(orm, ref, emb2, labels2)['output'])
    assert torch.equal(out, plain(orm, ref)['output'])
    cond = plain.cond(plain.semantic_input(mu_law(orm), None, None))
    assert torch.equal(cond, cond[..., :1, :1].expand_as(cond))  # spatially constant: γ, β become constants


def test_spgrm_with_semantics_depends_on_the_skb():
    net = SPGRM(**TINY)
    randomise_tail(net)
    orm, ref, emb, labels = spgrm_inputs()
    _, _, emb2, labels2 = spgrm_inputs(seed=5)
    assert not torch.allclose(net(orm, ref, emb, labels)['output'], net(orm, ref, emb2, labels2)['output'])


def test_spgrm_rejects_bad_arguments():
    with pytest.raises(ValueError, match='fusion'):
        SPGRM(fusion='concat')
    net = SPGRM(**TINY)
    orm, ref, emb, labels = spgrm_inputs()
    with pytest.raises(ValueError, match='skb_embedding'):
        net(orm, ref)
    with pytest.raises(ValueError, match='C_e'):
        net(orm, ref, emb[:, :3], labels)
    with pytest.raises(ValueError, match='skb_labels'):
        net(orm, ref, emb, labels[:, :5])


def test_spgrm_builds_from_the_registry():
    net = build_network(dict(type='SPGRM', fusion='sft', **TINY))
    assert isinstance(net, SPGRM) and net.fusion == 'sft'


@pytest.mark.parametrize('option, named', [({'fusion': 'cross_attention'}, 'fusion: cross_attention'),
                                           ({'condition_at_head': True}, 'condition_at_head'),
                                           ({'num_heads': 2, 'window_size': 4}, 'num_heads, window_size')])
def test_spgrm_refuses_the_research_options_by_name(option, named):
    """Options of the research teacher (research/spgrm_probe_arch.py): one user error naming the key and its new home;
    another unknown option stays a TypeError."""
    with pytest.raises(UserInputError, match=f'SPGRM: {named} is a research option.*SPGRMProbe'):
        build_network(dict(type='SPGRM', **TINY, **option))
    with pytest.raises(TypeError, match='unexpected option'):
        SPGRM(num_fet=8)


# ------------------------------------------------------------------------------------------------------------- SKAM
def test_skam_shapes_detached_target_and_complementary_filling():
    torch.manual_seed(0)
    skam = SKAM(orm_channels=6, teacher_channels=8, latent_dim=4)
    orm_feat = torch.randn(2, 6, 8, 8, requires_grad=True)
    teacher_feat = torch.randn(2, 8, 8, 8, requires_grad=True)
    mask = random_patch_mask(2, 8, 8, patch=4, ratio=0.5, generator=torch.Generator().manual_seed(0))
    out = skam(orm_feat, teacher_feat, mask)
    assert {k: tuple(v.shape) for k, v in out.items()} == {**{k: (2, 4, 8, 8) for k in out}, 'mask': (2, 1, 8, 8)}
    assert not out['target'].requires_grad
    torch.testing.assert_close(out['target'], skam.proj_teacher(teacher_feat).detach())
    token = skam.mask_token.view(1, -1, 1, 1)
    torch.testing.assert_close(out['pred'], skam.generator(mask * out['latent'] + (1 - mask) * token))
    torch.testing.assert_close(out['pred_complement'], skam.generator((1 - mask) * out['latent'] + mask * token))
    (out['pred'] + out['pred_complement']).abs().mean().backward()
    assert teacher_feat.grad is None and orm_feat.grad is not None
    assert all(p.grad is None for p in skam.proj_teacher.parameters())
    assert not any(p.requires_grad for p in skam.proj_teacher.parameters())  # frozen: no optimiser, no DDP wait
    assert skam.mask_token.grad.abs().sum() > 0 and skam.proj_orm[0].weight.grad.abs().sum() > 0


def test_skam_latent_is_layer_normalised_and_orm_features_resized():
    torch.manual_seed(0)
    skam = SKAM(orm_channels=3, teacher_channels=5, latent_dim=6)
    orm_feat = torch.randn(1, 3, 4, 4)
    out = skam(orm_feat, torch.randn(1, 5, 8, 8), torch.ones(1, 1, 8, 8))
    up = F.interpolate(orm_feat, size=(8, 8), mode='bilinear', align_corners=False)
    torch.testing.assert_close(out['latent'], skam.proj_orm(up))
    torch.testing.assert_close(out['latent'].mean(1), torch.zeros(1, 8, 8), atol=1e-5, rtol=0)  # LN at init
    torch.testing.assert_close(out['pred'], skam.generator(out['latent']))  # all visible: X_M = Z_O
    with pytest.raises(ValueError, match='mask'):
        skam(orm_feat, torch.randn(1, 5, 8, 8), torch.ones(1, 1, 4, 4))


# ------------------------------------------------------------------------------------------------------------ masks
@pytest.mark.parametrize('ratio', [0.0, 0.25, 0.5, 0.7, 1.0])
def test_random_patch_mask_hides_the_requested_patches(ratio):
    gen = torch.Generator().manual_seed(0)
    mask = random_patch_mask(3, 20, 24, patch=8, ratio=ratio, generator=gen)  # 3 x 3 patches, last row cut to 4 px
    assert mask.shape == (3, 1, 20, 24) and mask.dtype == torch.float32
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    patches = mask[:, 0, ::8, ::8]  # one sample per patch
    blocks = F.interpolate(patches[:, None], scale_factor=8, mode='nearest')[:, :, :20, :24]
    assert torch.equal(blocks, mask)  # constant within every patch
    hidden = (patches == 0).flatten(1).sum(1)
    assert hidden.tolist() == [num_hidden(ratio, 9)] * 3
    complement = 1 - mask
    assert torch.equal((mask == 0).int() + (complement == 0).int(), torch.ones_like(mask, dtype=torch.int))


def test_random_patch_mask_is_reproducible_and_differs_per_item():
    a = random_patch_mask(4, 32, 32, patch=8, ratio=0.5, generator=torch.Generator().manual_seed(3))
    b = random_patch_mask(4, 32, 32, patch=8, ratio=0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert not all(torch.equal(a[0], a[i]) for i in range(1, 4))
    assert (a == 0).float().mean() == 0.5
    assert num_hidden(0.5, 9) == 5 and num_hidden(0.25, 10) == 3 and num_hidden(0.0, 9) == 0


@pytest.mark.parametrize('ratio', [0.0, 0.3, 0.5, 0.9, 1.0])
def test_semantic_mask_hides_whole_segments_until_the_ratio(ratio):
    gen = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 3, (2, 4, 6), generator=gen) * 3 + torch.arange(6).div(2, rounding_mode='floor')
    mask = semantic_mask(labels, ratio, generator=gen)
    assert mask.shape == (2, 1, 4, 6)
    for item in range(2):
        m, lab = mask[item, 0], labels[item]
        hidden_ids = set()
        for seg in lab.unique().tolist():
            values = m[lab == seg].unique()
            assert values.numel() == 1  # whole segments only
            if values.item() == 0:
                hidden_ids.add(seg)
        hidden, target = int((m == 0).sum()), math.ceil(ratio * 24)
        assert hidden >= target
        if hidden_ids:  # minimal: the last segment hidden was needed to reach the target
            assert any(hidden - int((lab == seg).sum()) < target for seg in hidden_ids)
    if ratio == 0.0:
        assert torch.equal(mask, torch.ones_like(mask))
    if ratio == 1.0:
        assert torch.equal(mask, torch.zeros_like(mask))


# -------------------------------------------------------------------------------------------------------- schedules
def test_linear_ramp_values():
    assert linear_ramp(5, 10, 20, 2.0) == 0.0
    assert linear_ramp(10, 10, 20, 2.0) == 0.0
    assert linear_ramp(20, 10, 20, 2.0) == 1.0
    assert linear_ramp(30, 10, 20, 2.0) == 2.0
    assert linear_ramp(99, 10, 20, 2.0) == 2.0
    assert linear_ramp(9, 10, 0, 2.0) == 0.0 and linear_ramp(10, 10, 0, 2.0) == 2.0
    with pytest.raises(ValueError):
        linear_ramp(1, 0, -1, 1.0)


def test_mask_ratio_schedule_values():
    assert mask_ratio_schedule(0, 1000) == 0.0
    assert mask_ratio_schedule(250, 1000) == 0.25
    assert mask_ratio_schedule(500, 1000) == 0.5
    assert mask_ratio_schedule(900, 1000) == 0.5
    assert mask_ratio_schedule(100, 1000, max_ratio=0.4, ramp_fraction=0.25) == pytest.approx(0.16)
    assert mask_ratio_schedule(0, 1000, max_ratio=0.3, mode='constant') == 0.3
    with pytest.raises(ValueError):
        mask_ratio_schedule(0, 1000, mode='cosine')


def test_distill_weight_warmup_and_ramp():
    assert distill_weight(99, 0.5, warmup_iter=100) == 0.0
    assert distill_weight(100, 0.5, warmup_iter=100) == 0.5
    assert distill_weight(100, 0.5, warmup_iter=100, ramp_iter=50) == 0.0
    assert distill_weight(125, 0.5, warmup_iter=100, ramp_iter=50) == 0.25
    assert distill_weight(1000, 0.5, warmup_iter=100, ramp_iter=50) == 0.5
    assert distill_weight(1, 0.1) == 0.1
