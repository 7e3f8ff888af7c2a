"""ColorVideoVDP (Mantiuk et al., SIGGRAPH 2024): a perceptual HDR image/video metric that runs in PyTorch.

``calculate_cvvdp`` returns the metric's quality in JOD (just-objectionable-difference units; 10 = no visible
difference, each unit less means about 75 % of observers prefer the reference) of the prediction shown on a named
display model of the ``pycvvdp`` package (PyPI ``cvvdp``, MIT). Only the base metric is used: its parameters, CSF
tables and display models ship inside the wheel, so nothing is downloaded (the ``cvvdp_ml_*`` variants, which download
weights, are never constructed).

Two protocols map our relative linear HDR values (Kalantari'17: radiance roughly in [0, 1], BGR) to what the display
model expects:

* ``'hdr_linear'`` (default, display ``'standard_hdr_linear'``: 30-inch 4K HDR monitor, 1500 cd/m² peak, 10 lux,
  2 display heights away, BT.709 linear input): RGB values in absolute cd/m², ``L = luminance_scale * max(v, 0)``.
  ``luminance_scale`` is the luminance of relative value 1.0; None (default) uses the display's peak, so the top of
  the Kalantari range is shown at the peak (1500 cd/m²) and brighter values are clipped there by the display model.
  The display must have a linear EOTF (``'standard_hdr_linear'``, ``'standard_hdr_linear_dark'``,
  ``'standard_hdr_linear_zoom'``).
* ``'mu_law_sdr'`` (display ``'standard_4k'``: 200 cd/m² SDR monitor, office light): the μ-law tone-mapped image
  (μ = 5000, negative values set to 0 first), clipped to [0, 1] and quantised to 8 bits (what a tone-mapped PNG
  holds), shown as sRGB-encoded pixels. The display must be display-encoded (sRGB, PQ, HLG or gamma);
  ``luminance_scale`` does not apply.

Cost (``pycvvdp`` 0.5.7, torch CPU, one thread, after the first call per image size): about 0.05-0.08 s for
256 x 256 and 1.9-2.8 s for 1000 x 1500 (the first call per size builds the pyramid: about 0.3 s / 3.6 s); importing
``pycvvdp`` takes about 2.4 s once. The metric object is built once per (display, device) and cached in
``_CVVDP_CACHE``.

When ``pycvvdp`` is not installed, :func:`calculate_cvvdp` raises
:class:`~basicsr_skt.metrics.metric_errors.MetricUnavailableError` naming the install command; validation catches it,
warns once and leaves the column out (as for LPIPS).
"""
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import torch

from basicsr.utils.registry import METRIC_REGISTRY
from basicsr_skt.metrics.metric_errors import MetricUnavailableError
from basicsr_skt.metrics.metric_util import ArrayOrTensor, crop_pair
from basicsr_skt.utils.tonemap import DEFAULT_MU, mu_law

#: The tested package version and how to install it without its declared ffmpeg/matplotlib/pyexr dependencies.
CVVDP_PIN = 'cvvdp==0.5.7'
CVVDP_INSTALL = ('bash scripts/setup_env.sh, or: pip install einops==0.8.2 ffmpeg-python==0.2.0 huggingface-hub==2.4.0 '
                 f'&& pip install --no-deps {CVVDP_PIN}')
PROTOCOLS = ('hdr_linear', 'mu_law_sdr')
#: Default ``pycvvdp`` display model of each protocol.
DEFAULT_DISPLAYS = {'hdr_linear': 'standard_hdr_linear', 'mu_law_sdr': 'standard_4k'}
#: The JOD of two identical images (the top of ColorVideoVDP's scale).
JOD_MAX = 10.0
_CVVDP_CACHE: Dict[Tuple[str, str], Any] = {}


def import_pycvvdp() -> Any:
    """Import ``pycvvdp``, or raise :class:`MetricUnavailableError` naming the install command."""
    try:
        import pycvvdp
    except ImportError as err:
        raise MetricUnavailableError(f'ColorVideoVDP unavailable ({err}): {CVVDP_INSTALL}') from err
    return pycvvdp


def get_cvvdp(display_name: str = DEFAULT_DISPLAYS['hdr_linear'], device: Union[str, torch.device] = 'cpu') -> Any:
    """The cached ``pycvvdp.cvvdp`` metric for (display_name, device); built on first use (quiet, no heat map).

    Raises:
        MetricUnavailableError: ``pycvvdp`` is not installed.
        ValueError: ``display_name`` is not one of the package's display models.
    """
    device = torch.device(device)
    key = (display_name, str(device))
    if key not in _CVVDP_CACHE:
        pycvvdp = import_pycvvdp()
        try:
            _CVVDP_CACHE[key] = pycvvdp.cvvdp(display_name=display_name, device=device, quiet=True)
        except pycvvdp.vq_exception as err:
            raise ValueError(f'Unknown ColorVideoVDP display model {display_name!r}: {err}') from err
    return _CVVDP_CACHE[key]


def _to_hwc(img: ArrayOrTensor, name: str) -> torch.Tensor:
    """numpy (H, W, 3) or tensor (3, H, W) / (1, 3, H, W), BGR -> float32 CPU/device tensor (H, W, 3), RGB."""
    if isinstance(img, torch.Tensor):
        x = img.detach().float()
        if x.ndim == 4 and x.shape[0] == 1:
            x = x[0]
        if x.ndim != 3 or x.shape[0] != 3:
            raise ValueError(f'{name}: expected a (3, H, W) or (1, 3, H, W) BGR tensor, got {tuple(img.shape)}')
        x = x.permute(1, 2, 0)
    else:
        arr = np.asarray(img, dtype=np.float32)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f'{name}: expected an (H, W, 3) BGR array, got shape {arr.shape}')
        x = torch.from_numpy(np.ascontiguousarray(arr))
    return x.flip(-1)


def cvvdp_inputs(img: ArrayOrTensor,
                 img2: ArrayOrTensor,
                 protocol: str = 'hdr_linear',
                 luminance_scale: float = 1500.0,
                 mu: float = DEFAULT_MU,
                 crop_border: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Prediction and ground truth as the display model of ``protocol`` expects them.

    Args:
        img: Prediction, linear relative HDR BGR (~[0, 1]): numpy (H, W, 3) or tensor (3, H, W) / (1, 3, H, W).
        img2: Ground truth, same layout and shape.
        protocol: 'hdr_linear' (absolute RGB in cd/m²) or 'mu_law_sdr' (8-bit μ-law values in [0, 1]).
        luminance_scale: cd/m² of relative value 1.0 ('hdr_linear' only).
        mu: μ of the 'mu_law_sdr' tone mapping.
        crop_border: Pixels removed from each side first.

    Returns:
        (test, reference), float32 tensors (H', W', 3) in RGB order on ``img``'s device: 'hdr_linear' values in
        [0, inf) cd/m²; 'mu_law_sdr' values in {0, 1/255, ..., 1}.

    Raises:
        ValueError: unknown protocol, shapes differ, negative crop or scale, nothing left after cropping.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f'Unknown ColorVideoVDP protocol {protocol!r}; choose one of {PROTOCOLS}')
    a, b = crop_pair(_to_hwc(img, 'img'), _to_hwc(img2, 'img2'), crop_border)
    b = b.to(a.device)
    if protocol == 'hdr_linear':
        if not luminance_scale > 0:
            raise ValueError(f'luminance_scale must be > 0 cd/m², got {luminance_scale}')
        return a.clamp_min(0) * luminance_scale, b.clamp_min(0) * luminance_scale
    return tuple(torch.round(mu_law(x.clamp_min(0), mu).clamp(0.0, 1.0) * 255.0) / 255.0 for x in (a, b))


@METRIC_REGISTRY.register()
def calculate_cvvdp(img: ArrayOrTensor,
                    img2: ArrayOrTensor,
                    protocol: str = 'hdr_linear',
                    display_name: Optional[str] = None,
                    luminance_scale: Optional[float] = None,
                    mu: float = DEFAULT_MU,
                    crop_border: int = 0,
                    device: Optional[str] = None,
                    **kwargs) -> float:
    """ColorVideoVDP quality (JOD, higher is better) of the prediction against the ground truth on a display model.

    Args:
        img: Prediction, linear relative HDR BGR (~[0, 1]): numpy (H, W, 3) or tensor (3, H, W) / (1, 3, H, W).
        img2: Ground truth, same layout and shape.
        protocol: 'hdr_linear' (default: absolute linear RGB on an HDR display) or 'mu_law_sdr' (8-bit μ-law image
            on an SDR display); see the module docstring.
        display_name: A ``pycvvdp`` display model; None: 'standard_hdr_linear' ('hdr_linear') or 'standard_4k'
            ('mu_law_sdr').
        luminance_scale: cd/m² shown for relative value 1.0 ('hdr_linear'); None uses the display's peak luminance
            (1500 for 'standard_hdr_linear').
        mu: μ of the 'mu_law_sdr' tone mapping.
        crop_border: Pixels removed from each side first.
        device: Device the metric runs on ('cpu', 'cuda:0'); None uses ``img``'s device (the CPU for numpy).
        **kwargs: Other BasicSR metric options; accepted and ignored.

    Returns:
        Quality in JOD, at most 10 (identical images); lower is worse.

    Raises:
        MetricUnavailableError: ``pycvvdp`` is not installed.
        ValueError: unknown protocol or display, or a display whose input encoding does not fit the protocol.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f'Unknown ColorVideoVDP protocol {protocol!r}; choose one of {PROTOCOLS}')
    display_name = DEFAULT_DISPLAYS[protocol] if display_name is None else display_name
    if device is None:
        device = img.device if isinstance(img, torch.Tensor) else torch.device('cpu')
    metric = get_cvvdp(display_name, device)
    photometry = metric.display_photometry
    encoded = photometry.is_input_display_encoded()
    if encoded != (protocol == 'mu_law_sdr'):
        kind = 'display-encoded (e.g. standard_4k)' if protocol == 'mu_law_sdr' else 'linear (e.g. standard_hdr_linear)'
        raise ValueError(f'Protocol {protocol!r} needs a {kind} display model; {display_name!r} has EOTF '
                         f'{photometry.EOTF!r}')
    scale = float(photometry.get_peak_luminance()) if luminance_scale is None else float(luminance_scale)
    test, ref = cvvdp_inputs(img, img2, protocol, scale, mu, crop_border)
    with torch.no_grad():
        jod, _ = metric.predict(test.to(metric.device), ref.to(metric.device), dim_order='HWC')
    return float(jod)
