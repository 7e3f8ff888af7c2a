"""Figures for papers and reports, drawn with OpenCV only (no matplotlib): HDR comparison panels and bar charts.

Every function returns a ``uint8`` BGR image (``H x W x 3``) ready for ``cv2.imwrite``. Layouts are deterministic and
their sizes are closed-form functions of the inputs (see :func:`comparison_figure_size` and :func:`bar_chart_size`).
Text uses OpenCV's Hershey fonts, which only draw ASCII (so ``mu`` stands for μ).
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

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

#: Bar-chart layout (pixels): margins around the plot area and the legend column on the right.
CHART_LEFT = 64
CHART_TOP = 36
CHART_BOTTOM = 112
CHART_LEGEND_WIDTH = 160
CHART_GROUP_GAP = 12
#: Run colours of :func:`bar_chart` (BGR; the Tableau 10 palette), at most one run per colour.
PALETTE = ((180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148), (75, 86, 140),
           (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23))
GRID_COLOUR = (220, 220, 220)


# ----------------------------------------------------------------------------------------------------------------
# Small drawing helpers
# ----------------------------------------------------------------------------------------------------------------
def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] (values outside are clipped) -> C-contiguous ``uint8`` by rounding ``img * 255``
    (OpenCV drawing needs C order; numpy keeps the memory layout of a transposed view otherwise)."""
    return np.ascontiguousarray(np.round(np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0) * 255.0), np.uint8)


def _put_text(canvas: np.ndarray, text: str, origin: Tuple[int, int], scale: float = 0.5) -> None:
    """Draw ASCII text with its baseline-left corner at ``origin`` = (x, y); clipped to ``canvas``."""
    cv2.putText(canvas, text, origin, FONT, scale, TEXT_COLOUR, 1, cv2.LINE_AA)


def _fit_text(text: str, max_width: int, scale: float) -> str:
    """Shorten ``text`` (ending it with '..') until it is at most ``max_width`` pixels wide at ``scale``."""
    if cv2.getTextSize(text, FONT, scale, 1)[0][0] <= max_width:
        return text
    while text and cv2.getTextSize(text + '..', FONT, scale, 1)[0][0] > max_width:
        text = text[:-1]
    return text + '..'


def label_band(width: int, text: str) -> np.ndarray:
    """White ``LABEL_HEIGHT x width`` band with ``text`` (clipped to the band)."""
    band = np.full((LABEL_HEIGHT, width, 3), BACKGROUND, dtype=np.uint8)
    _put_text(band, text, (4, LABEL_HEIGHT - 8))
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
    _put_text(bar, f'{scale:g}', (18, min(12, height - 1)), scale=0.35)
    _put_text(bar, '0', (18, height - 2), scale=0.35)
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


# ----------------------------------------------------------------------------------------------------------------
# Bar chart
# ----------------------------------------------------------------------------------------------------------------
def bar_chart_size(num_groups: int, num_runs: int, bar_width: int = 12, plot_height: int = 320) -> Tuple[int, int]:
    """``(height, width)`` of :func:`bar_chart`: height ``= CHART_TOP + plot_height + CHART_BOTTOM``, width
    ``= CHART_LEFT + num_groups * (num_runs * bar_width + CHART_GROUP_GAP) + CHART_LEGEND_WIDTH``."""
    return (CHART_TOP + plot_height + CHART_BOTTOM,
            CHART_LEFT + num_groups * (num_runs * bar_width + CHART_GROUP_GAP) + CHART_LEGEND_WIDTH)


def nice_ticks(low: float, high: float, max_ticks: int = 6) -> np.ndarray:
    """Round tick values (steps of 1, 2, 2.5 or 5 x 10^k) covering ``[low, high]``; the first and last tick
    enclose the interval."""
    if not high > low:
        raise ValueError(f'tick range needs high > low, got [{low}, {high}]')
    raw = (high - low) / max(1, max_ticks - 1)
    magnitude = 10.0**math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw * (1 - 1e-9))
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return np.arange(first, last + 1) * step


def _auto_range(values: Sequence[float]) -> Tuple[float, float]:
    """Data range padded so that the smallest bar stays visible: ``[min - 0.15 span, max + 0.05 span]``."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    if high == low:
        pad = abs(low) * 0.05 or 1.0
        return low - pad, high + pad
    span = high - low
    return low - 0.15 * span, high + 0.05 * span


def _tick_text(value: float, step: float) -> str:
    """Tick label with as many decimals as the step needs (step 0.25 -> 2, step 5 -> 0)."""
    step_text = f'{step:.10g}'
    decimals = len(step_text.split('.')[1]) if '.' in step_text and 'e' not in step_text else 0
    return f'{value:.{decimals}f}'


def _draw_vertical_text(canvas: np.ndarray, text: str, x_centre: int, top: int, length: int) -> None:
    """Text reading bottom-to-top, its end at row ``top``, centred on column ``x_centre``, at most ``length`` px."""
    text = _fit_text(text, length, 0.4)
    (text_w, text_h), baseline = cv2.getTextSize(text, FONT, 0.4, 1)
    strip = np.full((text_h + baseline + 2, text_w + 2, 3), BACKGROUND, dtype=np.uint8)
    _put_text(strip, text, (1, text_h + 1), scale=0.4)
    rotated = np.ascontiguousarray(np.rot90(strip))  # counter-clockwise: the text now reads upwards
    rot_h, rot_w = rotated.shape[:2]
    left = max(0, min(canvas.shape[1] - rot_w, x_centre - rot_w // 2))
    canvas[top:top + rot_h, left:left + rot_w] = rotated[:canvas.shape[0] - top]


def _draw_axes(canvas: np.ndarray, ticks: np.ndarray, to_row, plot_right: int, bottom: int) -> None:
    step = float(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    for tick in ticks:
        row = to_row(tick)
        cv2.line(canvas, (CHART_LEFT, row), (plot_right, row), GRID_COLOUR, 1)
        text = _tick_text(float(tick), step)
        text_w = cv2.getTextSize(text, FONT, 0.4, 1)[0][0]
        _put_text(canvas, text, (CHART_LEFT - 6 - text_w, row + 4), scale=0.4)
    cv2.line(canvas, (CHART_LEFT, CHART_TOP), (CHART_LEFT, bottom), TEXT_COLOUR, 1)
    cv2.line(canvas, (CHART_LEFT, bottom), (plot_right, bottom), TEXT_COLOUR, 1)


def _draw_legend(canvas: np.ndarray, runs: Sequence[str], left: int) -> None:
    for index, run in enumerate(runs):
        top = CHART_TOP + 4 + 22 * index
        cv2.rectangle(canvas, (left + 8, top), (left + 21, top + 13), PALETTE[index], -1)
        _put_text(canvas, _fit_text(run, CHART_LEGEND_WIDTH - 34, 0.45), (left + 28, top + 12), scale=0.45)


def bar_chart(values: Dict[str, Dict[str, float]],
              metric: str,
              scenes: Optional[Sequence[str]] = None,
              y_range: Optional[Tuple[float, float]] = None,
              title: Optional[str] = None,
              bar_width: int = 12,
              plot_height: int = 320) -> np.ndarray:
    """Grouped bar chart: one group per scene, one bar per run, legend on the right.

    Layout: a ``CHART_LEFT`` margin with the y tick labels, the plot area (``plot_height`` rows; one group of
    ``len(runs) * bar_width`` pixels plus ``CHART_GROUP_GAP`` per scene, bars in run order, ``PALETTE`` colours), a
    ``CHART_LEGEND_WIDTH`` legend column; the title in the ``CHART_TOP`` band and scene names (vertical, shortened
    to fit) in the ``CHART_BOTTOM`` band. Size: :func:`bar_chart_size`. Bars rise from the bottom of the y range;
    a bar of value ``v`` is ``round((v - y0) / (y1 - y0) * plot_height)`` pixels tall (clipped to the plot), where
    ``(y0, y1)`` is ``y_range`` or, by default, the data range widened to round ticks. Missing or NaN values draw
    no bar.

    Args:
        values: ``values[run][scene]`` = value of ``metric``; 1 to ``len(PALETTE)`` runs (dict order = bar order).
        metric: Metric name (the default title).
        scenes: Group order; default: every scene in first-seen order over the runs.
        y_range: ``(y0, y1)`` with ``y1 > y0``; default automatic.
        title: Text of the top band; default ``metric``.
        bar_width: Width of one bar in pixels.
        plot_height: Height of the plot area in pixels.

    Returns:
        ``uint8`` BGR image of size :func:`bar_chart_size` ``(len(scenes), len(values), bar_width, plot_height)``.

    Raises:
        ValueError: No run, too many runs, no scene, or an empty ``y_range``.
    """
    runs = list(values)
    if not 1 <= len(runs) <= len(PALETTE):
        raise ValueError(f'bar_chart draws 1 to {len(PALETTE)} runs, got {len(runs)}')
    if scenes is None:
        scenes = list(dict.fromkeys(scene for run in runs for scene in values[run]))
    if not scenes:
        raise ValueError('bar_chart needs at least one scene')
    data = [[float(values[run].get(scene, math.nan)) for run in runs] for scene in scenes]
    if y_range is None:
        ticks = nice_ticks(*_auto_range([v for group in data for v in group]))
        y_range = (float(ticks[0]), float(ticks[-1]))
    elif not y_range[1] > y_range[0]:
        raise ValueError(f'y_range must have y1 > y0, got {y_range}')
    else:
        ticks = nice_ticks(*y_range)
        ticks = ticks[(ticks >= y_range[0] - 1e-9) & (ticks <= y_range[1] + 1e-9)]
    y0, y1 = y_range
    height, width = bar_chart_size(len(scenes), len(runs), bar_width, plot_height)
    canvas = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    bottom = CHART_TOP + plot_height
    group_width = len(runs) * bar_width + CHART_GROUP_GAP
    plot_right = CHART_LEFT + len(scenes) * group_width

    def to_row(value: float) -> int:
        return bottom - int(round(min(max((value - y0) / (y1 - y0), 0.0), 1.0) * plot_height))

    _draw_axes(canvas, ticks, to_row, plot_right, bottom)
    for g, (scene, group) in enumerate(zip(scenes, data)):
        group_left = CHART_LEFT + g * group_width + CHART_GROUP_GAP // 2
        for r, value in enumerate(group):
            top = to_row(value) if math.isfinite(value) else bottom
            if top < bottom:
                left = group_left + r * bar_width
                canvas[top:bottom, left:left + bar_width - 1] = PALETTE[r]  # 1 px gap between neighbouring bars
        _draw_vertical_text(canvas, str(scene), group_left + group_width // 2 - CHART_GROUP_GAP // 2, bottom + 6,
                            CHART_BOTTOM - 10)
    _put_text(canvas, _fit_text(title or metric, width - 16, 0.55), (8, CHART_TOP - 14), scale=0.55)
    _draw_legend(canvas, runs, plot_right)
    return canvas


# ----------------------------------------------------------------------------------------------------------------
# Line chart
# ----------------------------------------------------------------------------------------------------------------
def line_chart_size(plot_width: int = 480, plot_height: int = 320) -> Tuple[int, int]:
    """``(height, width)`` of :func:`line_chart`: ``(CHART_TOP + plot_height + CHART_BOTTOM,
    CHART_LEFT + plot_width + CHART_LEGEND_WIDTH)``."""
    return CHART_TOP + plot_height + CHART_BOTTOM, CHART_LEFT + plot_width + CHART_LEGEND_WIDTH


def line_chart(series: Dict[str, Sequence[Tuple[float, float]]],
               title: str,
               x_label: str = 'iteration',
               plot_width: int = 480,
               plot_height: int = 320) -> np.ndarray:
    """Curves of ``(x, y)`` points, one colour per series (``PALETTE``), legend on the right, e.g. validation curves.

    The x range spans all points; the y range is the data range widened to round ticks (as :func:`bar_chart`). Each
    point is a dot joined to the next by a line; x tick labels (min, middle, max) and ``x_label`` sit in the bottom
    band. Non-finite points are skipped.

    Args:
        series: ``series[name]`` = points in x order; 1 to ``len(PALETTE)`` series.
        title: Text of the top band.
        x_label: Label of the x axis.
        plot_width: Width of the plot area in pixels.
        plot_height: Height of the plot area in pixels.

    Returns:
        ``uint8`` BGR image of size :func:`line_chart_size` ``(plot_width, plot_height)``.

    Raises:
        ValueError: No series, too many series, or no finite point at all.
    """
    names = list(series)
    if not 1 <= len(names) <= len(PALETTE):
        raise ValueError(f'line_chart draws 1 to {len(PALETTE)} series, got {len(names)}')
    points = {name: [(float(x), float(y)) for x, y in series[name] if math.isfinite(x) and math.isfinite(y)]
              for name in names}
    xs = [x for pts in points.values() for x, _ in pts]
    if not xs:
        raise ValueError('line_chart needs at least one finite point')
    ticks = nice_ticks(*_auto_range([y for pts in points.values() for _, y in pts]))
    y0, y1 = float(ticks[0]), float(ticks[-1])
    x0, x1 = min(xs), max(xs)
    height, width = line_chart_size(plot_width, plot_height)
    canvas = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    bottom, plot_right = CHART_TOP + plot_height, CHART_LEFT + plot_width

    def to_row(value: float) -> int:
        return bottom - int(round(min(max((value - y0) / (y1 - y0), 0.0), 1.0) * plot_height))

    def to_col(value: float) -> int:
        return CHART_LEFT + (int(round((value - x0) / (x1 - x0) * (plot_width - 1))) if x1 > x0 else plot_width // 2)

    _draw_axes(canvas, ticks, to_row, plot_right, bottom)
    for index, name in enumerate(names):
        pixels = [(to_col(x), to_row(y)) for x, y in points[name]]
        for start, end in zip(pixels, pixels[1:]):
            cv2.line(canvas, start, end, PALETTE[index], 2, cv2.LINE_AA)
        for pixel in pixels:
            cv2.circle(canvas, pixel, 3, PALETTE[index], -1, cv2.LINE_AA)
    for value in sorted({x0, (x0 + x1) / 2, x1}):
        text = f'{value:.6g}'
        text_w = cv2.getTextSize(text, FONT, 0.4, 1)[0][0]
        _put_text(canvas, text, (max(0, to_col(value) - text_w // 2), bottom + 16), scale=0.4)
    _put_text(canvas, x_label, (CHART_LEFT + plot_width // 2 - 30, bottom + 36), scale=0.45)
    _put_text(canvas, _fit_text(title, width - 16, 0.55), (8, CHART_TOP - 14), scale=0.55)
    _draw_legend(canvas, names, plot_right)
    return canvas
