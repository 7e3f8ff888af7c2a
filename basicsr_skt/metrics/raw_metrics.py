"""BracketIRE's metric protocol for RAW HDR: PSNR / SSIM / LPIPS on 16-bit μ-law sRGB with a 10 px border removed.

Prediction and ground truth are packed linear RAW (h, w, 4), RGGB, on the dataset's normalised scale (``raw_gt /
hdr_scale``, mostly in [0, 1]). Both go through the same display pipeline
(:func:`basicsr_skt.utils.raw_pipeline.raw_to_display`): white balance (the scene's ``wb``), bilinear demosaic to
full resolution (2h, 2w), colour matrix (``ccm``), clip to [0, 1], μ-law (μ = 5000), quantisation to 16 bits (what
writing the 16-bit PNGs of the protocol does, computed in memory); then ``crop_border`` (10) pixels of the full-
resolution image are removed on every side (this also drops the demosaic's border pixels) and:

* ``calculate_raw_psnr``: ``10 log10(1 / MSE)`` over all pixels and channels (data range 1).
* ``calculate_raw_ssim``: the project's SSIM (HDR-Transformer's: x 255, Gaussian 11 x 11, σ 1.5, valid region, mean
  over channels; :mod:`basicsr_skt.metrics.hdr_metrics`) — our choice, the BracketIRE code may use another SSIM.
* ``calculate_raw_lpips``: LPIPS (AlexNet, v0.1, offline weights, :mod:`basicsr_skt.metrics.lpips_metric`) on the RGB
  display images scaled to [-1, 1].

The scene's ``wb`` and ``ccm`` arrive as keyword arguments: :class:`~basicsr_skt.models.raw_hdr_model.RawHDRModel`
passes them from the dataset's items (``BracketIRERawDataset`` returns ``wb`` and ``ccm``). The RAW-domain numbers
(μ-law of RAW / 16, as the BracketIRE loss) are the ordinary ``calculate_psnr_mu`` / ``calculate_ssim_mu`` on the
packed arrays, which accept and ignore the extra keyword arguments.
"""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from basicsr.utils.registry import METRIC_REGISTRY
from basicsr_skt.metrics.lpips_metric import get_lpips
from basicsr_skt.metrics.metric_errors import MetricUnavailableError
from basicsr_skt.metrics.metric_util import ArrayOrTensor, psnr_unit_range, ssim_unit_range
from basicsr_skt.utils.raw_pipeline import border_crop, raw_to_display
from basicsr_skt.utils.tonemap import DEFAULT_MU

#: Border removed by the BracketIRE protocol (full-resolution display pixels).
BRACKETIRE_BORDER = 10
#: Bit depth of the protocol's PNGs.
BRACKETIRE_BITS = 16


def _packed(img: ArrayOrTensor, name: str) -> np.ndarray:
    """numpy (h, w, 4) or tensor (4, h, w) / (1, 4, h, w) -> float32 numpy (h, w, 4)."""
    if isinstance(img, torch.Tensor):
        arr = img.detach().to('cpu', torch.float32).numpy()
        if arr.ndim == 4 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim == 3 and arr.shape[0] == 4:
            arr = arr.transpose(1, 2, 0)
    else:
        arr = np.asarray(img, np.float32)
    if arr.ndim != 3 or arr.shape[2] != 4:
        raise ValueError(f'{name}: expected packed RGGB RAW (h, w, 4) (or a (4, h, w) tensor), got shape {arr.shape}')
    return arr


def _colour(value: Optional[ArrayOrTensor], name: str) -> np.ndarray:
    if value is None:
        raise ValueError(f'RAW metrics need the scene\'s {name} (pass {name}=...; in training use model_type '
                         'RawHDRModel / RawSKTModel with BracketIRERawDataset, which provide it)')
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    value = np.asarray(value, np.float32)
    return value[0] if value.ndim in (2, 3) and value.shape[0] == 1 else value


def raw_protocol_images(img: ArrayOrTensor,
                        img2: ArrayOrTensor,
                        wb: Optional[ArrayOrTensor],
                        ccm: Optional[ArrayOrTensor],
                        crop_border: int = BRACKETIRE_BORDER,
                        mu: float = DEFAULT_MU,
                        bits: Optional[int] = BRACKETIRE_BITS) -> Tuple[np.ndarray, np.ndarray]:
    """The two display images the protocol compares.

    Args:
        img: Prediction, packed linear RAW (h, w, 4) numpy or (4, h, w) tensor, normalised scale (~[0, 1]).
        img2: Ground truth, same layout and shape.
        wb: White-balance gains (3 or 4; a (1, 4) batch row is accepted).
        ccm: 3 x 3 camera RGB -> sRGB matrix (a (1, 3, 3) batch item is accepted).
        crop_border: Pixels removed per side of the full-resolution display image.
        mu: μ of the μ-law.
        bits: Quantisation bit depth (None: none).

    Returns:
        Two float64 RGB arrays (2h - 2 * crop_border, 2w - 2 * crop_border, 3) in [0, 1].
    """
    a, b = _packed(img, 'img'), _packed(img2, 'img2')
    if a.shape != b.shape:
        raise ValueError(f'Image shapes differ: {a.shape} vs {b.shape}')
    gains, matrix = _colour(wb, 'wb'), _colour(ccm, 'ccm')
    return tuple(
        border_crop(raw_to_display(x, gains, matrix, 'mu_law', mu, bits), crop_border).astype(np.float64)
        for x in (a, b))


@METRIC_REGISTRY.register()
def calculate_raw_psnr(img: ArrayOrTensor,
                       img2: ArrayOrTensor,
                       wb: Optional[ArrayOrTensor] = None,
                       ccm: Optional[ArrayOrTensor] = None,
                       crop_border: int = BRACKETIRE_BORDER,
                       mu: float = DEFAULT_MU,
                       bits: Optional[int] = BRACKETIRE_BITS,
                       **kwargs) -> float:
    """PSNR (dB, data range 1) of the 16-bit μ-law sRGB renderings, border removed (see the module docstring).

    Args:
        img, img2, wb, ccm, crop_border, mu, bits: See :func:`raw_protocol_images`.
        **kwargs: Other BasicSR metric options; accepted and ignored.

    Returns:
        PSNR in dB (``inf`` for identical renderings).
    """
    return psnr_unit_range(*raw_protocol_images(img, img2, wb, ccm, crop_border, mu, bits))


@METRIC_REGISTRY.register()
def calculate_raw_ssim(img: ArrayOrTensor,
                       img2: ArrayOrTensor,
                       wb: Optional[ArrayOrTensor] = None,
                       ccm: Optional[ArrayOrTensor] = None,
                       crop_border: int = BRACKETIRE_BORDER,
                       mu: float = DEFAULT_MU,
                       bits: Optional[int] = BRACKETIRE_BITS,
                       **kwargs) -> float:
    """SSIM of the 16-bit μ-law sRGB renderings, border removed; in [-1, 1], 1 for identical renderings."""
    return ssim_unit_range(*raw_protocol_images(img, img2, wb, ccm, crop_border, mu, bits))


@METRIC_REGISTRY.register()
def calculate_raw_lpips(img: ArrayOrTensor,
                        img2: ArrayOrTensor,
                        wb: Optional[ArrayOrTensor] = None,
                        ccm: Optional[ArrayOrTensor] = None,
                        crop_border: int = BRACKETIRE_BORDER,
                        mu: float = DEFAULT_MU,
                        bits: Optional[int] = BRACKETIRE_BITS,
                        net: str = 'alex',
                        weights_path: Optional[str] = None,
                        **kwargs) -> float:
    """LPIPS (lower is better) of the 16-bit μ-law sRGB renderings, border removed.

    Raises:
        MetricUnavailableError: LPIPS weights or the ``lpips`` package are missing (nothing is downloaded).
    """
    a, b = raw_protocol_images(img, img2, wb, ccm, crop_border, mu, bits)
    try:
        model = get_lpips(net, weights_path, 'cpu')
    except (FileNotFoundError, ImportError) as err:
        raise MetricUnavailableError(f'LPIPS unavailable: {err}') from err

    def as_input(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1), np.float32))[None] * 2.0 - 1.0

    with torch.no_grad():
        return float(model(as_input(a), as_input(b)).item())


#: Names registered by this module.
RAW_METRICS: Sequence[str] = ('calculate_raw_psnr', 'calculate_raw_ssim', 'calculate_raw_lpips')
