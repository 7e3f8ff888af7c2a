"""SKTModel in-process: the three modes, gradients, frozen teacher, warm-up, checkpoints, errors.

Batches carry generated SKB arrays of the documented format (``skb_embedding`` (B, C, H, W), ``skb_labels`` (B, H, W)).
"""
import copy

import pytest
import torch
from helpers import TINY_HDRT
from test_hdr_model import model_opt

from basicsr.archs import build_network
from basicsr_skt.models.skt_model import SKTModel

EMBED_CHANNELS = 8
TINY_SPGRM = {
    'type': 'SPGRM',
    'embed_channels': EMBED_CHANNELS,
    'num_feat': 16,
    'num_groups': 2,
    'num_blocks': 1,
    'embed_feat': 8
}
TINY_SKAM = {'type': 'SKAM', 'orm_channels': TINY_HDRT['embed_dim'], 'teacher_channels': 16, 'latent_dim': 8}
SKT = {
    'mode': 'joint',
    'orm_tap': 'conv_after_body',
    'mask': {
        'type': 'random_patch',
        'patch_size': 4,
        'ratio_max': 0.5,
        'schedule': 'linear',
        'ramp_fraction': 0.5
    },
    'distill_warmup_iter': 0,
    'content_opt': {
        'type': 'ContentDistillLoss',
        'loss_weight': 0.5
    },
    'colour_opt': {
        'type': 'ColourDistillLoss',
        'loss_weight': 0.1,
        'beta': 0.1
    },
    'skam_opt': {
        'type': 'SKAMLoss',
        'loss_weight': 0.1
    },
}


def skt_opt(tmp_path, mode='joint', **skt):
    opt = model_opt(tmp_path)
    opt['model_type'] = 'SKTModel'
    opt['network_t'] = dict(TINY_SPGRM)
    opt['network_skam'] = dict(TINY_SKAM)
    opt['skt'] = copy.deepcopy(SKT)
    opt['skt'].update(mode=mode, **skt)
    return opt


def batch(size=16, batch_size=2, with_skb=True):
    torch.manual_seed(0)
    data = {
        'lq': torch.rand(batch_size, 3, 6, size, size),
        'gt': torch.rand(batch_size, 3, size, size),
        'scene': [f's{i}' for i in range(batch_size)]
    }
    if with_skb:
        data['skb_embedding'] = torch.randn(batch_size, EMBED_CHANNELS, size, size)
        labels = torch.zeros(batch_size, size, size, dtype=torch.long)
        labels[:, :, size // 2:] = 1
        data['skb_labels'] = labels
    return data


def snapshot(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def changed(net, before):
    return [k for k, v in net.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]


def test_joint_step_trains_orm_teacher_and_skam_and_logs_every_term(tmp_path):
    model = SKTModel(skt_opt(tmp_path))
    model.feed_data(batch())
    before = {name: snapshot(getattr(model, name)) for name in ('net_g', 'net_t', 'net_skam')}
    model.optimize_parameters(2)
    log = model.get_current_log()
    assert {
        'l_rec', 'l_pix', 'l_t_rec', 'l_content', 'l_colour', 'l_skam', 'gap_psnr_mu', 'distill_weight', 'mask_ratio'
    } <= set(log)
    # linear ramp 0 -> 0.5 over the first half of total_iter = 10, then hold
    assert log['mask_ratio'] == pytest.approx(0.2)
    assert [model.current_mask_ratio(it) for it in (0, 5, 10)] == pytest.approx([0.0, 0.5, 0.5])
    for name, snap in before.items():
        assert changed(getattr(model, name), snap), name


def test_teacher_receives_no_gradient_from_the_student_loss(tmp_path):
    model = SKTModel(skt_opt(tmp_path))
    model.feed_data(batch())
    model.output, orm_features = model.forward_student()
    teacher_output, teacher_features = model.forward_teacher(model.output.detach())
    model.net_t.zero_grad(set_to_none=True)
    model.net_g.zero_grad(set_to_none=True)
    l_rec, _ = model.reconstruction_loss(model.output, model.gt)
    distill = model.distillation_terms(10, orm_features, teacher_output.detach(), teacher_features)
    (l_rec + sum(distill.values())).backward()
    assert all(p.grad is None for p in model.net_t.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.net_g.parameters())


def test_staged_student_keeps_the_teacher_frozen(tmp_path):
    teacher_file = tmp_path / 'net_t.pth'
    torch.save({'params': build_network(dict(TINY_SPGRM)).state_dict()}, teacher_file)
    opt = skt_opt(tmp_path, mode='staged_student')
    opt['path']['pretrain_network_t'] = str(teacher_file)
    model = SKTModel(opt)
    assert not model.net_t.training and not any(p.requires_grad for p in model.net_t.parameters())
    assert not hasattr(model, 'optimizer_t')
    teacher_before, orm_before = snapshot(model.net_t), snapshot(model.net_g)
    model.feed_data(batch())
    for it in (1, 2):
        model.optimize_parameters(it)
    assert not changed(model.net_t, teacher_before) and changed(model.net_g, orm_before)
    assert 'l_t_rec' not in model.get_current_log()


def test_staged_student_without_teacher_checkpoint_is_an_error(tmp_path):
    with pytest.raises(ValueError, match='pretrain_network_t'):
        SKTModel(skt_opt(tmp_path, mode='staged_student'))


def test_mismatched_teacher_checkpoint_names_the_differing_keys(tmp_path):
    """A teacher saved with other settings (here 2× the features) fails at load, naming the mismatched tensors."""
    teacher_file = tmp_path / 'net_t.pth'
    torch.save({'params': build_network(dict(TINY_SPGRM, num_feat=32)).state_dict()}, teacher_file)
    opt = skt_opt(tmp_path, mode='staged_student')
    opt['path']['pretrain_network_t'] = str(teacher_file)
    with pytest.raises(RuntimeError, match=r'does not fit SPGRM[\s\S]*of another shape'):
        SKTModel(opt)


def test_staged_teacher_keeps_the_orm_frozen(tmp_path):
    model = SKTModel(skt_opt(tmp_path, mode='staged_teacher'))
    orm_before, teacher_before = snapshot(model.net_g), snapshot(model.net_t)
    model.feed_data(batch())
    model.optimize_parameters(1)
    model.optimize_parameters(2)
    assert not changed(model.net_g, orm_before) and changed(model.net_t, teacher_before)
    assert not hasattr(model, 'net_skam') and 'l_content' not in model.get_current_log()


def test_no_distillation_during_warm_up(tmp_path):
    model = SKTModel(skt_opt(tmp_path, distill_warmup_iter=5))
    model.feed_data(batch())
    model.optimize_parameters(3)
    log = model.get_current_log()
    assert log['distill_weight'] == 0 and not {'l_content', 'l_colour', 'l_skam'} & set(log)
    model.optimize_parameters(6)
    assert {'l_content', 'l_colour', 'l_skam'} <= set(model.get_current_log())


def test_saved_net_g_is_a_plain_orm_with_identical_outputs(tmp_path):
    model = SKTModel(skt_opt(tmp_path))
    model.feed_data(batch())
    model.optimize_parameters(1)
    model.save(epoch=0, current_iter=1)
    orm = build_network(dict(TINY_HDRT)).eval()
    orm.load_state_dict(torch.load(tmp_path / 'models' / 'net_g_1.pth', weights_only=True)['params'], strict=True)
    assert sum(p.numel() for p in orm.parameters()) == sum(p.numel() for p in model.net_g.parameters())
    model.test()
    with torch.no_grad():
        expected = orm(*model.lq.unbind(1))
    torch.testing.assert_close(model.output, expected, rtol=0, atol=0)
    for name in ('net_t_1.pth', 'net_skam_1.pth'):
        assert (tmp_path / 'models' / name).is_file()


def test_resume_restores_skam_heads(tmp_path):
    model = SKTModel(skt_opt(tmp_path))
    model.feed_data(batch())
    model.optimize_parameters(1)
    model.save(epoch=0, current_iter=1)
    state = torch.load(tmp_path / 'training_states' / '1.state', weights_only=False)
    fresh = SKTModel(skt_opt(tmp_path))
    fresh.resume_training(state)
    for key, value in model.net_skam.state_dict().items():
        assert torch.equal(fresh.net_skam.state_dict()[key], value), key
    assert len(fresh.optimizers) == 2


def test_missing_skb_names_the_scenes_and_the_fix(tmp_path):
    model = SKTModel(skt_opt(tmp_path))
    model.feed_data(batch(with_skb=False))
    with pytest.raises(ValueError, match=r"semantic priors.*make_semantic_priors"):
        model.optimize_parameters(1)


def test_bad_tap_lists_module_names(tmp_path):
    with pytest.raises(KeyError, match='conv_after_body'):
        SKTModel(skt_opt(tmp_path, orm_tap='not_a_module'))


def test_skam_loss_without_tap_is_an_error(tmp_path):
    opt = skt_opt(tmp_path)
    del opt['skt']['orm_tap']
    with pytest.raises(ValueError, match='orm_tap'):
        SKTModel(opt)


def test_unknown_mode_is_an_error(tmp_path):
    with pytest.raises(ValueError, match='joint'):
        SKTModel(skt_opt(tmp_path, mode='both'))


def test_semantic_masks_follow_segments(tmp_path):
    model = SKTModel(skt_opt(tmp_path, mask={'type': 'semantic', 'ratio_max': 0.5, 'schedule': 'constant'}))
    model.feed_data(batch())
    mask = model.skam_mask(5, torch.zeros(2, 16, 16, 16))
    for item in range(2):  # two half-image segments, ratio 0.5: exactly one of them hidden
        halves = mask[item, 0, :, :8], mask[item, 0, :, 8:]
        assert sorted(h.unique().tolist() for h in halves) == [[0.0], [1.0]]


def test_skam_section_of_old_configs_is_an_error_naming_network_skam(tmp_path):
    """``skt.skam`` (before SKAM followed BasicSR's ``network_<x>`` convention) is a user error naming the new key."""
    from basicsr_skt.utils.errors import UserInputError
    opt = skt_opt(tmp_path)
    opt['skt']['skam'] = opt.pop('network_skam')
    with pytest.raises(UserInputError, match=r'skt\.skam .*network_skam.*pretrain_network_skam'):
        SKTModel(opt)


def test_network_skam_loads_from_pretrain_path_and_is_listed_for_resume(tmp_path):
    """``path.pretrain_network_skam`` (what BasicSR's check_resume sets on resume) loads the heads; the resume check
    lists ``net_skam`` only when the mode trains them."""
    from basicsr_skt import compat
    model = SKTModel(skt_opt(tmp_path))
    model.save(epoch=0, current_iter=1)
    opt = skt_opt(tmp_path)
    opt['path'].update(pretrain_network_skam=str(tmp_path / 'models' / 'net_skam_1.pth'), strict_load_skam=True)
    torch.manual_seed(123)  # other random initial heads
    loaded = SKTModel(opt)
    for key, value in model.net_skam.state_dict().items():
        assert torch.equal(loaded.net_skam.state_dict()[key], value), key
    names = [p.rsplit('/', 1)[1] for p in compat.network_files(opt, 1)]
    assert names == ['net_g_1.pth', 'net_t_1.pth', 'net_skam_1.pth']
    staged = skt_opt(tmp_path, mode='staged_teacher')
    assert [p.rsplit('/', 1)[1] for p in compat.network_files(staged, 1)] == ['net_g_1.pth', 'net_t_1.pth']
