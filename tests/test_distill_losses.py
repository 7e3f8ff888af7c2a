"""Content, colour and SKAM distillation losses: hand-computed values, stop-gradient on the teacher, reductions."""
import pytest
import torch

from basicsr.losses import build_loss
from basicsr_skt.losses.distill_loss import ColourDistillLoss, ContentDistillLoss, SKAMLoss, angular_error_map
from basicsr_skt.utils.tonemap import inverse_mu_law

EPS = 1e-6


def linear(tone_mapped) -> torch.Tensor:
    """Linear HDR whose μ-law is the given (float64) values, so losses can be checked in the μ-law domain."""
    return inverse_mu_law(torch.as_tensor(tone_mapped, dtype=torch.float64))


# ---------------------------------------------------------------------------------------------------------- content
def test_content_loss_known_values_and_reductions():
    student = linear([[[[0.2, 0.5], [0.9, 0.0]]]])
    teacher = linear([[[[0.4, 0.5], [0.6, 0.1]]]])
    loss = ContentDistillLoss(loss_weight=2.0)
    torch.testing.assert_close(loss(student, teacher), torch.tensor(2 * 0.15, dtype=torch.float64))
    torch.testing.assert_close(
        ContentDistillLoss(reduction='sum')(student, teacher), torch.tensor(0.6, dtype=torch.float64))
    elementwise = ContentDistillLoss(reduction='none')(student, teacher)
    torch.testing.assert_close(elementwise, torch.tensor([[[[0.2, 0.0], [0.3, 0.1]]]], dtype=torch.float64))


def test_gated_content_loss_distils_only_where_the_teacher_is_closer_to_the_gt():
    student = linear([[[[0.2, 0.5], [0.9, 0.0]]]])
    teacher = linear([[[[0.4, 0.5], [0.6, 0.1]]]])
    gt = linear([[[[0.3, 0.5], [1.0, 0.3]]]])
    # |t - y| = (0.1, 0, 0.4, 0.2), |s - y| = (0.1, 0, 0.1, 0.3): strictly closer only at (1, 1)
    gated = ContentDistillLoss(reduction='none', gate=True)(student, teacher, gt=gt)
    torch.testing.assert_close(gated, torch.tensor([[[[0.0, 0.0], [0.0, 0.1]]]], dtype=torch.float64))
    torch.testing.assert_close(ContentDistillLoss(gate=True)(student, teacher, gt=gt),
                               torch.tensor(0.1 / 4, dtype=torch.float64))  # mean over all elements
    with pytest.raises(ValueError, match='needs gt'):
        ContentDistillLoss(gate=True)(student, teacher)


# ----------------------------------------------------------------------------------------------------------- colour
def _two_segment_case():
    labels = torch.tensor([[[1, 1, 2, 2], [2, 2, 2, 2]]])  # segment 1: 2 px, segment 2: 6 px
    s1, t1 = [0.2, 0.4, 0.6], [0.3, 0.4, 0.3]
    s2_pixels = [[0.4, 0.6, 0.5], [0.6, 0.4, 0.5]] * 3  # mean (0.5, 0.5, 0.5)
    t2_pixels = [[0.5, 0.7, 0.1], [0.5, 0.7, 0.3]] * 3  # mean (0.5, 0.7, 0.2)
    student, teacher = torch.zeros(1, 3, 2, 4, dtype=torch.float64), torch.zeros(1, 3, 2, 4, dtype=torch.float64)
    for (y, x), s, t in zip([(0, 0), (0, 1)], [s1, s1], [t1, t1]):
        student[0, :, y, x], teacher[0, :, y, x] = torch.tensor(s), torch.tensor(t)
    seg2 = [(0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]
    for (y, x), s, t in zip(seg2, s2_pixels, t2_pixels):
        student[0, :, y, x], teacher[0, :, y, x] = torch.tensor(s), torch.tensor(t)
    return inverse_mu_law(student), inverse_mu_law(teacher), labels


def test_colour_term_of_two_segments_with_known_means():
    student, teacher, labels = _two_segment_case()
    # |Δ| segment 1 = (0.1, 0, 0.3) -> mean 0.4/3; segment 2 = (0, 0.2, 0.3) -> mean 0.5/3; weights 2/8 and 6/8
    expected = 2 / 8 * 0.4 / 3 + 6 / 8 * 0.5 / 3
    loss = ColourDistillLoss(beta=0.0)(student, teacher, labels)
    torch.testing.assert_close(loss, torch.tensor(expected, dtype=torch.float64))
    # the background option: label 0 absent here, so nothing changes
    torch.testing.assert_close(ColourDistillLoss(beta=0.0, ignore_background=True)(student, teacher, labels), loss)


def test_gated_colour_term_keeps_only_segments_where_the_teacher_mean_is_closer():
    student, teacher, labels = _two_segment_case()
    # GT equal to the teacher in segment 1 (teacher closer) and to the student in segment 2 (student closer)
    gt = torch.where(labels[:, None] == 1, teacher, student)
    loss = ColourDistillLoss(beta=0.0, gate=True)(student, teacher, labels, gt=gt)
    torch.testing.assert_close(loss, torch.tensor(2 / 8 * 0.4 / 3, dtype=torch.float64))
    # angular term: only the pixels of segment 1 (teacher's angle to the GT is 0 there, the student's is not)
    angles = angular_error_map(student, teacher, EPS)
    gated_angles = ColourDistillLoss(beta=1.0, gate=True, mu=1e-9)(student, teacher, labels, gt=gt) - ColourDistillLoss(
        beta=0.0, gate=True, mu=1e-9)(student, teacher, labels, gt=gt)
    assert gated_angles.item() > 0 and gated_angles.item() < angles.mean().item()


def test_colour_term_ignore_background():
    student, teacher, labels = _two_segment_case()
    labels = labels - 1  # segment 1 becomes the background 0
    torch.testing.assert_close(
        ColourDistillLoss(beta=0.0, ignore_background=True)(student, teacher, labels),
        torch.tensor(0.5 / 3, dtype=torch.float64))
    only_background = torch.zeros_like(labels)
    assert ColourDistillLoss(beta=0.0, ignore_background=True)(student, teacher, only_background) == 0


def test_colour_term_equals_content_loss_for_piecewise_constant_images():
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (2, 6, 5), generator=gen)
    colours_s, colours_t = torch.rand(2, 4, 3, generator=gen), torch.rand(2, 4, 3, generator=gen)
    paint = [torch.stack([c[b][labels[b]].permute(2, 0, 1) for b in range(2)]) for c in (colours_s, colours_t)]
    student, teacher = (inverse_mu_law(p.double()) for p in paint)
    colour = ColourDistillLoss(beta=0.0)(student, teacher, labels)
    torch.testing.assert_close(colour, ContentDistillLoss()(student, teacher))


def test_angular_term_identical_orthogonal_and_black():
    a = torch.tensor([[1., 0., 0.], [0.3, 0.2, 0.1], [0., 0., 0.], [-1., 0., 0.]]).T.reshape(1, 3, 1, 4).double()
    b = torch.tensor([[0., 1., 0.], [0.3, 0.2, 0.1], [0., 0., 0.], [1., 0., 0.]]).T.reshape(1, 3, 1, 4).double()
    err = angular_error_map(a, b, EPS)[0, 0]
    expected = [1 - EPS / (1 + EPS), 0.0, 0.0, 2 - 2 * EPS / (1 + EPS)]
    torch.testing.assert_close(err, torch.tensor(expected, dtype=torch.float64), atol=1e-12, rtol=0)


def test_colour_loss_total_with_angular_term():
    student = linear([[[[1.0]], [[0.0]], [[0.0]]]])  # T = (1, 0, 0)
    teacher = linear([[[[0.0]], [[1.0]], [[0.0]]]])  # T = (0, 1, 0)
    labels = torch.zeros(1, 1, 1, dtype=torch.long)
    loss = ColourDistillLoss(loss_weight=0.5, beta=0.1, eps=EPS)(student, teacher, labels)
    expected = 0.5 * (2 / 3 + 0.1 * (1 - EPS / (1 + EPS)))
    torch.testing.assert_close(loss, torch.tensor(expected, dtype=torch.float64))
    assert ColourDistillLoss()(student, student.clone(), labels) == 0  # identical images: exactly zero


def test_colour_loss_reductions_are_per_item():
    gen = torch.Generator().manual_seed(1)
    student, teacher = torch.rand(3, 3, 4, 4, generator=gen), torch.rand(3, 3, 4, 4, generator=gen)
    labels = torch.randint(0, 3, (3, 4, 4), generator=gen)
    per_item = ColourDistillLoss(reduction='none')(student, teacher, labels)
    assert per_item.shape == (3, )
    for b in range(3):
        torch.testing.assert_close(per_item[b],
                                   ColourDistillLoss()(student[b:b + 1], teacher[b:b + 1], labels[b:b + 1]))
    torch.testing.assert_close(ColourDistillLoss()(student, teacher, labels), per_item.mean())
    torch.testing.assert_close(ColourDistillLoss(reduction='sum')(student, teacher, labels), per_item.sum())
    torch.testing.assert_close(ColourDistillLoss()(student, teacher, labels[:, None]), per_item.mean())


# ------------------------------------------------------------------------------------------------------------- SKAM
def test_skam_loss_known_values_and_dict_form():
    pred, pred_c, target = torch.ones(2, 4, 3, 3), torch.full((2, 4, 3, 3), 3.0), torch.full((2, 4, 3, 3), 2.5)
    assert SKAMLoss()(pred, pred_c, target).item() == pytest.approx(1.5 + 0.5)
    assert SKAMLoss(loss_weight=0.1, reduction='sum')(pred, pred_c, target).item() == pytest.approx(0.1 * 72 * 2)
    torch.testing.assert_close(SKAMLoss(reduction='none')(pred, pred_c, target), torch.full((2, 4, 3, 3), 2.0))
    as_dict = {'pred': pred, 'pred_complement': pred_c, 'target': target, 'latent': pred}
    assert SKAMLoss()(as_dict) == SKAMLoss()(pred, pred_c, target)
    with pytest.raises(ValueError):
        SKAMLoss()(as_dict, pred_c)
    with pytest.raises(ValueError):
        SKAMLoss()(pred)


# ------------------------------------------------------------------------------------------ stop-gradient, contracts
def test_teacher_side_gets_no_gradient():
    gen = torch.Generator().manual_seed(2)
    student = torch.rand(2, 3, 4, 4, generator=gen).requires_grad_(True)
    teacher = torch.rand(2, 3, 4, 4, generator=gen).requires_grad_(True)
    labels = torch.randint(0, 3, (2, 4, 4), generator=gen)
    total = ContentDistillLoss()(student, teacher) + ColourDistillLoss()(student, teacher, labels)
    target = teacher.mean(1, keepdim=True).expand(2, 4, 4, 4)
    total = total + SKAMLoss()(student[:, :1].expand(2, 4, 4, 4), student[:, 1:2].expand(2, 4, 4, 4), target)
    total.backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0


@pytest.mark.parametrize('cls', [ContentDistillLoss, ColourDistillLoss, SKAMLoss])
def test_unknown_reduction_raises(cls):
    with pytest.raises(ValueError, match='reduction'):
        cls(reduction='avg')


def test_losses_build_from_the_registry_and_check_shapes():
    loss = build_loss(dict(type='ColourDistillLoss', loss_weight=0.1, beta=0.2))
    assert isinstance(loss, ColourDistillLoss) and loss.beta == 0.2 and loss.loss_weight == 0.1
    assert isinstance(build_loss(dict(type='ContentDistillLoss', loss_weight=0.5)), ContentDistillLoss)
    assert isinstance(build_loss(dict(type='SKAMLoss')), SKAMLoss)
    with pytest.raises(ValueError, match='shapes differ'):
        ContentDistillLoss()(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 5))
    with pytest.raises(ValueError, match='labels'):
        ColourDistillLoss()(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), torch.zeros(1, 4, 5, dtype=torch.long))
