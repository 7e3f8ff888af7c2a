"""PU21 perceptually uniform encoding and the PU-PSNR / PU-SSIM metrics for linear HDR predictions.

PU21 (R. K. Mantiuk and M. Azimi, "PU21: A novel perceptually uniform encoding for adapting existing quality metrics
for HDR", Picture Coding Symposium 2021) maps ABSOLUTE luminance (cd/m², clamped to [0.005, 10000]) to values that
are roughly perceptually uniform, so that PSNR / SSIM can be used on HDR images:

    V(Y) = p7 * (((p1 + p2 * Y**p4) / (1 + p3 * Y**p4)) ** p5 - p6)

with the seven published parameters of each variant (``PU21_PARAMS``; 'banding_glare' is the authors' recommended
default). V(0.005) ~ 0, V(100) ~ 256 (PU values of an SDR display span about 0-256, like 8-bit pixels) and
V(10000) ~ 595. Like the reference implementation, each linear RGB channel is encoded separately.

Relative HDR predictions (Kalantari'17: linear radiance roughly in [0, 1]) must first be mapped to absolute luminance
emitted by a display. Two mappings (``display``) are provided:

* ``'hdr'`` (default): an HDR display showing linear values, ``Y = peak_luminance * max(v, 0)``; relative 1 is the
  display peak. Default peak: 4000 cd/m², the HDR display of the PU21 authors' own examples (they map the image
  maximum to ``L_peak = 4000``; we map relative 1, the top of the Kalantari range, so that prediction and reference
  share one fixed scale). Values above 1 map above the peak (clamped at 10000 by the encoding).
* ``'mu_law_sdr'``: the protocol of SCTNet (Tel et al., ICCV 2023, ``utils/hdrvdp2_pu21/run/test.m``): μ-law tone
  mapping (μ = 5000), 8-bit quantisation (their 8-bit PNGs), then PU21's gain-gamma-offset SDR display model with
  peak 55 cd/m² (default here for this display), contrast 1000:1, gamma 2.2, 10 lux ambient light and screen
  reflectivity 0.005: ``Y = (peak - black) * V**2.2 + black``, ``black = 10 / π * 0.005 + peak / 1000``.

PU-PSNR is ``10 log10(R² / MSE)`` over all channels of the PU-encoded images, with the peak ``R`` (``data_range``)
defaulting to the encoding of the display peak, ``pu21_encode(peak_luminance)``. PU-SSIM uses the SSIM of
:mod:`basicsr_skt.metrics.metric_util` (Gaussian 11 x 11, σ = 1.5, C1 = (0.01 R)², C2 = (0.03 R)², valid region,
values clipped to [0, R]) on PU values, by default on luminance (Y = 0.212656 R + 0.715158 G + 0.072186 B, the
six-digit BT.709 weights of :data:`basicsr_skt.utils.tonemap.BT709_LUMA_BGR_PU21`, computed in linear absolute units
before encoding) as the reference ``pu21_metric`` does. Differences from the MATLAB reference
``pu21_metric`` (which SCTNet calls): it uses a fixed peak of 256 for PSNR and SSIM (pass ``data_range=256`` to
match) and MATLAB's ``ssim`` (same-size output with replicated borders instead of the valid region).

Inputs follow :mod:`basicsr_skt.metrics.hdr_metrics`: numpy (H, W, C) / (H, W) or torch (C, H, W) / (1, C, H, W),
BGR channel order (the luminance weights assume BGR), linear relative HDR values. Computed in float64 on CPU.
"""
import math
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from basicsr.utils.registry import METRIC_REGISTRY
from basicsr_skt.metrics.metric_util import ArrayOrTensor, prepare_pair, psnr_unit_range, ssim_unit_range
from basicsr_skt.utils.tonemap import BT709_LUMA_BGR_PU21, DEFAULT_MU, luminance, mu_law

#: Published PU21 parameters p1..p7 of each variant (gfxdisp/pu21, updated 06/02/2020).
PU21_PARAMS: Dict[str, Tuple[float, ...]] = {
    'banding': (1.070275272, 0.4088273932, 0.153224308, 0.2520326168, 1.063512885, 1.14115047, 521.4527484),
    'banding_glare':
    (0.353487901, 0.3734658629, 8.277049286e-05, 0.9062562627, 0.09150303166, 0.9099517204, 596.3148142),
    'peaks': (1.043882782, 0.6459495343, 0.3194584211, 0.374025247, 1.114783422, 1.095360363, 384.9217577),
    'peaks_glare': (816.885024, 1479.463946, 0.001253215609, 0.9329636822, 0.06746643971, 1.573435413, 419.6006374),
}
PU21_L_MIN = 0.005  # cd/m², lowest luminance the encoding is defined for
PU21_L_MAX = 10000.0  # cd/m², highest

DISPLAYS = ('hdr', 'mu_law_sdr')
#: Default peak luminance (cd/m²) of each display mapping (see the module docstring for the sources).
DEFAULT_PEAK_LUMINANCE = {'hdr': 4000.0, 'mu_law_sdr': 55.0}
# SCTNet's gain-gamma-offset SDR display (pu21_display_model_gog(55, 1000, [], 10) with PU21's default k_refl).
SDR_CONTRAST = 1000.0
SDR_GAMMA = 2.2
SDR_AMBIENT_LUX = 10.0
SDR_REFLECTIVITY = 0.005


def _params(variant: str) -> Tuple[float, ...]:
    if variant not in PU21_PARAMS:
        raise ValueError(f'Unknown PU21 variant {variant!r}; choose one of {sorted(PU21_PARAMS)}')
    return PU21_PARAMS[variant]


def pu21_encode(luminance: ArrayOrTensor, variant: str = 'banding_glare') -> ArrayOrTensor:
    """Encode absolute luminance with PU21.

    Args:
        luminance: Absolute linear values in cd/m² (luminance or a linear colour channel), any shape; clamped to
            [0.005, 10000] first, as in the reference implementation.
        variant: 'banding_glare' (recommended default), 'banding', 'peaks' or 'peaks_glare'.

    Returns:
        PU values of the same shape and type (numpy float64 for numpy/scalar input; tensors keep dtype, device and
        autograd). 'banding_glare': about 0 at 0.005 cd/m², 256 at 100 cd/m², 595 at 10000 cd/m²; strictly
        increasing in between.
    """
    p1, p2, p3, p4, p5, p6, p7 = _params(variant)
    if isinstance(luminance, torch.Tensor):
        y = luminance.clamp(PU21_L_MIN, PU21_L_MAX)
        yp = y**p4
        return p7 * (((p1 + p2 * yp) / (1 + p3 * yp))**p5 - p6)
    y = np.clip(np.asarray(luminance, dtype=np.float64), PU21_L_MIN, PU21_L_MAX)
    yp = y**p4
    return p7 * (((p1 + p2 * yp) / (1 + p3 * yp))**p5 - p6)


def pu21_decode(values: ArrayOrTensor, variant: str = 'banding_glare') -> ArrayOrTensor:
    """Invert :func:`pu21_encode`: PU values back to absolute luminance in cd/m².

    Args:
        values: PU values of any shape (numpy, scalar or tensor).
        variant: The variant used for encoding.

    Returns:
        Luminance of the same shape and type; ``pu21_decode(pu21_encode(y)) == y`` for y in [0.005, 10000].
    """
    p1, p2, p3, p4, p5, p6, p7 = _params(variant)
    if isinstance(values, torch.Tensor):
        vp = (values / p7 + p6).clamp_min(0)**(1 / p5)
        return ((vp - p1).clamp_min(0) / (p2 - p3 * vp))**(1 / p4)
    vp = np.maximum(np.asarray(values, dtype=np.float64) / p7 + p6, 0)**(1 / p5)
    return (np.maximum(vp - p1, 0) / (p2 - p3 * vp))**(1 / p4)


def _peak(display: str, peak_luminance: Optional[float]) -> float:
    if display not in DISPLAYS:
        raise ValueError(f'Unknown display {display!r}; choose one of {DISPLAYS}')
    peak = DEFAULT_PEAK_LUMINANCE[display] if peak_luminance is None else float(peak_luminance)
    if not PU21_L_MIN < peak <= PU21_L_MAX:
        raise ValueError(f'peak_luminance must be in ({PU21_L_MIN}, {PU21_L_MAX}] cd/m², got {peak}')
    return peak


def sdr_display_luminance(display_values: np.ndarray, peak_luminance: float) -> np.ndarray:
    """SCTNet's gain-gamma-offset SDR display: display-encoded values in [0, 1] -> emitted luminance in cd/m².

    Args:
        display_values: Gamma-encoded pixel values in [0, 1] (e.g. 8-bit PNG values / 255), any shape.
        peak_luminance: Display peak in cd/m² (55 in SCTNet's evaluation).

    Returns:
        ``(peak - black) * V**2.2 + black`` with ``black = 10 lux / π * 0.005 + peak / 1000``, same shape, float64.
    """
    black = SDR_AMBIENT_LUX / math.pi * SDR_REFLECTIVITY + peak_luminance / SDR_CONTRAST
    return (peak_luminance - black) * np.asarray(display_values, dtype=np.float64)**SDR_GAMMA + black


def relative_to_luminance(img: np.ndarray,
                          display: str = 'hdr',
                          peak_luminance: Optional[float] = None,
                          mu: float = DEFAULT_MU) -> np.ndarray:
    """Map relative linear HDR values to the absolute luminance (cd/m²) a display would emit.

    Args:
        img: Linear relative HDR values (1 = top of the Kalantari range), any shape, numpy.
        display: 'hdr' (``peak * max(v, 0)``) or 'mu_law_sdr' (μ-law, 8-bit quantisation, SDR display model; SCTNet).
        peak_luminance: Display peak in cd/m²; None uses ``DEFAULT_PEAK_LUMINANCE[display]`` (4000 / 55).
        mu: μ of the tone mapping of 'mu_law_sdr'.

    Returns:
        Absolute luminance per value, float64, same shape (not yet clamped to PU21's range).
    """
    peak = _peak(display, peak_luminance)
    img = np.asarray(img, dtype=np.float64)
    if display == 'hdr':
        return peak * np.maximum(img, 0.0)
    display_values = np.round(np.clip(mu_law(img, mu), 0.0, 1.0) * 255.0) / 255.0
    return sdr_display_luminance(display_values, peak)


def _to_luminance(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) BGR -> (H, W, 1) luminance; single-channel input is returned unchanged."""
    if img.shape[2] == 1:
        return img
    if img.shape[2] != 3:
        raise ValueError(f'Luminance needs 1 or 3 (BGR) channels, got {img.shape[2]}')
    return luminance(img, BT709_LUMA_BGR_PU21, np.float64)[..., None]


def _pu_pair(img: ArrayOrTensor, img2: ArrayOrTensor, display: str, peak_luminance: Optional[float],
             data_range: Optional[float], variant: str, crop_border: int, mu: float,
             luminance: bool) -> Tuple[np.ndarray, np.ndarray, float]:
    """Both images in PU units, (H, W, C) float64, and the PU peak used for PSNR / SSIM."""
    peak = _peak(display, peak_luminance)
    a, b = prepare_pair(img, img2, crop_border)
    a = relative_to_luminance(a, display, peak, mu)
    b = relative_to_luminance(b, display, peak, mu)
    if luminance:
        a, b = _to_luminance(a), _to_luminance(b)
    pu_peak = float(pu21_encode(peak, variant)) if data_range is None else float(data_range)
    if not pu_peak > 0:
        raise ValueError(f'data_range must be > 0, got {pu_peak}')
    return pu21_encode(a, variant), pu21_encode(b, variant), pu_peak


@METRIC_REGISTRY.register()
def calculate_pu_psnr(img: ArrayOrTensor,
                      img2: ArrayOrTensor,
                      display: str = 'hdr',
                      peak_luminance: Optional[float] = None,
                      data_range: Optional[float] = None,
                      variant: str = 'banding_glare',
                      crop_border: int = 0,
                      mu: float = DEFAULT_MU,
                      **kwargs) -> float:
    """PU21-PSNR: PSNR of the PU21-encoded absolute-luminance images, all channels.

    Args:
        img: Prediction, linear relative HDR (~[0, 1]), numpy (H, W, C) / (H, W) or tensor (C, H, W) / (1, C, H, W).
        img2: Ground truth, same layout and shape.
        display: Relative -> absolute mapping, 'hdr' (default) or 'mu_law_sdr' (SCTNet); see the module docstring.
        peak_luminance: Display peak in cd/m²; None: 4000 for 'hdr', 55 for 'mu_law_sdr'.
        data_range: PSNR peak in PU units; None uses ``pu21_encode(peak_luminance)`` (527.49 for 4000 cd/m²).
            256 reproduces the reference MATLAB ``pu21_metric``.
        variant: PU21 variant.
        crop_border: Pixels removed from each side first.
        mu: μ of the 'mu_law_sdr' tone mapping.
        **kwargs: Other BasicSR metric options; accepted and ignored.

    Returns:
        PSNR in dB (``inf`` when the PU images are identical).
    """
    a, b, pu_peak = _pu_pair(img, img2, display, peak_luminance, data_range, variant, crop_border, mu, False)
    return psnr_unit_range(a / pu_peak, b / pu_peak)


@METRIC_REGISTRY.register()
def calculate_pu_ssim(img: ArrayOrTensor,
                      img2: ArrayOrTensor,
                      display: str = 'hdr',
                      peak_luminance: Optional[float] = None,
                      data_range: Optional[float] = None,
                      variant: str = 'banding_glare',
                      luminance: bool = True,
                      crop_border: int = 0,
                      mu: float = DEFAULT_MU,
                      **kwargs) -> float:
    """PU21-SSIM: the SSIM of :mod:`hdr_metrics` on PU21-encoded absolute luminance (dynamic range ``data_range``).

    Args:
        img: Prediction, linear relative HDR (~[0, 1]), numpy (H, W, C) / (H, W) or tensor (C, H, W) / (1, C, H, W);
            at least 11 x 11 after cropping.
        img2: Ground truth, same layout and shape.
        display: 'hdr' (default) or 'mu_law_sdr' (SCTNet).
        peak_luminance: Display peak in cd/m²; None: 4000 for 'hdr', 55 for 'mu_law_sdr'.
        data_range: SSIM dynamic range in PU units (C1 = (0.01 R)², C2 = (0.03 R)², values clipped to [0, R]);
            None uses ``pu21_encode(peak_luminance)``.
        variant: PU21 variant.
        luminance: True (default, as the reference ``pu21_metric``): SSIM of the luminance image (BGR weights
            0.072186, 0.715158, 0.212656); False: mean SSIM over the PU-encoded colour channels.
        crop_border: Pixels removed from each side first.
        mu: μ of the 'mu_law_sdr' tone mapping.
        **kwargs: Other BasicSR metric options; accepted and ignored.

    Returns:
        Mean SSIM over valid positions (and channels), in [-1, 1]; 1 for identical images.
    """
    a, b, pu_peak = _pu_pair(img, img2, display, peak_luminance, data_range, variant, crop_border, mu, luminance)
    return ssim_unit_range(a / pu_peak, b / pu_peak)
