"""Outputs never overwrite inputs, never land inside an input tree and fail before any work when their folder is not
writable (or the disk fills); names are one plain path component. Rows in ``docs/bad-inputs.md``.
"""
import errno
import os
import re
import shutil
import sys
from pathlib import Path

import cv2
import lmdb
import numpy as np
import pytest
from helpers import load_script

from basicsr_skt.data.lmdb_format import META_INFO_NAME
from basicsr_skt.data.lmdb_pack import LmdbDiskFullError, LmdbWriter, pack_lmdb, verify_lmdb
from basicsr_skt.data.scene_reader import FolderSceneReader
from basicsr_skt.inference import brackets
from basicsr_skt.skb import extract
from basicsr_skt.utils import file_checks
from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.file_checks import check_writable_dir
from basicsr_skt.utils.paths import check_name, check_output_path, is_within, safe_join

IS_ROOT = hasattr(os, 'geteuid') and os.geteuid() == 0


@pytest.mark.parametrize('name,problem', [('../escape', 'holds a path separator'), ('/abs', 'holds a path separator'),
                                          ('a\\b', 'holds a path separator'), ('..', 'relative folder reference'),
                                          ('.', 'relative folder reference'), ('', 'must be a non-empty name'),
                                          (None, 'must be a non-empty name')])
def test_names_are_one_plain_path_component(name, problem, tmp_path):
    with pytest.raises(UserInputError, match=problem):
        check_name(name, '--name')
    with pytest.raises(UserInputError, match=problem):
        safe_join(str(tmp_path), name, '--name')


def test_plain_names_pass_and_join_inside_the_root(tmp_path):
    assert check_name('HDRT_demo-1.2', 'name') == 'HDRT_demo-1.2'
    assert safe_join(str(tmp_path), 'run', 'name') == str(tmp_path / 'run')
    with pytest.raises(UserInputError, match=r"e\.g\. 'x_y'"):
        check_name('../x/y', 'name')  # the suggestion drops separators and dot parts


def test_check_output_path_refuses_inputs_links_and_input_trees(tmp_path):
    data = tmp_path / 'data'
    (data / 'scene').mkdir(parents=True)
    frame = data / 'scene' / 'a.tif'
    frame.write_bytes(b'x')
    link = tmp_path / 'link.tif'
    link.symlink_to(frame)
    hard = tmp_path / 'hard.tif'
    os.link(frame, hard)
    for out in (frame, link, hard):
        with pytest.raises(
                UserInputError, match=r'--out .* is the input .*a\.tif: writing it would overwrite an input'):
            check_output_path(str(out), inputs=[str(frame)], what='--out')
    with pytest.raises(
            UserInputError, match=r'lies inside the input folder .*data: what is written there would be read'):
        check_output_path(str(data / 'scene' / 'out'), input_trees=[str(data)], what='--out', hint='pick X')
    with pytest.raises(UserInputError, match=r' is the input folder .*; pick X'):
        check_output_path(str(data), input_trees=[str(data)], what='--out', hint='pick X')
    assert check_output_path(str(tmp_path / 'out'), [str(frame)], [str(data)]) == str(tmp_path / 'out')
    assert is_within(str(data / 'x' / '..' / 'scene'),
                     str(data)) and not is_within(str(tmp_path / 'database'), str(data))


def _metrics_csv(folder: Path, value: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / 'demo_test_metrics.csv'
    path.write_text(f'scene,psnr_mu\ns1,{value}\ns2,{value + 1}\nmean,{value + 0.5}\n')
    return path


def test_compare_results_never_overwrites_or_shadows_an_input_csv(tmp_path, capsys):
    script = load_script('compare_results')
    a, b = _metrics_csv(tmp_path / 'A', 30.0), _metrics_csv(tmp_path / 'B', 31.0)
    before = a.read_text()
    for out, extra, message in [
        (str(a), [], r'--out .*demo_test_metrics\.csv is the input'),
        (str(tmp_path / 'A' / 'other_metrics.csv'), [], r'--out .*other_metrics\.csv lies inside the input folder'),
        (str(tmp_path / 'cmp.md'), ['--figure', str(b)], r'--figure .* is the input'),
        (str(tmp_path / 'cmp.png'), [], r'--figure .*cmp\.png is the --out table'),
    ]:
        with pytest.raises(UserInputError, match=message):
            script.main([str(tmp_path / 'A'), str(tmp_path / 'B'), '--out', out] + extra)
    assert a.read_text() == before and not (tmp_path / 'A' / 'other_metrics.csv').exists()
    # through the command line: one block, exit 2
    sys_argv = sys.argv
    sys.argv = ['compare_results.py', str(tmp_path / 'A'), str(tmp_path / 'B'), '--out', str(a), '--no-figure']
    try:
        assert script.cli() == 2
    finally:
        sys.argv = sys_argv
    assert 'error: --out' in capsys.readouterr().err and a.read_text() == before
    # a table inside a results folder that is not read as metrics is fine
    script.main([str(tmp_path / 'A'), str(tmp_path / 'B'), '--out', str(tmp_path / 'A' / 'cmp.md'), '--no-figure'])
    assert (tmp_path / 'A' / 'cmp.md').is_file()


def test_inference_output_inside_the_input_and_bad_names_are_refused(split, tmp_path, capsys):
    script = load_script('inference')
    scene = split / 'demo_train_000'
    files = sorted(str(p) for p in scene.glob('*.tif'))
    for argv, message in [
        ([str(scene), '-o', str(scene)], r'-o/--output .*demo_train_000 is the input folder'),
        ([str(split), '-o', str(split / 'out')], r'-o/--output .*out lies inside the input folder'),
        ([str(split), '-o', str(split)], r'is the input folder .*Training'),
        (files + ['-o', str(tmp_path / 'o'), '--name', '../escape'], r"--name '\.\./escape' holds a path separator"),
    ]:
        assert script.main(argv + ['--checkpoint', str(tmp_path / 'never_read.pth')]) == 1
        assert re.search(message, capsys.readouterr().err)
    assert sorted(
        p.name for p in scene.iterdir()) == ['HDRImg.hdr', 'exposure.txt', 'input_1.tif', 'input_2.tif', 'input_3.tif']
    assert not (tmp_path / 'escape').exists() and not (split / 'out').exists()


def test_inference_does_not_take_previews_for_frames(split):
    scene = split / 'demo_train_000'
    for name in ('skb_preview.png', 'bracket_preview.png', 'raw_preview.png', 'demo_train_000_mulaw.png'):
        cv2.imwrite(str(scene / name), np.zeros((8, 8, 3), np.uint8))
    assert [Path(p).name for p in brackets.list_frames(str(scene))] == ['input_1.tif', 'input_2.tif', 'input_3.tif']
    assert brackets.is_not_frame('SKB_Preview.PNG') and not brackets.is_not_frame('input_1.tif')


def test_make_demo_data_refuses_to_mix_into_a_real_dataset(tmp_path, capsys):
    script = load_script('make_demo_data')
    real = tmp_path / 'Kalantari17'
    (real / 'Training' / '001').mkdir(parents=True)
    (real / 'Test' / 'PeopleTalking').mkdir(parents=True)
    args = ['--out', str(real), '--num-train', '1', '--num-val', '1', '--height', '32', '--width', '32']
    assert script.main(args) == 1
    err = capsys.readouterr().err
    assert '2 entries that are not demo scenes (Training/001, Test/PeopleTalking)' in err and '--force' in err
    assert sorted(p.name for p in (real / 'Training').iterdir()) == ['001']
    assert script.main(args + ['--force']) == 0  # asked for: demo scenes are added, the real ones are untouched
    assert sorted(p.name for p in (real / 'Training').iterdir()) == ['001', 'demo_train_000']


def test_make_lmdb_output_inside_the_scene_folder_is_refused(split, capsys):
    script = load_script('make_lmdb')
    out = split / 'packed.lmdb'
    assert script.main(['--input', str(split), '--output', str(out)]) == 1
    err = capsys.readouterr().err
    assert re.search(r'Output .*packed\.lmdb lies inside the input folder .*Training: .*read as a scene next time', err)
    assert not out.exists() and sorted(p.name for p in split.iterdir()) == ['demo_train_000', 'demo_train_001']


def test_priors_skb_root_inside_the_dataroot_is_refused_before_the_backend(split, capsys):
    script = load_script('make_semantic_priors')
    args = ['--dataroot', str(split), '--backend', 'vgg16', '--skb-root', str(split / 'skb')]
    assert script.main(args) == 1
    assert re.search(r'--skb-root .*skb lies inside --dataroot .*read as a scene', capsys.readouterr().err)
    assert not (split / 'skb').exists()


def test_hdrvdp_export_inside_the_test_set_is_refused(demo_root, tmp_path):
    script = load_script('export_hdrvdp')
    results = tmp_path / 'results' / 'run'
    (results / 'visualization' / 'Test').mkdir(parents=True)
    gt_root = tmp_path / 'Test'
    shutil.copytree(demo_root / 'Test', gt_root)
    with pytest.raises(SystemExit, match=r'--out .*hdrvdp lies inside the input folder .*Test'):
        script.main([str(results), str(gt_root), '--out', str(gt_root / 'hdrvdp')])
    assert not (gt_root / 'hdrvdp').exists()


def _deny_writes(monkeypatch):
    """Simulate a read-only folder (tests run as root here, where chmod does not stop writes)."""

    def mkstemp(*args, **kwargs):
        raise PermissionError(errno.EACCES, 'Permission denied')

    monkeypatch.setattr(file_checks.tempfile, 'mkstemp', mkstemp)


class _CountingReader(FolderSceneReader):
    decoded = 0

    def read_full(self, scene, key):
        type(self).decoded += 1
        return super().read_full(scene, key)


def test_unwritable_lmdb_output_fails_before_any_scene_is_read(demo_root, tmp_path, monkeypatch, capsys):
    _deny_writes(monkeypatch)
    _CountingReader.decoded = 0
    with pytest.raises(
            PermissionError,
            match=r'Cannot write the LMDB output folder .*/ro \(it would be created '
            r'in .*\): Permission denied. Choose another output folder or fix its permissions; nothing was '
            r'written'):
        pack_lmdb(_CountingReader(str(demo_root / 'Test')), str(tmp_path / 'ro' / 'out.lmdb'))
    assert _CountingReader.decoded == 0 and list(tmp_path.iterdir()) == []
    script = load_script('make_lmdb')
    assert script.main(['--input', str(demo_root / 'Test'), '--output', str(tmp_path / 'out.lmdb')]) == 1
    assert 'Cannot write the LMDB output folder' in capsys.readouterr().err


def test_lmdb_output_under_a_file_is_refused(demo_root, tmp_path):
    (tmp_path / 'file').write_text('x')
    with pytest.raises(NotADirectoryError, match=r'Cannot write the LMDB output folder .*file: .*file is a file'):
        pack_lmdb(FolderSceneReader(str(demo_root / 'Test')), str(tmp_path / 'file' / 'out.lmdb'))


@pytest.mark.skipif(IS_ROOT, reason='root writes into read-only folders')
def test_read_only_folder_is_detected_for_real(tmp_path):
    folder = tmp_path / 'ro'
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match='Cannot write the output folder'):
            check_writable_dir(str(folder / 'sub'))
    finally:
        folder.chmod(0o700)


def test_unwritable_priors_output_fails_before_the_backend_is_built(demo_root, tmp_path, monkeypatch, capsys):
    script = load_script('make_semantic_priors')

    def no_backend(*args):
        raise AssertionError('the backend was built before the output was checked')

    monkeypatch.setattr(extract, 'build_backend', no_backend)
    _deny_writes(monkeypatch)
    args = ['--dataroot', str(demo_root / 'Test'), '--backend', 'vgg16', '--skb-root', str(tmp_path / 'skb')]
    assert script.main(args) == 1
    assert 'Cannot write the SKB output folder (--skb-root)' in capsys.readouterr().err
    assert script.main(['--dataroot', str(demo_root / 'Test'), '--backend', 'vgg16']) == 1
    assert "Cannot write the SKB output folder of scene 'demo_val_000'" in capsys.readouterr().err


def test_unwritable_synthetic_output_fails_before_reading_photographs(tmp_path, monkeypatch, capsys):
    _deny_writes(monkeypatch)
    script = load_script('make_synthetic_brackets')
    assert script.main(['--input', str(tmp_path / 'no_photos'), '--out', str(tmp_path / 'out')]) == 1
    assert 'Cannot write the output folder (--out)' in capsys.readouterr().err


@pytest.mark.parametrize('where', ['records', 'meta_info'])
def test_disk_full_during_an_lmdb_build_leaves_nothing_that_looks_valid(demo_root, tmp_path, monkeypatch, where):
    source = FolderSceneReader(str(demo_root / 'Training'))
    existing = tmp_path / 'Training.lmdb'
    pack_lmdb(source, str(existing))
    before = {p.name: p.read_bytes() for p in existing.iterdir()}
    if where == 'records':
        original = LmdbWriter._put_records

        def put_records(self, encoded):
            if encoded[0][1].key.startswith('demo_train_001/'):  # the second scene hits a full disk
                raise lmdb.Error(f'{self._tmp_dir}: No space left on device')
            original(self, encoded)

        monkeypatch.setattr(LmdbWriter, '_put_records', put_records)
        during = "scene 'demo_train_001'"
    else:

        def write_meta_info(self):
            with open(os.path.join(self._tmp_dir, META_INFO_NAME), 'w') as f:
                f.write('# half')
            raise OSError(errno.ENOSPC, 'No space left on device')

        monkeypatch.setattr(LmdbWriter, '_write_meta_info', write_meta_info)
        during = 'writing meta_info.txt'
    for target, force in ((tmp_path / 'new.lmdb', False), (existing, True)):
        with pytest.raises(LmdbDiskFullError) as err:
            pack_lmdb(source, str(target), force=force)
        assert err.value.errno == errno.ENOSPC
        message = str(err.value)
        assert message.startswith(f'Disk full while writing LMDB {target} ({during}): ')
        assert 'No space left on device' in message and 'The partial build was removed' in message
        assert 'free some space or choose another --output' in message
        assert not (tmp_path / 'new.lmdb').exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ['Training.lmdb']  # no hidden partial folder
        assert {p.name: p.read_bytes() for p in existing.iterdir()} == before  # the old database is untouched
    assert 'existing database there is untouched' in message
    verify_lmdb(str(existing), source)


def test_disk_full_through_the_script_is_one_clear_line(demo_root, tmp_path, monkeypatch, capsys):

    def put_records(self, encoded):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(LmdbWriter, '_put_records', put_records)
    script = load_script('make_lmdb')
    assert script.main(['--input', str(demo_root / 'Test'), '--output', str(tmp_path / 'Test.lmdb')]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if 'error' in line]
    assert len(errors) == 1 and errors[0].startswith('error: Disk full while writing LMDB')
    assert list(tmp_path.iterdir()) == []
