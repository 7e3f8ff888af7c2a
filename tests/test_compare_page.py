"""The HTML comparison page (basicsr_skt/reporting/compare_page.py, scripts/compare_results.py --html): its data, its
bad inputs, and the page itself in a real headless Chromium (skipped when no chromium binary is installed)."""
import csv
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import load_script

from basicsr_skt.metrics.hdr_metrics import calculate_psnr_l, calculate_psnr_mu
from basicsr_skt.reporting.browser import BrowserError, HeadlessChromium, find_chromium
from basicsr_skt.reporting.compare_page import decode_rgbe, encode_rgbe, pack_image, unpack_image, write_compare_page
from basicsr_skt.synthesis.demo_scenes import DemoSceneConfig, make_demo_dataset
from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.hdr_io import read_hdr, write_hdr

#: The known patch of run A: constant radiance 0.125 (exact in RGBE) in image rows/cols 4..19.
PATCH, PATCH_VALUE = (slice(4, 20), slice(4, 20)), 0.125
#: Metrics of the fake runs' CSVs: scene -> (psnr_mu of A, of B); B is the GT itself.
PSNR = {'demo_val_000': (30.0, 50.0), 'demo_val_001': (20.0, 10.0), 'demo_val_002': (40.0, 45.0)}


def make_test_run(root: Path, name: str, predictions: dict, metrics: dict, suffix: str = '') -> Path:
    """A results folder as ``basicsr_skt.test`` writes it (dataset ``demo``; ``val.suffix`` when given)."""
    vis = root / name / 'visualization' / 'demo'
    vis.mkdir(parents=True)
    for scene, img in predictions.items():
        write_hdr(str(vis / f'{scene}_{suffix or name}.hdr'), img)
    with open(root / name / 'demo_metrics.csv', 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['scene', 'psnr_mu', 'lpips'])
        for scene, value in metrics.items():
            writer.writerow([scene, value, 0.1])
        writer.writerow(['mean', 0, 0])
    return root / name


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """GT scenes (3 tiny demo scenes), run A (GT with a constant patch) and run B (the GT itself)."""
    root = tmp_path_factory.mktemp('page')
    make_demo_dataset(str(root / 'data'), num_train=0, num_val=3, config=DemoSceneConfig(height=40, width=56))
    gt_root = root / 'data' / 'Test'
    gts = {s: read_hdr(str(gt_root / s / 'HDRImg.hdr')) for s in PSNR}
    patched = {}
    for scene, gt in gts.items():
        patched[scene] = gt.copy()
        patched[scene][PATCH] = PATCH_VALUE
    run_a = make_test_run(root, 'runA', patched, {s: v[0] for s, v in PSNR.items()})
    run_b = make_test_run(root, 'runB', gts, {s: v[1] for s, v in PSNR.items()})
    return root, run_a, run_b, gt_root


def test_rgbe_round_trip_matches_the_hdr_file(runs):
    root, run_a, _, gt_root = runs
    gt = read_hdr(str(gt_root / 'demo_val_000' / 'HDRImg.hdr'))
    # A .hdr file is RGBE: re-encoding what OpenCV decoded gives the same values back, bit for bit.
    assert np.array_equal(decode_rgbe(encode_rgbe(gt), *gt.shape[:2]), gt)
    img = np.array([[[0.125, 0.125, 0.125], [0.0, 0.0, 0.0], [3.0, 1.5, 0.75]]], np.float32)
    assert np.array_equal(decode_rgbe(encode_rgbe(img), 1, 3), img)
    assert np.array_equal(unpack_image(pack_image(gt), *gt.shape[:2]), gt)


def expected_code(value: float, ev: float, tone_map: str) -> int:
    """The page's 8-bit rendering of a grey pixel of linear radiance ``value`` (the formula the page documents)."""
    x = value * 2.0**ev
    if tone_map == 'mulaw':
        return round(255 * math.log1p(5000 * min(max(x, 0.0), 1.0)) / math.log1p(5000))
    if tone_map == 'reinhard':
        x = x / (1 + x)  # grey: luminance = x
    return round(255 * min(max(x, 0.0), 1.0)**(1 / 2.2))


def set_control(browser: HeadlessChromium, element: str, value, event: str) -> None:
    """Set a page control's value by script and fire the event a user's change fires."""
    browser.evaluate(f'(() => {{ const e = document.getElementById("{element}"); e.value = "{value}"; '
                     f'e.dispatchEvent(new Event("{event}")); }})()')


@pytest.mark.skipif(find_chromium() is None, reason='no chromium binary (apt-get install chromium; .ci/run does)')
def test_page_in_headless_chromium(runs, tmp_path):
    root, run_a, run_b, gt_root = runs
    out = tmp_path / 'cmp.html'
    summary = write_compare_page([str(run_a), str(run_b)], str(out), labels=['A', 'B'], gt_root=str(gt_root))
    assert summary['scenes'] == list(PSNR) and (tmp_path / 'cmp_files' / 'scene_002.js').is_file()
    shot = tmp_path / 'shot.png'
    with HeadlessChromium(width=1200, height=900) as browser:
        browser.open(out.as_uri(), ready='SKT.ready')
        assert browser.evaluate('SKT.state.scene') == 0
        probe = 'SKT.pixelAt("run:A", 10, 10)'
        # the exposure slider, set as a user would: the patch follows 2 ** EV through each tone mapping
        for tone_map in ('mulaw', 'linear', 'reinhard'):
            set_control(browser, 'tonemap', tone_map, 'change')
            for ev in (-3, 0, 2):
                set_control(browser, 'ev', ev, 'input')
                want = expected_code(PATCH_VALUE, ev, tone_map)
                assert browser.evaluate(probe) == [want, want, want, 255], (tone_map, ev)
        assert expected_code(PATCH_VALUE, -3, 'linear') != expected_code(PATCH_VALUE, 2, 'linear')
        # one shared view: a real wheel event and a drag on panel A zoom and pan every panel; the patch is tracked
        box = browser.evaluate('(() => { const r = document.querySelector(\'canvas[data-key="run:A"]\')'
                               '.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()')
        scale = browser.evaluate('SKT.state.view.s')
        browser.command('Input.dispatchMouseEvent', type='mouseWheel', x=box[0], y=box[1], deltaX=0, deltaY=-100)
        assert browser.evaluate('SKT.state.view.s') == pytest.approx(scale * 1.25)
        x0 = browser.evaluate('SKT.state.view.x')
        for kind, dx in (('mousePressed', 0), ('mouseMoved', 15), ('mouseMoved', 30), ('mouseReleased', 30)):
            browser.command('Input.dispatchMouseEvent', type=kind, x=box[0] + dx, y=box[1], button='left',
                            buttons=0 if kind == 'mouseReleased' else 1, clickCount=1)
        assert browser.evaluate('SKT.state.view.x') == pytest.approx(x0 + 30)
        want = expected_code(PATCH_VALUE, 2, 'reinhard')
        assert browser.evaluate(probe) == [want, want, want, 255]
        same = browser.evaluate('["run:B", "gt"].map(k => Array.from(document.querySelector(`canvas[data-key="${k}"]`)'
                                '.getContext("2d").getImageData(0, 0, 200, 100).data).join())')
        assert same[0] == same[1]  # B is the GT: the same pixels at the same canvas place
        # error maps: B is the GT (zero everywhere, the colour map's first colour); A differs on the patch only
        zero = browser.evaluate('SKT.errorStats("err:B")')
        assert zero == {'max': 0, 'mean': 0}
        assert browser.evaluate('SKT.pixelAt("err:B", 10, 10)') == browser.evaluate('SKT.meta.colormap[0]') + [255]
        assert browser.evaluate('SKT.errorStats("err:A").max') > 0.01
        # flip panel: shows A, then B after a flip
        assert browser.evaluate('SKT.pixelAt("flip", 10, 10)') == browser.evaluate(probe)
        browser.evaluate('document.getElementById("flip").click()')
        assert browser.evaluate('SKT.pixelAt("flip", 10, 10)') == browser.evaluate('SKT.pixelAt("run:B", 10, 10)')
        # sort by B's psnr_mu (descending first), then ascending; a row click shows its scene
        browser.evaluate('document.querySelector(\'th[data-col="psnr_mu|B"]\').click()')
        assert browser.evaluate('SKT.tableOrder()') == ['demo_val_000', 'demo_val_002', 'demo_val_001']
        browser.evaluate('document.querySelector(\'th[data-col="psnr_mu|B"]\').click()')
        assert browser.evaluate('SKT.tableOrder()') == ['demo_val_001', 'demo_val_002', 'demo_val_000']
        browser.evaluate('document.querySelector(\'tr[data-scene="2"]\').click()')
        browser.evaluate('SKT.idle()')
        assert browser.evaluate('SKT.state.scene') == 2
        assert browser.evaluate('document.getElementById("scene").value') == '2'
        assert browser.evaluate('document.querySelectorAll("#frames figcaption").length') == 3
        assert browser.evaluate('document.querySelector("#frames figcaption").textContent') == 'input_1.tif · EV -2'
        browser.screenshot(str(shot))
        # a data file gone missing: one clear status line, and the next scene still loads
        (tmp_path / 'cmp_files' / 'scene_001.js').unlink()
        with pytest.raises(BrowserError, match='cannot load cmp_files/scene_001.js'):
            browser.evaluate('SKT.selectScene(1)')
        assert 'must stay beside it' in browser.evaluate('document.getElementById("status").textContent')
        browser.evaluate('SKT.selectScene(0)')
        assert browser.evaluate('SKT.state.scene') == 0 and browser.evaluate(probe) == [want, want, want, 255]
    import cv2
    img = cv2.imread(str(shot))
    assert img.shape[:2] == (900, 1200)
    # not blank: many colours and the dark canvas background next to the light page
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 200 and img.std() > 20


def test_bad_inputs_leave_no_page(runs, tmp_path):
    root, run_a, run_b, gt_root = runs
    out = tmp_path / 'cmp.html'
    # no common scene
    other = make_test_run(tmp_path, 'other', {'elsewhere': np.ones((40, 56, 3), np.float32)}, {'elsewhere': 1.0})
    with pytest.raises(UserInputError, match='no scene in common'):
        write_compare_page([str(run_a), str(other)], str(out))
    # differing sizes
    small = make_test_run(tmp_path, 'small', {'demo_val_000': np.ones((20, 56, 3), np.float32)}, {'demo_val_000': 1})
    with pytest.raises(UserInputError, match=r"'demo_val_000'.*20 x 56 but run 'runA'.*40 x 56"):
        write_compare_page([str(run_a), str(small)], str(out))
    # missing HDR prediction, missing GT
    missing = make_test_run(tmp_path, 'missing', {'demo_val_000': np.ones((40, 56, 3), np.float32)},
                            {s: 1.0 for s in PSNR})
    with pytest.raises(UserInputError, match="no HDR prediction for scene 'demo_val_001'.*val.save_img"):
        write_compare_page([str(run_a), str(missing)], str(out))
    with pytest.raises(UserInputError, match='does not exist: --gt-root'):
        write_compare_page([str(run_a), str(run_b)], str(out), gt_root=str(gt_root.parent))
    # outputs inside an input tree
    with pytest.raises(UserInputError, match='lies inside the input folder'):
        write_compare_page([str(run_a), str(run_b)], str(run_a / 'page.html'))
    assert sorted(os.listdir(tmp_path)) == ['missing', 'other', 'small']  # nothing half-written, no temp files


def test_script_writes_the_page_and_keeps_the_csv_table(runs, tmp_path, capsys):
    root, run_a, run_b, gt_root = runs
    script = load_script('compare_results')
    out = tmp_path / 'page.html'
    table = script.main([str(run_a), str(run_b), '--labels', 'A', 'B', '--out', str(tmp_path / 'cmp.md'), '--html',
                         str(out), '--gt-root', str(gt_root)])
    assert '| demo_val_001 | 20.0000 | 10.0000 | -10.0000 |' in table
    assert (tmp_path / 'cmp.md').is_file() and out.is_file() and (tmp_path / 'page_files').is_dir()
    assert capsys.readouterr().out.rstrip().endswith(f'Page written to {out} (3 scenes, data in '
                                                     f'{tmp_path / "page_files"})')


def test_script_bad_input_is_one_line(runs, tmp_path, capsys, monkeypatch):
    root, run_a, run_b, gt_root = runs
    script = load_script('compare_results')
    other = make_test_run(tmp_path, 'other', {'elsewhere': np.ones((40, 56, 3), np.float32)}, {'elsewhere': 1.0})
    monkeypatch.setattr('sys.argv', ['compare_results.py', str(run_a), str(other), '--html', str(tmp_path / 'x.html'),
                                     '--no-figure', '--out', str(tmp_path / 'x.md')])
    assert script.cli() == 2
    err = capsys.readouterr().err
    assert 'no scene in common' in err and 'Traceback' not in err
    assert not (tmp_path / 'x.html').exists()


def test_max_side_shrinks_the_images_not_the_metrics(runs, tmp_path):
    root, run_a, run_b, gt_root = runs
    out = tmp_path / 'small.html'
    write_compare_page([str(run_a), str(run_b)], str(out), labels=['A', 'B'], gt_root=str(gt_root), max_side=28)
    meta = json.loads(re.search(r'<script id="skt-meta" type="application/json">(.*?)</script>',
                                out.read_text()).group(1))
    assert [(s['height'], s['width']) for s in meta['scenes']] == [(20, 28)] * 3
    assert meta['table']['demo_val_001'] == {'A': {'psnr_mu': 20.0, 'lpips': 0.1}, 'B': {'psnr_mu': 10.0, 'lpips': 0.1}}
    data = (tmp_path / 'small_files' / 'scene_000.js').read_text()
    packed = json.loads(data.splitlines()[1].split(' = ', 1)[1].rstrip(';'))['images']['run:B']
    gt = read_hdr(str(gt_root / 'demo_val_000' / 'HDRImg.hdr'))
    # the area average of the GT (2 x 2 blocks), to RGBE precision (1/128 of the pixel's brightest channel)
    want = gt.reshape(20, 2, 28, 2, 3).mean(axis=(1, 3))
    assert np.all(np.abs(unpack_image(packed, 20, 28) - want) <= want.max(axis=2, keepdims=True) / 128)


def test_inference_outputs_and_val_suffix_runs(runs, tmp_path, capsys):
    """A scripts/inference.py output folder (no metrics: PSNR-μ/-l computed from the GT, EVs from its JSON) against a
    test run saved with val.suffix (``<scene>_pred.hdr``, as the evidence runner's), through the script."""
    root, run_a, run_b, gt_root = runs
    gts = {s: read_hdr(str(gt_root / s / 'HDRImg.hdr')) for s in PSNR}
    suffixed = make_test_run(tmp_path, 'suffixed', gts, {s: v[1] for s, v in PSNR.items()}, suffix='pred')
    infer = tmp_path / 'infer'
    infer.mkdir()
    for scene, gt in gts.items():
        write_hdr(str(infer / f'{scene}.hdr'), gt * 2)
        (infer / f'{scene}.json').write_text(json.dumps({'scene': scene, 'evs': [0.0, 2.0, 4.0], 'outputs': [
            f'{scene}.hdr', f'{scene}_mulaw.png']}))
    script = load_script('compare_results')
    out = tmp_path / 'pages' / 'infer.html'
    script.main([str(infer), str(suffixed), '--labels', 'infer', 'test', '--html', str(out), '--out',
                 str(tmp_path / 'pages' / 'cmp.md')])
    assert capsys.readouterr().out.rstrip().endswith('no table: not every run has a metrics CSV '
                                                     '(scripts/inference.py outputs)')
    assert not (tmp_path / 'pages' / 'cmp.md').exists()
    meta = json.loads(re.search(r'<script id="skt-meta" type="application/json">(.*?)</script>',
                                out.read_text()).group(1))
    assert not meta['hasGt'] and meta['metrics'] == ['psnr_mu', 'lpips']  # no GT: only the test run's metrics
    assert meta['scenes'][0]['frames'] == [{'name': f'frame {i}', 'ev': ev} for i, ev in ((1, 0.0), (2, 2.0), (3, 4.0))]
    page = write_compare_page([str(infer), str(suffixed)], str(out), labels=['infer', 'test'], gt_root=str(gt_root))
    meta = json.loads(re.search(r'<script id="skt-meta" type="application/json">(.*?)</script>',
                                out.read_text()).group(1))
    assert page['scenes'] == list(PSNR) and meta['hasGt']
    # the inference run's PSNRs come from its predictions (2 x GT) and the GT
    gt = gts['demo_val_000']
    assert meta['table']['demo_val_000']['infer'] == {
        'psnr_mu': pytest.approx(calculate_psnr_mu(gt * 2, gt)), 'psnr_l': pytest.approx(calculate_psnr_l(gt * 2, gt))}
    assert meta['table']['demo_val_000']['test'] == {'psnr_mu': 50.0, 'lpips': 0.1}
    assert sorted(os.listdir(tmp_path / 'pages')) == ['infer.html', 'infer_files']  # the page was replaced in place


def test_foreign_files_folder_is_not_replaced(runs, tmp_path):
    root, run_a, run_b, gt_root = runs
    (tmp_path / 'cmp_files').mkdir()
    (tmp_path / 'cmp_files' / 'mine.txt').write_text('keep me')
    with pytest.raises(UserInputError, match='was not written by a comparison page'):
        write_compare_page([str(run_a), str(run_b)], str(tmp_path / 'cmp.html'))
    assert sorted(os.listdir(tmp_path)) == ['cmp_files'] and os.listdir(tmp_path / 'cmp_files') == ['mine.txt']
    with pytest.raises(UserInputError, match='needs a .html name'):
        write_compare_page([str(run_a), str(run_b)], str(tmp_path / 'cmp.md'))
