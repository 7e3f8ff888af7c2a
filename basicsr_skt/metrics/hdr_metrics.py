"""HDR reconstruction metrics: PSNR / SSIM on linear radiance (``_l``) and on μ-law tone-mapped images (``_mu``).

They reproduce the evaluation of the official HDR-Transformer code (``test.py`` and ``utils/utils.py`` of
liuzhen03/HDR-Transformer-PyTorch), which the AHDRNet / SCTNet line of papers shares:

* PSNR-l: ``10 log10(1 / MSE)`` on the linear images (data range 1, no clipping). PSNR-μ: the same on
  ``mu_law(pred)`` and ``mu_law(gt)``, the μ-law being applied to the unclipped values.
* SSIM-l / SSIM-μ: linear (or μ-law) images are scaled by 255 and clipped to [0, 255]; the SSIM map uses an
  11 x 11 Gaussian window (σ = 1.5, normalised), C1 = (0.01 * 255)², C2 = (0.03 * 255)², population statistics, and
  only the "valid" positions whose window lies inside the image (a 5-pixel border is dropped); the map is averaged
  over positions and channels.

Everything is computed in float64 on CPU. Inputs are the float predictions and ground truths in memory (never
re-read 8-bit files): numpy arrays H x W x C (or H x W) or torch tensors (C, H, W) / (1, C, H, W). Channel order does
not matter (all four metrics treat channels alike). The functions are registered in BasicSR's ``METRIC_REGISTRY``
so that ``val.metrics.<name>.type: calculate_psnr_mu`` works with ``basicsr.metrics.calculate_metric``.
"""
from basicsr.utils.registry import METRIC_REGISTRY
from basicsr_skt.metrics.metric_util import ArrayOrTensor, prepare_pair, psnr_unit_range, ssim_unit_range
from basicsr_skt.utils.tonemap import DEFAULT_MU, mu_law


@METRIC_REGISTRY.register()
def calculate_psnr_l(img: ArrayOrTensor, img2: ArrayOrTensor, crop_border: int = 0, **kwargs) -> float:
    """PSNR on linear HDR images (PSNR-l), data range 1, no clipping.

    Args:
        img: Prediction, linear HDR, numpy (H, W, C) / (H, W) or tensor (C, H, W) / (1, C, H, W); typically [0, 1].
        img2: Ground truth, same layout and shape as ``img``.
        crop_border: Pixels removed from each side before computing (0 for the Kalantari benchmark).
        **kwargs: Other BasicSR metric options (e.g. ``test_y_channel``); accepted and ignored.

    Returns:
        PSNR in dB (``inf`` for identical images).
    """
    a, b = prepare_pair(img, img2, crop_border)
    return psnr_unit_range(a, b)


@METRIC_REGISTRY.register()
def calculate_psnr_mu(img: ArrayOrTensor,
                      img2: ArrayOrTensor,
                      mu: float = DEFAULT_MU,
                      crop_border: int = 0,
                      **kwargs) -> float:
    """PSNR on μ-law tone-mapped images (PSNR-μ), data range 1; the μ-law is applied to the unclipped images.

    Args:
        img: Prediction, linear HDR (>= 0), numpy (H, W, C) / (H, W) or tensor (C, H, W) / (1, C, H, W).
        img2: Ground truth, same layout and shape as ``img``.
        mu: μ of the tone mapping (5000 in the literature).
        crop_border: Pixels removed from each side before computing.
        **kwargs: Other BasicSR metric options; accepted and ignored.

    Returns:
        PSNR in dB (``inf`` for identical images).
    """
    a, b = prepare_pair(img, img2, crop_border)
    return psnr_unit_range(mu_law(a, mu), mu_law(b, mu))


@METRIC_REGISTRY.register()
def calculate_ssim_l(img: ArrayOrTensor, img2: ArrayOrTensor, crop_border: int = 0, **kwargs) -> float:
    """SSIM on linear HDR images (SSIM-l): x 255, clipped to [0, 255], Gaussian 11 x 11 window, valid region.

    Args:
        img: Prediction, linear HDR, numpy (H, W, C) / (H, W) or tensor (C, H, W) / (1, C, H, W); H, W >= 11
            (after cropping). Values outside [0, 1] are clipped after scaling.
        img2: Ground truth, same layout and shape as ``img``.
        crop_border: Pixels removed from each side before computing.
        **kwargs: Other BasicSR metric options; accepted and ignored.

    Returns:
        Mean SSIM over valid positions and channels, in [-1, 1] (1 for identical images).
    """
    a, b = prepare_pair(img, img2, crop_border)
    return ssim_unit_range(a, b)


@METRIC_REGISTRY.register()
def calculate_ssim_mu(img: ArrayOrTensor,
                      img2: ArrayOrTensor,
                      mu: float = DEFAULT_MU,
                      crop_border: int = 0,
                      **kwargs) -> float:
    """SSIM on μ-law tone-mapped images (SSIM-μ): μ-law of the unclipped images, then as :func:`calculate_ssim_l`.

    Args:
        img: Prediction, linear HDR (>= 0), numpy (H, W, C) / (H, W) or tensor (C, H, W) / (1, C, H, W).
        img2: Ground truth, same layout and shape as ``img``.
        mu: μ of the tone mapping.
        crop_border: Pixels removed from each side before computing.
        **kwargs: Other BasicSR metric options; accepted and ignored.

    Returns:
        Mean SSIM over valid positions and channels, in [-1, 1] (1 for identical images).
    """
    a, b = prepare_pair(img, img2, crop_border)
    return ssim_unit_range(mu_law(a, mu), mu_law(b, mu))
