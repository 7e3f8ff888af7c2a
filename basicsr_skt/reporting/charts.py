"""Charts of experiments drawn with OpenCV only (no matplotlib): grouped bar charts of per-scene metrics
(``scripts/compare_results.py``) and line charts of validation curves (``research/run_evidence.py``).

Every chart is a ``uint8`` BGR image (``H x W x 3``) ready for ``cv2.imwrite``; its size is a closed-form function of
the inputs (:func:`bar_chart_size`, :func:`line_chart_size`). Text and background follow
:mod:`basicsr_skt.utils.figures`.
"""
import math
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from basicsr_skt.utils.figures import BACKGROUND, FONT, TEXT_COLOUR, fit_text, put_text

__all__ = ['PALETTE', 'bar_chart_size', 'nice_ticks', 'bar_chart', 'line_chart_size', 'line_chart']

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
    text = fit_text(text, length, 0.4)
    (text_w, text_h), baseline = cv2.getTextSize(text, FONT, 0.4, 1)
    strip = np.full((text_h + baseline + 2, text_w + 2, 3), BACKGROUND, dtype=np.uint8)
    put_text(strip, text, (1, text_h + 1), scale=0.4)
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
        put_text(canvas, text, (CHART_LEFT - 6 - text_w, row + 4), scale=0.4)
    cv2.line(canvas, (CHART_LEFT, CHART_TOP), (CHART_LEFT, bottom), TEXT_COLOUR, 1)
    cv2.line(canvas, (CHART_LEFT, bottom), (plot_right, bottom), TEXT_COLOUR, 1)


def _draw_legend(canvas: np.ndarray, runs: Sequence[str], left: int) -> None:
    for index, run in enumerate(runs):
        top = CHART_TOP + 4 + 22 * index
        cv2.rectangle(canvas, (left + 8, top), (left + 21, top + 13), PALETTE[index], -1)
        put_text(canvas, fit_text(run, CHART_LEGEND_WIDTH - 34, 0.45), (left + 28, top + 12), scale=0.45)


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
    put_text(canvas, fit_text(title or metric, width - 16, 0.55), (8, CHART_TOP - 14), scale=0.55)
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
        put_text(canvas, text, (max(0, to_col(value) - text_w // 2), bottom + 16), scale=0.4)
    put_text(canvas, x_label, (CHART_LEFT + plot_width // 2 - 30, bottom + 36), scale=0.45)
    put_text(canvas, fit_text(title, width - 16, 0.55), (8, CHART_TOP - 14), scale=0.55)
    _draw_legend(canvas, names, plot_right)
    return canvas
