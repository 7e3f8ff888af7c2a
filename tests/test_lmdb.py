"""LMDB packing, reading and verification: bit-exact round trip, identical samples to the folder backend, failures."""
import json
import pickle
import random
import shutil
from pathlib import Path

import lmdb
import numpy as np
import pytest
import torch
from helpers import load_script

from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
from basicsr_skt.data.lmdb_format import META_INFO_NAME, RecordInfo, read_meta_info
from basicsr_skt.data.lmdb_pack import LmdbVerifyError, pack_lmdb, verify_lmdb
from basicsr_skt.data.lmdb_reader import LmdbSceneReader, release_lmdb_env
from basicsr_skt.data.scene_reader import FolderSceneReader
from basicsr_skt.synthesis.demo_scenes import DemoSceneConfig, make_demo_dataset
from basicsr_skt.utils.hdr_io import write_hdr

SKB_SCENE = 'demo_train_001'


def _add_skb_files(folder: Path, height: int, width: int, seed: int = 0) -> None:
    """Semantic-prior files of the storage contract (small random values)."""
    rng = np.random.default_rng(seed)
    np.save(folder / 'skb_embedding.npy', rng.standard_normal((8, 4, 6)).astype(np.float16))
    np.save(folder / 'skb_labels.npy', rng.integers(0, 5, size=(height, width)).astype(np.uint16))
    meta = {'format': 1, 'backend': 'vgg16', 'source': 'gt', 'image_size': [height, width], 'num_segments': 4}
    (folder / 'skb_meta.json').write_text(json.dumps(meta, indent=2))


@pytest.fixture(scope='module')
def data_root(tmp_path_factory) -> Path:
    """Demo dataset: Training (3 scenes, one with SKB files) and Test (1 scene), 48 x 72."""
    root = tmp_path_factory.mktemp('lmdb_src')
    make_demo_dataset(str(root), num_train=3, num_val=1, config=DemoSceneConfig(height=48, width=72), seed=4)
    _add_skb_files(root / 'Training' / SKB_SCENE, 48, 72)
    return root


@pytest.fixture(scope='module')
def packed(data_root, tmp_path_factory) -> dict:
    """Both splits packed once: {'Training': path, 'Test': path}."""
    out = tmp_path_factory.mktemp('lmdb_out')
    paths = {}
    for split in ('Training', 'Test'):
        paths[split] = out / f'{split}.lmdb'
        pack_lmdb(FolderSceneReader(str(data_root / split)), str(paths[split]))
    return paths


def _opt(dataroot: Path, backend: str, phase: str = 'train', **kwargs) -> dict:
    opt = {'phase': phase, 'dataroot': str(dataroot), 'io_backend': {'type': backend}}
    if phase == 'train':
        opt['gt_size'] = 16
    opt.update(kwargs)
    return opt


def _assert_items_equal(a: dict, b: dict) -> None:
    assert a['scene'] == b['scene']
    for key in ('lq', 'gt', 'exposures'):
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


def _copy_db(db: Path, tmp_path: Path) -> Path:
    copy = tmp_path / 'copy.lmdb'
    shutil.copytree(db, copy)
    return copy


# ---------------------------------------------------------------- round trip
def test_round_trip_is_bit_exact_with_meta_info(data_root, packed):
    source = FolderSceneReader(str(data_root / 'Training'))
    reader = LmdbSceneReader(str(packed['Training']))
    assert reader.scene_names() == source.scene_names() == ['demo_train_000', 'demo_train_001', 'demo_train_002']
    for scene in source.scene_names():
        assert reader.keys(scene) == source.keys(scene)
        for key in source.keys(scene):
            expected, stored = source.read_full(scene, key), reader.read_full(scene, key)
            if key == 'skb_meta':
                assert stored == expected and stored['image_size'] == [48, 72]
            else:
                assert stored.dtype == expected.dtype and stored.shape == expected.shape
                np.testing.assert_array_equal(stored, expected)
    assert reader.keys(SKB_SCENE)[-3:] == ['skb_embedding', 'skb_labels', 'skb_meta']
    assert reader.read_full(SKB_SCENE, 'skb_embedding').dtype == np.float16
    np.testing.assert_array_equal(reader.read_full('demo_train_000', 'exposures'), [0.25, 1.0, 4.0])
    records = read_meta_info(str(packed['Training']))
    info = records['demo_train_000/lq_0']
    assert (info.shape, info.dtype) == ((48, 72, 3), 'uint16') and info.checksum.startswith('sha256:')
    assert records['demo_train_000/gt'].dtype == 'float32' and records[f'{SKB_SCENE}/skb_labels'].shape == (48, 72)
    assert RecordInfo.from_line(info.to_line(), 'here') == info
    lines = (packed['Training'] / META_INFO_NAME).read_text().splitlines()
    assert lines[0].startswith('#') and lines[2].split()[:3] == ['demo_train_000/lq_0', '(48,72,3)', 'uint16']
    summary = verify_lmdb(str(packed['Training']), source)
    assert summary['scenes'] == 3 and summary['records'] == 3 * 5 + 3


def test_window_read_copies_only_the_window(packed, data_root):
    reader = LmdbSceneReader(str(packed['Training']))
    full = FolderSceneReader(str(data_root / 'Training')).read_full('demo_train_002', 'gt')
    lq0, gt = reader.read_windows('demo_train_002', ['lq_0', 'gt'], 5, 7, 16, 12)
    np.testing.assert_array_equal(gt, full[5:21, 7:19])
    assert gt.flags.owndata and gt.flags.c_contiguous and gt.nbytes == 16 * 12 * 3 * 4  # a copy of the window only
    assert lq0.dtype == np.uint16 and lq0.shape == (16, 12, 3)
    with pytest.raises(ValueError, match=r'Training.lmdb: demo_train_002/gt: window rows 40:56'):
        reader.read_window('demo_train_002', 'gt', 40, 0, 16, 16)


def test_split_modules_pack_verify_then_read(data_root, tmp_path):
    """The public API of the storage modules end to end: pack a scene, verify it, read it back through the reader."""
    from basicsr_skt.data import lmdb_format, lmdb_pack, lmdb_reader, scene_reader
    source = scene_reader.FolderSceneReader(str(data_root / 'Training'), cache_images=False)
    db = str(tmp_path / 'api.lmdb')
    summary = lmdb_pack.pack_lmdb(source, db, scenes=[SKB_SCENE])
    assert summary['scenes'] == [SKB_SCENE] and lmdb_format.is_lmdb_folder(db)
    records = lmdb_format.read_meta_info(db)
    assert list(records) == [lmdb_format.record_key(SKB_SCENE, key) for key in source.keys(SKB_SCENE)]
    assert lmdb_pack.verify_lmdb(db)['records'] == summary['records'] == len(records) == 3 + 2 + 3
    reader = lmdb_reader.LmdbSceneReader(db, num_frames=3)
    assert isinstance(reader, scene_reader.SceneReader) and reader.scene_names() == [SKB_SCENE]
    record = reader.index_scene(SKB_SCENE)
    assert record.lq_paths == tuple(f'{db}/{SKB_SCENE}/{lmdb_format.lq_key(i)}' for i in range(3))
    assert reader.image_size(SKB_SCENE) == source.image_size(SKB_SCENE) == (48, 72)
    for key in source.keys(SKB_SCENE):
        expected, stored = source.read_full(SKB_SCENE, key), reader.read_full(SKB_SCENE, key)
        if isinstance(expected, dict):
            assert stored == expected
        else:
            assert stored.dtype == expected.dtype and np.array_equal(stored, expected), key
    window = reader.read_window(SKB_SCENE, lmdb_format.GT_KEY, 2, 3, 5, 7)
    np.testing.assert_array_equal(window, source.read_full(SKB_SCENE, lmdb_format.GT_KEY)[2:7, 3:10])
    data, info = lmdb_format.encode_record('s/x', np.arange(6, dtype=np.uint16).reshape(2, 3))
    assert lmdb_format.RecordInfo.from_line(info.to_line(), 'here') == info
    np.testing.assert_array_equal(lmdb_format.decode_record(data, info, 'db'), np.arange(6).reshape(2, 3))
    lmdb_reader.release_lmdb_env(db)


# ---------------------------------------------------------------- identical samples
def test_train_crops_identical_to_folder_backend(data_root, packed):
    for kwargs in ({}, {'cache_images': False}):
        folder = HDRMultiExposureDataset(_opt(data_root / 'Training', 'disk', **kwargs))
        stored = HDRMultiExposureDataset(_opt(packed['Training'], 'lmdb', **kwargs))
        assert [r.name for r in stored.scenes] == [r.name for r in folder.scenes]
        random.seed(7)
        expected = [folder[i % 3] for i in range(24)]
        random.seed(7)
        for i, item in enumerate(expected):
            _assert_items_equal(stored[i % 3], item)
    assert stored[0]['lq_paths'][1] == str(packed['Training'] / 'demo_train_000' / 'lq_1')
    assert stored[0]['gt_path'] == str(packed['Training'] / 'demo_train_000' / 'gt')


def test_val_full_images_identical_to_folder_backend(data_root, packed):
    folder = HDRMultiExposureDataset(_opt(data_root / 'Test', 'disk', phase='val'))
    stored = HDRMultiExposureDataset(_opt(packed['Test'], 'lmdb', phase='val'))
    assert len(stored) == 1
    _assert_items_equal(stored[0], folder[0])
    assert stored[0]['lq'].shape == (3, 6, 48, 72)


def test_dataloader_workers_give_identical_batches(data_root, packed):
    """Forked workers (after the main process has read the LMDB) open their own environment."""
    batches = {}
    for backend, root in (('disk', data_root / 'Training'), ('lmdb', packed['Training'])):
        dataset = HDRMultiExposureDataset(_opt(root, backend))
        dataset[0]  # the main process opens its environment before the workers fork
        loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=2, shuffle=True)
        torch.manual_seed(3)  # seeds the workers' python `random`
        batches[backend] = [batch for _ in range(2) for batch in loader]
    assert len(batches['lmdb']) == 4
    for a, b in zip(batches['lmdb'], batches['disk']):
        assert a['scene'] == b['scene'] and torch.equal(a['lq'], b['lq']) and torch.equal(a['gt'], b['gt'])


def test_dataset_pickles_without_an_environment(packed):
    dataset = HDRMultiExposureDataset(_opt(packed['Test'], 'lmdb', phase='val'))
    before = dataset[0]
    clone = pickle.loads(pickle.dumps(dataset))
    _assert_items_equal(clone[0], before)


def test_scene_list_and_exclude_scenes(packed, tmp_path):
    kept = HDRMultiExposureDataset(_opt(packed['Training'], 'lmdb', exclude_scenes=['demo_train_000']))
    assert [r.name for r in kept.scenes] == ['demo_train_001', 'demo_train_002']
    list_file = tmp_path / 'val.txt'
    list_file.write_text('demo_train_002\n')
    only = HDRMultiExposureDataset(_opt(packed['Training'], 'lmdb', phase='val', scene_list=str(list_file)))
    assert [r.name for r in only.scenes] == ['demo_train_002']
    with pytest.raises(ValueError, match=r"\['nope'\] from scene_list not found in .*Training.lmdb"):
        HDRMultiExposureDataset(_opt(packed['Training'], 'lmdb', scene_list=['nope']))


# ---------------------------------------------------------------- verify / interrupted builds / existing outputs
def test_verify_catches_a_flipped_byte(data_root, packed, tmp_path):
    copy = _copy_db(packed['Training'], tmp_path)
    gt = FolderSceneReader(str(data_root / 'Training')).read_full('demo_train_002', 'gt').tobytes()
    data = bytearray((copy / 'data.mdb').read_bytes())
    position = data.find(gt[8192:8256])
    assert position > 0
    data[position + 5] ^= 0x10
    (copy / 'data.mdb').write_bytes(bytes(data))
    with pytest.raises(LmdbVerifyError, match=r'(?s)copy.lmdb: 1 problem.*demo_train_002/gt: checksum mismatch'):
        verify_lmdb(str(copy))
    verify_lmdb(str(packed['Training']))  # the original is fine


def test_verify_against_a_changed_source(data_root, packed, tmp_path):
    source = tmp_path / 'Test'
    shutil.copytree(data_root / 'Test', source)
    write_hdr(str(source / 'demo_val_000' / 'HDRImg.hdr'), np.full((48, 72, 3), 0.5, np.float32))
    with pytest.raises(LmdbVerifyError, match=r'demo_val_000/gt: content differs'):
        verify_lmdb(str(packed['Test']), FolderSceneReader(str(source)))


class _FailingReader(FolderSceneReader):
    """Raises while reading the second scene, like an interrupted run."""

    def read_full(self, scene, key):
        if scene == 'demo_train_001':
            raise KeyboardInterrupt
        return super().read_full(scene, key)


def test_interrupted_build_leaves_no_database(data_root, packed, tmp_path):
    target = tmp_path / 'new.lmdb'
    with pytest.raises(KeyboardInterrupt):
        pack_lmdb(_FailingReader(str(data_root / 'Training')), str(target))
    assert list(tmp_path.iterdir()) == []  # neither the target nor the hidden partial build is left
    existing = _copy_db(packed['Training'], tmp_path)
    before = {p.name: p.read_bytes() for p in existing.iterdir()}
    with pytest.raises(KeyboardInterrupt):
        pack_lmdb(_FailingReader(str(data_root / 'Training')), str(existing), force=True)
    assert {p.name: p.read_bytes() for p in existing.iterdir()} == before  # the old database is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ['copy.lmdb']


def test_output_exists_needs_force(data_root, tmp_path):
    target = tmp_path / 'Test.lmdb'
    source = FolderSceneReader(str(data_root / 'Test'))
    pack_lmdb(source, str(target))
    before = (target / 'data.mdb').read_bytes()
    with pytest.raises(FileExistsError, match=r'Test.lmdb already exists.*--force'):
        pack_lmdb(source, str(target))
    assert (target / 'data.mdb').read_bytes() == before
    pack_lmdb(source, str(target), force=True)
    verify_lmdb(str(target), source)
    (tmp_path / 'notes.lmdb').mkdir()
    (tmp_path / 'notes.lmdb' / 'notes.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='not an LMDB folder'):
        pack_lmdb(source, str(tmp_path / 'notes.lmdb'), force=True)
    assert (tmp_path / 'notes.lmdb' / 'notes.txt').read_text() == 'mine'


@pytest.mark.parametrize('damage, message', [
    ('missing_frame', r"'demo_val_000'.*num_frames=3.*found 2"),
    ('missing_gt', r"'demo_val_000'.*exactly one GT file.*none"),
    ('gt_size', r"'demo_val_000'.*GT HDRImg.hdr is 70 x 48"),
    ('skb_labels_size', r"'demo_val_000'.*skb_labels must be uint16 \(48, 72\)"),
    ('skb_incomplete', r"'demo_val_000'.*semantic priors are incomplete"),
])
def test_bad_scenes_are_refused_and_nothing_is_written(data_root, tmp_path, damage, message):
    split = tmp_path / 'Test'
    shutil.copytree(data_root / 'Test', split)
    scene = split / 'demo_val_000'
    if damage == 'missing_frame':
        (scene / 'input_3.tif').unlink()
    elif damage == 'missing_gt':
        (scene / 'HDRImg.hdr').unlink()
    elif damage == 'gt_size':
        write_hdr(str(scene / 'HDRImg.hdr'), np.ones((48, 70, 3), np.float32))
    elif damage == 'skb_labels_size':
        _add_skb_files(scene, 40, 72)
    else:
        _add_skb_files(scene, 48, 72)
        (scene / 'skb_meta.json').unlink()
    with pytest.raises(ValueError, match=message):
        pack_lmdb(FolderSceneReader(str(split)), str(tmp_path / 'out.lmdb'))
    assert not (tmp_path / 'out.lmdb').exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['Test']


# ---------------------------------------------------------------- damaged databases
def test_database_without_meta_info(packed, tmp_path):
    copy = _copy_db(packed['Test'], tmp_path)
    (copy / META_INFO_NAME).unlink()
    with pytest.raises(ValueError, match=r'copy.lmdb has no meta_info.txt .*incomplete'):
        HDRMultiExposureDataset(_opt(copy, 'lmdb', phase='val'))
    with pytest.raises(ValueError, match=r'copy.lmdb has no meta_info.txt'):
        verify_lmdb(str(copy))


def _rewrite_record(db: Path, key: str, value) -> None:
    """Delete (value None) or overwrite one record of a database copy behind meta_info.txt's back."""
    release_lmdb_env(str(db))
    env = lmdb.open(str(db), map_size=1 << 26)
    with env.begin(write=True) as txn:
        if value is None:
            txn.delete(key.encode())
        else:
            txn.put(key.encode(), value)
    env.close()


def test_missing_key(packed, tmp_path):
    copy = _copy_db(packed['Test'], tmp_path)
    _rewrite_record(copy, 'demo_val_000/lq_1', None)
    dataset = HDRMultiExposureDataset(_opt(copy, 'lmdb', phase='val'))
    with pytest.raises(ValueError, match=r'copy.lmdb: key demo_val_000/lq_1 is listed in meta_info.txt but missing'):
        dataset[0]
    with pytest.raises(LmdbVerifyError, match=r'demo_val_000/lq_1: listed in meta_info.txt but missing'):
        verify_lmdb(str(copy))


def test_record_of_the_wrong_size(packed, tmp_path):
    copy = _copy_db(packed['Test'], tmp_path)
    _rewrite_record(copy, 'demo_val_000/gt', b'\0' * 100)
    dataset = HDRMultiExposureDataset(_opt(copy, 'lmdb', gt_size=8))
    with pytest.raises(
            ValueError,
            match=r'copy.lmdb: record demo_val_000/gt has 100 bytes, but meta_info.txt says '
            r'float32 \(48, 72, 3\) = 41472 bytes'):
        dataset[0]
    with pytest.raises(LmdbVerifyError, match=r'demo_val_000/gt: 100 bytes stored'):
        verify_lmdb(str(copy))


def test_meta_info_without_a_needed_key(packed, tmp_path):
    copy = _copy_db(packed['Test'], tmp_path)
    meta = copy / META_INFO_NAME
    meta.write_text(''.join(line + '\n' for line in meta.read_text().splitlines() if '/exposures ' not in line))
    with pytest.raises(ValueError, match=r'copy.lmdb: key demo_val_000/exposures is not listed in meta_info.txt'):
        HDRMultiExposureDataset(_opt(copy, 'lmdb', phase='val'))
    with pytest.raises(ValueError, match=r"Test.lmdb, scene 'demo_val_000': expected num_frames=2"):
        HDRMultiExposureDataset(_opt(packed['Test'], 'lmdb', phase='val', num_frames=2))


def test_backend_and_dataroot_must_agree(data_root, packed):
    with pytest.raises(ValueError, match=r'Test.lmdb is an LMDB database: set io_backend: \{type: lmdb\}'):
        HDRMultiExposureDataset(_opt(packed['Test'], 'disk', phase='val'))
    with pytest.raises(ValueError, match=r'needs dataroot to be an .lmdb folder.*io_backend: \{type: disk\}'):
        HDRMultiExposureDataset(_opt(data_root / 'Test', 'lmdb', phase='val'))
    with pytest.raises(ValueError, match=r'io_backend must be'):
        HDRMultiExposureDataset(_opt(packed['Test'], 'lmdb', phase='val', io_backend={'type': 'lmdb', 'db_path': 'x'}))


# ---------------------------------------------------------------- command line
def test_command_line_script(data_root, tmp_path, capsys):
    script = load_script('make_lmdb')
    args = ['--input', str(data_root), '--splits', 'Training', 'Test', '--output', str(tmp_path)]
    assert script.main(args) == 0
    assert 'Wrote' in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ['Test.lmdb', 'Training.lmdb']
    assert script.main(args) == 1
    assert '--force' in capsys.readouterr().err
    assert script.main(args + ['--verify']) == 0
    assert capsys.readouterr().out.count('OK: ') == 2
    single = ['--input', str(data_root / 'Test'), '--output', str(tmp_path / 'Test.lmdb')]
    assert script.main(single + ['--force']) == 0
    assert script.main(['--input', str(data_root / 'Test'), '--output', str(tmp_path / 'x')]) == 1
    assert 'must end in .lmdb' in capsys.readouterr().err
