"""Damaged storage (docs/bad-inputs.md, "Damaged files"): files changed or cut short after they were written are
reported with one message naming the file, before they are used, never with a signal or silently."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from basicsr_skt.data.lmdb_pack import pack_lmdb
from basicsr_skt.data.lmdb_reader import LmdbSceneReader, open_lmdb_readonly
from basicsr_skt.data.scene_reader import FolderSceneReader
from basicsr_skt.utils.errors import UserInputError
from tests.helpers import REPO_ROOT, TINY_HDRT, dump_yaml, make_tiny_demo, tiny_test_options

#: Exit statuses of a process killed by SIGBUS (as seen by subprocess, and by a shell).
SIGBUS_EXITS = (-7, 135)


def _run(args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED='1', CUDA_VISIBLE_DEVICES='', PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([sys.executable] + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _assert_one_message(out: subprocess.CompletedProcess, *needles: str) -> None:
    """Non-zero exit, not a signal, no traceback, and the message holds every needle."""
    text = out.stdout + out.stderr
    assert out.returncode not in SIGBUS_EXITS and out.returncode > 0, (out.returncode, text[-2000:])
    assert 'Traceback' not in text, text[-3000:]
    for needle in needles:
        assert needle in text, (needle, text[-2000:])


@pytest.fixture(scope='module')
def demo(tmp_path_factory) -> Path:
    return make_tiny_demo(tmp_path_factory.mktemp('damaged_demo'), num_train=2, num_val=2)


@pytest.fixture(scope='module')
def packed_test(demo, tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp('damaged_lmdb') / 'Test.lmdb'
    pack_lmdb(FolderSceneReader(str(demo / 'Test')), str(db))
    return db


def _cut_copy(db: Path, tmp_path: Path, size: int) -> Path:
    copy = tmp_path / 'cut.lmdb'
    shutil.copytree(db, copy)
    os.truncate(copy / 'data.mdb', size)
    return copy


# ---------------------------------------------------------------------------------------------------------------- LMDB
@pytest.mark.parametrize('keep', [0, 100, 4096, 8192, 0.5, -1])
def test_cut_short_lmdb_is_refused_before_any_read(packed_test, tmp_path, keep):
    """Cut inside the header pages, just after them, half way, or one byte short: refused when opened, by name."""
    full = os.path.getsize(packed_test / 'data.mdb')
    size = int(full * keep) if isinstance(keep, float) else (full + keep if keep < 0 else keep)
    db = _cut_copy(packed_test, tmp_path, size)
    with pytest.raises(UserInputError) as info:
        open_lmdb_readonly(str(db))
    assert str(db) in str(info.value) and 'make_lmdb.py --force' in str(info.value)
    with pytest.raises(UserInputError, match='copy it again'):
        LmdbSceneReader(str(db))  # the dataset's reader checks when it is made, not at the first read
    assert open_lmdb_readonly(str(packed_test)) is not None  # the intact database opens


def test_cut_short_lmdb_in_the_test_entry_the_dataset_and_verify_is_a_message_not_sigbus(demo, packed_test, tmp_path):
    """The three user paths that used to die with SIGBUS (exit 135, no message) on a half-copied data.mdb."""
    db = _cut_copy(packed_test, tmp_path, os.path.getsize(packed_test / 'data.mdb') // 2)
    expected = f'LMDB {db} is damaged: data.mdb is'

    verify = _run([str(REPO_ROOT / 'scripts' / 'make_lmdb.py'), '--input', str(demo / 'Test'), '--output', str(db),
                   '--verify'], tmp_path)
    _assert_one_message(verify, expected, 'rebuild it with scripts/make_lmdb.py --force')

    read = _run(['-c', 'from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset as D; '
                 f'd = D({{"phase": "val", "dataroot": {str(db)!r}, "io_backend": {{"type": "lmdb"}}}}); d[0]'],
                tmp_path)
    assert read.returncode not in SIGBUS_EXITS and expected in read.stderr, (read.returncode, read.stderr[-2000:])

    checkpoint = tmp_path / 'net_g.pth'
    from basicsr_skt.archs.hdr_transformer_arch import HDRTransformer
    kwargs = {key: value for key, value in TINY_HDRT.items() if key != 'type'}
    torch.save({'params': HDRTransformer(**kwargs).state_dict()}, checkpoint)
    opt = tiny_test_options(demo, 'cut_lmdb', str(checkpoint))
    opt['datasets']['test'].update(dataroot=str(db), io_backend={'type': 'lmdb'})
    entry = _run(['-m', 'basicsr_skt.test', '-opt', str(dump_yaml(opt, tmp_path / 'test.yml'))], tmp_path)
    _assert_one_message(entry, expected)
    assert not list((tmp_path / 'results').rglob('*.hdr')) if (tmp_path / 'results').exists() else True
