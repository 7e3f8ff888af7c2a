"""HDR comparison figures drawn with OpenCV only (no matplotlib), and the drawing helpers other figures share.

Every figure is a ``uint8`` BGR image (``H x W x 3``) ready for ``cv2.imwrite``. Layouts are deterministic and their
sizes are closed-form functions of the inputs (see :func:`comparison_figure_size`). Text uses OpenCV's Hershey
fonts, which only draw ASCII (so ``mu`` stands for μ). Bar and line charts of experiments are in
:mod:`basicsr_skt.reporting.charts`.
"""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from basicsr_skt.utils.tonemap import DEFAULT_MU, mu_law

#: Pixels of background between two tiles of a comparison figure.
GAP = 4
#: Height of the band above each tile that holds its label (``label=True``).
LABEL_HEIGHT = 24
#: Width of the colour-bar tile placed right after the error heat map.
COLORBAR_WIDTH = 48
#: Default full scale of the error heat map: |T(pred) - T(gt)| >= this value gets the colour map's top colour.
DEFAULT_ERROR_SCALE = 0.1
#: Colour map of the error heat map; error 0 maps to BGR (4, 0, 0), the first entry of OpenCV's inferno map.
ERROR_COLORMAP = cv2.COLORMAP_INFERNO
#: Colour (BGR) of the rectangle that marks the zoomed crop on the full views (absent from the inferno map).
CROP_COLOUR = (0, 255, 0)
BACKGROUND = 255
FONT = cv2.FONT_HERSHEY_SIMPLEX
TEXT_COLOUR = (0, 0, 0)


# ----------------------------------------------------------------------------------------------------------------
# Small drawing helpers
# ----------------------------------------------------------------------------------------------------------------
def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] (values outside are clipped) -> C-contiguous ``uint8`` by rounding ``img * 255``
    (OpenCV drawing needs C order; numpy keeps the memory layout of a transposed view otherwise)."""
    return np.ascontiguousarray(np.round(np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0) * 255.0), np.uint8)


def put_text(canvas: np.ndarray, text: str, origin: Tuple[int, int], scale: float = 0.5) -> None:
    """Draw ASCII text with its baseline-left corner at ``origin`` = (x, y); clipped to ``canvas``."""
    cv2.putText(canvas, text, origin, FONT, scale, TEXT_COLOUR, 1, cv2.LINE_AA)


def fit_text(text: str, max_width: int, scale: float) -> str:
    """Shorten ``text`` (ending it with '..') until it is at most ``max_width`` pixels wide at ``scale``."""
    if cv2.getTextSize(text, FONT, scale, 1)[0][0] <= max_width:
        return text
    while text and cv2.getTextSize(text + '..', FONT, scale, 1)[0][0] > max_width:
        text = text[:-1]
    return text + '..'


def label_band(width: int, text: str) -> np.ndarray:
    """White ``LABEL_HEIGHT x width`` band with ``text`` (clipped to the band)."""
    band = np.full((LABEL_HEIGHT, width, 3), BACKGROUND, dtype=np.uint8)
    put_text(band, text, (4, LABEL_HEIGHT - 8))
    return band


def hstack_with_gaps(tiles: Sequence[np.ndarray], gap: int) -> np.ndarray:
    """Concatenate equally tall tiles left to right with ``gap`` background columns between neighbours."""
    height = tiles[0].shape[0]
    spacer = np.full((height, gap, 3), BACKGROUND, dtype=np.uint8)
    parts: List[np.ndarray] = []
    for index, tile in enumerate(tiles):
        if index:
            parts.append(spacer)
        parts.append(tile)
    return np.concatenate(parts, axis=1)


# ----------------------------------------------------------------------------------------------------------------
# Comparison figure
# ----------------------------------------------------------------------------------------------------------------
def error_map(pred: np.ndarray, gt: np.ndarray, mu: float = DEFAULT_MU) -> np.ndarray:
    """Per-pixel error in μ-law space: mean over channels of ``|T(clip(pred)) - T(clip(gt))|``.

    Args:
        pred: ``H x W x 3`` linear HDR prediction (BGR, float), clipped to [0, 1] before tone mapping.
        gt: ``H x W x 3`` linear HDR ground truth (BGR, float), clipped to [0, 1] before tone mapping.
        mu: μ of the μ-law.

    Returns:
        float32 ``H x W`` array in [0, 1]; exactly 0 where ``pred == gt``.
    """
    pred_mu = mu_law(np.clip(np.asarray(pred, dtype=np.float32), 0.0, 1.0), mu)
    gt_mu = mu_law(np.clip(np.asarray(gt, dtype=np.float32), 0.0, 1.0), mu)
    return np.abs(pred_mu - gt_mu).mean(axis=2).astype(np.float32)


def error_heatmap(error: np.ndarray, scale: float = DEFAULT_ERROR_SCALE) -> np.ndarray:
    """Colour an ``H x W`` error map with a fixed scale so that figures of different runs are comparable.

    Args:
        error: ``H x W`` non-negative errors (e.g. from :func:`error_map`).
        scale: Error shown with the top colour; larger errors saturate. 0 always maps to BGR (4, 0, 0).

    Returns:
        ``uint8`` ``H x W x 3`` BGR heat map (OpenCV's inferno colour map of ``round(255 * min(error / scale, 1))``).
    """
    if not scale > 0:
        raise ValueError(f'error scale must be > 0, got {scale}')
    return cv2.applyColorMap(to_uint8(np.asarray(error, dtype=np.float32) / scale), ERROR_COLORMAP)


def colour_bar(height: int, scale: float = DEFAULT_ERROR_SCALE) -> np.ndarray:
    """Vertical colour bar of the error heat map: ``height x COLORBAR_WIDTH``, error ``scale`` at the top, 0 at the
    bottom (a 12-pixel stripe starting at column 4, tick labels on its right)."""
    levels = np.linspace(1.0, 0.0, height, dtype=np.float32)[:, None].repeat(12, axis=1)
    bar = np.full((height, COLORBAR_WIDTH, 3), BACKGROUND, dtype=np.uint8)
    bar[:, 4:16] = error_heatmap(levels * scale, scale)
    put_text(bar, f'{scale:g}', (18, min(12, height - 1)), scale=0.35)
    put_text(bar, '0', (18, height - 2), scale=0.35)
    return bar


def max_error_window(error: np.ndarray, size: int) -> Tuple[int, int]:
    """Top-left corner of the ``size x size`` window with the largest summed error.

    Args:
        error: ``H x W`` error map.
        size: Window side, ``1 <= size <= min(H, W)``.

    Returns:
        ``(y, x)``: the first maximum in raster order (deterministic on ties).
    """
    height, width = error.shape
    if not 1 <= size <= min(height, width):
        raise ValueError(f'crop size {size} must lie in [1, {min(height, width)}] for a {height} x {width} image')
    integral = np.zeros((height + 1, width + 1), dtype=np.float64)
    integral[1:, 1:] = np.asarray(error, dtype=np.float64).cumsum(axis=0).cumsum(axis=1)
    sums = (integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size])
    y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(y), int(x)


def default_crop_size(height: int, width: int) -> int:
    """Side of the automatic crop: ``max(1, min(H, W) // 4)`` (250 for a 1500 x 1000 image)."""
    return max(1, min(height, width) // 4)


def rectangle_thickness(height: int, width: int) -> int:
    """Line width of the crop rectangle: ``max(1, round(min(H, W) / 250))``."""
    return max(1, int(round(min(height, width) / 250)))


def comparison_figure_size(num_ldrs: int, height: int, width: int, label: bool = True) -> Tuple[int, int]:
    """``(figure_height, figure_width)`` of :func:`comparison_figure` for ``num_ldrs`` frames of ``height x width``.

    With ``N = num_ldrs``: width ``= (N + 3) * W + COLORBAR_WIDTH + 2 * H + (N + 5) * GAP`` and height
    ``= H + LABEL_HEIGHT`` (``label=True``) or ``H``.
    """
    figure_width = (num_ldrs + 3) * width + COLORBAR_WIDTH + 2 * height + (num_ldrs + 5) * GAP
    return height + (LABEL_HEIGHT if label else 0), figure_width


def _check_images(ldrs: Sequence[np.ndarray], pred: np.ndarray, gt: np.ndarray) -> Tuple[int, int]:
    shape = np.shape(gt)
    if len(shape) != 3 or shape[2] != 3:
        raise ValueError(f'gt must be an H x W x 3 BGR image, got shape {shape}')
    for name, img in [('pred', pred)] + [(f'ldrs[{i}]', ldr) for i, ldr in enumerate(ldrs)]:
        if np.shape(img) != shape:
            raise ValueError(f'{name} has shape {np.shape(img)}; every image must match gt ({shape})')
    return shape[0], shape[1]


def _resolve_crop(crop: Optional[Tuple[int, int, int]], error: np.ndarray,
                  crop_size: Optional[int]) -> Tuple[int, int, int]:
    """Validate a user crop, or pick the window with the largest error."""
    height, width = error.shape
    if crop is None:
        size = crop_size if crop_size is not None else default_crop_size(height, width)
        return max_error_window(error, size) + (size, )
    y, x, size = (int(v) for v in crop)
    if size < 1 or y < 0 or x < 0 or y + size > height or x + size > width:
        raise ValueError(f'crop (y={y}, x={x}, size={size}) does not fit in the {height} x {width} image')
    return y, x, size


def comparison_figure(ldrs: Sequence[np.ndarray],
                      pred: np.ndarray,
                      gt: np.ndarray,
                      mu: float = DEFAULT_MU,
                      crop: Optional[Tuple[int, int, int]] = None,
                      label: bool = True,
                      error_scale: float = DEFAULT_ERROR_SCALE,
                      crop_size: Optional[int] = None) -> np.ndarray:
    """One-row comparison panel of an HDR prediction against its ground truth.

    Panel order, left to right, tiles separated by ``GAP`` white columns (no outer margin):

    1. the ``N`` LDR frames as given (``H x W`` each; the middle one, index ``N // 2``, is labelled as reference),
    2. μ-law prediction ``T(clip(pred, 0, 1))`` (``H x W``),
    3. μ-law ground truth (``H x W``),
    4. error heat map of :func:`error_map` with the fixed scale ``error_scale`` (``H x W``, inferno colour map,
       error 0 -> BGR (4, 0, 0)),
    5. its colour bar (``H x COLORBAR_WIDTH``, labelled ``0`` and ``error_scale``),
    6. zoomed crop of the μ-law prediction (``H x H``, nearest-neighbour upscaling),
    7. zoomed crop of the μ-law ground truth (``H x H``).

    The crop is marked by a ``CROP_COLOUR`` rectangle (:func:`rectangle_thickness` wide) on tiles 2-4. With
    ``label=True`` a ``LABEL_HEIGHT`` band above every tile holds its name. Size: see :func:`comparison_figure_size`,
    i.e. ``(H + LABEL_HEIGHT * label, (N + 3) * W + COLORBAR_WIDTH + 2 * H + (N + 5) * GAP)``.

    Args:
        ldrs: ``N >= 0`` LDR frames, float ``H x W x 3`` BGR in [0, 1] (as :func:`~basicsr_skt.utils.hdr_io.read_ldr`).
        pred: Linear HDR prediction, float ``H x W x 3`` BGR (typically [0, 1]).
        gt: Linear HDR ground truth, float ``H x W x 3`` BGR.
        mu: μ of the μ-law tone mapping.
        crop: ``(y, x, size)`` of the square zoom window; default: the ``crop_size`` window with the largest error
            (:func:`max_error_window`).
        label: Draw the label bands.
        error_scale: Error (in μ-law units) shown with the top colour of the heat map.
        crop_size: Side of the automatic crop window; default :func:`default_crop_size`.

    Returns:
        ``uint8`` BGR figure.

    Raises:
        ValueError: Mismatched shapes, a crop that does not fit, or a non-positive ``error_scale``.
    """
    height, width = _check_images(ldrs, pred, gt)
    pred_mu = to_uint8(mu_law(np.clip(np.asarray(pred, dtype=np.float32), 0.0, 1.0), mu))
    gt_mu = to_uint8(mu_law(np.clip(np.asarray(gt, dtype=np.float32), 0.0, 1.0), mu))
    error = error_map(pred, gt, mu)
    heatmap = error_heatmap(error, error_scale)
    y, x, size = _resolve_crop(crop, error, crop_size)
    zooms = [
        cv2.resize(img[y:y + size, x:x + size], (height, height), interpolation=cv2.INTER_NEAREST)
        for img in (pred_mu, gt_mu)
    ]
    thickness = rectangle_thickness(height, width)
    for full_view in (pred_mu, gt_mu, heatmap):
        cv2.rectangle(full_view, (x, y), (x + size - 1, y + size - 1), CROP_COLOUR, thickness)
    ref = len(ldrs) // 2
    named_tiles = [(f'LDR {i + 1}' + (' (ref)' if i == ref else ''), to_uint8(ldr)) for i, ldr in enumerate(ldrs)]
    named_tiles += [('pred (mu-law)', pred_mu), ('GT (mu-law)', gt_mu), (f'|error| mu-law, 0-{error_scale:g}', heatmap),
                    ('', colour_bar(height, error_scale)), (f'pred crop x{height / size:.3g}', zooms[0]),
                    (f'GT crop x{height / size:.3g}', zooms[1])]
    if label:
        named_tiles = [(name, np.concatenate([label_band(tile.shape[1], name), tile])) for name, tile in named_tiles]
    return hstack_with_gaps([tile for _, tile in named_tiles], GAP)
