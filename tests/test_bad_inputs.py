"""Bad inputs: each row of ``docs/bad-inputs.md`` that no other test file covers, asserting the message users see.

Rows already covered elsewhere (missing/extra frames, sizes, exposure files, NaN GT, damaged LMDBs, missing SAM/VGG
weights, unknown registry types, ...) are cited in the table instead of being repeated here.
"""
import errno
import json
import os
import pickle
from pathlib import Path

import cv2
import lmdb
import numpy as np
import pytest
import torch
from helpers import TINY_HDRT, load_script

from basicsr.archs import build_network
from basicsr_skt.data.demo_scenes import DemoSceneConfig, make_demo_dataset
from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
from basicsr_skt.data.lmdb_format import META_INFO_NAME
from basicsr_skt.data.lmdb_pack import LmdbDiskFullError, LmdbWriter, check_scene_values, pack_lmdb, verify_lmdb
from basicsr_skt.data.lmdb_reader import release_lmdb_env
from basicsr_skt.data.scene_reader import FolderSceneReader
from basicsr_skt.skb.format import save_scene_priors
from basicsr_skt.skb.geometry import check_embedding_geometry
from basicsr_skt.utils import file_checks, option_checks
from basicsr_skt.utils.checkpoint import check_state_dict_fits, load_state_dict_file
from basicsr_skt.utils.feature_tap import FeatureTap
from basicsr_skt.utils.file_checks import check_writable_dir
from basicsr_skt.utils.hdr_io import read_hdr, read_ldr, write_hdr
from basicsr_skt.utils.option_checks import SKT_KEYS, SKT_MASK_KEYS, warn_unknown_keys

REPO_ROOT = Path(__file__).resolve().parents[1]
HEIGHT, WIDTH = 48, 72
IS_ROOT = hasattr(os, 'geteuid') and os.geteuid() == 0


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('bad_inputs_demo')
    make_demo_dataset(str(root), num_train=2, num_val=1, config=DemoSceneConfig(height=HEIGHT, width=WIDTH), seed=5)
    return root


def dataset_opt(dataroot: Path, phase: str = 'train', **kwargs) -> dict:
    opt = {'name': 'bad', 'type': 'HDRMultiExposureDataset', 'phase': phase, 'dataroot': str(dataroot)}
    if phase == 'train':
        opt['gt_size'] = 16
    opt.update(kwargs)
    return opt


def fake_priors(folder: Path, labels_size=(HEIGHT, WIDTH), cells=(6, 9), cell_size=(8.0, 8.0)) -> None:
    """Valid-format priors (two half-image segments) of a chosen geometry."""
    labels = np.zeros(labels_size, np.uint16)
    labels[:, labels_size[1] // 2:] = 1
    embedding = np.random.default_rng(0).standard_normal((4, ) + tuple(cells)).astype(np.float16)
    save_scene_priors(
        str(folder), embedding, labels, {
            'backend': 'vgg16',
            'source': 'gt',
            'cell_size': list(cell_size)
        })


# ------------------------------------------------------------------------------------------------ scene files
def test_mixed_bit_depths_in_one_scene_are_refused(split):
    scene = split / 'demo_train_000'
    frame = cv2.imread(str(scene / 'input_2.tif'), cv2.IMREAD_UNCHANGED)
    assert frame.dtype == np.uint16
    os.remove(scene / 'input_2.tif')
    assert cv2.imwrite(str(scene / 'input_2.tif'), (frame >> 8).astype(np.uint8))  # an 8-bit re-export
    dataset = HDRMultiExposureDataset(dataset_opt(split, phase='val'))
    message = r"'demo_train_000': frames mix bit depths \(input_1.tif 16-bit, input_2.tif 8-bit, input_3.tif 16-bit\)"
    with pytest.raises(ValueError, match=message + '.*re-export'):
        dataset[0]
    with pytest.raises(ValueError, match=message):
        pack_lmdb(FolderSceneReader(str(split)), str(split.parent / 'out.lmdb'))
    assert not (split.parent / 'out.lmdb').exists()


def test_mixed_bit_depths_in_an_lmdb_meta_info_are_refused(demo_root, tmp_path):
    db = tmp_path / 'Test.lmdb'
    pack_lmdb(FolderSceneReader(str(demo_root / 'Test')), str(db))
    meta = db / META_INFO_NAME
    meta.write_text(meta.read_text().replace('/lq_1 (48,72,3) uint16', '/lq_1 (48,72,3) uint8'))
    with pytest.raises(ValueError, match=r"scene 'demo_val_000': frames mix bit depths \(lq_0 uint16, lq_1 uint8"):
        HDRMultiExposureDataset(dataset_opt(db, phase='val', io_backend={'type': 'lmdb'}))


@pytest.mark.parametrize('name', ['input_1.tif', 'HDRImg.hdr'])
def test_truncated_image_in_a_scene_names_scene_and_file(split, name):
    path = split / 'demo_train_001' / name
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    dataset = HDRMultiExposureDataset(dataset_opt(split, phase='val'))
    with pytest.raises(ValueError, match=rf"Scene 'demo_train_001': Cannot decode image file .*{name}"):
        dataset[1]


def test_truncated_exr_names_the_file(tmp_path):
    path = tmp_path / 'cut.exr'
    write_hdr(str(path), np.random.default_rng(0).random((64, 80, 3)).astype(np.float32))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r'Cannot decode EXR file .*cut.exr \(truncated or corrupt\)'):
        read_hdr(str(path))
    tif = tmp_path / 'cut.tif'
    assert cv2.imwrite(str(tif), np.full((64, 80, 3), 1000, np.uint16))
    tif.write_bytes(tif.read_bytes()[:100])
    with pytest.raises(ValueError, match=r'Cannot decode image file .*cut.tif: unknown format or corrupt data'):
        read_ldr(str(tif))


def test_negative_gt_names_the_scene_and_the_fix(split):
    gt = read_hdr(str(split / 'demo_train_000' / 'HDRImg.hdr'))
    gt[0, :3, 1] = -0.25
    write_hdr(str(split / 'demo_train_000' / 'HDRImg.exr'), gt)
    os.remove(split / 'demo_train_000' / 'HDRImg.hdr')
    dataset = HDRMultiExposureDataset(dataset_opt(split, phase='val', gt_glob=['HDRImg.hdr', 'HDRImg.exr']))
    with pytest.raises(ValueError, match=r"Scene 'demo_train_000': HDR image .*HDRImg.exr has 3 negative values.*clip"):
        dataset[0]


def test_exposure_values_that_overflow_are_refused(split):
    (split / 'demo_train_000' / 'exposure.txt').write_text('0\n3\n200\n')
    with pytest.raises(
            ValueError,
            match=r"Scene 'demo_train_000': exposure file .*exposure.txt gives exposure times "
            r'2 \*\* ev = \[1.0, 8.0, inf\]'):
        HDRMultiExposureDataset(dataset_opt(split))


def test_dataroot_one_level_too_high_gets_a_hint(demo_root):
    with pytest.raises(
            ValueError,
            match=r"Scene 'Test'.*holds only folders \(demo_val_000\): is dataroot one level "
            r'too high\? Point it at the folder of scene folders'):
        HDRMultiExposureDataset(dataset_opt(demo_root, phase='val'))


def test_empty_input_folder_for_the_lmdb_script(tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    script = load_script('make_lmdb')
    assert script.main(['--input', str(tmp_path / 'empty'), '--output', str(tmp_path / 'out.lmdb')]) == 1
    assert 'No scenes to pack from' in capsys.readouterr().err and not (tmp_path / 'out.lmdb').exists()


# ------------------------------------------------------------------------------------------------ option keys
def test_misspelled_dataset_key_warns_with_a_suggestion(split, basicsr_warnings):
    HDRMultiExposureDataset(dataset_opt(split, use_flip=False, dataroot_gt=str(split), cache_image=False))
    assert ("dataset 'bad' (HDRMultiExposureDataset): unknown key 'cache_image' is ignored (did you mean "
            "'cache_images'?)") in basicsr_warnings
    assert any("unknown key 'use_flip' is ignored (did you mean 'use_hflip'" in m for m in basicsr_warnings)
    assert any("unknown key 'dataroot_gt' is ignored (did you mean 'dataroot'" in m for m in basicsr_warnings)


def test_known_dataset_keys_do_not_warn(split, basicsr_warnings):
    HDRMultiExposureDataset(
        dataset_opt(split, use_hflip=True, use_rot=False, num_worker_per_gpu=0, batch_size_per_gpu=2, scale=1))
    assert not [m for m in basicsr_warnings if 'unknown key' in m]


def test_misspelled_skt_key_warns_with_a_suggestion(basicsr_warnings):
    skt = {'mode': 'joint', 'orm_tapp': 'conv_after_body', 'warmup_iters': 10, 'zzz': 1, 'skam_opt': {}}
    messages = warn_unknown_keys('skt', skt, SKT_KEYS)
    assert messages == [
        "skt: unknown key 'orm_tapp' is ignored (did you mean 'orm_tap'?)",
        "skt: unknown key 'warmup_iters' is ignored (did you mean 'warmup_iter' or 'ramp_iter'?)",
        "skt: unknown key 'zzz' is ignored (known keys: colour_opt, content_opt, diagnostics, distill_samples, mask, "
        'mode, orm_tap, ramp_iter, skam_opt, skam_samples, teacher_ema_decay, teacher_input, val_teacher, '
        'val_teacher_zeroed_priors, warmup_iter)',
    ]
    assert basicsr_warnings == messages
    assert warn_unknown_keys('skt.mask', {'ratio': 0.5},
                             SKT_MASK_KEYS) == [
                                 "skt.mask: unknown key 'ratio' is ignored (did you mean 'ratio_min' or 'ratio_max'?)"]


SKT_OPTION_FILES = sorted(
    str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / 'options').rglob('*.yml') if '\nskt:' in p.read_text())


@pytest.mark.parametrize('path', SKT_OPTION_FILES)
def test_shipped_skt_sections_use_only_known_keys(path):
    import yaml
    with open(REPO_ROOT / path) as f:
        skt = yaml.safe_load(f)['skt']
    assert option_checks.unknown_key_messages('skt', skt, SKT_KEYS) == []
    assert option_checks.unknown_key_messages('skt.mask', skt.get('mask') or {}, SKT_MASK_KEYS) == []


def test_tap_name_not_found_suggests_the_closest_module():
    net = build_network(dict(TINY_HDRT))
    with pytest.raises(
            KeyError,
            match=r"Tap 'conv_after_bdy' is not a module of HDRTransformer\. Did you mean "
            r"'conv_after_body' or 'conv_last'\? Available module names: att_module_h, "):
        FeatureTap(net, 'conv_after_bdy')


# ------------------------------------------------------------------------------------------------ semantic priors
def test_skb_enabled_but_scenes_have_no_priors(split):
    fake_priors(split / 'demo_train_000')
    with pytest.raises(
            ValueError,
            match=r"skb is true but 1 scene\(s\) .* have no semantic priors .*"
            r"\['demo_train_001'\].*make_semantic_priors.py"):
        HDRMultiExposureDataset(dataset_opt(split, skb=True))


def test_label_map_of_another_size_is_refused(split):
    for scene in ('demo_train_000', 'demo_train_001'):
        fake_priors(split / scene, labels_size=(HEIGHT, WIDTH - 8), cells=(6, 8))
    with pytest.raises(
            ValueError,
            match=r"Scene 'demo_train_000': .*skb_meta.json says image_size \[48, 64\] but the "
            r'images are 48 x 72'):
        HDRMultiExposureDataset(dataset_opt(split, skb=True))[0]
    meta_path = split / 'demo_train_000' / 'skb_meta.json'
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps(dict(meta, image_size=[HEIGHT, WIDTH])))  # meta edited, labels still 48 x 64
    with pytest.raises(
            ValueError,
            match=r"Scene 'demo_train_000': label map .*skb_labels.npy is 48x64 but the images "
            r'are 48 x 72 \(H x W\); remake'):
        HDRMultiExposureDataset(dataset_opt(split, skb=True))[0]


@pytest.mark.parametrize('cells, cell_size', [((3, 5), (8.0, 8.0)), ((6, 9), (16.0, 16.0))])
def test_embedding_grid_that_does_not_fit_the_image_is_refused(split, cells, cell_size):
    for scene in ('demo_train_000', 'demo_train_001'):
        fake_priors(split / scene, cells=cells, cell_size=cell_size)
    dataset = HDRMultiExposureDataset(dataset_opt(split, skb=True))
    with pytest.raises(
            ValueError,
            match=rf"Scene 'demo_train_000': .*skb_embedding.npy: the embedding grid "
            rf'\({cells[0]} x {cells[1]} cells of .* does not fit the 48 x 72 image.*--force'):
        dataset[0]


def test_embedding_geometry_of_real_backends_is_accepted():
    # SAM on 1000 x 1500: 64 x 64 cells of 16 / (1024 / 1500) pixels (padded square); VGG16 relu4_3 at max_side 512:
    # floor(341 / 8) = 42 rows of 8 * 1000 / 341 pixels (a partial cell short of the image).
    check_embedding_geometry((256, 64, 64), (1500 / 64, 1500 / 64), (1000, 1500))
    check_embedding_geometry((512, 42, 64), (8 * 1000 / 341, 8 * 1500 / 512), (1000, 1500))
    with pytest.raises(ValueError, match=r'= 1500 x 1500 pixels\) does not fit the 2000 x 1500 image along its rows'):
        check_embedding_geometry((256, 64, 64), (1500 / 64, 1500 / 64), (2000, 1500))


def test_lmdb_packing_refuses_priors_that_do_not_fit(split):
    gt = read_hdr(str(split / 'demo_train_000' / 'HDRImg.hdr'))
    values = {
        'gt': gt,
        'lq_0': np.zeros(gt.shape, np.uint16),
        'exposures': np.ones(1, np.float32),
        'skb_embedding': np.zeros((4, 2, 3), np.float16),
        'skb_labels': np.zeros(gt.shape[:2], np.uint16),
        'skb_meta': {
            'cell_size': [8.0, 8.0]
        }
    }
    with pytest.raises(ValueError, match=r"Training, scene 'x': skb_embedding: the embedding grid \(2 x 3 cells"):
        check_scene_values('x', values, str(split))


# ------------------------------------------------------------------------------------------------ LMDB contents
def test_lmdb_gt_record_with_nan_is_caught_when_read(demo_root, tmp_path):
    db = tmp_path / 'Test.lmdb'
    pack_lmdb(FolderSceneReader(str(demo_root / 'Test')), str(db))
    release_lmdb_env(str(db))
    env = lmdb.open(str(db), map_size=1 << 26)
    with env.begin(write=True) as txn:  # same size, so meta_info.txt still matches; only the checksum differs
        txn.put(b'demo_val_000/gt', np.full((HEIGHT, WIDTH, 3), np.nan, np.float32).tobytes())
    env.close()
    dataset = HDRMultiExposureDataset(dataset_opt(db, io_backend={'type': 'lmdb'}))
    with pytest.raises(
            ValueError,
            match=r"Scene 'demo_val_000': GT .*Test.lmdb/demo_val_000/gt holds 768 NaN/Inf "
            r'and 0 negative values: the database is corrupt.*make_lmdb.py --verify'):
        dataset[0]
    release_lmdb_env(str(db))


def test_lmdb_read_error_names_the_database_and_key(demo_root, tmp_path):
    db = tmp_path / 'Test.lmdb'
    pack_lmdb(FolderSceneReader(str(demo_root / 'Test')), str(db))
    dataset = HDRMultiExposureDataset(dataset_opt(db, phase='val', io_backend={'type': 'lmdb'}))

    class CorruptTxn:

        def get(self, key):
            raise lmdb.CorruptedError('mdb_get: MDB_CORRUPTED: Located page was wrong type')

    handle = dataset.reader._handle()
    real_txn, handle.txn = handle.txn, CorruptTxn()  # a damaged page (really damaging one risks a SIGBUS)
    with pytest.raises(
            ValueError,
            match=r'LMDB .*Test.lmdb: cannot read key demo_val_000/lq_0 \(CorruptedError: '
            r'mdb_get: MDB_CORRUPTED.*\): the database is corrupt; check it with scripts/make_lmdb.py '
            r'--verify and rebuild it with --force'):
        dataset[0]
    handle.txn = real_txn
    release_lmdb_env(str(db))


# ------------------------------------------------------------------------------------------------ checkpoints
def test_checkpoint_of_another_architecture_names_the_first_mismatching_key():
    net = build_network(dict(TINY_HDRT))
    wider = build_network(dict(TINY_HDRT, embed_dim=18)).state_dict()
    with pytest.raises(RuntimeError) as err:
        check_state_dict_fits(net, wider, what='pretrain_network_g net_g_5.pth')
    message = str(err.value)
    first_key = next(iter(net.state_dict()))
    assert message.startswith(f"pretrain_network_g net_g_5.pth does not fit HDRTransformer: first mismatching key "
                              f"'{first_key}' (shape (18, 6, 3, 3) in the checkpoint, (12, 6, 3, 3) in the network)")
    num_shapes = sum(v.shape != wider[k].shape for k, v in net.state_dict().items() if k in wider)
    assert f'0 missing, 0 unexpected, {num_shapes} of another shape' in message and 'embed_dim' in message


def test_checkpoint_with_missing_and_unexpected_keys():
    net = build_network(dict(TINY_HDRT))
    state = dict(net.state_dict())
    own_keys = list(state)
    del state[own_keys[3]]
    state['head.extra.weight'] = torch.zeros(2)
    with pytest.raises(
            RuntimeError,
            match=rf"first mismatching key '{own_keys[3]}' \(in the network, missing from "
            r'the checkpoint\); 1 missing, 1 unexpected, 0 of another shape'):
        check_state_dict_fits(net, state)
    assert check_state_dict_fits(net, state, strict=False) == ([own_keys[3]], ['head.extra.weight'])
    state[own_keys[3]] = net.state_dict()[own_keys[3]]
    with pytest.raises(
            RuntimeError,
            match=r"first mismatching key 'head.extra.weight' \(in the checkpoint, not a "
            r'parameter of the network\); 0 missing, 1 unexpected'):
        check_state_dict_fits(net, state)
    assert check_state_dict_fits(net, net.state_dict()) == ([], [])


class _NotATensor:
    pass


def test_weights_are_loaded_with_weights_only(tmp_path):
    net = build_network(dict(TINY_HDRT))
    official = tmp_path / 'official.pth'  # HDR-Transformer's layout: epoch, state_dict, optimizer (plain types only)
    optimizer = torch.optim.Adam(net.parameters())
    torch.save({'epoch': 3, 'state_dict': net.state_dict(), 'optimizer': optimizer.state_dict()}, official)
    assert list(load_state_dict_file(str(official))) == list(net.state_dict())
    with_object = tmp_path / 'pickled.pth'
    torch.save({'params': net.state_dict(), 'args': _NotATensor()}, with_object)
    with pytest.raises(ValueError, match=r'pickled.pth holds Python objects besides tensors.*weights_only=True'):
        load_state_dict_file(str(with_object))
    truncated = tmp_path / 'cut.pth'
    truncated.write_bytes(official.read_bytes()[:200])
    with pytest.raises(ValueError, match=r'Cannot read weights file .*cut.pth \(truncated, or not a torch checkpoint'):
        load_state_dict_file(str(truncated))
    with pytest.raises(FileNotFoundError, match='Network weights file not found: .*absent.pth'):
        load_state_dict_file(str(tmp_path / 'absent.pth'))


def test_priors_script_names_a_checkpoint_of_another_architecture(demo_root, tmp_path, capsys):
    net = build_network(dict(TINY_HDRT, embed_dim=18))
    torch.save({'params': net.state_dict()}, tmp_path / 'net_g.pth')
    opts = [f'{key}={json.dumps(value)}' for key, value in TINY_HDRT.items() if key != 'type']
    script = load_script('make_semantic_priors')
    args = [
        '--dataroot',
        str(demo_root / 'Test'), '--source', 'orm', '--orm-checkpoint',
        str(tmp_path / 'net_g.pth'), '--orm-opt', *opts, '--backend', 'vgg16', '--skb-root',
        str(tmp_path / 'skb')
    ]
    script.build_backend = lambda *a: object()  # the weights are checked before any backend runs
    assert script.main(args) == 1
    err = capsys.readouterr().err
    assert 'net_g.pth does not fit HDRTransformer: first mismatching key' in err and '(--orm-arch / --orm-opt)' in err
    assert not (tmp_path / 'skb').exists()


# ------------------------------------------------------------------------------------------------ outputs
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

    script.build_backend = no_backend
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


def test_unpicklable_payload_is_never_executed(tmp_path):
    """weights_only=True refuses a pickle that would run code on load."""

    class Exploit:

        def __reduce__(self):
            return (os.system, ('echo pwned > ' + str(tmp_path / 'pwned'), ))

    with open(tmp_path / 'evil.pth', 'wb') as f:
        pickle.dump({'params': Exploit()}, f, protocol=2)
    with pytest.raises(ValueError, match='evil.pth'):
        load_state_dict_file(str(tmp_path / 'evil.pth'))
    assert not (tmp_path / 'pwned').exists()
