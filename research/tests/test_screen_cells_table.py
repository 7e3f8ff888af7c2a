"""research/screen_20261206/cells_table.py: rows and Δ from the cells' screen summaries."""
import json

from research.screen_20261206.cells_table import table_rows


def write_cell(root, name, means):
    (root / name).mkdir()
    (root / name / 'screen.json').write_text(json.dumps({'arm_means': means}))


def test_rows_show_the_means_and_the_difference_to_the_first_cell(tmp_path):
    write_cell(tmp_path, 'default', {'skt_u': {'psnr_mu': 33.4357, 'teacher_psnr_mu': 34.8466},
                                     'baseline_l': {'psnr_mu': 33.2263}})
    write_cell(tmp_path, 'half', {'skt_u': {'psnr_mu': 33.5812}})
    rows = table_rows(str(tmp_path), ['default', 'half', 'unfinished'])
    assert len(rows) == 4  # header, separator, the two finished cells
    assert rows[2] == '| default | 33.44 | 34.85 | – | 33.23 | – | +0.00 |'
    assert rows[3] == '| half | 33.58 | – | – | – | – | +0.15 |'
