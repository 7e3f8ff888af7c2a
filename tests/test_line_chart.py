"""Line charts of validation curves (basicsr_skt/reporting/charts.py)."""
import numpy as np
import pytest

from basicsr_skt.reporting.charts import line_chart, line_chart_size


def test_line_chart_draws_each_series_in_its_colour():
    image = line_chart({'a': [(0, 1.0), (10, 2.0)], 'b': [(0, 3.0), (10, float('nan'))]}, 'title')
    assert image.shape[:2] == line_chart_size() and image.dtype == np.uint8
    for colour in ((180, 119, 31), (14, 127, 255)):  # PALETTE[0], PALETTE[1]
        assert np.all(image == colour, axis=-1).sum() > 10
    with pytest.raises(ValueError, match='finite point'):
        line_chart({'a': [(0, float('nan'))]}, 'empty')
