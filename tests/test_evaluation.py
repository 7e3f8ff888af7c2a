"""Evaluation and reporting: the real test pipeline's tables and files, tiled inference through HDRModel, figures,
scripts/compare_results.py (and run_demo's table), scripts/export_hdrvdp.py."""
import csv
import dataclasses
import importlib.util
import json
import os
import os.path as osp
import re
import subprocess
import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from helpers import TINY_HDRT, dump_yaml, eval_hdr_model, load_script, make_tiny_demo, tiny_test_options
from torch import nn

from basicsr.archs import build_network
from basicsr.data import build_dataloader, build_dataset
from basicsr.metrics import calculate_metric
from basicsr.utils import get_root_logger
from basicsr_skt.models.hdr_validation import TIME_COLUMN, HDRValidationMixin
from basicsr_skt.reporting import hdrvdp
from basicsr_skt.reporting.charts import bar_chart, bar_chart_size
from basicsr_skt.reporting.compare import comparison_rows, comparison_table, read_metrics_csv
from basicsr_skt.reporting.compare_page import unpack_image
from basicsr_skt.utils.figures import comparison_figure, comparison_figure_size
from basicsr_skt.utils.hdr_io import read_hdr, write_hdr
from basicsr_skt.utils.vgg_weights import default_alexnet_weights_path

HAS_LPIPS = default_alexnet_weights_path() is not None
HAS_CVVDP = importlib.util.find_spec('pycvvdp') is not None  # the optional cvvdp package (calculate_cvvdp)
METRICS = (['psnr_mu', 'psnr_l', 'ssim_mu', 'ssim_l', 'pu_psnr', 'pu_ssim'] + (['lpips'] if HAS_LPIPS else []) +
           (['cvvdp'] if HAS_CVVDP else []))


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    return make_tiny_demo(tmp_path_factory.mktemp('demo'))


def demo_test_dataset(demo_root):
    return build_dataset({
        'name': 'demo_test',
        'type': 'HDRMultiExposureDataset',
        'phase': 'test',
        'dataroot': osp.join(demo_root, 'Test'),
        'io_backend': {
            'type': 'disk'
        }
    })


# ----------------------------------------------------------------------------------------------------------------------
# The real test pipeline
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def test_run(demo_root, tmp_path_factory):
    """``python -m basicsr_skt.test`` with the demo test config (all metrics, a figure, EXR) on a random tiny ORM."""
    root = tmp_path_factory.mktemp('test_run')
    torch.manual_seed(0)
    checkpoint = root / 'net_g.pth'
    torch.save({'params': build_network(dict(TINY_HDRT)).state_dict()}, checkpoint)
    opt = tiny_test_options(demo_root, 'tiny_eval', str(checkpoint))
    opt['val'].update(figure_scenes=['demo_val_001'], save_exr=True)
    config = dump_yaml(opt, root / 'test.yml')
    env = dict(os.environ, PYTHONUNBUFFERED='1', CUDA_VISIBLE_DEVICES='')
    out = subprocess.run([sys.executable, '-m', 'basicsr_skt.test', '-opt',
                          str(config)],
                         cwd=root,
                         env=env,
                         capture_output=True,
                         text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return root, checkpoint, osp.join(root, 'results', 'tiny_eval'), out.stdout + out.stderr


def direct_predictions(demo_root, checkpoint):
    net = build_network(dict(TINY_HDRT)).eval()
    net.load_state_dict(torch.load(checkpoint, weights_only=True)['params'])
    for item in demo_test_dataset(demo_root):
        with torch.no_grad():
            pred = net(*item['lq'][:, None].unbind(0))[0].permute(1, 2, 0).numpy()
        yield item['scene'], pred, item['gt'].permute(1, 2, 0).numpy()


def test_csv_and_markdown_equal_the_metric_functions_on_the_same_arrays(test_run, demo_root):
    root, checkpoint, results, _ = test_run
    with open(osp.join(results, 'demo_test_metrics.csv')) as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ['scene'] + METRICS + [TIME_COLUMN]
        rows = {row.pop('scene'): {k: float(v) for k, v in row.items()} for row in reader}
    assert list(rows) == ['demo_val_000', 'demo_val_001', 'mean']
    with open(osp.join(results, 'demo_test_metrics.md')) as f:
        md_lines = f.read().splitlines()
    assert md_lines[0] == '| scene | ' + ' | '.join(METRICS + [TIME_COLUMN]) + ' |'
    opts = tiny_test_options(demo_root, 'x', 'x')['val']['metrics']
    direct = {}
    for scene, pred, gt in direct_predictions(demo_root, checkpoint):
        direct[scene] = {m: float(calculate_metric(dict(img=pred, img2=gt), opts[m])) for m in METRICS}
        for metric in METRICS:
            assert rows[scene][metric] == pytest.approx(direct[scene][metric], abs=2e-6), (scene, metric)
        assert rows[scene][TIME_COLUMN] > 0
        md_row = next(line for line in md_lines if line.startswith(f'| {scene} |'))
        md_cells = [c.strip() for c in md_row.strip('|').split('|')][1:]
        assert md_cells[:len(METRICS)] == [f'{direct[scene][m]:.4f}' for m in METRICS]
    for metric in METRICS:
        assert rows['mean'][metric] == pytest.approx(np.mean([direct[s][metric] for s in direct]), abs=2e-6)
    assert rows['mean'][TIME_COLUMN] == pytest.approx(np.mean([rows[s][TIME_COLUMN] for s in direct]), abs=2e-6)
    assert any(line.startswith('| **mean** |') for line in md_lines)


def test_predictions_tone_mapped_pngs_exr_and_the_chosen_figure_are_written(test_run, demo_root):
    root, checkpoint, results, log = test_run
    vis = osp.join(results, 'visualization', 'demo_test')
    for scene, pred, gt in direct_predictions(demo_root, checkpoint):
        stem = osp.join(vis, f'{scene}_tiny_eval')
        np.testing.assert_allclose(read_hdr(stem + '.exr'), pred, rtol=0, atol=1e-6)  # float32 EXR: exact
        assert np.all(np.abs(read_hdr(stem + '.hdr') - pred) <= 0.01 * pred.max(axis=2, keepdims=True) + 1e-6)
        assert cv2.imread(stem + '_mu.png').shape == pred.shape
        figure = stem + '_figure.png'
        if scene == 'demo_val_001':
            assert cv2.imread(figure).shape[:2] == comparison_figure_size(3, *gt.shape[:2])
        else:
            assert not osp.exists(figure)
    assert 'Val demo_val_001' in log  # val.pbar: the progress bar names the scene


# ----------------------------------------------------------------------------------------------------------------------
# HDRModel: tiles, timing, skipped metrics, options
# ----------------------------------------------------------------------------------------------------------------------
class ToyConvORM(nn.Module):
    """All-convolutional ORM (three 3 x 3 convs, receptive radius 3) taking one (B, 6, H, W) tensor per frame."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(18, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(8, 8, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(8, 3, 3, padding=1), nn.Sigmoid())

    def forward(self, *frames):
        return self.body(torch.cat(frames, dim=1))


@pytest.mark.parametrize('tile, overlap', [(32, 16), (24, 12), (40, 20)])
def test_tiled_inference_through_the_model_equals_whole_image_for_a_conv_orm(tmp_path, tile, overlap):
    torch.manual_seed(0)
    model = eval_hdr_model(tmp_path)
    model.net_g = ToyConvORM().eval()
    model.lq = torch.rand(1, 3, 6, 61, 90)
    model.test()
    whole = model.output
    assert model.infer_seconds > 0
    model.val_options = dataclasses.replace(model.val_options, tile=tile, tile_overlap=overlap)  # parsed once
    model.test()
    torch.testing.assert_close(model.output, whole, rtol=0, atol=1e-5)
    assert model.infer_seconds > 0


def test_tiled_hdr_transformer_runs_and_stays_close(tmp_path):
    torch.manual_seed(0)
    model = eval_hdr_model(tmp_path)
    model.lq = torch.rand(1, 3, 6, 40, 56)
    model.test()
    whole = model.output
    model.val_options = dataclasses.replace(model.val_options, tile=32, tile_overlap=16, pad_multiple=8)
    model.test()
    assert model.output.shape == whole.shape
    assert float((model.output - whole).abs().max()) < 0.1  # attention sees less context: close, not exact


def test_unavailable_metric_is_skipped_with_a_warning_and_others_kept(tmp_path, demo_root, monkeypatch):
    messages = record_warnings(monkeypatch)
    model = eval_hdr_model(
        tmp_path,
        metrics={
            'psnr_mu': {
                'type': 'calculate_psnr_mu'
            },
            'lpips': {
                'type': 'calculate_lpips',
                'better': 'lower',
                'weights_path': str(tmp_path / 'missing.ckpt')
            }
        })
    loader = build_dataloader(demo_test_dataset(demo_root), {'phase': 'val'}, num_gpu=0)
    model.validation(loader, current_iter=0, tb_logger=None, save_img=False)
    assert list(model.metric_results) == ['psnr_mu']
    assert list(model.skipped_metrics) == ['lpips']
    assert sum("Metric 'lpips' skipped" in m for m in messages) == 1  # warned once, not per scene
    with open(tmp_path / 'demo_test_metrics.csv') as f:
        assert f.readline().strip() == f'scene,psnr_mu,{TIME_COLUMN}'


def record_warnings(monkeypatch):
    """Collect what BasicSR's root logger warns (its handlers are set up once per process, not for caplog)."""
    messages = []
    monkeypatch.setattr(get_root_logger(), 'warning', lambda msg, *args, **kwargs: messages.append(msg))
    return messages


def test_unknown_val_keys_are_reported(tmp_path, monkeypatch):
    messages = record_warnings(monkeypatch)
    eval_hdr_model(tmp_path, tile_overlapp=8)
    assert any("'tile_overlapp'" in m for m in messages)
    messages.clear()
    eval_hdr_model(tmp_path, tile=64, tile_overlap=8, figure_scenes=1, save_exr=True)
    assert not messages


def test_figure_scene_selection(tmp_path):
    model = eval_hdr_model(tmp_path, figure_scenes=2)
    assert [model.wants_figure(s, i) for i, s in enumerate('abc')] == [True, True, False]
    model = eval_hdr_model(tmp_path, figure_scenes=['c'])
    assert [model.wants_figure(s, i) for i, s in enumerate('abc')] == [False, False, True]
    model = eval_hdr_model(tmp_path, figure_scenes=None)
    assert not model.wants_figure('a', 0)
    with pytest.raises(ValueError, match='figure_scenes'):  # a bad value stops the run where val is parsed
        eval_hdr_model(tmp_path, figure_scenes='a')


# ----------------------------------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('num_ldrs, height, width, label', [(3, 48, 72, True), (2, 30, 20, False), (0, 16, 16, True)])
def test_comparison_figure_has_the_closed_form_size(num_ldrs, height, width, label):
    rng = np.random.default_rng(0)
    gt = rng.random((3, height, width)).astype(np.float32).transpose(1, 2, 0)  # CHW -> HWC views, as HDRModel has
    ldrs = [rng.random((3, height, width)).astype(np.float32).transpose(1, 2, 0) for _ in range(num_ldrs)]
    figure = comparison_figure(ldrs, gt * 0.9, gt, label=label)
    assert figure.dtype == np.uint8 and figure.shape == comparison_figure_size(num_ldrs, height, width, label) + (3, )


@pytest.mark.parametrize('groups, runs', [(3, 2), (16, 3), (1, 1)])
def test_bar_chart_has_the_closed_form_size(groups, runs):
    values = {f'run{r}': {f's{g}': 40.0 + r + 0.1 * g for g in range(groups)} for r in range(runs)}
    assert bar_chart(values, 'psnr_mu').shape == bar_chart_size(groups, runs) + (3, )


# ----------------------------------------------------------------------------------------------------------------------
# compare_results / run_demo table
# ----------------------------------------------------------------------------------------------------------------------
def write_metrics_csv(folder, rows, dataset='demo_test'):
    os.makedirs(folder, exist_ok=True)
    names = list(next(iter(rows.values())))
    with open(osp.join(folder, f'{dataset}_metrics.csv'), 'w') as f:
        f.write(','.join(['scene'] + names) + '\n')
        for scene, values in rows.items():
            f.write(','.join([scene] + [f'{values[m]:.6f}' for m in names]) + '\n')


def three_runs():
    rng = np.random.default_rng(0)
    scenes = ['001', '002', 'BarbequeDay']
    return {
        label: {
            s: {
                'psnr_mu': 40 + rng.random() * 5,
                'ssim_mu': 0.98 + rng.random() * 0.01,
                'time_s': rng.random()
            }
            for s in scenes
        }
        for label in ('base', 'SKT', 'SKT2')
    }


def test_compare_results_deltas_are_differences_of_the_inputs(tmp_path):
    runs = three_runs()
    folders = []
    for label, rows in runs.items():
        mean = {m: float(np.mean([v[m] for v in rows.values()])) for m in rows['001']}
        write_metrics_csv(tmp_path / label, {**rows, 'mean': mean})
        folders.append(str(tmp_path / label))
    compare = load_script('compare_results')
    out = tmp_path / 'cmp' / 'table.md'
    table = compare.main(folders + ['--labels', 'base', 'SKT', 'SKT2', '--out', str(out)])
    assert out.read_text().strip() == table
    lines = table.splitlines()
    header = [c.strip() for c in lines[0].strip('|').split('|')]
    assert header[:6] == ['scene', 'psnr_mu base', 'psnr_mu SKT', 'psnr_mu SKT2', 'psnr_mu Δ SKT', 'psnr_mu Δ SKT2']
    read = {label: read_metrics_csv(osp.join(f, 'demo_test_metrics.csv')) for label, f in zip(runs, folders)}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip('|').split('|')]
        scene = cells[0]
        values = dict(zip(header[1:], map(float, cells[1:])))
        for metric in ('psnr_mu', 'ssim_mu', 'time_s'):
            if scene == '**mean**':
                per_run = {r: np.mean([read[r][s][metric] for s in read[r]]) for r in runs}
            else:
                per_run = {r: read[r][scene][metric] for r in runs}
            for r in runs:
                assert values[f'{metric} {r}'] == pytest.approx(per_run[r], abs=5e-5)
            for r in ('SKT', 'SKT2'):
                assert values[f'{metric} Δ {r}'] == pytest.approx(per_run[r] - per_run['base'], abs=5e-5)
    assert len(lines) == 2 + 3 + 1
    figure = cv2.imread(str(tmp_path / 'cmp' / 'table.png'))
    chart_h, chart_w = bar_chart_size(3 + 1, 3)  # three scenes and the mean, three runs
    assert figure.shape[:2] == (3 * chart_h, chart_w)  # one chart per metric, stacked


def test_comparison_rows_use_common_scenes_and_exact_deltas():
    runs = three_runs()
    del runs['SKT2']['002']
    metrics, rows = comparison_rows(runs, ['psnr_mu'])
    assert [scene for scene, _ in rows] == ['001', 'BarbequeDay', 'mean']
    for scene, values in rows[:-1]:
        v = values['psnr_mu']
        assert v[:3] == [runs[r][scene]['psnr_mu'] for r in runs]
        assert v[3:] == [v[1] - v[0], v[2] - v[0]]
    with pytest.raises(ValueError, match='at least two'):
        comparison_table({'a': runs['base']})
    with pytest.raises(ValueError, match='not in every run'):
        comparison_table(runs, ['lpips'])


def test_run_demo_table_is_the_library_comparison_with_base_skt_delta():
    runs = three_runs()
    run_demo = load_script('run_demo')
    table = run_demo.side_by_side_table(runs['base'], runs['SKT'])
    assert table == comparison_table({'base': runs['base'], 'SKT': runs['SKT']})
    header = [c.strip() for c in table.splitlines()[0].strip('|').split('|')]
    assert header[1:4] == ['psnr_mu base', 'psnr_mu SKT', 'psnr_mu Δ']
    first = [c.strip() for c in table.splitlines()[2].strip('|').split('|')]
    delta = runs['SKT']['001']['psnr_mu'] - runs['base']['001']['psnr_mu']
    assert first[:4] == [
        '001', f'{runs["base"]["001"]["psnr_mu"]:.4f}', f'{runs["SKT"]["001"]["psnr_mu"]:.4f}', f'{delta:+.4f}'
    ]


# ----------------------------------------------------------------------------------------------------------------------
# export_hdrvdp
# ----------------------------------------------------------------------------------------------------------------------
def fake_results(tmp_path, demo_root, name='test_run'):
    results = tmp_path / 'results' / name
    vis = results / 'visualization' / 'demo_test'
    rng = np.random.default_rng(0)
    for scene in sorted(os.listdir(osp.join(demo_root, 'Test'))):
        write_hdr(str(vis / f'{scene}_{name}.hdr'), rng.random((48, 72, 3)).astype(np.float32))
        (vis / f'{scene}_{name}_mu.png').write_bytes(b'')  # other outputs beside the predictions are ignored
    return results


def test_export_hdrvdp_writes_pairs_scene_list_and_matlab_script(tmp_path, demo_root):
    results = fake_results(tmp_path, demo_root)
    export = load_script('export_hdrvdp')
    out = export.main([str(results), osp.join(demo_root, 'Test'), '--out', str(tmp_path / 'vdp')])
    scenes = sorted(os.listdir(osp.join(demo_root, 'Test')))
    assert sorted(os.listdir(out)) == ['gt', 'pred', 'run_hdrvdp.m', 'scenes.txt']
    assert sorted(os.listdir(osp.join(out, 'pred'))) == [f'{s}.hdr' for s in scenes]
    assert sorted(os.listdir(osp.join(out, 'gt'))) == [f'{s}.hdr' for s in scenes]
    for scene in scenes:
        src = results / 'visualization' / 'demo_test' / f'{scene}_test_run.hdr'
        assert open(osp.join(out, 'pred', f'{scene}.hdr'), 'rb').read() == src.read_bytes()
        gt_src = osp.join(demo_root, 'Test', scene, 'HDRImg.hdr')
        assert open(osp.join(out, 'gt', f'{scene}.hdr'), 'rb').read() == open(gt_src, 'rb').read()
    assert open(osp.join(out, 'scenes.txt')).read().split() == scenes
    script = open(osp.join(out, 'run_hdrvdp.m')).read()
    for scene in scenes:
        assert f"'{scene}'" in script
    assert "hdrvdp(test, reference, color_encoding, ppd, options)" in script
    assert 'hdrvdp_pix_per_deg(display_diagonal_in, display_resolution, viewing_distance_m)' in script
    assert "color_encoding = 'sRGB-display';" in script and 'hdrvdp_q.csv' in script
    assert script.count('(') == script.count(')') and script.count('{') == script.count('}')


def test_export_hdrvdp_options_and_missing_predictions(tmp_path, demo_root):
    results = fake_results(tmp_path, demo_root)
    out = hdrvdp.export(
        str(results), osp.join(demo_root, 'Test'), color_encoding='rgb-bt.709', peak_luminance=4000, surround=13)
    script = open(osp.join(out, 'run_hdrvdp.m')).read()
    assert "color_encoding = 'rgb-bt.709';" in script and 'peak_luminance = 4000;' in script
    assert "options = {'surround_l', 13};" in script
    first = sorted(os.listdir(osp.join(demo_root, 'Test')))[0]
    os.remove(results / 'visualization' / 'demo_test' / f'{first}_test_run.hdr')
    with pytest.raises(FileNotFoundError, match='missing predictions'):
        hdrvdp.export(str(results), osp.join(demo_root, 'Test'), out=str(tmp_path / 'x'))
    out = hdrvdp.export(str(results), osp.join(demo_root, 'Test'), out=str(tmp_path / 'y'), skip_missing=True)
    assert first not in open(osp.join(out, 'scenes.txt')).read().split()


@pytest.mark.parametrize('current_iter, total_iter, val_freq, is_train, skipped', [
    (1202, 1200, 300, True, True),  # the loop's extra validation repeats the one at 1,200
    (1202, 1200, 500, True, False),  # 1,200 was not validated: the final validation is the only one of these weights
    (1200, 1200, 300, True, False),  # the in-loop validation at the last iteration itself
    (1202, 1200, 300, False, False),  # test configs never skip
])
def test_the_repeated_validation_after_the_last_iteration_is_skipped(current_iter, total_iter, val_freq, is_train,
                                                                     skipped):
    opt = {'is_train': is_train, 'train': {'total_iter': total_iter}, 'val': {'val_freq': val_freq}}
    model = SimpleNamespace(opt=opt)
    assert HDRValidationMixin.repeats_last_validation(model, current_iter) is skipped


def test_comparison_page_of_a_real_test_run(test_run, demo_root, tmp_path):
    """compare_results --html on a real results folder (.hdr and .exr predictions): the page's data are the saved
    predictions bit for bit and its table is the run's CSV."""
    _, _, results, _ = test_run
    compare = load_script('compare_results')
    page = tmp_path / 'page.html'
    compare.main([results, results, '--labels', 'a', 'b', '--out', str(tmp_path / 'cmp.md'), '--no-figure', '--html',
                  str(page), '--gt-root', osp.join(demo_root, 'Test')])
    meta = json.loads(re.search(r'<script id="skt-meta" type="application/json">(.*?)</script>',
                                page.read_text()).group(1))
    csv_rows = read_metrics_csv(osp.join(results, 'demo_test_metrics.csv'))
    assert [s['name'] for s in meta['scenes']] == list(csv_rows)
    assert meta['metrics'] == list(next(iter(csv_rows.values())))
    for index, (scene, row) in enumerate(csv_rows.items()):
        assert meta['table'][scene]['a'] == pytest.approx(row)
        data = (tmp_path / 'page_files' / f'scene_{index:03d}.js').read_text().splitlines()[1]
        images = json.loads(data.split(' = ', 1)[1].rstrip(';'))['images']
        pred = read_hdr(osp.join(results, 'visualization', 'demo_test', f'{scene}_tiny_eval.hdr'))
        assert np.array_equal(unpack_image(images['run:a'], *pred.shape[:2]), pred)
        gt = read_hdr(osp.join(demo_root, 'Test', scene, 'HDRImg.hdr'))
        assert np.array_equal(unpack_image(images['gt'], *gt.shape[:2]), gt)
