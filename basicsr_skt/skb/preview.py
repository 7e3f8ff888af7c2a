"""Coloured segment previews (``skb_preview.png``): segments blended over the tone-mapped source image."""
import cv2
import numpy as np


def label_colours(num_labels: int) -> np.ndarray:
    """A deterministic, well-spread BGR colour per label.

    Args:
        num_labels: K; colours are returned for labels 0..K.

    Returns:
        uint8 (K + 1, 3) BGR; row 0 (background) is black and is not drawn by :func:`make_preview`.
    """
    labels = np.arange(num_labels + 1, dtype=np.float64)
    hue = np.mod(labels * 0.618033988749895, 1.0) * 180.0  # golden-ratio steps around OpenCV's 0..180 hue circle
    saturation = 170 + 85 * np.mod(labels, 2)
    value = 255 - 60 * np.mod(labels // 2, 2)
    hsv = np.stack([hue, saturation, value], axis=1).astype(np.uint8)[None]
    colours = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0]
    colours[0] = 0
    return colours


def segment_boundaries(labels: np.ndarray) -> np.ndarray:
    """Boolean (H, W) map of pixels whose right or lower neighbour has another label."""
    edges = np.zeros(labels.shape, dtype=bool)
    edges[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edges[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edges


def make_preview(image_rgb: np.ndarray, labels: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend each segment's colour over the image and draw segment boundaries in white.

    Args:
        image_rgb: uint8 (H, W, 3) RGB source as given to the semantic model.
        labels: (H, W) label map (0 = background, left uncoloured).
        alpha: Opacity of the segment colours in [0, 1].

    Returns:
        uint8 (H, W, 3) **BGR** preview, ready for ``cv2.imwrite``.

    Raises:
        ValueError: Shapes differ or ``alpha`` is outside [0, 1].
    """
    if image_rgb.shape[:2] != labels.shape or image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError(f'image {image_rgb.shape} and labels {labels.shape} must be (H, W, 3) and (H, W)')
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must be in [0, 1], got {alpha}')
    image_bgr = image_rgb[:, :, ::-1].astype(np.float32)
    colours = label_colours(int(labels.max()) if labels.size else 0).astype(np.float32)
    coloured = labels > 0
    blended = image_bgr.copy()
    blended[coloured] = (1.0 - alpha) * image_bgr[coloured] + alpha * colours[labels[coloured]]
    blended[segment_boundaries(labels)] = 255.0
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)
