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
import math
from typing import Tuple, Union

import cv2
import numpy as np
import torch

from basicsr.utils.registry import METRIC_REGISTRY
from basicsr_skt.utils.tonemap import DEFAULT_MU, mu_law

ArrayOrTensor = Union[np.ndarray, torch.Tensor]

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_PIXEL_MAX = 255.0
SSIM_C1 = (0.01 * SSIM_PIXEL_MAX)**2
SSIM_C2 = (0.03 * SSIM_PIXEL_MAX)**2


def _to_hwc_float64(img: ArrayOrTensor, name: str) -> np.ndarray:
    """Return ``img`` as a float64 numpy array of shape (H, W, C).

    Args:
        img: numpy array (H, W, C) or (H, W), or torch tensor (C, H, W), (1, C, H, W) or (H, W).
        name: Argument name used in error messages.

    Returns:
        A float64 array (H, W, C); a 2-D input gets C = 1.
    """
    if isinstance(img, torch.Tensor):
        arr = img.detach().to('cpu', torch.float64).numpy()
        if arr.ndim == 4:
            if arr.shape[0] != 1:
                raise ValueError(f'{name}: expected a single image (1, C, H, W), got a batch of shape {arr.shape}')
            arr = arr[0]
        if arr.ndim == 3:
            arr = arr.transpose(1, 2, 0)
    else:
        arr = np.asarray(img, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise ValueError(f'{name}: expected an image (H, W, C) array or (C, H, W) tensor, got shape {arr.shape}')
    return arr


def _prepare_pair(img: ArrayOrTensor, img2: ArrayOrTensor, crop_border: int) -> Tuple[np.ndarray, np.ndarray]:
    """Convert both images to float64 (H, W, C), check that shapes agree and crop ``crop_border`` pixels per side."""
    a, b = _to_hwc_float64(img, 'img'), _to_hwc_float64(img2, 'img2')
    if a.shape != b.shape:
        raise ValueError(f'Image shapes differ: {a.shape} vs {b.shape}')
    if crop_border < 0:
        raise ValueError(f'crop_border must be >= 0, got {crop_border}')
    if crop_border > 0:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    if a.size == 0:
        raise ValueError(f'Nothing left to compare after cropping {crop_border} pixels per side')
    return a, b


def _psnr_unit_range(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB for a data range of 1: ``10 log10(1 / mean((a - b)²))``; ``inf`` for identical images."""
    mse = float(np.mean((a - b)**2))
    if mse == 0:
        return float('inf')
    return 10.0 * math.log10(1.0 / mse)


def _gaussian_window() -> np.ndarray:
    """The normalised 1-D Gaussian of the SSIM window (11 taps, σ 1.5), float64, shape (11, 1)."""
    return cv2.getGaussianKernel(SSIM_WINDOW, SSIM_SIGMA, cv2.CV_64F)


def _valid_filter(channel: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable Gaussian filtering of a 2-D float64 image, keeping only positions whose window fits inside it."""
    filtered = cv2.sepFilter2D(channel, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_REFLECT_101)
    r = SSIM_WINDOW // 2
    return filtered[r:-r, r:-r]


def _ssim_channel(x: np.ndarray, y: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """SSIM map of two 2-D float64 images in [0, 255] over the valid region, shape (H - 10, W - 10)."""
    mu_x, mu_y = _valid_filter(x, kernel), _valid_filter(y, kernel)
    var_x = _valid_filter(x * x, kernel) - mu_x * mu_x
    var_y = _valid_filter(y * y, kernel) - mu_y * mu_y
    cov_xy = _valid_filter(x * y, kernel) - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + SSIM_C1) / (mu_x * mu_x + mu_y * mu_y + SSIM_C1)
    structure = (2 * cov_xy + SSIM_C2) / (var_x + var_y + SSIM_C2)
    return luminance * structure


def _ssim_unit_range(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two (H, W, C) float64 images whose useful range is [0, 1]: x 255, clip, Gaussian SSIM, mean."""
    if min(a.shape[:2]) < SSIM_WINDOW:
        raise ValueError(f'SSIM needs images of at least {SSIM_WINDOW} x {SSIM_WINDOW} pixels, got {a.shape[:2]}')
    a = np.clip(a * SSIM_PIXEL_MAX, 0.0, SSIM_PIXEL_MAX)
    b = np.clip(b * SSIM_PIXEL_MAX, 0.0, SSIM_PIXEL_MAX)
    kernel = _gaussian_window()
    maps = [_ssim_channel(a[..., c].copy(), b[..., c].copy(), kernel) for c in range(a.shape[2])]
    return float(np.mean(maps))


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
    a, b = _prepare_pair(img, img2, crop_border)
    return _psnr_unit_range(a, b)


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
    a, b = _prepare_pair(img, img2, crop_border)
    return _psnr_unit_range(mu_law(a, mu), mu_law(b, mu))


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
    a, b = _prepare_pair(img, img2, crop_border)
    return _ssim_unit_range(a, b)


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
    a, b = _prepare_pair(img, img2, crop_border)
    return _ssim_unit_range(mu_law(a, mu), mu_law(b, mu))
