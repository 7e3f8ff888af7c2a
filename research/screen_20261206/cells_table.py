"""The Evidence v3 screen cells of 2026-12-06 side by side (``docs/evidence_v3_plan.md`` §7): one Markdown row per
cell, read from each cell's ``screen.json`` (``research/run_evidence_v3.py --validation-only``), e.g. from the
repository root::

    python -m research.screen_20261206.cells_table ../screens b_w1_conf b_w05_conf b_w1_none b_w05_none a_orm

The first cell is the default the screen rule compares against: ``Δ`` is a cell's ``skt_u`` validation PSNR-μ minus
the default cell's (the rule keeps the default unless a setting clears +0.10 dB).
"""
import argparse
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

#: (column, arm, metric) read from ``arm_means``.
COLUMNS = (('skt_u PSNR-μ', 'skt_u', 'psnr_mu'), ('teacher PSNR-μ (stage 1)', 'skt_u', 'teacher_psnr_mu'),
           ('teacher, priors zeroed', 'skt_u', 'teacher0_psnr_mu'), ('baseline_l PSNR-μ', 'baseline_l', 'psnr_mu'),
           ('supervised_lu PSNR-μ', 'supervised_lu', 'psnr_mu'))


def cell_means(root: str, cell: str) -> Optional[Dict[str, Dict[str, float]]]:
    """``arm_means`` of a cell's screen summary, or None while it has none."""
    path = osp.join(root, cell, 'screen.json')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)['arm_means']


def table_rows(root: str, cells: Sequence[str]) -> List[str]:
    """Header, separator and one row per finished cell; the first cell is the reference of ``Δ``."""
    rows = ['| cell | ' + ' | '.join(name for name, _, _ in COLUMNS) + ' | Δ skt_u vs ' + cells[0] + ' |',
            '|---|' + '---|' * (len(COLUMNS) + 1)]
    reference = cell_means(root, cells[0])
    for cell in cells:
        means = cell_means(root, cell)
        if means is None:
            continue
        values = [means.get(arm, {}).get(metric) for _, arm, metric in COLUMNS]
        delta = '–'
        if reference and 'skt_u' in reference and 'skt_u' in means:
            delta = f'{means["skt_u"]["psnr_mu"] - reference["skt_u"]["psnr_mu"]:+.2f}'
        rows.append(f'| {cell} | ' + ' | '.join('–' if v is None else f'{v:.2f}' for v in values) + f' | {delta} |')
    return rows


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('root', help='the folder holding the cells (one --work each)')
    parser.add_argument('cells', nargs='+', help='cell folders, the default first')
    args = parser.parse_args(argv)
    print('\n'.join(table_rows(args.root, args.cells)))


if __name__ == '__main__':
    main()
