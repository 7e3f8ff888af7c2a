"""μ-law tone mapping, the range compressor of multi-exposure HDR papers (Kalantari'17, AHDRNet, HDR-Transformer).

``T(H) = log(1 + μH) / log(1 + μ)`` with μ = 5000 maps linear radiance in [0, 1] onto [0, 1], expanding the dark
range; losses and the PSNR-μ / SSIM-μ metrics are computed on ``T(pred)`` and ``T(gt)``.

Both functions take a ``torch.Tensor`` (autograd, dtype and device are kept) or anything numpy understands (returned
as numpy: an array, or a numpy scalar for scalar input; integer input is promoted to float64, float arrays keep their
dtype). Inputs are not clipped, as in the official code.

:func:`luminance` is the one BT.709 luminance ``Y`` of a linear BGR image, for display statistics (demo exposure,
Reinhard previews) and for PU21 (see :data:`BT709_LUMA_BGR_PU21` for why PU21 keeps six digits).
"""
import math
from typing import Tuple, Union

import numpy as np
import torch

ArrayOrTensor = Union[np.ndarray, torch.Tensor]

DEFAULT_MU = 5000.0

#: ITU-R BT.709 luminance coefficients ``Y = 0.2126 R + 0.7152 G + 0.0722 B`` (four digits, as the standard prints
#: them), in BGR order: the default of :func:`luminance`.
BT709_LUMA_BGR = (0.0722, 0.7152, 0.2126)
#: The same BT.709 luminance to six digits, ``0.212656 R + 0.715158 G + 0.072186 B``, as the PU21 reference code
#: (gfxdisp/pu21) writes it; PU-PSNR / PU-SSIM on luminance use it so that they match that reference. BGR order.
BT709_LUMA_BGR_PU21 = (0.072186, 0.715158, 0.212656)


def _check_mu(mu: float) -> None:
    if not mu > 0:
        raise ValueError(f'mu must be > 0, got {mu}')


def _as_float_array(x) -> np.ndarray:
    """Numpy view of ``x``; non-float input becomes float64 (float16/32/64 keep their precision)."""
    arr = np.asarray(x)
    return arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float64)


def mu_law(x: ArrayOrTensor, mu: float = DEFAULT_MU) -> ArrayOrTensor:
    """Compress linear HDR values with the μ-law: ``log(1 + μ x) / log(1 + μ)``.

    Args:
        x: Linear HDR image of any shape, values >= 0 (typically [0, 1], e.g. the output of a sigmoid). Values above
            1 map above 1; values in (-1/μ, 0) give negative outputs and values <= -1/μ give NaN / -inf (no clipping).
        mu: Compression strength μ > 0 (5000 in the HDR literature).

    Returns:
        Tone-mapped values of the same shape and type as ``x``: [0, 1] -> [0, 1], ``mu_law(0) = 0``,
        ``mu_law(1) = 1``. Tensors keep their autograd graph, dtype and device.
    """
    _check_mu(mu)
    if isinstance(x, torch.Tensor):
        return torch.log1p(mu * x) / math.log1p(mu)
    return np.log1p(mu * _as_float_array(x)) / math.log1p(mu)


def inverse_mu_law(y: ArrayOrTensor, mu: float = DEFAULT_MU) -> ArrayOrTensor:
    """Undo :func:`mu_law`: ``((1 + μ) ** y - 1) / μ``.

    Args:
        y: μ-law tone-mapped values of any shape (typically [0, 1]).
        mu: The μ used for compression (> 0).

    Returns:
        Linear HDR values of the same shape and type as ``y`` (``y = 1`` -> 1, ``y = 0`` -> 0).
    """
    _check_mu(mu)
    if isinstance(y, torch.Tensor):
        return torch.expm1(y * math.log1p(mu)) / mu
    return np.expm1(_as_float_array(y) * math.log1p(mu)) / mu


def luminance(img: np.ndarray,
              weights: Tuple[float, float, float] = BT709_LUMA_BGR,
              dtype: type = np.float32) -> np.ndarray:
    """BT.709 luminance of a linear ``... x 3`` **BGR** image -> ``...``: ``img @ weights``, computed in ``dtype``.

    Args:
        img: Linear BGR values, channels last.
        weights: B, G, R coefficients: :data:`BT709_LUMA_BGR` (default) or :data:`BT709_LUMA_BGR_PU21`.
        dtype: Precision of the product (float32 for display statistics, float64 for metrics).

    Returns:
        The luminance, shape ``img.shape[:-1]``, of type ``dtype``.
    """
    return np.asarray(img, dtype=dtype) @ np.asarray(weights, dtype=dtype)
