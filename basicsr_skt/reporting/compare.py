"""Compare test runs: per-scene metrics of several result folders side by side, with deltas against the first.

A test run (``python -m basicsr_skt.test``) writes ``results/<name>/<dataset>_metrics.csv``: a ``scene`` column, one
column per metric (and ``time_s``), one row per scene and a final ``mean`` row. :func:`read_metrics_csv` reads such a
file; :func:`comparison_table` turns several runs into one Markdown table; :func:`comparison_figure_values` gives the
per-run values that :func:`basicsr_skt.reporting.charts.bar_chart` draws.

Deltas are ``run - first run`` (the first run is the baseline). The ``mean`` row is recomputed over the scenes the
table shows (those of the first run present in every run), so that its deltas equal the mean of the per-scene deltas
even when a CSV holds other scenes.
"""
import csv
import glob
import math
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

#: Scene name of the mean row in the metrics CSV files.
MEAN_ROW = 'mean'
#: ``runs[label][scene][metric]`` -> value.
RunMetrics = Mapping[str, Mapping[str, Mapping[str, float]]]


def read_metrics_csv(path: str, keep_mean: bool = False) -> 'OrderedDict[str, Dict[str, float]]':
    """Read a ``<dataset>_metrics.csv`` written by a test run.

    Args:
        path: CSV file with a ``scene`` column and one numeric column per metric.
        keep_mean: Keep the ``mean`` row (dropped by default: :func:`comparison_table` recomputes it).

    Returns:
        scene -> {metric: value}, in file order.

    Raises:
        ValueError: No ``scene`` column, no rows, or a value that is not a number (the message names file and row).
    """
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or 'scene' not in reader.fieldnames:
            raise ValueError(f'{path}: expected a "scene" column, got {reader.fieldnames}')
        rows: 'OrderedDict[str, Dict[str, float]]' = OrderedDict()
        for line, row in enumerate(reader, start=2):
            scene = row.pop('scene')
            try:
                rows[scene] = {name: float(value) for name, value in row.items()}
            except (TypeError, ValueError) as err:
                raise ValueError(f'{path}, line {line}: non-numeric value ({err})') from err
    if not keep_mean:
        rows.pop(MEAN_ROW, None)
    if not rows:
        raise ValueError(f'{path}: no scene rows')
    return rows


def common_scenes(runs: RunMetrics) -> List[str]:
    """Scenes of the first run (its order, ``mean`` excluded) that every run has."""
    labels = list(runs)
    return [s for s in runs[labels[0]] if s != MEAN_ROW and all(s in runs[label] for label in labels[1:])]


def common_metrics(runs: RunMetrics, scenes: Sequence[str]) -> List[str]:
    """Metrics of the first run's first scene (its order) that every run has for every scene."""
    labels = list(runs)
    first = runs[labels[0]][scenes[0]]
    return [m for m in first if all(m in runs[label][scene] for label in labels for scene in scenes)]


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values))


def comparison_rows(runs: RunMetrics,
                    metrics: Optional[Sequence[str]] = None) -> Tuple[List[str], List[Tuple[str, Dict[str, List]]]]:
    """Values and deltas per scene and for the mean, the data of :func:`comparison_table`.

    Args:
        runs: label -> scene -> metric -> value; the first label is the baseline. At least two runs.
        metrics: Metrics to compare, in order; default :func:`common_metrics`.

    Returns:
        ``(metrics, rows)``; each row is ``(scene, {metric: [v_0, ..., v_k, v_1 - v_0, ..., v_k - v_0]})`` for the
        scenes of :func:`common_scenes`, then ``('mean', ...)`` with the mean value of each run over those scenes and
        the differences of those means (equal to the mean per-scene deltas).

    Raises:
        ValueError: Fewer than two runs, no common scene, or a requested metric missing from some run.
    """
    labels = list(runs)
    if len(labels) < 2:
        raise ValueError(f'Comparing needs at least two runs, got {labels}')
    scenes = common_scenes(runs)
    if not scenes:
        raise ValueError(f'The runs {labels} have no scene in common')
    available = common_metrics(runs, scenes)
    metrics = list(available if metrics is None else metrics)
    missing = [m for m in metrics if m not in available]
    if missing or not metrics:
        raise ValueError(f'Metrics {missing or metrics} are not in every run; common metrics: {available}')

    def cells(values: List[float]) -> List[float]:
        return values + [v - values[0] for v in values[1:]]

    rows = [(scene, {
        m: cells([float(runs[label][scene][m]) for label in labels])
        for m in metrics
    }) for scene in scenes]
    means = {m: cells([_mean([float(runs[label][scene][m]) for scene in scenes]) for label in labels]) for m in metrics}
    return metrics, rows + [(MEAN_ROW, means)]


def _format(value: float, digits: int, signed: bool = False) -> str:
    if not math.isfinite(value):
        return str(value)
    if round(value, digits) == 0:
        value = 0.0  # no '-0.0000'
    return f'{value:+.{digits}f}' if signed else f'{value:.{digits}f}'


def comparison_table(runs: RunMetrics, metrics: Optional[Sequence[str]] = None, digits: int = 4) -> str:
    """Markdown table of several runs: per scene and for the mean, each metric for every run and its delta.

    Columns per metric: ``<metric> <label>`` for every run, then ``<metric> Δ`` (two runs) or
    ``<metric> Δ <label>`` (more runs) for each run after the first: ``value - first run's value`` with a sign.
    The last row (``**mean**``) holds the means over the shown scenes and their differences.

    Args:
        runs: label -> scene -> metric -> value (e.g. ``{'base': read_metrics_csv(a), 'SKT': read_metrics_csv(b)}``);
            the first label is the baseline.
        metrics: Metrics to show; default every metric all runs share (first run's order).
        digits: Decimals of values and deltas.

    Returns:
        The table as one string (no trailing newline).

    Raises:
        ValueError: See :func:`comparison_rows`.
    """
    labels = list(runs)
    metrics, rows = comparison_rows(runs, metrics)
    deltas = ['Δ'] if len(labels) == 2 else [f'Δ {label}' for label in labels[1:]]
    header = ['scene'] + [f'{m} {col}' for m in metrics for col in labels + deltas]
    lines = ['| ' + ' | '.join(header) + ' |', '|---' * len(header) + '|']
    for scene, values in rows:
        cells = [_format(v, digits, signed=i >= len(labels)) for m in metrics for i, v in enumerate(values[m])]
        lines.append(f'| {"**mean**" if scene == MEAN_ROW else scene} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def comparison_figure_values(runs: RunMetrics, metric: str) -> 'OrderedDict[str, OrderedDict[str, float]]':
    """``values[label][scene]`` of one metric over the common scenes plus ``mean``, the input of ``bar_chart``."""
    _, rows = comparison_rows(runs, [metric])
    return OrderedDict(
        (label, OrderedDict((scene, values[metric][i]) for scene, values in rows)) for i, label in enumerate(runs))


def find_metrics_csv(path: str, dataset: Optional[str]) -> str:
    """The metrics CSV of a results folder (``<dataset>_metrics.csv``; the only one when ``dataset`` is None)."""
    if osp.isfile(path):
        return path
    if not osp.isdir(path):
        raise FileNotFoundError(f'{path}: neither a results folder nor a CSV file')
    if dataset is not None:
        csv_path = osp.join(path, f'{dataset}_metrics.csv')
        if not osp.isfile(csv_path):
            raise FileNotFoundError(f'{csv_path} does not exist')
        return csv_path
    found = sorted(glob.glob(osp.join(path, '*_metrics.csv')))
    if len(found) != 1:
        raise FileNotFoundError(f'{path}: expected one *_metrics.csv, found {[osp.basename(f) for f in found]}; '
                                'pass --dataset')
    return found[0]


def default_labels(paths: List[str]) -> List[str]:
    """Folder names (for CSV paths: the containing folder's name)."""
    return [osp.basename(osp.normpath(p if osp.isdir(p) else osp.dirname(osp.abspath(p)))) for p in paths]
