"""Display-referred 8-bit RGB images for sRGB-domain semantic models, from the project's BGR HDR / LDR data.

* HDR (GT, or an ORM output): linear radiance is **clipped to [0, 1] first** (Kalantari's GT lies mostly there and a
  sigmoid-ended ORM cannot exceed it; values above 1 would otherwise map above 255), then μ-law tone mapped
  (``T(H) = log(1 + μH) / log(1 + μ)``, μ = 5000, as the HDR losses and PSNR-μ), scaled by 255, rounded to uint8
  and turned from BGR into RGB.
* LDR (the reference frame): already display-referred (camera-encoded), so it is used as is: normalised by its bit
  depth, scaled by 255, rounded to uint8, BGR -> RGB. No μ-law.
* RAW (packed RGGB, BracketIRE): the dataset's display pipeline at the packed resolution (white balance, 2 x 2
  binning demosaic, colour matrix, clip to [0, 1]), then μ-law as for HDR, 8 bits, RGB
  (:func:`raw_to_display_rgb`); the label map then lives on the packed grid the RAW dataset crops.
"""
from typing import Union

import numpy as np
import torch

from basicsr_skt.utils.raw_pipeline import raw_to_display
from basicsr_skt.utils.tonemap import DEFAULT_MU, mu_law

ArrayOrTensor = Union[np.ndarray, torch.Tensor]


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.round(values * 255.0), 0, 255).astype(np.uint8)


def hdr_to_display_rgb(hdr_bgr: ArrayOrTensor, mu: float = DEFAULT_MU) -> np.ndarray:
    """μ-law tone-map a linear HDR image to 8-bit RGB for a semantic model.

    Args:
        hdr_bgr: Linear radiance, BGR, float, either (H, W, 3) numpy (as read by ``read_hdr``) or a (3, H, W)
            tensor (as a network outputs).
        mu: μ of the μ-law.

    Returns:
        uint8 (H, W, 3) RGB: ``round(255 * T(clip(H, 0, 1)))``.

    Raises:
        ValueError: Wrong shape or NaN/Inf values.
    """
    if isinstance(hdr_bgr, torch.Tensor):
        if hdr_bgr.ndim != 3 or hdr_bgr.shape[0] != 3:
            raise ValueError(f'Expected a (3, H, W) BGR tensor, got shape {tuple(hdr_bgr.shape)}')
        hdr_bgr = hdr_bgr.detach().float().cpu().numpy().transpose(1, 2, 0)
    hdr = np.asarray(hdr_bgr, dtype=np.float32)
    if hdr.ndim != 3 or hdr.shape[2] != 3:
        raise ValueError(f'Expected an (H, W, 3) BGR image, got shape {hdr.shape}')
    if not np.all(np.isfinite(hdr)):
        raise ValueError('HDR image holds NaN/Inf values')
    tone_mapped = mu_law(np.clip(hdr, 0.0, 1.0), mu)
    return np.ascontiguousarray(_to_uint8(tone_mapped)[:, :, ::-1])


def ldr_to_display_rgb(ldr_bgr: np.ndarray, white_level: int) -> np.ndarray:
    """Convert a camera LDR frame (already display-referred) to 8-bit RGB, without tone mapping.

    Args:
        ldr_bgr: uint8 / uint16 (H, W, 3) BGR frame as ``read_ldr_raw`` returns it.
        white_level: 255 or 65535 (the value that means 1.0).

    Returns:
        uint8 (H, W, 3) RGB: ``round(255 * L / white_level)``.
    """
    ldr = np.asarray(ldr_bgr)
    if ldr.ndim != 3 or ldr.shape[2] != 3:
        raise ValueError(f'Expected an (H, W, 3) BGR frame, got shape {ldr.shape}')
    if ldr.dtype == np.uint8 and white_level == 255:
        return np.ascontiguousarray(ldr[:, :, ::-1])
    return np.ascontiguousarray(_to_uint8(ldr.astype(np.float64) / float(white_level))[:, :, ::-1])


def raw_to_display_rgb(packed: ArrayOrTensor,
                       wb: ArrayOrTensor,
                       ccm: ArrayOrTensor,
                       mu: float = DEFAULT_MU) -> np.ndarray:
    """Render packed linear RAW to 8-bit RGB at the packed resolution for a semantic model.

    Args:
        packed: Packed RGGB linear RAW on the dataset's normalised scale (``raw_gt / hdr_scale``, ~[0, 1]): a
            (4, h, w) tensor (as the dataset / an ORM gives it) or an (h, w, 4) array.
        wb: White-balance gains (3 or 4).
        ccm: 3 x 3 camera RGB -> sRGB matrix.
        mu: μ of the μ-law.

    Returns:
        uint8 (h, w, 3) RGB: ``round(255 * T(clip(ccm · bin(wb · packed), 0, 1)))``.
    """
    if isinstance(packed, torch.Tensor):
        if packed.ndim != 3 or packed.shape[0] != 4:
            raise ValueError(f'Expected a (4, h, w) packed RAW tensor, got shape {tuple(packed.shape)}')
        packed = packed.detach().float().cpu().numpy().transpose(1, 2, 0)
    wb, ccm = (np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, np.float32) for v in (wb, ccm))
    array = np.asarray(packed, np.float32)
    if not np.all(np.isfinite(array)):
        raise ValueError('RAW image holds NaN/Inf values')
    display = raw_to_display(array, wb, ccm, 'mu_law', mu, bits=None, full_resolution=False)
    return np.ascontiguousarray(_to_uint8(display))
