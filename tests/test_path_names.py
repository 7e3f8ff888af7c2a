"""Names that come from data or from a user become file names only through ``utils.paths.check_name``
(docs/bad-inputs.md, "Names from data"): every writer is run against a malicious name, and nothing may be written
outside the folder the user named."""
import os
import shutil
from pathlib import Path
from typing import Set

import pytest

from basicsr_skt.data.lmdb_pack import pack_lmdb
from basicsr_skt.data.lmdb_reader import LmdbSceneReader
from basicsr_skt.data.scene_reader import FolderSceneReader
from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.paths import check_name
from tests.helpers import TINY_HDRT, load_script, make_tiny_demo

#: Names no writer may turn into a path: separators, parent folders, absolute paths, control characters.
MALICIOUS = [
    '../escape', '..', '.', '/tmp/abs', 'a/b', 'a\\b', 'nul\0', 'line\nbreak', 'tab\there', 'esc\x1b[31m', 'del\x7f',
    'c1\x85', ''
]


@pytest.mark.parametrize('name', MALICIOUS)
def test_check_name_refuses_every_malicious_name(name):
    with pytest.raises(UserInputError, match='Scene name'):
        check_name(name, 'Scene name')


@pytest.mark.parametrize('name', ['demo_test_000', 'Szene-ä', '場景 1', 'a..b', '.hidden', 'x' * 200])
def test_check_name_keeps_plain_names(name):
    assert check_name(name, 'Scene name') == name


def _files(root: Path) -> Set[Path]:
    return {path for path in root.rglob('*')}


def _only_inside(before: Set[Path], root: Path, allowed: Path) -> None:
    new = _files(root) - before
    outside = [path for path in new if allowed not in path.parents and path != allowed]
    assert not outside, outside


@pytest.fixture()
def demo(tmp_path) -> Path:
    return make_tiny_demo(tmp_path / 'demo', num_train=2, num_val=1)


def _rename_scene(split: Path, new_name: str) -> Path:
    old = next(p for p in sorted(split.iterdir()) if p.is_dir())
    return old.rename(split / new_name)


def test_lmdb_scene_names_with_dot_dot_never_reach_the_results(demo, tmp_path):
    """A meta_info.txt whose scene names climb out (``../../x/gt``): refused when the database is opened."""
    db = tmp_path / 'Test.lmdb'
    pack_lmdb(FolderSceneReader(str(demo / 'Test')), str(db))
    meta = db / 'meta_info.txt'
    scene = LmdbSceneReader(str(db)).scene_names()[0]
    meta.write_text(meta.read_text().replace(f'{scene}/', '../../escape/'))
    before = _files(tmp_path)
    with pytest.raises(UserInputError, match=r"meta_info\.txt, line \d+: scene name .*'\.\./\.\./escape' holds a path"):
        LmdbSceneReader(str(db))
    from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
    with pytest.raises(UserInputError, match='escape'):
        HDRMultiExposureDataset({'phase': 'val', 'dataroot': str(db), 'io_backend': {'type': 'lmdb'}})
    assert _files(tmp_path) == before


def test_folder_scene_names_with_control_characters_are_refused_by_dataset_and_results(demo, tmp_path):
    from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
    from tests.helpers import eval_hdr_model
    _rename_scene(demo / 'Test', 'evil\nscene')
    with pytest.raises(UserInputError, match=r"Scene name in .*'evil\\nscene' holds a control character"):
        HDRMultiExposureDataset({'phase': 'val', 'dataroot': str(demo / 'Test'), 'io_backend': {'type': 'disk'}})
    model = eval_hdr_model(tmp_path / 'results')
    with pytest.raises(UserInputError, match='holds a path separator'):  # the writer itself refuses, too
        model.visual_path('../../escape', 0, 'demo_test')


def test_make_lmdb_refuses_a_scene_folder_with_a_control_character(demo, tmp_path, capsys):
    _rename_scene(demo / 'Training', 'esc\x1b[31m')
    before = _files(tmp_path)
    make_lmdb = load_script('make_lmdb')
    assert make_lmdb.main(['--input', str(demo / 'Training'), '--output', str(tmp_path / 'T.lmdb')]) == 1
    assert 'holds a control character' in capsys.readouterr().err
    assert _files(tmp_path) == before


def test_make_semantic_priors_refuses_a_bad_scene_name_before_writing(demo, tmp_path, capsys):
    _rename_scene(demo / 'Test', 'tab\tname')
    before = _files(tmp_path)
    priors = load_script('make_semantic_priors')
    code = priors.main(['--dataroot', str(demo / 'Test'), '--backend', 'vgg16', '--skb-root', str(tmp_path / 'skb')])
    assert code == 1 and "'tab\\tname' holds a control character" in capsys.readouterr().err
    assert _files(tmp_path) == before


@pytest.mark.parametrize('name', ['../escape', 'line\nbreak', '/tmp/abs'])
def test_inference_name_cannot_leave_the_output_folder(demo, tmp_path, capsys, name):
    import torch

    from basicsr_skt.archs.hdr_transformer_arch import HDRTransformer
    checkpoint = tmp_path / 'net_g.pth'
    torch.save({'params': HDRTransformer(**{
        k: v
        for k, v in TINY_HDRT.items() if k != 'type'
    }).state_dict()}, checkpoint)
    scene = next((demo / 'Test').iterdir())
    frames = sorted(str(p) for p in scene.glob('*.tif'))
    before = _files(tmp_path)
    inference = load_script('inference')
    code = inference.main(frames + [
        '-o',
        str(tmp_path / 'out'), '--checkpoint',
        str(checkpoint), '--name', name, '--ev', '-2', '0', '2', '--device', 'cpu'
    ])
    assert code == 1 and '--name' in capsys.readouterr().err
    assert _files(tmp_path) == before


@pytest.mark.parametrize('name', ['../demo', 'a/b', 'x\ny'])
def test_compare_results_dataset_name_is_one_plain_name(tmp_path, name):
    compare = load_script('compare_results')
    (tmp_path / 'run').mkdir()
    with pytest.raises(UserInputError, match='--dataset'):
        compare.find_metrics_csv(str(tmp_path / 'run'), name)


def test_a_malicious_name_in_the_test_entry_writes_nothing_outside_results(demo, tmp_path):
    """End to end: ``python -m basicsr_skt.test`` on an LMDB whose scene is named ``../../escape``."""
    import subprocess
    import sys

    import torch

    from basicsr_skt.archs.hdr_transformer_arch import HDRTransformer
    from tests.helpers import REPO_ROOT, dump_yaml, tiny_test_options
    db = tmp_path / 'Test.lmdb'
    pack_lmdb(FolderSceneReader(str(demo / 'Test')), str(db))
    scene = LmdbSceneReader(str(db)).scene_names()[0]
    (db / 'meta_info.txt').write_text((db / 'meta_info.txt').read_text().replace(f'{scene}/', '../../escape/'))
    checkpoint = tmp_path / 'net_g.pth'
    torch.save({'params': HDRTransformer(**{
        k: v
        for k, v in TINY_HDRT.items() if k != 'type'
    }).state_dict()}, checkpoint)
    opt = tiny_test_options(demo, 'names', str(checkpoint))
    opt['datasets']['test'].update(dataroot=str(db), io_backend={'type': 'lmdb'})
    config = dump_yaml(opt, tmp_path / 'test.yml')
    before = _files(tmp_path)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', PYTHONPATH=str(REPO_ROOT))
    out = subprocess.run([sys.executable, '-m', 'basicsr_skt.test', '-opt',
                          str(config)],
                         cwd=tmp_path,
                         env=env,
                         capture_output=True,
                         text=True,
                         timeout=300)
    assert out.returncode == 2 and 'Traceback' not in out.stderr, out.stderr[-2000:]
    assert "'../../escape' holds a path separator" in out.stderr
    _only_inside(before, tmp_path, tmp_path / 'results')
    assert not list(tmp_path.parent.glob('escape*')) and not (tmp_path / 'escape').exists()
    shutil.rmtree(tmp_path / 'results', ignore_errors=True)
