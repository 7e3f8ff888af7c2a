"""Region metrics: PSNR-μ and SSIM-μ inside the parts of a scene where HDR fusion is hard.

The paper's claimed gains (texture, colour, ghosting) live in a few regions of each scene; the whole-image mean hides
them under the easy pixels. The regions are defined from the *input* frames only (never from the prediction), so
every method is scored on the same pixels:

* ``extreme``: pixels of the reference frame that are saturated (brightest LDR channel >= ``saturation``) or near
  black (brightest linear channel ``L ** gamma`` < ``dark_level``): content must come from other frames, or be
  hallucinated.
* ``motion``: the remaining pixels where some non-reference frame, exposure-normalised (``H_i = L_i ** gamma / t_i``),
  disagrees with the reference beyond its noise, at positions where neither frame is clipped or near black: a
  ``window`` x ``window`` box mean of ``H_i - H_ref`` in any channel exceeds ``k_sigma`` standard deviations of the
  Poisson-Gaussian sensor noise (``shot_noise``, ``read_noise``, in units of the linear signal, propagated to ``H``)
  plus ``rel_tol`` of ``H_ref`` (response and interpolation mismatch). Camera misalignment counts as motion too:
  both cause ghosting.
* ``rest``: everything else. The three regions partition the image.

Both metrics follow :mod:`basicsr_skt.metrics.hdr_metrics`: PSNR-μ is ``10 log10(1 / MSE)`` of the unclipped μ-law
images over the region's pixels and channels; SSIM-μ is the mean of the project's SSIM map (x 255, clipped, 11 x 11
Gaussian, valid positions: a 5-pixel border is dropped) over the region's valid positions and the channels. An empty
region gives NaN (the scene has no such pixels; averages over scenes should skip it).

The frames arrive as keyword arguments: validation passes ``ldrs`` (the LDR frames, H x W x 3 in [0, 1], shortest
exposure first) and ``exposures`` (relative exposure times, one per frame) to every metric whose function declares
them (:func:`metric_frame_inputs`). Configure, e.g. in ``val.metrics``::

    psnr_mu_extreme: {type: calculate_region_psnr_mu, region: extreme}
    ssim_mu_motion: {type: calculate_region_ssim_mu, region: motion, read_noise: !!float 2e-3}
"""
import inspect
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from basicsr.utils.registry import METRIC_REGISTRY
from basicsr_skt.metrics.metric_util import SSIM_WINDOW, ArrayOrTensor, check_ssim_size, prepare_pair, ssim_maps
from basicsr_skt.utils.tonemap import DEFAULT_MU, mu_law

REGIONS = ('extreme', 'motion', 'rest')
#: Keyword arguments that the validation fills in for metric functions declaring them.
FRAME_INPUTS = ('ldrs', 'exposures')


def metric_frame_inputs(metric_type: str) -> Tuple[str, ...]:
    """The names of :data:`FRAME_INPUTS` that the registered metric ``metric_type`` declares as parameters.

    Args:
        metric_type: A name in BasicSR's ``METRIC_REGISTRY`` (``val.metrics.<name>.type``).

    Returns:
        The subset of ``('ldrs', 'exposures')`` in the function's signature (empty for an unknown name: the
        registry lookup reports that itself).
    """
    if metric_type not in METRIC_REGISTRY:
        return ()
    parameters = inspect.signature(METRIC_REGISTRY.get(metric_type)).parameters
    return tuple(name for name in FRAME_INPUTS if name in parameters)


def _frames(ldrs: Sequence[ArrayOrTensor], exposures: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """Stack the frames as float64 (N, H, W, C) and the exposure times as float64 (N,)."""
    frames = []
    for ldr in ldrs:
        if isinstance(ldr, torch.Tensor):
            ldr = ldr.detach().to('cpu', torch.float64).numpy()
            if ldr.ndim == 3 and ldr.shape[0] in (1, 3) and ldr.shape[2] not in (1, 3):
                ldr = ldr.transpose(1, 2, 0)
        frames.append(np.asarray(ldr, dtype=np.float64))
    stack = np.stack(frames)
    times = np.asarray([float(t) for t in np.asarray(exposures, dtype=np.float64).reshape(-1)])
    if stack.ndim != 4 or len(times) != len(stack):
        raise ValueError(f'Region masks need N frames (H, W, C) and N exposure times, got frames {stack.shape} and '
                         f'{len(times)} times')
    if np.any(times <= 0):
        raise ValueError(f'Exposure times must be positive, got {times.tolist()}')
    return stack, times


def region_masks(ldrs: Sequence[ArrayOrTensor],
                 exposures: Sequence[float],
                 ref_index: Optional[int] = None,
                 gamma: float = 2.2,
                 saturation: float = 0.98,
                 dark_level: float = 0.005,
                 shot_noise: float = 1e-4,
                 read_noise: float = 5e-4,
                 k_sigma: float = 3.0,
                 rel_tol: float = 0.05,
                 window: int = 3) -> Dict[str, np.ndarray]:
    """The three regions of a scene, from its input frames.

    Args:
        ldrs: N LDR frames, each (H, W, C) in [0, 1] (numpy, or a (C, H, W) tensor), shortest exposure first.
        exposures: N exposure times (any common scale, e.g. ``2 ** ev``).
        ref_index: Reference frame (default: the middle one, ``N // 2``).
        gamma: Exponent of the assumed camera response ``s = L ** gamma``.
        saturation: LDR level at or above which a channel counts as clipped.
        dark_level: Linear level ``L ** gamma`` below which a pixel (brightest channel) counts as near black.
        shot_noise: Poisson part of the sensor noise (variance per unit of linear signal).
        read_noise: Gaussian part of the sensor noise (standard deviation, linear units).
        k_sigma: Disagreement threshold in noise standard deviations.
        rel_tol: Further tolerance as a share of ``H_ref``.
        window: Side of the box mean applied to the differences before thresholding (1: per pixel).

    Returns:
        ``{'extreme', 'motion', 'rest'}`` -> bool (H, W) masks; disjoint, together every pixel.
    """
    frames, times = _frames(ldrs, exposures)
    ref = len(frames) // 2 if ref_index is None else int(ref_index)
    signal = np.clip(frames, 0.0, 1.0)**gamma  # linear sensor signal, (N, H, W, C)
    clipped = frames.max(axis=3) >= saturation
    dark = signal.max(axis=3) < dark_level
    extreme = clipped[ref] | dark[ref]
    radiance = signal / times[:, None, None, None]
    variance = (shot_noise * signal + read_noise**2) / times[:, None, None, None]**2
    motion = np.zeros(extreme.shape, bool)
    for i in range(len(frames)):
        if i == ref:
            continue
        diff = radiance[i] - radiance[ref]
        var = variance[i] + variance[ref]
        if window > 1:
            diff = cv2.blur(diff, (window, window), borderType=cv2.BORDER_REFLECT)
            var = cv2.blur(var, (window, window), borderType=cv2.BORDER_REFLECT) / window**2
        limit = k_sigma * np.sqrt(var) + rel_tol * radiance[ref]
        usable = ~(clipped[i] | clipped[ref] | dark[i] | dark[ref])
        motion |= usable & np.any(np.abs(diff) > limit, axis=2)
    motion &= ~extreme
    return {'extreme': extreme, 'motion': motion, 'rest': ~(extreme | motion)}


def _region(region: str, ldrs, exposures, mask_opts: Dict[str, float]) -> np.ndarray:
    if region not in REGIONS:
        raise ValueError(f'region must be one of {REGIONS}, got {region!r}')
    if ldrs is None or exposures is None:
        raise ValueError('Region metrics need the scene\'s LDR frames and exposure times (keyword arguments ldrs and '
                         'exposures, passed by HDRModel\'s validation)')
    return region_masks(ldrs, exposures, **mask_opts)[region]


def masked_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (data range 1) over the pixels of ``mask`` (H, W) and all channels of (H, W, C) images; NaN if empty."""
    if not mask.any():
        return float('nan')
    mse = float(np.mean((a[mask] - b[mask])**2))
    return float('inf') if mse == 0 else 10.0 * np.log10(1.0 / mse)


def masked_ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """The project's SSIM of (H, W, C) images in [0, 1] averaged over the valid positions inside ``mask`` (H, W)
    and over channels; NaN when no valid position lies in the mask."""
    check_ssim_size(a)
    r = SSIM_WINDOW // 2
    inner = mask[r:-r, r:-r]
    if not inner.any():
        return float('nan')
    return float(np.mean([m[inner] for m in ssim_maps(a, b)]))


@METRIC_REGISTRY.register()
def calculate_region_psnr_mu(img: ArrayOrTensor,
                             img2: ArrayOrTensor,
                             region: str = 'extreme',
                             ldrs: Optional[Sequence[ArrayOrTensor]] = None,
                             exposures: Optional[Sequence[float]] = None,
                             mu: float = DEFAULT_MU,
                             **kwargs) -> float:
    """PSNR-μ inside one region (``extreme``, ``motion`` or ``rest``) of the scene.

    Args:
        img: Prediction, linear HDR (H, W, C) numpy or (C, H, W) tensor.
        img2: Ground truth, same layout.
        region: One of :data:`REGIONS`.
        ldrs: The scene's LDR frames (see :func:`region_masks`).
        exposures: Their exposure times.
        mu: μ of the tone mapping.
        **kwargs: Options of :func:`region_masks` (``gamma``, ``saturation``, ``dark_level``, ``shot_noise``,
            ``read_noise``, ``k_sigma``, ``rel_tol``, ``window``, ``ref_index``); other BasicSR options are ignored.

    Returns:
        PSNR-μ in dB over the region (NaN for an empty region).
    """
    a, b = prepare_pair(img, img2, 0)
    mask = _region(region, ldrs, exposures, _mask_options(kwargs))
    _check_shape(mask, a)
    return masked_psnr(mu_law(a, mu), mu_law(b, mu), mask)


@METRIC_REGISTRY.register()
def calculate_region_ssim_mu(img: ArrayOrTensor,
                             img2: ArrayOrTensor,
                             region: str = 'extreme',
                             ldrs: Optional[Sequence[ArrayOrTensor]] = None,
                             exposures: Optional[Sequence[float]] = None,
                             mu: float = DEFAULT_MU,
                             **kwargs) -> float:
    """SSIM-μ inside one region of the scene (arguments as :func:`calculate_region_psnr_mu`).

    Returns:
        Mean SSIM-μ over the region's valid positions and the channels (NaN when none).
    """
    a, b = prepare_pair(img, img2, 0)
    mask = _region(region, ldrs, exposures, _mask_options(kwargs))
    _check_shape(mask, a)
    return masked_ssim(mu_law(a, mu), mu_law(b, mu), mask)


_MASK_OPTIONS = tuple(p for p in inspect.signature(region_masks).parameters if p not in ('ldrs', 'exposures'))


def _mask_options(kwargs: Dict[str, object]) -> Dict[str, object]:
    return {k: v for k, v in kwargs.items() if k in _MASK_OPTIONS}


def _check_shape(mask: np.ndarray, img: np.ndarray) -> None:
    if mask.shape != img.shape[:2]:
        raise ValueError(f'Frames of {mask.shape} do not match the prediction of {img.shape[:2]}')
