"""Whether SKT's terms can carry the teacher's knowledge (issue 19): gradients of the distillation terms, SKAM's
context, the mask schedule, the teacher on held-out scenes, teacher options, no_semantics inputs, diagnostics.

Finding 1 (a hard-gated L1 term is a re-weighted reconstruction loss) is documented here with the hard gate; the
shipped default (soft gate, Charbonnier) is shown to carry the teacher's values.
"""
import copy
import dataclasses

import numpy as np
import pytest
import torch
from helpers import OPTIONS_DIR, TINY_HDRT, load_script
from test_skt_model import EMBED_CHANNELS, TINY_SKAM, TINY_SPGRM, batch, changed, skt_opt, snapshot

from basicsr_skt.archs.skam_arch import SKAM
from basicsr_skt.losses.distill_loss import ColourDistillLoss, ContentDistillLoss, SKAMLoss, grid_labels
from basicsr_skt.losses.hdr_loss import MuLawL1Loss
from basicsr_skt.models.hdr_model import HDRModel
from basicsr_skt.models.skt_model import SKTModel, gradient_cosine
from basicsr_skt.utils.masks import random_patch_mask
from basicsr_skt.utils.option_checks import load_options_yaml
from basicsr_skt.utils.tonemap import mu_law

DEMO_OPT = load_options_yaml(str(OPTIONS_DIR / 'demo' / 'train_demo_skt_hdrtransformer.yml'))
DEMO_SKT, DEMO_SKAM = DEMO_OPT['skt'], DEMO_OPT['network_skam']


def shipped_loss(cls, section):
    opt = {k: v for k, v in DEMO_SKT[section].items() if k != 'type'}
    return cls(**opt)


def content_case(offset: float):
    """Student, GT and a teacher closer to the GT than the student everywhere, on the same side of the student.

    In μ-law space: t_O = t_Y + 0.04, t_S = t_Y + offset · u with u uniform in [0.5, 1.5) and offset · 1.5 < 0.04,
    so the hard gate is open everywhere and sign(t_O - t_S) = sign(t_O - t_Y) = +1.
    """
    torch.manual_seed(0)
    gt_tm = 0.2 + 0.6 * torch.rand(1, 3, 6, 6, dtype=torch.float64)
    inv = lambda t: ((1 + 5000.0)**t - 1) / 5000.0  # noqa: E731  inverse μ-law
    student = inv(gt_tm + 0.04).requires_grad_(True)
    teacher = inv(gt_tm + offset * (0.5 + torch.rand_like(gt_tm)))
    return student, teacher, inv(gt_tm)


def grad(loss_fn, student, *args, **kwargs):
    student.grad = None
    loss_fn(student, *args, **kwargs).backward()
    return student.grad.clone()


# ----------------------------------------------------------------------------------------------- finding 1: content
def test_hard_gated_l1_content_gradient_is_the_reconstruction_gradient():
    """Finding 1: wherever the gate is open, the gradient equals λ times the reconstruction L1's, pixel by pixel."""
    student, teacher, gt = content_case(0.02)
    hard = ContentDistillLoss(loss_weight=0.5, gate='hard')
    g_content = grad(hard, student, teacher, gt=gt)
    g_rec = grad(MuLawL1Loss(), student, gt)
    torch.testing.assert_close(g_content, 0.5 * g_rec, rtol=1e-9, atol=0)
    # and the teacher's values do not matter: another teacher, still closer to the GT on the same side
    _, other_teacher, _ = content_case(0.01)
    torch.testing.assert_close(grad(hard, student, other_teacher, gt=gt), g_content, rtol=1e-9, atol=0)


def test_shipped_content_gradient_carries_the_teachers_values():
    student, teacher, gt = content_case(0.02)
    shipped = shipped_loss(ContentDistillLoss, 'content_opt')
    assert shipped.gate == 'soft' and shipped.criterion == 'charbonnier'
    g_content = grad(shipped, student, teacher, gt=gt)
    g_rec = grad(MuLawL1Loss(), student, gt)
    ratio = g_content / g_rec
    assert (ratio > 0).all()  # same direction per pixel (the teacher is right here) ...
    assert ratio.max() / ratio.min() > 1.5  # ... but not one multiple: the size of the pull varies with the teacher
    _, other_teacher, _ = content_case(0.01)
    g_other = grad(shipped, student, other_teacher, gt=gt)
    assert (g_other - g_content).abs().max() > 1e-3 * g_content.abs().max()  # depends on the teacher's values


def test_blended_target_and_soft_gate_values():
    student = torch.full((1, 1, 1, 2), 0.5, dtype=torch.float64)
    teacher = torch.tensor([[[[0.3, 0.6]]]], dtype=torch.float64)
    gt = torch.full_like(student, 0.4)
    t_o, t_s, t_y = (mu_law(x) for x in (student, teacher, gt))
    blend = ContentDistillLoss(alpha=0.25, criterion='l2', reduction='none')(student, teacher, gt=gt)
    torch.testing.assert_close(blend, (t_o - (0.25 * t_s + 0.75 * t_y)).square())
    soft = ContentDistillLoss(gate='soft', gate_temperature=0.05, reduction='none')(student, teacher, gt=gt)
    weight = torch.sigmoid(((t_o - t_y).abs() - (t_s - t_y).abs()) / 0.05)
    torch.testing.assert_close(soft, (t_o - t_s).abs() * weight)
    with pytest.raises(ValueError, match='gate'):
        ContentDistillLoss(gate='sometimes')


# ------------------------------------------------------------------------------------------------ finding 1: colour
def colour_case(offset: float):
    """Piecewise-constant images on two segments; teacher means closer to the GT's, same side as the student's."""
    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    labels[:, :, 2:] = 1
    inv = lambda t: ((1 + 5000.0)**t - 1) / 5000.0  # noqa: E731
    gt_tm = torch.rand(1, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 0.4 + 0.3
    student = inv(gt_tm + 0.1).requires_grad_(True)
    teacher = inv(gt_tm + offset)
    return student, teacher, inv(gt_tm), labels


def test_hard_gated_colour_region_term_is_the_same_term_toward_the_gt():
    student, teacher, gt, labels = colour_case(0.05)
    hard = ColourDistillLoss(beta=0.0, gate='hard')
    g_hard = grad(hard, student, teacher, labels, gt=gt)
    g_gt = grad(ColourDistillLoss(beta=0.0), student, gt, labels)  # region means pulled to the GT's
    torch.testing.assert_close(g_hard, g_gt, rtol=1e-9, atol=0)
    _, other, _, _ = colour_case(0.02)
    torch.testing.assert_close(grad(hard, student, other, labels, gt=gt), g_hard, rtol=1e-9, atol=0)


def test_shipped_colour_gradient_carries_the_teachers_values():
    student, teacher, gt, labels = colour_case(0.05)
    shipped = shipped_loss(ColourDistillLoss, 'colour_opt')
    shipped.beta = 0.0  # the region term alone (the angular term's gradient always depends on the teacher)
    _, other, _, _ = colour_case(0.02)
    g_a, g_b = grad(shipped, student, teacher, labels, gt=gt), grad(shipped, student, other, labels, gt=gt)
    assert (g_a - g_b).abs().max() > 1e-3 * g_a.abs().max()


def test_grid_regions_need_no_labels_and_ignore_them():
    student, teacher, _, labels = colour_case(0.05)
    grid = ColourDistillLoss(regions='grid', grid_size=2)
    torch.testing.assert_close(grid(student, teacher), grid(student, teacher, labels + 5))
    torch.testing.assert_close(grid(student, teacher), ColourDistillLoss()(student, teacher, grid_labels(1, 4, 4, 2)))
    assert grid_labels(1, 3, 5, 2)[0].tolist() == [[0, 0, 1, 1, 2], [0, 0, 1, 1, 2], [3, 3, 4, 4, 5]]
    with pytest.raises(ValueError, match='regions'):
        ColourDistillLoss(regions='labels')(student, teacher)


# ------------------------------------------------------------------------------------------------ finding 2: SKAM
def autograd_context_share(skam: SKAM, mask: torch.Tensor) -> float:
    """Share of hidden positions (both passes) whose prediction has a non-zero gradient w.r.t. the visible latent."""
    torch.manual_seed(0)
    latent = torch.randn(1, skam.latent_dim, *mask.shape[-2:], dtype=torch.float64, requires_grad=True)
    skam = skam.double()
    seen = hidden = 0
    for keep in (mask.double(), 1 - mask.double()):
        pred = skam.generator(skam.fill(latent, keep))
        for i, j in (keep[0, 0] == 0).nonzero().tolist():
            (g, ) = torch.autograd.grad(pred[0, :, i, j].sum(), latent, retain_graph=True)
            seen += int((g * keep).abs().sum() > 0)
            hidden += 1
    return seen / hidden


@pytest.mark.parametrize('ratio_key', ['ratio_min', 'ratio_max'])
def test_shipped_skam_hidden_positions_see_the_orm_latent(ratio_key):
    """≥ 95 % of the hidden positions depend on the ORM's latent (autograd), at both ends of the ratio ramp."""
    skam_opt = {k: v for k, v in DEMO_SKAM.items() if k != 'type'}
    skam = SKAM(**skam_opt)
    h, w = skam.latent_size(64, 64)  # the demo's 64-px crops
    shares = []
    for seed in range(3):
        mask = random_patch_mask(
            1,
            h,
            w,
            DEMO_SKT['mask']['patch_size'],
            DEMO_SKT['mask'][ratio_key],
            generator=torch.Generator().manual_seed(seed))
        share = autograd_context_share(skam, mask)
        assert share == pytest.approx(float(skam.context_share(mask)), abs=1e-9)  # structural == autograd
        shares.append(share)
    assert np.mean(shares) >= 0.95


def test_first_skam_design_leaves_most_hidden_positions_without_context():
    """Finding 2: 8-px patches at full resolution with a 5 x 5 generator: well under half see visible latent."""
    skam = SKAM(orm_channels=4, teacher_channels=4, latent_dim=4)  # generator_layers 2, latent_stride 1
    mask = random_patch_mask(1, 32, 32, 8, 0.5, generator=torch.Generator().manual_seed(0))
    assert float(skam.context_share(mask)) < 0.6


def test_skam_latent_grid_taps_and_hidden_position_loss():
    torch.manual_seed(0)
    skam = SKAM(orm_channels=5, teacher_channels=4, latent_dim=3, latent_stride=2, generator_layers=3)
    assert len([m for m in skam.generator if isinstance(m, torch.nn.Conv2d)]) == 3
    taps = [torch.randn(1, 2, 8, 8), torch.randn(1, 3, 4, 4)]
    teacher = torch.randn(1, 4, 8, 8)
    mask = random_patch_mask(1, 4, 4, 1, 0.5, generator=torch.Generator().manual_seed(0))
    out = skam(taps, teacher, mask)
    assert out['pred'].shape == (1, 3, 4, 4)
    upsampled = torch.nn.functional.interpolate(taps[1], size=(8, 8), mode='bilinear', align_corners=False)
    pooled = torch.nn.functional.avg_pool2d(torch.cat([taps[0], upsampled], 1), 2)
    torch.testing.assert_close(out['latent'], skam.proj_orm(pooled))
    hidden = SKAMLoss(positions='hidden')(out)
    m = mask
    expected = ((out['pred'] - out['target']).abs() *
                (1 - m)).sum() / ((1 - m).sum() * 3) + ((out['pred_complement'] - out['target']).abs() * m).sum() / (
                    m.sum() * 3)
    torch.testing.assert_close(hidden, expected)


# --------------------------------------------------------------------------------------- finding 3: mask schedule
def test_mask_ratio_ramps_over_the_distillation_period(tmp_path):
    opt = skt_opt(tmp_path, distill_warmup_iter=4)
    opt['skt']['mask'].update(ratio_min=0.25, ratio_max=0.5, ramp_fraction=0.5)
    model = SKTModel(opt)  # total_iter 10: the ramp runs from 4 to 4 + 0.5 * 6 = 7
    ratios = [model.current_mask_ratio(it) for it in (0, 4, 5, 7, 10)]
    assert ratios == pytest.approx([0.25, 0.25, 0.25 + 0.25 / 3, 0.5, 0.5])


# ---------------------------------------------------------------------------- finding 5: the teacher on validation
class RecordingTB:

    def __init__(self):
        self.scalars, self.images = {}, {}

    def add_scalar(self, tag, value, step):
        self.scalars[tag] = value

    def add_image(self, tag, image, step):
        self.images[tag] = image


class ListLoader(list):
    """A list of batches with the ``dataset.opt['name']`` BasicSR's validation reads."""

    class _Dataset:
        opt = {'name': 'heldout'}

    dataset = _Dataset()


def val_batches(with_skb=True, size=16):
    batches = []
    for i in range(2):
        data = batch(size=size, batch_size=1, with_skb=with_skb)
        data['scene'] = [f'v{i}']
        batches.append(data)
    return batches


def test_validation_scores_the_teacher_beside_the_prior_free_orm(tmp_path):
    opt = skt_opt(tmp_path, val_teacher_zeroed_priors=True)
    opt['val']['num_tb_images'] = 1
    model = SKTModel(opt)
    model.feed_data(batch())
    model.optimize_parameters(1)  # the teacher is no longer the identity
    tb = RecordingTB()
    model.validation(ListLoader(val_batches()), 1, tb, save_img=False)
    results = model.metric_results
    assert {'psnr_mu', 'teacher_psnr_mu', 'teacher0_psnr_mu', 'teacher_ssim_l'} <= set(results)
    assert results['teacher_psnr_mu'] != results['psnr_mu']
    assert 'metrics/heldout/teacher_psnr_mu' in tb.scalars
    (image, ) = tb.images.values()
    assert image.shape == (3, 16, 4 * 16)  # ORM | teacher | teacher with zeroed priors | GT
    # the ORM's own inference never reads the priors
    model.feed_data(val_batches()[0])
    model.test()
    with_priors = model.output.clone()
    model.feed_data(val_batches(with_skb=False)[0])
    model.test()
    torch.testing.assert_close(model.output, with_priors, rtol=0, atol=0)
    assert model.side_outputs == {}  # a semantic teacher without priors is not scored


def test_with_ema_the_teacher_refines_the_live_orm_it_is_trained_with(tmp_path):
    """EMA runs validate the EMA ORM; the teacher sees the live ORM's output (its training input), scored as live_."""
    opt = skt_opt(tmp_path)
    opt['train']['ema_decay'] = 0.999
    model = SKTModel(opt)
    model.feed_data(batch())
    model.optimize_parameters(1)  # live and EMA weights now differ
    model.feed_data(val_batches()[0])
    model.test()
    live = model.get_bare_model(model.net_g).eval()
    with torch.no_grad():
        expected_live = model.infer(live, model.lq)
        teacher = model.teacher_validation.validation_teacher().eval()
        expected_teacher = model.teacher_validation.infer_teacher(teacher, expected_live)
    assert not torch.allclose(model.output, expected_live)  # the validated (EMA) ORM is another network
    torch.testing.assert_close(model.side_outputs['live_'], expected_live, rtol=0, atol=0)
    torch.testing.assert_close(model.side_outputs['teacher_'], expected_teacher, rtol=1e-5, atol=1e-6)
    model.validation(ListLoader(val_batches()), 1, None, save_img=False)
    assert {'psnr_mu', 'live_psnr_mu', 'teacher_psnr_mu'} <= set(model.metric_results)
    assert model.metric_results['live_psnr_mu'] != model.metric_results['psnr_mu']


def test_teacher_without_semantics_is_validated_without_priors(tmp_path):
    opt = skt_opt(tmp_path)
    opt['network_t']['use_semantics'] = False
    model = SKTModel(opt)
    model.validation(ListLoader(val_batches(with_skb=False)), 1, None, save_img=False)
    assert 'teacher_psnr_mu' in model.metric_results and 'teacher0_psnr_mu' not in model.metric_results


def test_tiled_teacher_validation_equals_whole_image(tmp_path):
    model = SKTModel(skt_opt(tmp_path))
    model.feed_data(val_batches(size=24)[0])
    model.test()
    whole = model.side_outputs['teacher_']
    model.val_options = dataclasses.replace(model.val_options, tile=24, tile_overlap=8)  # one tile: exact
    model.test()
    torch.testing.assert_close(model.side_outputs['teacher_'], whole, atol=1e-6, rtol=0)
    model.val_options = dataclasses.replace(model.val_options, tile=16, tile_overlap=8)  # real tiles: approximate
    model.test()  # (segment means are per tile)
    tiled = model.side_outputs['teacher_']
    assert tiled.shape == whole.shape and (tiled - whole).abs().mean() < 0.05


# ----------------------------------------------------------------------------------- finding 5/6: teacher options
def test_all_frames_teacher_input_and_ema_teacher(tmp_path):
    opt = skt_opt(tmp_path, teacher_input='all_frames', teacher_ema_decay=0.5)
    opt['network_t']['ref_channels'] = 18
    model = SKTModel(opt)
    before = {k: v.clone() for k, v in model.net_t_ema.state_dict().items()}
    model.feed_data(batch())
    model.optimize_parameters(1)
    live = model.get_bare_model(model.net_t).state_dict()
    for name, value in model.net_t_ema.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.5 * before[name] + 0.5 * live[name])
    assert not any(p.requires_grad for p in model.net_t_ema.parameters())
    model.save(0, 1)
    saved = torch.load(tmp_path / 'models' / 'net_t_1.pth', weights_only=True)
    assert set(saved) == {'params', 'params_ema'}


def test_no_semantics_run_reads_no_label_map(tmp_path):
    """With a teacher without priors, the colour term (regions: auto) uses the fixed grid: batches need no SKB."""
    opt = skt_opt(tmp_path)
    opt['network_t']['use_semantics'] = False
    opt['skt']['colour_opt'].update(regions='auto', grid_size=4)
    model = SKTModel(opt)
    model.feed_data(batch(with_skb=False))
    model.optimize_parameters(1)  # the teacher starts as the identity: nothing to distil yet
    model.optimize_parameters(2)
    assert model.get_current_log()['l_colour'] > 0


def test_staged_student_from_scratch_warns(tmp_path, caplog):
    opt = skt_opt(tmp_path, mode='staged_student')
    net_t = SKTModel(skt_opt(tmp_path)).net_t
    path = tmp_path / 'teacher.pth'
    torch.save({'params': net_t.state_dict()}, path)
    opt['path']['pretrain_network_t'] = str(path)
    messages = []
    import logging
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger('basicsr').addHandler(handler)
    try:
        SKTModel(opt)
    finally:
        logging.getLogger('basicsr').removeHandler(handler)
    assert any('from scratch' in m for m in messages)


def test_test_configs_prefer_ema_weights_and_accept_plain_checkpoints(tmp_path):
    for name in ('test_hdrtransformer.yml', 'demo/test_demo_hdrtransformer.yml'):
        assert load_options_yaml(str(OPTIONS_DIR / name))['path']['param_key_g'] == 'params_ema'
    from test_hdr_model import model_opt
    model = HDRModel(model_opt(tmp_path, is_train=False))
    net = model.net_g
    plain = {k: torch.full_like(v, 0.25) for k, v in net.state_dict().items()}
    ema = {k: torch.full_like(v, 0.5) for k, v in net.state_dict().items()}
    torch.save({'params': plain}, tmp_path / 'plain.pth')
    torch.save({'params': plain, 'params_ema': ema}, tmp_path / 'both.pth')
    model.load_network(net, str(tmp_path / 'plain.pth'), True, 'params_ema')
    assert all(torch.equal(v, plain[k]) for k, v in net.named_parameters())
    model.load_network(net, str(tmp_path / 'both.pth'), True, 'params_ema')
    assert all(torch.equal(v, ema[k]) for k, v in net.named_parameters())


# ---------------------------------------------------------------------------------------------- diagnostics, taps
def test_gradient_cosine_known_values():
    a = [torch.tensor([1.0, 0.0]), torch.tensor([0.0])]
    assert float(gradient_cosine(a, [torch.tensor([2.0, 0.0]), None])) == pytest.approx(1.0)
    assert float(gradient_cosine(a, [torch.tensor([0.0, 1.0]), torch.tensor([0.0])])) == pytest.approx(0.0)
    assert float(gradient_cosine(a, [torch.tensor([-3.0, 0.0]), torch.tensor([0.0])])) == pytest.approx(-1.0)


def test_grad_cosine_diagnostics_and_context_share_are_logged(tmp_path):
    opt = skt_opt(tmp_path, diagnostics={'grad_cosine_freq': 1}, orm_tap=['conv_after_body:input', 'conv_first'])
    opt['network_skam'].update(orm_channels=2 * TINY_HDRT['embed_dim'], latent_stride=2, generator_layers=2)
    opt['skt']['mask'].update(patch_size=2)
    opt['skt']['content_opt'].update(gate='hard')
    opt['skt']['skam_opt'].update(positions='hidden')
    torch.manual_seed(0)
    model = SKTModel(opt)
    model.feed_data(batch())
    model.optimize_parameters(1)  # the teacher starts as the identity: its first targets equal the ORM output
    model.optimize_parameters(2)
    log = model.get_current_log()
    for term in ('l_content', 'l_colour', 'l_skam'):
        assert -1 <= log[f'cos_{term}'] <= 1 and log[f'gnr_{term}'] > 0
    # No sign is asserted for the hard-gated content term: it re-weights the reconstruction gradient per pixel (finding
    # 1, tested on the output above), and a per-pixel re-weighting can point anywhere in parameter space.
    assert 0 < log['skam_context_share'] <= 1
    output, _ = model.forward_student()
    l_rec, _ = model.reconstruction_loss(output, model.gt)
    cosines = model.gradient_cosines(l_rec, {'twice': 2 * l_rec, 'against': -0.5 * l_rec})
    assert float(cosines['cos_twice']) == pytest.approx(1.0, abs=1e-5)
    assert float(cosines['cos_against']) == pytest.approx(-1.0, abs=1e-5)
    assert float(cosines['gnr_twice']) == pytest.approx(2.0, rel=1e-5)  # pulls twice as hard as L_rec
    assert float(cosines['gnr_against']) == pytest.approx(0.5, rel=1e-5)


def test_shipped_skt_sections_build_and_step(tmp_path):
    """The demo config's skt and network_skam sections (the shipped defaults) on a tiny ORM and teacher: one step."""
    opt = skt_opt(tmp_path)
    skt = copy.deepcopy(DEMO_SKT)
    opt['network_skam'] = dict(DEMO_SKAM, orm_channels=TINY_HDRT['embed_dim'], teacher_channels=16)
    skt.update(distill_warmup_iter=0)
    opt['skt'] = skt
    model = SKTModel(opt)
    model.feed_data(batch(size=16))
    model.optimize_parameters(1)
    log = model.get_current_log()
    assert {'l_content', 'l_colour', 'l_skam', 'skam_context_share'} <= set(log)
    assert EMBED_CHANNELS == opt['network_t']['embed_channels']


def test_benchmark_phase_timer_attributes_nested_time_exclusively(monkeypatch):
    """bench_train_step's parts add up to the step: nested phases are subtracted from their caller (fake clock)."""
    bench = load_script('bench_train_step', folder='benchmarks')
    clock = [0.0]
    monkeypatch.setattr(bench.time, 'perf_counter', lambda: clock[0])

    class Step:

        def inner(self):
            clock[0] += 2.0

        def outer(self):
            clock[0] += 1.0
            self.inner()
            clock[0] += 0.5

    step = Step()
    timer = bench.PhaseTimer()
    timer.wrap(step, 'outer', 'outer')
    timer.wrap(step, 'inner', 'inner')
    step.outer()
    assert timer.take() == {}  # disabled: nothing recorded
    timer.enabled = True
    step.outer()
    assert timer.take() == {'outer': 1.5, 'inner': 2.0}


def test_benchmark_staged_row_trains_the_orm_under_a_frozen_teacher(tmp_path):
    """bench_train_step's ``student`` row is the stage-2 step of the shipped recipe: it starts from the saved ORM and
    teacher, updates the ORM and leaves the teacher as loaded (the joint row updates both)."""
    bench = load_script('bench_train_step', folder='benchmarks')
    config = dict(DEMO_OPT, network_g=dict(TINY_HDRT), network_t=dict(TINY_SPGRM), network_skam=dict(TINY_SKAM))
    models = {kind: bench.build(kind, config, str(tmp_path)) for kind in ('skt', 'student')}
    saved = torch.load(tmp_path / 'net_t_frozen.pth', weights_only=True)['params']
    moved = {}
    for kind, model in models.items():
        before = {name: snapshot(getattr(model, name)) for name in ('net_g', 'net_t')}
        bench.step_seconds(model, bench.batch(2, 16, EMBED_CHANNELS), 10**6)
        moved[kind] = tuple(bool(changed(getattr(model, name), before[name])) for name in ('net_g', 'net_t'))
    assert models['student'].skt.mode == 'staged_student'
    assert changed(models['student'].net_t, saved) == []
    assert moved == {'skt': (True, True), 'student': (True, False)}


def test_training_pipeline_logs_the_teachers_held_out_metrics(tmp_path):
    """``python -m basicsr_skt.train`` with the shipped SKT defaults: the teacher (here one without priors, so that the
    validation split needs none) is scored at validation, and the diagnostics are logged."""
    from helpers import add_fake_priors, dump_yaml, make_tiny_demo, run_python, tiny_skt_options
    demo = make_tiny_demo(tmp_path / 'demo', num_train=1, num_val=1)
    add_fake_priors(demo, channels=512)
    opt = tiny_skt_options(demo, 'teacher_val', total_iter=2)
    opt['network_t']['use_semantics'] = False
    opt['val'].update(val_freq=2)
    opt['skt']['diagnostics'] = {'grad_cosine_freq': 1}
    opt['logger'].update(print_freq=1)
    config = dump_yaml(opt, tmp_path / 'teacher_val.yml')
    log = run_python(['-m', 'basicsr_skt.train', '-opt', str(config)], cwd=tmp_path)
    assert 'teacher_psnr_mu' in log
    assert 'cos_l_content' in log and 'skam_context_share' in log


def test_input_tap_reads_the_body_output_before_conv_after_body():
    from basicsr.archs import build_network
    from basicsr_skt.utils.feature_tap import FeatureTap
    torch.manual_seed(0)
    net = build_network(dict(TINY_HDRT)).eval()
    seen = {}
    handle = net.conv_after_body.register_forward_pre_hook(lambda module, args: seen.update(x=args[0]))
    tap = FeatureTap(net, 'conv_after_body:input')
    with torch.no_grad(), tap:
        net(*[torch.rand(1, 6, 16, 16)] * 3)
    handle.remove()
    assert torch.equal(tap.pop(), seen['x'])
    with pytest.raises(KeyError, match='conv_after_body'):
        FeatureTap(net, 'conv_after_bdy:input')
