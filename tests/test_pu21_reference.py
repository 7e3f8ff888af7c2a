"""Our PU21 encoding and PU-PSNR against the PU21 authors' own Python code (``pycvvdp.utils.PU``, cvvdp 0.5.7)."""
import types

import numpy as np
import pytest
import torch

from basicsr_skt.metrics.pu21_metric import PU21_PARAMS, calculate_pu_psnr, pu21_decode, pu21_encode

pycvvdp = pytest.importorskip('pycvvdp', reason='the reference PU21 ships with the optional cvvdp package')
pycvvdp_utils = pytest.importorskip('pycvvdp.utils')

#: Luminance sweep of the cross-check, cd/m² (below 0.005 and above 10000 both encodings clamp).
SWEEP = np.logspace(-3, 4, 701)
#: Largest allowed |ours - reference| in PU units (the encodings span 0 ... ~600): float64 round-off only.
PU_TOLERANCE = 1e-9
#: Largest allowed PU-PSNR difference in dB.
PSNR_TOLERANCE = 1e-6


@pytest.mark.parametrize('variant', sorted(PU21_PARAMS))
def test_encoding_equals_the_reference_on_a_luminance_sweep(variant):
    reference = pycvvdp_utils.PU(type=variant).encode(torch.from_numpy(SWEEP)).numpy()
    ours = pu21_encode(SWEEP, variant)
    assert np.max(np.abs(ours - reference)) < PU_TOLERANCE
    ours_tensor = pu21_encode(torch.from_numpy(SWEEP), variant).numpy()
    assert np.max(np.abs(ours_tensor - reference)) < PU_TOLERANCE


@pytest.mark.parametrize('variant', sorted(PU21_PARAMS))
def test_decoding_equals_the_reference(variant):
    values = pu21_encode(SWEEP[SWEEP >= 0.005], variant)
    reference = pycvvdp_utils.PU(type=variant).decode(torch.from_numpy(values)).numpy()
    np.testing.assert_allclose(pu21_decode(values, variant), reference, rtol=1e-9)


def test_known_reference_values():
    pu = pycvvdp_utils.PU()
    assert float(pu.peak) == pytest.approx(float(pu21_encode(10000.0)), abs=1e-9)  # ~595.0, the encoding's top
    assert float(pu21_encode(100.0)) == pytest.approx(float(pu.encode(torch.tensor(100.0, dtype=torch.float64))),
                                                      abs=1e-9)


@pytest.mark.parametrize('peak', [100.0, 4000.0])
def test_pu_psnr_agrees_with_the_reference(peak):
    rng = np.random.default_rng(0)
    gt = (rng.random((48, 64, 3))**3).astype(np.float32)
    pred = np.clip(gt * (1 + 0.1 * rng.standard_normal(gt.shape)) + 0.002, 0, 1).astype(np.float32)
    # pu_psnr_y's constructor fails in cvvdp 0.5.7 (NameError in its display-model loading), so its PSNR function is
    # called on a stand-in holding only the attribute it reads: peak = PU(10000 cd/m²), mean over all values.
    metric = types.SimpleNamespace(pu=pycvvdp_utils.PU())
    test = torch.from_numpy(pred.astype(np.float64) * peak)
    ref = torch.from_numpy(gt.astype(np.float64) * peak)
    expected = float(pycvvdp.pu_psnr_y.psnr_fn(metric, metric.pu.encode(test), metric.pu.encode(ref)))
    ours = calculate_pu_psnr(pred, gt, display='hdr', peak_luminance=peak, data_range=float(metric.pu.peak))
    assert ours == pytest.approx(expected, abs=PSNR_TOLERANCE)
    assert 20 < ours < 60
