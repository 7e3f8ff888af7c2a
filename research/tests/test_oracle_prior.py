"""The oracle prior backend (diagnostics only): the source image pooled to a cell grid, and min_area by image size."""
import numpy as np
import pytest

from basicsr_skt.skb.format import known_backends, load_scene_priors
from basicsr_skt.skb.source import hdr_to_display_rgb
from basicsr_skt.synthesis.demo_scenes import DemoSceneConfig, make_demo_dataset
from basicsr_skt.utils.hdr_io import read_hdr
from research import make_oracle_priors
from research.oracle_backend import OracleBackend


def test_oracle_embedding_is_the_cell_mean_of_the_image():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)
    embedding, cell = OracleBackend(cell=4, min_area=0).embed(image)
    assert embedding.dtype == np.float16 and embedding.shape == (3, 3, 5) and cell == (4.0, 4.0)
    expected = image.reshape(3, 4, 5, 4, 3).mean(axis=(1, 3)).transpose(2, 0, 1) / 255.0
    np.testing.assert_allclose(embedding.astype(np.float64), expected, atol=1e-3)  # float16 rounding
    # sizes that the cell does not divide: ceil grid, cells of H / He x W / We pixels
    embedding, cell = OracleBackend(cell=4).embed(image[:10, :18])
    assert embedding.shape == (3, 3, 5) and cell == pytest.approx((10 / 3, 18 / 5))
    flat = np.full((10, 18, 3), 128, np.uint8)
    np.testing.assert_allclose(OracleBackend(cell=4).embed(flat)[0], 128 / 255, atol=1e-3)


def test_oracle_labels_and_min_area_fraction_scale_with_the_image():
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, 30:] = 255
    image[2:6, 2:6] = 120  # 16 px: kept with min_area 10, merged into background with 0.01 * 2400 = 24
    sharp = dict(felzenszwalb_scale=1, felzenszwalb_sigma=0, felzenszwalb_min_size=1)
    absolute = OracleBackend(min_area=10, **sharp)
    scaled = OracleBackend(min_area=10, min_area_fraction=0.01, **sharp)
    assert absolute.min_area_for((40, 60)) == 10 and scaled.min_area_for((40, 60)) == 24
    assert scaled.min_area_for((400, 600)) == 2400
    labels_abs, labels_scaled = absolute.segment(image), scaled.segment(image)
    assert labels_abs.max() == 3 and labels_scaled.max() == 2
    assert np.all(labels_scaled[2:6, 2:6] == 0) and np.all(labels_abs[2:6, 2:6] == 3)
    result = scaled.extract(image)
    assert result['meta']['backend'] == 'oracle' and result['meta']['diagnostic_only'] is True
    assert result['meta']['min_area_used'] == 24 and result['meta']['min_area_fraction'] == 0.01
    with pytest.raises(ValueError, match='min_area_fraction'):
        OracleBackend(min_area_fraction=1.5)


def test_script_writes_oracle_priors_of_the_mu_law_gt(tmp_path, capsys):
    make_demo_dataset(str(tmp_path), num_train=1, num_val=0, config=DemoSceneConfig(height=48, width=64), seed=0)
    args = make_oracle_priors.priors_script().parse_args(['--dataroot', str(tmp_path / 'Training'), '--device', 'cpu'])
    assert args.min_area is None and args.min_area_fraction == pytest.approx(1 / 1500)
    assert make_oracle_priors.main(['--dataroot', str(tmp_path / 'Training'), '--device', 'cpu', '--cell', '4']) == 0
    assert 'SKB oracle/gt on cpu: 1 scene(s) extracted' in capsys.readouterr().out
    scene = tmp_path / 'Training' / 'demo_train_000'
    priors = load_scene_priors(str(scene))  # readable: importing research.oracle_backend registered the name
    assert 'oracle' in known_backends() and priors['meta']['backend'] == 'oracle'
    gt_rgb = hdr_to_display_rgb(read_hdr(str(scene / 'HDRImg.hdr')))
    expected = gt_rgb.reshape(12, 4, 16, 4, 3).mean(axis=(1, 3)).transpose(2, 0, 1) / 255.0
    np.testing.assert_allclose(np.asarray(priors['embedding'], np.float64), expected, atol=1e-3)
    assert priors['meta']['min_area_used'] == 2  # round(48 * 64 / 1500)
    assert priors['labels'].shape == (48, 64)
    assert make_oracle_priors.main(['--dataroot', str(tmp_path / 'Training'), '--device', 'cpu', '--check']) == 0
