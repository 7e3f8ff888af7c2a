"""research/validate_teacher.py: the ORM and the teacher (with and without priors) of a finished SKT run on held-out
scenes."""
import json
import os
import os.path as osp

import pytest
from helpers import add_fake_priors, dump_yaml, make_tiny_demo, run_python, tiny_skt_options

from research import validate_teacher
from research.paths import REPO


def test_validate_teacher_scores_a_finished_skt_run(tmp_path):
    demo = make_tiny_demo(tmp_path / 'demo')
    add_fake_priors(demo, channels=512)
    config = dump_yaml(tiny_skt_options(demo, 'tiny_skt_joint', 'joint'), tmp_path / 'train_joint.yml')
    run_python(['-m', 'basicsr_skt.train', '-opt', str(config)], cwd=tmp_path)  # 2 iterations
    run = tmp_path / 'experiments' / 'tiny_skt_joint'
    out = tmp_path / 'teacher.json'
    assert validate_teacher.main(['--run', str(run), '--dataroot', str(demo / 'Test'), '--json', str(out)]) == 0
    result = json.loads(out.read_text())
    means = result['means']
    assert result['scenes'] == len(os.listdir(demo / 'Test'))
    assert {'psnr_mu', 'teacher_psnr_mu', 'teacher0_psnr_mu'} <= set(means)
    assert 'live_psnr_mu' not in means  # no EMA in this run: the validated ORM is the live one
    assert means['teacher_psnr_mu'] != means['teacher0_psnr_mu']  # the teacher reads its (random) priors
    assert not osp.isabs(result['run']) and osp.samefile(osp.join(REPO, result['run']), run)  # repository-relative
    with pytest.raises(ValueError, match='not found'):
        validate_teacher.main(['--run', str(tmp_path / 'demo'), '--dataroot', str(demo / 'Test')])
