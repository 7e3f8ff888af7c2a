"""Reading curves back from BasicSR training logs (``experiments/<name>/train_<name>_<time>.log``).

Two kinds of lines are understood:

* the message logger's iteration lines, ``[<name>..][epoch:  0, iter:     100, lr:(...)] [eta: ...] l_rec: 3.5e-02
  gap_psnr_mu: 1.3e+00 ...``: every ``key: value`` pair after the timing block is a logged scalar;
* ``HDRModel``'s validation tables: a line ending in ``Validation <dataset> @ iter <N>`` followed by a Markdown table
  whose ``| **mean** |`` row holds the mean of each metric column.

A resumed run writes a new log file; :func:`read_experiment_logs` concatenates them in time order, and later values
for the same iteration replace earlier ones.
"""
import glob
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

Curve = List[Tuple[int, float]]

_ITER_LINE = re.compile(r'\[epoch:\s*\d+, iter:\s*([\d,]+),.*?\]\s*\[eta:[^\]]*\]\s*(.*)$')
_SCALAR = re.compile(r'([A-Za-z_][\w]*): ([-+0-9.eEinfa]+)')
_VALIDATION = re.compile(r'Validation (\S+) @ iter (\d+)\s*$')


def read_experiment_logs(experiment_dir: str) -> str:
    """Text of every ``train_*.log`` of an experiment folder, oldest first (file names carry the start time)."""
    paths = sorted(glob.glob(osp.join(experiment_dir, 'train_*.log')))
    if not paths:
        raise FileNotFoundError(f'No train_*.log in {experiment_dir}')
    texts = []
    for path in paths:
        with open(path, 'r', encoding='utf-8', errors='replace') as f:
            texts.append(f.read())
    return '\n'.join(texts)


def _merge(points: Dict[int, float]) -> Curve:
    return sorted(points.items())


def logged_scalars(log_text: str) -> 'OrderedDict[str, Curve]':
    """Every scalar of the iteration lines, as ``{name: [(iter, value), ...]}`` sorted by iteration."""
    found: 'OrderedDict[str, Dict[int, float]]' = OrderedDict()
    for line in log_text.splitlines():
        match = _ITER_LINE.search(line)
        if not match:
            continue
        current_iter = int(match.group(1).replace(',', ''))
        for name, value in _SCALAR.findall(match.group(2)):
            try:
                found.setdefault(name, {})[current_iter] = float(value)
            except ValueError:
                continue
    return OrderedDict((name, _merge(points)) for name, points in found.items())


def validation_curves(log_text: str) -> 'OrderedDict[str, OrderedDict[str, Curve]]':
    """Mean validation metrics per iteration: ``{dataset: {metric: [(iter, value), ...]}}``."""
    found: 'OrderedDict[str, OrderedDict[str, Dict[int, float]]]' = OrderedDict()
    lines = log_text.splitlines()
    for index, line in enumerate(lines):
        match = _VALIDATION.search(line)
        if not match:
            continue
        dataset, current_iter = match.group(1), int(match.group(2))
        header = None
        for row in lines[index + 1:]:
            if not row.startswith('|'):
                break
            cells = [cell.strip() for cell in row.strip().strip('|').split('|')]
            if header is None:
                header = cells
            elif cells[0] == '**mean**':
                per_metric = found.setdefault(dataset, OrderedDict())
                for name, value in zip(header[1:], cells[1:]):
                    per_metric.setdefault(name, {})[current_iter] = float(value)
                break
    return OrderedDict((dataset, OrderedDict((metric, _merge(points)) for metric, points in metrics.items()))
                       for dataset, metrics in found.items())
