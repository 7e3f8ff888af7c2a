"""research/label_quality.py: pseudo-label sets scored against the ground truth the labeller never saw."""
import json
import math

import numpy as np
import pytest

from basicsr_skt.utils.errors import UserInputError, run_cli
from basicsr_skt.utils.hdr_io import write_hdr
from research import label_quality

MU = 5000.0


def mu_law(x: float) -> float:
    return math.log1p(MU * x) / math.log1p(MU)


def flat(value: float) -> np.ndarray:
    return np.full((8, 8, 3), value, np.float32)  # 0.5, 0.25, 0.125: exact in Radiance RGBE


def psnr(a: float, b: float) -> float:
    return -20 * math.log10(abs(mu_law(a) - mu_law(b)))


def write_scenes(tmp_path):
    """GT 0.5 in a photograph's capture and in a generated scene; labels A (pseudo-label layout) 0.25 in both, B
    (``inference.py``'s ``<scene>.hdr``) 0.125 in the capture and 0.25 in the generated scene."""
    for scene in ('Desk_v0', 'demo_000'):
        (tmp_path / 'gt' / scene).mkdir(parents=True)
        write_hdr(str(tmp_path / 'gt' / scene / 'HDRImg.hdr'), flat(0.5))
        (tmp_path / 'a' / scene).mkdir(parents=True)
        write_hdr(str(tmp_path / 'a' / scene / 'PseudoHDR.hdr'), flat(0.25))
    (tmp_path / 'b').mkdir()
    write_hdr(str(tmp_path / 'b' / 'Desk_v0.hdr'), flat(0.125))
    write_hdr(str(tmp_path / 'b' / 'demo_000.hdr'), flat(0.25))
    (tmp_path / 'gt' / 'no_gt_scene').mkdir()  # a folder without HDRImg.hdr is not a scene of --gt


def test_label_sets_are_scored_against_the_gt_and_each_other(tmp_path):
    write_scenes(tmp_path)
    out = tmp_path / 'q.json'
    assert label_quality.main(['--gt', str(tmp_path / 'gt'), '--labels', f'A={tmp_path / "a"}',
                               f'B={tmp_path / "b"}', '--json', str(out)]) == 0
    scores = json.loads(out.read_text())['scores']
    assert scores['A'] == pytest.approx({'Desk_v0': psnr(0.25, 0.5), 'demo_000': psnr(0.25, 0.5)}, abs=1e-4)
    assert scores['B'] == pytest.approx({'Desk_v0': psnr(0.125, 0.5), 'demo_000': psnr(0.25, 0.5)}, abs=1e-4)
    assert scores['A ~ B'] == pytest.approx({'Desk_v0': psnr(0.125, 0.25), 'demo_000': math.inf})
    means = label_quality.group_means(scores['B'])
    assert means['photographs'] == pytest.approx(psnr(0.125, 0.5), abs=1e-4)
    assert means['generated'] == pytest.approx(psnr(0.25, 0.5), abs=1e-4)
    table = json.loads(out.read_text())['table']
    delta = psnr(0.125, 0.5) / 2 - psnr(0.25, 0.5) / 2  # B - A: lower on the photograph, equal on the other
    assert f'| B | 2 | {(psnr(0.125, 0.5) + psnr(0.25, 0.5)) / 2:.3f} |' in table
    assert f'| {delta:+.3f} | 0 |' in table


def test_missing_scenes_and_bad_arguments_are_one_clear_message(tmp_path, capsys):
    write_scenes(tmp_path)
    (tmp_path / 'b' / 'demo_000.hdr').unlink()
    with pytest.raises(UserInputError, match='no result for scene demo_000'):
        label_quality.main(['--gt', str(tmp_path / 'gt'), '--labels', f'B={tmp_path / "b"}'])
    with pytest.raises(UserInputError, match='write NAME=FOLDER'):
        label_quality.main(['--gt', str(tmp_path / 'gt'), '--labels', str(tmp_path / 'a')])
    with pytest.raises(UserInputError, match='no <scene>/HDRImg.hdr'):
        label_quality.main(['--gt', str(tmp_path / 'a'), '--labels', f'A={tmp_path / "a"}'])
    argv = ['--gt', str(tmp_path / 'missing'), '--labels', f'A={tmp_path / "a"}']
    assert run_cli(lambda: label_quality.main(argv), argv) == 2
    assert 'not a folder' in capsys.readouterr().err
