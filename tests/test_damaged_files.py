"""Damaged storage (docs/bad-inputs.md, "Damaged files"): files changed or cut short after they were written are
reported with one message naming the file, before they are used, never with a signal or silently."""
import os
import re
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

    verify = _run(
        [str(REPO_ROOT / 'scripts' / 'make_lmdb.py'), '--input',
         str(demo / 'Test'), '--output',
         str(db), '--verify'], tmp_path)
    _assert_one_message(verify, expected, 'rebuild it with scripts/make_lmdb.py --force')

    read = _run([
        '-c', 'from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset as D; '
        f'd = D({{"phase": "val", "dataroot": {str(db)!r}, "io_backend": {{"type": "lmdb"}}}}); d[0]'
    ], tmp_path)
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


# ---------------------------------------------------------------------------------------------------------- checkpoints
def _tiny_net() -> torch.nn.Module:
    from basicsr_skt.archs.hdr_transformer_arch import HDRTransformer
    torch.manual_seed(0)
    return HDRTransformer(**{key: value for key, value in TINY_HDRT.items() if key != 'type'})


def flip_in_record(path: Path, record_suffix: str, offset: int = 7) -> str:
    """Flip one byte inside the stored bytes of the first zip record whose name ends in ``record_suffix``.

    Returns:
        str: The record's name in the archive.
    """
    with zipfile.ZipFile(path) as archive:
        info = next(info for info in archive.infolist() if info.filename.endswith(record_suffix))
    data = bytearray(path.read_bytes())
    name_len, extra_len = np.frombuffer(bytes(data[info.header_offset + 26:info.header_offset + 30]), '<u2')
    data[info.header_offset + 30 + int(name_len) + int(extra_len) + offset] ^= 0x10
    path.write_bytes(bytes(data))
    return info.filename


@pytest.fixture()
def damaged_checkpoint(tmp_path) -> tuple:
    """(intact, damaged, record name): a BasicSR net_g file and a copy with one byte of a weight tensor changed."""
    intact, damaged = tmp_path / 'net_g_intact.pth', tmp_path / 'net_g_5.pth'
    torch.save({'params': _tiny_net().state_dict()}, intact)
    shutil.copy(intact, damaged)
    record = flip_in_record(damaged, 'data/3')
    # the damage is real: torch.load reads it silently, and the weights differ
    changed = torch.load(damaged, weights_only=True)['params']
    assert any(not torch.equal(value, _tiny_net().state_dict()[key]) for key, value in changed.items())
    return intact, damaged, record


def test_a_flipped_byte_in_a_checkpoint_is_refused_by_every_loader(damaged_checkpoint, tmp_path):
    from basicsr_skt import compat
    from basicsr_skt.inference import load_weights
    from basicsr_skt.utils.checkpoint import load_state_dict_file
    from basicsr_skt.utils.file_checks import verify_checkpoint
    from tests.helpers import eval_hdr_model
    intact, damaged, record = damaged_checkpoint
    expected = f'checkpoint {damaged} is damaged: record {record!r} (Bad CRC-32'

    assert verify_checkpoint(str(intact)) == str(intact)
    with pytest.raises(UserInputError, match=re.escape(expected)):
        verify_checkpoint(str(damaged))
    with pytest.raises(UserInputError, match=re.escape(expected)):  # the scripts' loader (inference, priors)
        load_state_dict_file(str(damaged))
    with pytest.raises(ValueError, match=re.escape(expected)):
        load_weights(_tiny_net(), str(damaged))
    with pytest.raises(UserInputError, match=re.escape(expected)):  # pretrain_network_* at option parsing
        compat.check_parsed_options(
            {
                'name': 'run',
                'num_gpu': 0,
                'is_train': False,
                'path': {
                    'pretrain_network_t': str(damaged)
                }
            }, 'x.yml')
    with pytest.raises(UserInputError, match=re.escape(expected)):  # HDRModel.load_network (ORM, teacher, SKAM)
        eval_hdr_model(tmp_path).load_network(_tiny_net(), str(damaged))
    eval_hdr_model(tmp_path).load_network(_tiny_net(), str(intact))


def test_a_damaged_training_state_or_network_file_is_skipped_on_resume(tmp_path):
    """A resume state or one of its network files with changed bytes: named, and --auto_resume takes the previous."""
    from basicsr_skt import compat
    models, states = tmp_path / 'models', tmp_path / 'training_states'
    models.mkdir()
    states.mkdir()
    opt = {
        'num_gpu': 0,
        'auto_resume': True,
        'model_type': 'HDRModel',
        'network_g': dict(TINY_HDRT),
        'path': {
            'experiments_root': str(tmp_path),
            'models': str(models),
            'training_states': str(states)
        }
    }
    for it in (2, 4):
        torch.save({'params': _tiny_net().state_dict()}, models / f'net_g_{it}.pth')
        torch.save({
            'iter': it,
            'epoch': 0,
            'optimizers': [],
            'schedulers': [],
            'payload': torch.arange(64.)
        }, states / f'{it}.state')
    state_record = flip_in_record(states / '4.state', 'data/0')
    with pytest.raises(RuntimeError, match=re.escape(f'record {state_record!r}')):
        compat.read_training_state(str(states / '4.state'), opt)
    assert compat.load_resume_state(dict(opt, path=dict(opt['path'])))['iter'] == 2
    torch.save({'iter': 4, 'epoch': 0, 'optimizers': [], 'schedulers': []}, states / '4.state')
    net_record = flip_in_record(models / 'net_g_4.pth', 'data/3')
    with pytest.raises(RuntimeError, match=rf'net_g_4\.pth .*record {re.escape(repr(net_record))}'):
        compat.read_training_state(str(states / '4.state'), opt)


def test_inference_refuses_a_damaged_checkpoint(demo, damaged_checkpoint, tmp_path):
    _, damaged, record = damaged_checkpoint
    out = _run([
        str(REPO_ROOT / 'scripts' / 'inference.py'),
        str(next((demo / 'Test').iterdir())), '-o',
        str(tmp_path / 'out'), '--checkpoint',
        str(damaged), '--arch-opt', 'embed_dim=12', 'depths=[2]', 'num_heads=[2]', 'mlp_ratio=2', '--device', 'cpu'
    ], tmp_path)
    _assert_one_message(out, f'{damaged} is damaged: record {record!r}')
    assert not (tmp_path / 'out').exists() or not list((tmp_path / 'out').iterdir())


# ------------------------------------------------------------------------------------- found by the fuzz suite
def test_skb_files_changed_after_writing_are_named_by_loader_and_dataset(tmp_path):
    """A flipped byte of the embedding data, the labels, or the meta's recorded CRCs: refused, never used."""
    from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
    from basicsr_skt.skb.format import load_scene_priors
    from tests.helpers import add_fake_priors
    demo = make_tiny_demo(tmp_path / 'demo', num_train=1, num_val=1)
    add_fake_priors(demo, channels=4)
    scene = next((demo / 'Test').iterdir())
    intact = load_scene_priors(str(scene))
    assert set(intact['meta']['crc32']) == {'skb_embedding.npy', 'skb_labels.npy', 'skb_meta.json'}
    data = bytearray((scene / 'skb_embedding.npy').read_bytes())
    data[-3] ^= 0x01  # a mantissa bit of one float16 value: still a valid, finite embedding
    (scene / 'skb_embedding.npy').write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r'skb_embedding\.npy: contents do not match the CRC-32 recorded'):
        load_scene_priors(str(scene))
    dataset = HDRMultiExposureDataset({
        'phase': 'val',
        'dataroot': str(demo / 'Test'),
        'skb': True,
        'io_backend': {
            'type': 'disk'
        }
    })
    with pytest.raises(ValueError, match=r'skb_embedding\.npy: contents do not match'):
        dataset[0]


def test_damaged_npy_header_and_non_utf8_meta_info_are_named(packed_test, tmp_path):
    """numpy's header parser raised TokenError on a flipped header byte; a non-UTF-8 byte in meta_info.txt raised
    UnicodeDecodeError: both were bare tracebacks."""
    from basicsr_skt.skb.format import load_scene_priors
    from tests.helpers import add_fake_priors
    demo = make_tiny_demo(tmp_path / 'demo', num_train=1, num_val=1)
    add_fake_priors(demo, channels=4)
    scene = next((demo / 'Test').iterdir())
    data = bytearray((scene / 'skb_labels.npy').read_bytes())
    data[10] ^= 0x01  # inside the header dict
    (scene / 'skb_labels.npy').write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r'skb_labels\.npy: cannot read \.npy array'):
        load_scene_priors(str(scene))
    db = tmp_path / 'copy.lmdb'
    shutil.copytree(packed_test, db)
    meta = db / 'meta_info.txt'
    meta.write_bytes(b'\xa3' + meta.read_bytes()[1:])
    with pytest.raises(ValueError, match=r'meta_info\.txt, line 1: not UTF-8 text .*make_lmdb\.py --force'):
        LmdbSceneReader(str(db))
