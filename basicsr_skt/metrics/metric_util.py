"""Helpers shared by the HDR metrics (BasicSR keeps its own in ``basicsr/metrics/metric_util.py``).

``prepare_pair`` turns two float images (numpy H x W x C / H x W, or torch (C, H, W) / (1, C, H, W)) into float64
(H, W, C) arrays and crops a border; ``psnr_unit_range`` and ``ssim_unit_range`` are PSNR and SSIM for images whose
useful range is [0, 1], as in the official HDR-Transformer evaluation (SSIM: x 255, clip, 11 x 11 Gaussian window with
σ = 1.5, C1 = (0.01 * 255)², C2 = (0.03 * 255)², valid positions only). ``ssim_maps`` gives the per-channel SSIM
maps for callers that average them over a subset of positions.
"""
import math
from typing import List, Tuple, Union

import cv2
import numpy as np
import torch

ArrayOrTensor = Union[np.ndarray, torch.Tensor]

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_PIXEL_MAX = 255.0
SSIM_C1 = (0.01 * SSIM_PIXEL_MAX)**2
SSIM_C2 = (0.03 * SSIM_PIXEL_MAX)**2


def to_hwc_float64(img: ArrayOrTensor, name: str) -> np.ndarray:
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


def crop_pair(a: ArrayOrTensor, b: ArrayOrTensor, crop_border: int) -> Tuple[ArrayOrTensor, ArrayOrTensor]:
    """Check that two (H, W, C) images (numpy or torch) have the same shape and crop ``crop_border`` pixels per side.

    Raises:
        ValueError: the shapes differ, ``crop_border`` is negative, or nothing is left after cropping.
    """
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f'Image shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}')
    if crop_border < 0:
        raise ValueError(f'crop_border must be >= 0, got {crop_border}')
    if crop_border > 0:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    if 0 in tuple(a.shape):
        raise ValueError(f'Nothing left to compare after cropping {crop_border} pixels per side')
    return a, b


def prepare_pair(img: ArrayOrTensor, img2: ArrayOrTensor, crop_border: int) -> Tuple[np.ndarray, np.ndarray]:
    """Convert both images to float64 (H, W, C), check that shapes agree and crop ``crop_border`` pixels per side."""
    return crop_pair(to_hwc_float64(img, 'img'), to_hwc_float64(img2, 'img2'), crop_border)


def psnr_unit_range(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB for a data range of 1: ``10 log10(1 / mean((a - b)²))``; ``inf`` for identical images."""
    mse = float(np.mean((a - b)**2))
    if mse == 0:
        return float('inf')
    return 10.0 * math.log10(1.0 / mse)


def gaussian_window() -> np.ndarray:
    """The normalised 1-D Gaussian of the SSIM window (11 taps, σ 1.5), float64, shape (11, 1)."""
    return cv2.getGaussianKernel(SSIM_WINDOW, SSIM_SIGMA, cv2.CV_64F)


def valid_filter(channel: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable Gaussian filtering of a 2-D float64 image, keeping only positions whose window fits inside it."""
    filtered = cv2.sepFilter2D(channel, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_REFLECT_101)
    r = SSIM_WINDOW // 2
    return filtered[r:-r, r:-r]


def ssim_channel(x: np.ndarray, y: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """SSIM map of two 2-D float64 images in [0, 255] over the valid region, shape (H - 10, W - 10)."""
    mu_x, mu_y = valid_filter(x, kernel), valid_filter(y, kernel)
    var_x = valid_filter(x * x, kernel) - mu_x * mu_x
    var_y = valid_filter(y * y, kernel) - mu_y * mu_y
    cov_xy = valid_filter(x * y, kernel) - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + SSIM_C1) / (mu_x * mu_x + mu_y * mu_y + SSIM_C1)
    structure = (2 * cov_xy + SSIM_C2) / (var_x + var_y + SSIM_C2)
    return luminance * structure


def check_ssim_size(a: np.ndarray) -> None:
    """Raise ``ValueError`` when an (H, W, C) image is smaller than the SSIM window."""
    if min(a.shape[:2]) < SSIM_WINDOW:
        raise ValueError(f'SSIM needs images of at least {SSIM_WINDOW} x {SSIM_WINDOW} pixels, got {a.shape[:2]}')


def ssim_maps(a: np.ndarray, b: np.ndarray) -> List[np.ndarray]:
    """Per-channel SSIM maps (valid positions, (H - 10, W - 10) each) of two (H, W, C) float64 images whose useful
    range is [0, 1]: x 255, clip, Gaussian SSIM."""
    check_ssim_size(a)
    a = np.clip(a * SSIM_PIXEL_MAX, 0.0, SSIM_PIXEL_MAX)
    b = np.clip(b * SSIM_PIXEL_MAX, 0.0, SSIM_PIXEL_MAX)
    kernel = gaussian_window()
    return [ssim_channel(a[..., c].copy(), b[..., c].copy(), kernel) for c in range(a.shape[2])]


def ssim_unit_range(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two (H, W, C) float64 images whose useful range is [0, 1]: x 255, clip, Gaussian SSIM, mean."""
    return float(np.mean(ssim_maps(a, b)))
