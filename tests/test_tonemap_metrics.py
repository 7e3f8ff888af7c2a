"""μ-law tone mapping and the HDR metrics (PSNR-l/-μ, SSIM-l/-μ) against hand-computed values and scikit-image."""
import math

import numpy as np
import pytest
import torch
from scipy.signal import correlate2d
from skimage.metrics import structural_similarity

from basicsr.metrics import calculate_metric
from basicsr_skt.metrics.hdr_metrics import calculate_psnr_l, calculate_psnr_mu, calculate_ssim_l, calculate_ssim_mu
from basicsr_skt.utils.tonemap import inverse_mu_law, mu_law

MU = 5000.0
C1 = (0.01 * 255)**2


def textured(h: int = 40, w: int = 52, c: int = 3, seed: int = 0) -> np.ndarray:
    """Smooth-ish random HDR-like image in [0, 1] with some values above 1 (float32, H x W x C)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / 10.0
    base = 0.5 + 0.4 * np.sin(yy + xx)[..., None] * np.linspace(0.5, 1.0, c)
    return (base + 0.1 * rng.standard_normal((h, w, c))).clip(0, None).astype(np.float32) * 1.05


# ----------------------------------------------------------------------------------------------------- tone mapping
def test_mu_law_known_values():
    assert mu_law(np.array(0.0)) == 0.0
    assert mu_law(np.array(1.0)) == pytest.approx(1.0, abs=1e-15)
    assert mu_law(0.5) == pytest.approx(math.log(2501) / math.log(5001), abs=1e-15)
    assert mu_law(0.5) == pytest.approx(0.9186432719, abs=1e-10)
    # 1 + μx = sqrt(1 + μ) gives exactly one half
    assert mu_law((math.sqrt(5001) - 1) / 5000) == pytest.approx(0.5, abs=1e-14)
    assert mu_law(1.0, mu=1.0) == pytest.approx(1.0) and mu_law(3.0, mu=1.0) == pytest.approx(2.0)


def test_mu_law_types_and_dtypes():
    x32 = np.linspace(0, 1, 7, dtype=np.float32)
    assert mu_law(x32).dtype == np.float32 and inverse_mu_law(x32).dtype == np.float32
    assert mu_law(np.arange(3)).dtype == np.float64
    t = torch.linspace(0, 1, 7, dtype=torch.float64)
    out = mu_law(t)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), mu_law(t.numpy()), rtol=0, atol=1e-15)
    with pytest.raises(ValueError):
        mu_law(t, mu=0.0)


def test_mu_law_gradient_at_zero():
    x = torch.zeros(3, requires_grad=True)
    mu_law(x).sum().backward()
    # d/dx log(1 + μx) / log(1 + μ) at 0 = μ / log(1 + μ) = 5000 / 8.5173931 = 587.0342
    torch.testing.assert_close(x.grad, torch.full((3, ), 5000 / math.log(5001)))
    assert x.grad[0].item() == pytest.approx(587.0342, abs=1e-3)


def test_inverse_mu_law_round_trip():
    x = np.concatenate([np.linspace(0, 1, 101), [1e-6, 2.5]])
    np.testing.assert_allclose(inverse_mu_law(mu_law(x)), x, rtol=1e-12, atol=1e-15)
    y = torch.linspace(0, 1, 11, dtype=torch.float64, requires_grad=True)
    back = mu_law(inverse_mu_law(y))
    torch.testing.assert_close(back, y.detach())
    back.sum().backward()
    assert y.grad is not None
    assert inverse_mu_law(np.array([0.0, 1.0])) == pytest.approx([0.0, 1.0], abs=1e-15)


# --------------------------------------------------------------------------------------------------------------- PSNR
def test_psnr_l_known_mse():
    gt = textured()
    assert calculate_psnr_l(gt + np.float32(0.01), gt) == pytest.approx(40.0, abs=1e-4)  # MSE 1e-4
    assert calculate_psnr_l(gt, gt) == float('inf')
    half = np.zeros((4, 4, 3))
    half[:2] = 1.0  # MSE 0.5 -> 10 log10(2)
    assert calculate_psnr_l(half, np.zeros_like(half)) == pytest.approx(10 * math.log10(2), abs=1e-12)


def test_psnr_l_is_not_clipped():
    gt = np.full((8, 8, 3), 1.0)
    assert calculate_psnr_l(gt + 1.0, gt) == pytest.approx(0.0, abs=1e-12)  # error 1 above the range still counts


def test_psnr_mu_known_values():
    zeros = np.zeros((6, 7, 3))
    c = (5001**0.1 - 1) / 5000  # μ-law of c is 0.1 -> MSE 0.01 against black -> 20 dB
    assert calculate_psnr_mu(np.full_like(zeros, c), zeros) == pytest.approx(20.0, abs=1e-9)
    half = zeros.copy()
    half[:3] = 1.0  # μ-law keeps 0 and 1 -> MSE 0.5
    assert calculate_psnr_mu(half, zeros) == pytest.approx(10 * math.log10(2), abs=1e-12)
    # a different μ changes the value: μ = 1, x = 1 vs 3 -> T = 1 vs 2 -> MSE 1 -> 0 dB
    assert calculate_psnr_mu(np.ones((4, 4)), np.full((4, 4), 3.0), mu=1.0) == pytest.approx(0.0, abs=1e-12)
    assert calculate_psnr_mu(zeros, zeros) == float('inf')


def test_psnr_crop_border():
    pred, gt = textured(seed=1), textured(seed=2)
    expected = calculate_psnr_l(pred[3:-3, 3:-3], gt[3:-3, 3:-3])
    assert calculate_psnr_l(pred, gt, crop_border=3) == pytest.approx(expected, abs=1e-12)
    assert calculate_psnr_l(pred, gt, crop_border=3) != pytest.approx(calculate_psnr_l(pred, gt), abs=1e-6)


# --------------------------------------------------------------------------------------------------------------- SSIM
def test_ssim_identical_is_one():
    img = textured()
    assert calculate_ssim_l(img, img) == pytest.approx(1.0, abs=1e-12)
    assert calculate_ssim_mu(img, img) == pytest.approx(1.0, abs=1e-12)


def test_ssim_constant_images_hand_computed():
    # Flat images: σ = 0, so SSIM = (2 a b + C1) / (a² + b² + C1) with a, b on the 0..255 scale.
    a, b = 0.5 * 255, 0.25 * 255
    expected = (2 * a * b + C1) / (a * a + b * b + C1)
    assert expected == pytest.approx(16262.7525 / 20326.815, abs=1e-12)  # = 0.800064
    pred, gt = np.full((16, 20, 3), 0.5), np.full((16, 20, 3), 0.25)
    assert calculate_ssim_l(pred, gt) == pytest.approx(expected, abs=1e-9)
    # SSIM-μ: the same formula on the tone-mapped levels
    ta, tb = 255 * math.log1p(MU * 0.5) / math.log1p(MU), 255 * math.log1p(MU * 0.25) / math.log1p(MU)
    assert calculate_ssim_mu(pred, gt) == pytest.approx((2 * ta * tb + C1) / (ta * ta + tb * tb + C1), abs=1e-9)


def test_ssim_clips_scaled_values():
    gt = np.full((12, 12, 3), 1.0)
    assert calculate_ssim_l(gt * 2.0, gt) == pytest.approx(1.0, abs=1e-12)  # 2 x 255 clips to 255
    assert calculate_ssim_mu(gt * 2.0, gt) == pytest.approx(1.0, abs=1e-12)  # μ-law(2) > 1 also clips
    assert calculate_psnr_l(gt * 2.0, gt) == pytest.approx(0.0, abs=1e-12)  # ...while PSNR does not clip


@pytest.mark.parametrize('channels', [1, 3])
def test_ssim_matches_skimage_gaussian_valid_region(channels):
    """scikit-image with the same Gaussian window averages the SSIM map over the region 5 px inside the border,
    which is exactly the "valid" region: the values must agree to rounding error, whatever its border mode."""
    pred, gt = textured(c=channels, seed=3), textured(c=channels, seed=4)
    kwargs = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=2)

    def reference(x, y):
        x, y = x.astype(np.float64), y.astype(np.float64)
        return structural_similarity(np.clip(x * 255.0, 0, 255), np.clip(y * 255.0, 0, 255), **kwargs)

    assert (pred > 1).any()  # the clipping is exercised
    assert calculate_ssim_l(pred, gt) == pytest.approx(reference(pred, gt), abs=1e-10)
    tm_pred, tm_gt = mu_law(pred.astype(np.float64)), mu_law(gt.astype(np.float64))
    assert calculate_ssim_mu(pred, gt) == pytest.approx(reference(tm_pred, tm_gt), abs=1e-10)
    assert 0.05 < calculate_ssim_l(pred, gt) < 0.99  # a non-trivial case


def test_ssim_matches_valid_correlation_formula():
    """Direct transcription of the definition with 'valid' 2-D correlation (no border handling at all)."""
    pred, gt = textured(h=24, w=30, seed=10), textured(h=24, w=30, seed=11)
    g = np.exp(-np.arange(-5, 6)**2 / (2 * 1.5**2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    c2 = (0.03 * 255)**2
    values = []
    for c in range(3):
        x, y = (np.clip(im[..., c].astype(np.float64) * 255, 0, 255) for im in (pred, gt))
        m_x, m_y = (correlate2d(im, window, mode='valid') for im in (x, y))
        v_x = correlate2d(x * x, window, mode='valid') - m_x**2
        v_y = correlate2d(y * y, window, mode='valid') - m_y**2
        cov = correlate2d(x * y, window, mode='valid') - m_x * m_y
        ssim_map = (2 * m_x * m_y + C1) * (2 * cov + c2) / ((m_x**2 + m_y**2 + C1) * (v_x + v_y + c2))
        assert ssim_map.shape == (24 - 10, 30 - 10)
        values.append(ssim_map.mean())
    assert calculate_ssim_l(pred, gt) == pytest.approx(np.mean(values), abs=1e-10)


def test_ssim_valid_region_covers_corners_and_needs_a_full_window():
    gt = textured(seed=5)
    pred = gt.copy()
    pred[0, 0] += 0.5  # a corner pixel lies in the window of the first valid position
    assert calculate_ssim_l(pred, gt) < 1.0
    # No padded position is used, so an image smaller than the window has no SSIM at all.
    with pytest.raises(ValueError, match='at least 11'):
        calculate_ssim_l(gt[:10], gt[:10])


# ------------------------------------------------------------------------------------------------ inputs and registry
def test_tensor_and_numpy_inputs_agree():
    pred, gt = textured(seed=6), textured(seed=7)
    t_pred, t_gt = torch.from_numpy(pred).permute(2, 0, 1), torch.from_numpy(gt).permute(2, 0, 1)
    for metric in (calculate_psnr_l, calculate_psnr_mu, calculate_ssim_l, calculate_ssim_mu):
        ref = metric(pred, gt)
        assert metric(t_pred, t_gt) == pytest.approx(ref, abs=1e-12)
        assert metric(t_pred[None], t_gt[None]) == pytest.approx(ref, abs=1e-12)
        assert metric(t_pred.double().requires_grad_(), gt) == pytest.approx(ref, abs=1e-12)


def test_invalid_inputs():
    img = textured()
    with pytest.raises(ValueError, match='shapes differ'):
        calculate_psnr_l(img, img[:-1])
    with pytest.raises(ValueError, match='batch'):
        calculate_psnr_mu(torch.zeros(2, 3, 16, 16), torch.zeros(2, 3, 16, 16))


def test_registered_and_usable_through_basicsr():
    pred, gt = textured(seed=8), textured(seed=9)
    data = {'img': pred, 'img2': gt}
    for name, func in (('calculate_psnr_l', calculate_psnr_l), ('calculate_psnr_mu', calculate_psnr_mu),
                       ('calculate_ssim_l', calculate_ssim_l), ('calculate_ssim_mu', calculate_ssim_mu)):
        opt = {'type': name, 'crop_border': 0, 'better': 'higher'}
        assert calculate_metric(data, opt) == pytest.approx(func(pred, gt), abs=1e-12)
    other_mu = calculate_metric(data, dict(type='calculate_psnr_mu', mu=10.0))
    assert other_mu == pytest.approx(calculate_psnr_mu(pred, gt, mu=10.0), abs=1e-12)
    assert other_mu != pytest.approx(calculate_psnr_mu(pred, gt), abs=1e-3)
