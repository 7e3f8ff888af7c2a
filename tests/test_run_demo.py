"""scripts/run_demo.py and the demo data layout: separate validation and test scenes, quiet steps, side-by-side PNG."""
import csv
import json
import os
import re
import sys

import numpy as np
import pytest
from helpers import REPO_ROOT, load_script, load_yaml

from basicsr_skt.synthesis.demo_scenes import KALANTARI_EVS, SPLITS_WITH_TEST, DemoSceneConfig, make_demo_dataset
from basicsr_skt.utils.figures import GAP, LABEL_HEIGHT, error_heatmap
from basicsr_skt.utils.hdr_io import read_hdr, write_hdr

TINY = DemoSceneConfig(height=32, width=48)
#: Two lines as BasicSR's message logger writes them (print_freq 50).
BASICSR_LOG = """    total_iter: 400
2026-12-03 13:01:02,123 INFO: Start training from epoch: 0, iter: 0
2026-12-03 13:01:20,456 INFO: [demo_..][epoch:  0, iter:      50, lr:(2.000e-04,)] [eta: 0:02:00] l_rec: 1.2e-01
2026-12-03 13:01:38,789 INFO: [demo_..][epoch:  1, iter:   1,200, lr:(2.000e-04,)] [eta: 0:01:40] l_rec: 1.0e-01
"""


@pytest.fixture(scope='module')
def run_demo():
    return load_script('run_demo')


def test_demo_validates_and_tests_on_different_scenes():
    train = load_yaml(REPO_ROOT / 'options' / 'demo' / 'train_demo_hdrtransformer.yml')
    skt = load_yaml(REPO_ROOT / 'options' / 'demo' / 'train_demo_skt_hdrtransformer.yml')
    test = load_yaml(REPO_ROOT / 'options' / 'demo' / 'test_demo_hdrtransformer.yml')
    for opt in (train, skt):
        assert opt['datasets']['val']['dataroot'] == 'datasets/demo/Validation'
        assert opt['datasets']['val']['name'] == 'demo_val'
    assert test['datasets']['test']['dataroot'] == 'datasets/demo/Test'
    assert test['datasets']['test']['name'] == 'demo_test'
    assert test['val']['metrics']['cvvdp'] == {
        'type': 'calculate_cvvdp',
        'display_name': 'standard_hdr_linear',
        'better': 'higher'
    }


def test_three_split_layout_and_its_seed_streams(tmp_path):
    three, two = tmp_path / 'three', tmp_path / 'two'
    make_demo_dataset(str(three), num_train=1, num_val=2, num_test=2, config=TINY, seed=3)
    make_demo_dataset(str(two), num_train=1, num_val=2, config=TINY, seed=3)
    assert sorted(os.listdir(three)) == ['Test', 'Training', 'Validation']
    assert sorted(os.listdir(three / 'Validation')) == ['demo_val_000', 'demo_val_001']
    assert sorted(os.listdir(three / 'Test')) == ['demo_test_000', 'demo_test_001']
    assert [s[0] for s in SPLITS_WITH_TEST] == ['Training', 'Validation', 'Test']
    # validation scenes are those of the two-folder layout; the test scenes are different ones
    same = (three / 'Validation' / 'demo_val_001' / 'HDRImg.hdr').read_bytes()
    assert same == (two / 'Test' / 'demo_val_001' / 'HDRImg.hdr').read_bytes()
    for name in ('demo_val_000', 'demo_val_001'):
        assert (three / 'Test' / 'demo_test_000' / 'HDRImg.hdr').read_bytes() != (three / 'Validation' / name /
                                                                                  'HDRImg.hdr').read_bytes()


def test_make_demo_data_num_test_and_force_replaces_the_older_layout(tmp_path, capsys):
    script = load_script('make_demo_data')
    out = str(tmp_path / 'demo')
    base = ['--out', out, '--num-train', '1', '--height', '32', '--width', '48']
    assert script.main(base + ['--num-val', '1']) == 0
    assert os.listdir(tmp_path / 'demo' / 'Test') == ['demo_val_000']  # older layout
    assert script.main(base + ['--num-val', '1', '--num-test', '2']) == 1  # demo scenes exist: needs --force
    assert 'force' in capsys.readouterr().err
    assert script.main(base + ['--num-val', '1', '--num-test', '2', '--force']) == 0
    assert sorted(os.listdir(tmp_path / 'demo' / 'Test')) == ['demo_test_000', 'demo_test_001']
    assert os.listdir(tmp_path / 'demo' / 'Validation') == ['demo_val_000']
    assert script.main(['--out', out, '--check']) == 0
    assert 'OK: 4 scenes' in capsys.readouterr().out


def test_demo_data_ready_needs_the_three_split_layout_and_kalantari_evs(tmp_path, run_demo):
    kalantari = DemoSceneConfig(height=32, width=48, evs=KALANTARI_EVS)
    make_demo_dataset(str(tmp_path / 'old'), num_train=1, num_val=1, config=kalantari)
    make_demo_dataset(str(tmp_path / 'old_evs'), num_train=1, num_val=1, num_test=2, config=TINY)  # EVs -2/0/+2
    make_demo_dataset(str(tmp_path / 'new'), num_train=1, num_val=1, num_test=2, config=kalantari)
    assert not run_demo.demo_data_ready(str(tmp_path / 'old'), 1, 2)
    assert not run_demo.demo_data_ready(str(tmp_path / 'old_evs'), 1, 2)
    assert run_demo.demo_data_ready(str(tmp_path / 'new'), 1, 2)
    assert not run_demo.demo_data_ready(str(tmp_path / 'new'), 1, 3)
    assert run_demo.held_out_scenes(str(tmp_path / 'new')) == ['demo_test_000', 'demo_test_001']


def test_training_progress_reads_basicsr_iteration_lines(run_demo):
    assert run_demo.training_progress(BASICSR_LOG) == 1200
    assert run_demo.training_progress(BASICSR_LOG.splitlines()[2]) == 50
    assert run_demo.training_progress('\n'.join(BASICSR_LOG.splitlines()[:2])) == 0  # options dump, start line
    assert run_demo.training_progress('no progress yet') == 0


def test_run_step_logs_to_a_file_and_shows_one_line(tmp_path, run_demo, capsys):
    log = tmp_path / 'logs' / 'step.log'
    code = ('import sys; [print(f"[x][epoch: 0, iter: {i}, lr:(1,)]") for i in (1, 2, 3)]; '
            'print("noise", file=sys.stderr)')
    seconds = run_demo.run_step([sys.executable, '-c', code], 'toy', str(log), total=3,
                                progress=run_demo.training_progress, poll_s=0.05)
    assert seconds > 0
    text = log.read_text()
    assert 'iter: 3,' in text and 'noise' in text and text.startswith('$ ')
    shown = capsys.readouterr().out
    assert 'epoch' not in shown and 'noise' not in shown  # child output only in the log
    assert shown.replace('\r', '\n').strip().splitlines()[-1].startswith('toy')
    assert f'log: {log}' in shown and '3/3' in shown


def test_run_step_failure_names_the_log_and_shows_its_tail(tmp_path, run_demo):
    log = tmp_path / 'fail.log'
    code = 'import sys; print("first"); print("the real reason", file=sys.stderr); sys.exit(3)'
    with pytest.raises(run_demo.StepFailed, match=r'(?s)toy failed \(exit status 3\).*fail.log.*the real reason'):
        run_demo.run_step([sys.executable, '-c', code], 'toy', str(log), poll_s=0.05)


def test_side_by_side_figure_layout_and_shared_error_scale(run_demo):
    rng = np.random.default_rng(0)
    h, w = 16, 24
    gt = rng.random((h, w, 3)).astype(np.float32)
    baseline = np.clip(gt + 0.2, 0, 1)
    figure = run_demo.side_by_side_figure({'a': (baseline, gt.copy(), gt), 'b': (gt, gt, gt)}, error_scale=0.1)
    row_height = 2 * LABEL_HEIGHT + h
    assert figure.dtype == np.uint8 and figure.shape[0] == 2 * row_height + GAP
    top = 2 * LABEL_HEIGHT  # first row's tiles start below the title band and the tile labels
    x_base_err, x_skt_err = 3 * (w + GAP), 4 * (w + GAP)
    zero_colour = error_heatmap(np.zeros((1, 1), np.float32), 0.1)[0, 0]
    # scene a: SKT equals the GT (zero error colour everywhere); the baseline's error is visible on the same scale
    np.testing.assert_array_equal(figure[top:top + h, x_skt_err:x_skt_err + w], np.broadcast_to(zero_colour, (h, w, 3)))
    assert np.any(figure[top:top + h, x_base_err:x_base_err + w] != zero_colour)
    # scene b: both predictions equal the GT
    top_b = row_height + GAP + 2 * LABEL_HEIGHT
    np.testing.assert_array_equal(figure[top_b:top_b + h, x_base_err:x_base_err + w],
                                  np.broadcast_to(zero_colour, (h, w, 3)))


def test_table_leaves_out_a_metric_one_run_lacks(run_demo):
    base = {'s0': {'psnr_mu': 20.0, 'cvvdp': 8.0}, 's1': {'psnr_mu': 22.0, 'cvvdp': 9.0}}
    skt = {'s0': {'psnr_mu': 21.0}, 's1': {'psnr_mu': 22.5}}
    table = run_demo.side_by_side_table(base, skt, ['psnr_mu', 'cvvdp'])
    header = [c.strip() for c in table.splitlines()[0].strip('|').split('|')]
    assert header == ['scene', 'psnr_mu base', 'psnr_mu SKT', 'psnr_mu Δ']
    assert table.splitlines()[-1].split('|')[2:5] == [' 21.0000 ', ' 21.7500 ', ' +0.7500 ']


def test_demo_writes_the_comparison_page(tmp_path, monkeypatch, run_demo):
    """write_demo_page finds both test runs' predictions and the held-out GT where the demo's steps put them."""
    monkeypatch.chdir(tmp_path)
    make_demo_dataset('datasets/demo', num_train=0, num_val=1, num_test=2, config=TINY)
    scenes = run_demo.held_out_scenes('datasets/demo')
    for offset, label in enumerate(run_demo.RUNS):
        folder = os.path.join('results', run_demo.test_name(label))
        os.makedirs(os.path.dirname(run_demo.prediction_path(label, scenes[0])))
        with open(os.path.join(folder, f'{run_demo.TEST_DATASET}_metrics.csv'), 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['scene', 'psnr_mu'])
            for index, scene in enumerate(scenes):
                gt = read_hdr(os.path.join('datasets/demo/Test', scene, 'HDRImg.hdr'))
                write_hdr(run_demo.prediction_path(label, scene), gt * (1 + 0.1 * offset))
                writer.writerow([scene, 30 + index + offset])
    html = run_demo.write_demo_page('datasets/demo', os.path.join('results', 'demo_compare.html'), 0.1)
    assert html == os.path.join('results', 'demo_compare.html')
    meta = json.loads(re.search(r'<script id="skt-meta" type="application/json">(.*?)</script>',
                                (tmp_path / html).read_text()).group(1))
    assert meta['runs'] == ['baseline', 'SKT'] and meta['hasGt']
    assert [s['name'] for s in meta['scenes']] == scenes
    assert meta['table'][scenes[1]] == {'baseline': {'psnr_mu': 31.0}, 'SKT': {'psnr_mu': 32.0}}
    assert [f['ev'] for f in meta['scenes'][0]['frames']] == [-2.0, 0.0, 2.0]  # TINY keeps the config's EVs
    assert sorted(os.listdir(tmp_path / 'results' / 'demo_compare_files')) == [
        '.basicsr_skt_compare_page', 'scene_000.js', 'scene_001.js'
    ]
