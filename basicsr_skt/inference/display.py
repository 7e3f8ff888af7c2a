"""Display images of a prediction: μ-law (as the papers' figures), Reinhard'02, a labelled strip, PNG files.

* μ-law of the prediction clipped to [0, 1] (:func:`mu_law_display`).
* Reinhard et al. 2002's global operator keyed by the log-average luminance (:func:`reinhard`).
* A labelled strip of the input frames and the results (:func:`comparison_strip`), written with :func:`write_png`.
"""
import os
from os import path as osp
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from basicsr_skt.utils.figures import GAP, hstack_with_gaps, label_band, to_uint8
from basicsr_skt.utils.tonemap import DEFAULT_MU, luminance, mu_law

__all__ = ['log_average_luminance', 'mu_law_display', 'reinhard', 'comparison_strip', 'write_png']


def log_average_luminance(img: np.ndarray, eps: float = 1e-6) -> float:
    """Reinhard'02's key statistic ``exp(mean(log(eps + Y)))`` of a linear BGR image (negatives count as 0)."""
    lum = np.maximum(luminance(img), 0.0).astype(np.float64)
    return float(np.exp(np.mean(np.log(eps + lum))))


def mu_law_display(hdr: np.ndarray, mu: float = DEFAULT_MU) -> np.ndarray:
    """μ-law tone mapping as in the HDR papers' figures: ``T(clip(H, 0, 1))``.

    Args:
        hdr: Linear ``H x W x 3`` image (a network's output lies in [0, 1]).
        mu: μ (5000).

    Returns:
        float32 ``H x W x 3`` display image in [0, 1] (same channel order).
    """
    return mu_law(np.clip(np.asarray(hdr, dtype=np.float32), 0.0, 1.0), mu).astype(np.float32)


def reinhard(hdr: np.ndarray, key: float = 0.18, white: Optional[float] = None, gamma: float = 2.2) -> np.ndarray:
    """Reinhard et al. 2002 global operator with the exposure set from image statistics, then display-encoded.

    ``Ls = key / Lavg * Y`` (``Lavg``: :func:`log_average_luminance`), ``Ld = Ls (1 + Ls / white²) / (1 + Ls)``,
    colours scaled by ``Ld / Y``, clipped to [0, 1] and raised to ``1 / gamma``.

    Args:
        hdr: Linear ``H x W x 3`` BGR image (any positive scale: the result does not depend on it).
        key: Target middle grey (0.18: the "normal" key of the paper).
        white: Smallest scaled luminance mapped to white; default the image's largest ``Ls`` (eq. 4 with
            ``L_white = max Ls``).
        gamma: Display encoding exponent (2.2).

    Returns:
        float32 ``H x W x 3`` BGR display image in [0, 1].
    """
    img = np.maximum(np.asarray(hdr, dtype=np.float32), 0.0)
    lum = luminance(img)
    scaled = (key / log_average_luminance(img)) * lum
    white = float(scaled.max()) if white is None else float(white)
    white = max(white, 1e-6)
    display_lum = scaled * (1.0 + scaled / white**2) / (1.0 + scaled)
    ratio = np.where(lum > 0, display_lum / np.maximum(lum, 1e-12), 0.0).astype(np.float32)
    out = np.clip(img * ratio[..., None], 0.0, 1.0)
    return np.power(out, 1.0 / gamma).astype(np.float32)


def comparison_strip(tiles: Sequence[Tuple[str, np.ndarray]], height: Optional[int] = 360) -> np.ndarray:
    """A labelled row of images (input frames, results) separated by white ``GAP`` columns.

    Args:
        tiles: ``(label, image)`` pairs; images float ``H x W x 3`` BGR in [0, 1], all of the same size.
        height: Tile height in pixels (tiles resized with area interpolation, aspect ratio kept); None: as is.

    Returns:
        uint8 BGR image of height ``h + LABEL_HEIGHT`` and width ``n * w + (n - 1) * GAP``, where ``h x w`` is the
        (resized) tile size.
    """
    images = [to_uint8(img) for _, img in tiles]
    if height and images[0].shape[0] != height:
        width = max(1, round(images[0].shape[1] * height / images[0].shape[0]))
        images = [cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA) for img in images]
    labelled = [np.concatenate([label_band(img.shape[1], label), img]) for (label, _), img in zip(tiles, images)]
    return hstack_with_gaps(labelled, GAP)


def write_png(path: str, img: np.ndarray) -> None:
    """Write a uint8 BGR image as PNG (any path, parent folders created). ``ValueError`` if encoding fails."""
    parent = osp.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    ok, encoded = cv2.imencode('.png', img)
    if not ok:
        raise ValueError(f'OpenCV failed to encode {path}')
    with open(path, 'wb') as f:
        f.write(encoded.tobytes())
