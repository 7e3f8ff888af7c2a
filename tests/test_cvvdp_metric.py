"""ColorVideoVDP (``calculate_cvvdp``): known answers, monotonicity on a real photograph, equality with ``pycvvdp``."""
import sys

import cv2
import numpy as np
import pytest
import torch

from basicsr.metrics import calculate_metric
from basicsr_skt.metrics import MetricUnavailableError
from basicsr_skt.metrics.cvvdp_metric import JOD_MAX, calculate_cvvdp, cvvdp_inputs
from basicsr_skt.utils.hdr_io import read_hdr

pycvvdp = pytest.importorskip('pycvvdp', reason='ColorVideoVDP needs the optional cvvdp package')

#: Noise strengths (relative standard deviation of multiplicative Gaussian noise) of the monotonicity test.
NOISE_LEVELS = (0.02, 0.05, 0.1, 0.2, 0.4)


def random_hdr(seed=0, size=(64, 96)):
    """Linear relative HDR in [0, 1], mostly dark like Kalantari'17 (float32 BGR)."""
    rng = np.random.default_rng(seed)
    return (rng.random(size + (3, ))**3).astype(np.float32)


@pytest.fixture(scope='module')
def photograph(shared_dir):
    """A real HDR photograph (Adjuster.hdr), downscaled to 128 x 192 and normalised so its 99th percentile is 1."""
    img = read_hdr(str(shared_dir / 'data' / 'hdr' / 'Adjuster.hdr'))
    h, w = img.shape[:2]
    scale = 192 / max(h, w)
    img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return (img / np.percentile(img, 99)).astype(np.float32)


def test_identical_images_give_the_maximum_jod():
    gt = random_hdr()
    assert calculate_cvvdp(gt, gt.copy()) == pytest.approx(JOD_MAX, abs=1e-4)
    assert calculate_cvvdp(gt, gt.copy(), protocol='mu_law_sdr') == pytest.approx(JOD_MAX, abs=1e-4)


def test_registered_metric_through_basicsr_equals_the_function():
    gt = random_hdr(1)
    pred = np.clip(gt + 0.05 * np.random.default_rng(2).standard_normal(gt.shape), 0, 1).astype(np.float32)
    direct = calculate_cvvdp(pred, gt)
    assert 0 < direct < JOD_MAX - 0.01
    assert calculate_metric(dict(img=pred, img2=gt), dict(type='calculate_cvvdp')) == pytest.approx(direct, abs=1e-5)


def test_jod_decreases_monotonically_with_noise_on_a_real_photograph(photograph):
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(photograph.shape).astype(np.float32)
    jods = [calculate_cvvdp(np.maximum(photograph * (1 + s * noise), 0), photograph) for s in NOISE_LEVELS]
    assert jods[0] < JOD_MAX
    # Pixel-level noise on a small image seen on a 4K display from 2 display heights is hard to see: the JODs stay high
    # (about 9.9996, 9.98, 9.92, 9.7, 9.0) but fall strictly.
    assert all(a > b + 1e-4 for a, b in zip(jods, jods[1:])), jods
    assert jods[-1] < 9.5, jods
    sdr = [calculate_cvvdp(np.maximum(photograph * (1 + s * noise), 0), photograph, protocol='mu_law_sdr')
           for s in NOISE_LEVELS[1:]]
    assert all(a > b + 1e-4 for a, b in zip(sdr, sdr[1:])), sdr


def test_wrapper_equals_a_direct_pycvvdp_call(photograph):
    rng = np.random.default_rng(1)
    pred = np.maximum(photograph * (1 + 0.05 * rng.standard_normal(photograph.shape)), 0).astype(np.float32)
    # Independent conversion: BGR -> RGB, relative 1.0 -> the display's 1500 cd/m² peak.
    test_rgb = torch.from_numpy(np.ascontiguousarray(pred[..., ::-1])) * 1500.0
    ref_rgb = torch.from_numpy(np.ascontiguousarray(photograph[..., ::-1])) * 1500.0
    metric = pycvvdp.cvvdp(display_name='standard_hdr_linear', device=torch.device('cpu'), quiet=True)
    expected, _ = metric.predict(test_rgb, ref_rgb, dim_order='HWC')
    assert calculate_cvvdp(pred, photograph) == pytest.approx(float(expected), abs=1e-4)
    # Tensor input (C, H, W) and an explicit scale give the same number.
    as_tensor = torch.from_numpy(pred.transpose(2, 0, 1).copy())
    assert calculate_cvvdp(as_tensor, photograph, luminance_scale=1500.0) == pytest.approx(float(expected), abs=1e-4)
    # A dimmer presentation changes the answer (the scale is really applied).
    assert calculate_cvvdp(pred, photograph, luminance_scale=100.0) != pytest.approx(float(expected), abs=1e-3)


def test_inputs_follow_the_stated_scaling():
    gt = np.zeros((2, 2, 3), np.float32)
    gt[0, 0] = (0.25, 0.5, 1.0)  # B, G, R
    gt[1, 1] = (-0.1, 2.0, 0.0)
    test, ref = cvvdp_inputs(gt, gt, 'hdr_linear', luminance_scale=1000.0)
    assert test[0, 0].tolist() == [1000.0, 500.0, 250.0]  # RGB, cd/m²
    assert test[1, 1].tolist() == [0.0, 2000.0, 0.0]  # negatives -> 0; above 1 kept (the display clips)
    sdr, _ = cvvdp_inputs(gt, gt, 'mu_law_sdr')
    assert sdr[0, 0, 0].item() == 1.0 and sdr[1, 1, 2].item() == 0.0
    assert torch.all(torch.round(sdr * 255) == sdr * 255)  # 8-bit code values


def test_display_and_protocol_must_fit():
    gt = random_hdr()
    with pytest.raises(ValueError, match='display-encoded'):
        calculate_cvvdp(gt, gt, protocol='mu_law_sdr', display_name='standard_hdr_linear')
    with pytest.raises(ValueError, match='linear'):
        calculate_cvvdp(gt, gt, display_name='standard_4k')
    with pytest.raises(ValueError, match='Unknown ColorVideoVDP display'):
        calculate_cvvdp(gt, gt, display_name='no_such_display')
    with pytest.raises(ValueError, match='protocol'):
        calculate_cvvdp(gt, gt, protocol='pq')
    with pytest.raises(ValueError, match='shapes differ'):
        calculate_cvvdp(gt, gt[:-1])


def test_missing_package_raises_metric_unavailable(monkeypatch):
    import basicsr_skt.metrics.cvvdp_metric as module
    monkeypatch.setattr(module, '_CVVDP_CACHE', {})
    monkeypatch.setitem(sys.modules, 'pycvvdp', None)  # makes `import pycvvdp` raise ImportError
    with pytest.raises(MetricUnavailableError, match='pip install --no-deps cvvdp'):
        calculate_cvvdp(random_hdr(), random_hdr())
