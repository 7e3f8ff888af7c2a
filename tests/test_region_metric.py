"""Region metrics: masks from the input frames (saturated / dark, motion, rest) and PSNR-μ / SSIM-μ inside them."""
import math

import numpy as np
import pytest
import torch
from basicsr.metrics import calculate_metric

import basicsr_skt  # noqa: F401  (registers the metrics)
from basicsr_skt.metrics.hdr_metrics import calculate_psnr_mu, calculate_ssim_mu
from basicsr_skt.metrics.region_metric import (REGIONS, masked_psnr, metric_frame_inputs, region_masks)
from basicsr_skt.models.hdr_model import HDRModel
from basicsr_skt.models.val_display import SRGBDisplay
from basicsr_skt.utils.tonemap import mu_law

TIMES = np.array([1.0, 4.0, 16.0])


def capture(radiance: np.ndarray) -> list:
    """Noise-free gamma-2.2 frames of ``radiance`` (H, W, 3) at TIMES, clipped at 1."""
    return [np.clip(radiance * t, 0.0, 1.0)**(1 / 2.2) for t in TIMES]


@pytest.fixture()
def scene():
    """A 40 x 48 scene: mid-grey, a bright block (clipped in the reference), a black block, a square that moves."""
    radiance = np.full((40, 48, 3), 0.05)
    radiance[2:10, 2:12] = 0.6  # reference signal 2.4: clipped
    radiance[30:38, 2:12] = 1e-4  # reference signal 4e-4: near black
    frames = capture(radiance)
    moved = radiance.copy()
    moved[20:28, 30:38] = 0.01  # a darker object where the short frame sees it
    frames[0] = capture(moved)[0]
    return radiance, frames


def test_masks_partition_the_image_with_known_regions(scene):
    _, frames = scene
    masks = region_masks(frames, TIMES, window=1)
    expected_extreme = np.zeros((40, 48), bool)
    expected_extreme[2:10, 2:12] = expected_extreme[30:38, 2:12] = True
    expected_motion = np.zeros((40, 48), bool)
    expected_motion[20:28, 30:38] = True
    np.testing.assert_array_equal(masks['extreme'], expected_extreme)
    np.testing.assert_array_equal(masks['motion'], expected_motion)
    np.testing.assert_array_equal(masks['rest'], ~(expected_extreme | expected_motion))
    assert sum(masks[r].astype(int) for r in REGIONS).max() == 1
    # exposure times on another scale (2 ** ev with EVs -2 0 2) give the same masks
    scaled = region_masks(frames, TIMES / 4, window=1)
    for region in REGIONS:
        np.testing.assert_array_equal(scaled[region], masks[region])


def test_noise_alone_is_not_motion():
    rng = np.random.default_rng(0)
    radiance = rng.uniform(0.02, 0.2, (64, 64, 3))
    frames = []
    for t in TIMES:
        signal = radiance * t
        noisy = signal + np.sqrt(1e-4 * signal + 5e-4**2) * rng.standard_normal(signal.shape)
        frames.append(np.clip(noisy, 0, 1)**(1 / 2.2))
    masks = region_masks(frames, TIMES, rel_tol=0.0, k_sigma=4.0)
    assert masks['motion'].mean() < 0.01
    frames[2][10:30, 10:30] = frames[1][10:30, 10:30]  # one frame 2 stops off there: real disagreement
    assert region_masks(frames, TIMES)['motion'][12:28, 12:28].all()


def test_region_psnr_has_the_closed_form_value(scene):
    radiance, frames = scene
    pred = radiance.copy()
    pred[20:28, 30:38] += 0.01  # error only inside the motion region
    opts = dict(ldrs=frames, exposures=TIMES, window=1)
    value = calculate_metric(dict(img=pred, img2=radiance, **opts),
                             dict(type='calculate_region_psnr_mu', region='motion'))
    err = mu_law(np.array(0.06)) - mu_law(np.array(0.05))
    assert value == pytest.approx(-10 * math.log10(float(err)**2), rel=1e-9)
    assert math.isinf(calculate_metric(dict(img=pred, img2=radiance, **opts),
                                       dict(type='calculate_region_psnr_mu', region='rest')))
    # the whole-image PSNR-μ dilutes the same error over every pixel
    assert calculate_psnr_mu(pred, radiance) == pytest.approx(value + 10 * math.log10(40 * 48 / 64), rel=1e-9)
    assert math.isnan(masked_psnr(pred, radiance, np.zeros((40, 48), bool)))


def test_region_ssim_equals_the_whole_image_ssim_over_everything(scene):
    radiance, frames = scene
    rng = np.random.default_rng(1)
    pred = radiance * rng.uniform(0.8, 1.2, radiance.shape)
    regions = {r: calculate_metric(dict(img=pred, img2=radiance, ldrs=frames, exposures=TIMES),
                                   dict(type='calculate_region_ssim_mu', region=r)) for r in REGIONS}
    masks = region_masks(frames, TIMES)
    inner = {r: masks[r][5:-5, 5:-5].sum() for r in REGIONS}
    pooled = sum(regions[r] * inner[r] for r in REGIONS if inner[r]) / sum(inner.values())
    assert pooled == pytest.approx(calculate_ssim_mu(pred, radiance), rel=1e-12)
    assert calculate_metric(dict(img=radiance, img2=radiance, ldrs=frames, exposures=TIMES),
                            dict(type='calculate_region_ssim_mu', region='extreme')) == pytest.approx(1.0)


def test_missing_frames_raise_and_validation_passes_them():
    with pytest.raises(ValueError, match='ldrs and exposures'):
        calculate_metric(dict(img=np.ones((16, 16, 3)), img2=np.ones((16, 16, 3))),
                         dict(type='calculate_region_psnr_mu', region='motion'))
    with pytest.raises(ValueError, match='region must be one of'):
        calculate_metric(dict(img=np.ones((16, 16, 3)), img2=np.ones((16, 16, 3)), ldrs=[np.ones((16, 16, 3))],
                              exposures=[1.0]), dict(type='calculate_region_psnr_mu', region='sky'))
    assert metric_frame_inputs('calculate_region_psnr_mu') == ('ldrs', 'exposures')
    assert metric_frame_inputs('calculate_psnr_mu') == ()


def test_hdr_model_hands_frames_and_exposures_to_region_metrics(scene):
    radiance, frames = scene

    class Probe(HDRModel):
        def __init__(self):  # only what compute_metrics needs
            self.display = SRGBDisplay()

    model = Probe()
    lq = np.stack([np.concatenate([f**2.2 / t, f], axis=2) for f, t in zip(frames, TIMES)])
    model.lq = torch.from_numpy(lq.transpose(0, 3, 1, 2)[None].astype(np.float32))
    model.exposures = torch.from_numpy(TIMES[None].astype(np.float32))
    pred = radiance.astype(np.float32).copy()
    pred[2:10, 2:12] = 0.3
    values = model.compute_metrics(pred, radiance.astype(np.float32), {
        'psnr_mu': dict(type='calculate_psnr_mu'),
        'psnr_mu_extreme': dict(type='calculate_region_psnr_mu', region='extreme'),
        'psnr_mu_rest': dict(type='calculate_region_psnr_mu', region='rest', window=1)
    })
    err = float(mu_law(np.array(0.3)) - mu_law(np.array(0.6)))
    assert values['psnr_mu_extreme'] == pytest.approx(-10 * math.log10(err**2 * 80 / 160), rel=1e-5)
    assert math.isinf(values['psnr_mu_rest']) and values['psnr_mu'] > values['psnr_mu_extreme']
    means = HDRModel.average_metrics({'a': {'m': float('nan')}, 'b': {'m': 2.0}, 'c': {'m': 4.0}})
    assert means['m'] == 3.0
