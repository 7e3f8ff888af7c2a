"""Bad scenes refused with the message users see: damaged or mixed frames, impossible values and exposures, damaged
LMDB records, scenes the generators would make impossible. Rows in ``docs/bad-inputs.md``.
"""
import os
import re
from pathlib import Path

import cv2
import lmdb
import numpy as np
import pytest
from helpers import TINY_SCENES, dataset_opt, load_script, val_dataset

from basicsr_skt.data.hdr_multiexposure_dataset import HDRMultiExposureDataset
from basicsr_skt.data.lmdb_format import META_INFO_NAME
from basicsr_skt.data.lmdb_pack import pack_lmdb
from basicsr_skt.data.lmdb_reader import release_lmdb_env
from basicsr_skt.data.scene_reader import FolderSceneReader
from basicsr_skt.inference import brackets
from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.hdr_io import read_hdr, read_ldr, write_hdr

HEIGHT, WIDTH = TINY_SCENES.height, TINY_SCENES.width


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


@pytest.mark.parametrize('evs,kind', [('-2\n0\n0\n', 'repeats an exposure'),
                                      ('2\n0\n-2\n', 'is not in increasing order')])
def test_exposures_must_increase_with_the_frame_order(split, evs, kind):
    (split / 'demo_train_001' / 'exposure.txt').write_text(evs)
    with pytest.raises(
            UserInputError,
            match=rf"Scene 'demo_train_001': exposure file .*exposure\.txt {kind} "
            r'\(input_1\.tif: .*input_3\.tif: .*\): frames, sorted by file name'):
        val_dataset(split)


def test_all_zero_gt_is_refused_and_a_constant_gt_warns(split, basicsr_warnings):
    gt = split / 'demo_train_000' / 'HDRImg.hdr'
    write_hdr(str(gt), np.zeros((HEIGHT, WIDTH, 3), np.float32))
    with pytest.raises(UserInputError, match=r"Scene 'demo_train_000': GT .*HDRImg\.hdr is all zero"):
        val_dataset(split)[0]
    write_hdr(str(gt), np.full((HEIGHT, WIDTH, 3), 0.5, np.float32))
    val_dataset(split)[0]
    assert any(
        re.search(r"Scene 'demo_train_000': GT .*HDRImg\.hdr is constant \(0\.5 everywhere\)", m)
        for m in basicsr_warnings)


def _make_gray(path: Path) -> None:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))


def test_gray_and_colour_frames_are_not_mixed_in_training_or_inference(split):
    scene = split / 'demo_train_000'
    _make_gray(scene / 'input_2.tif')
    with pytest.raises(
            UserInputError,
            match=r"Scene 'demo_train_000': frames mix grayscale \(input_2\.tif\) and colour "
            r'\(input_1\.tif, input_3\.tif\)'):
        val_dataset(split)[0]
    with pytest.raises(UserInputError, match=r"frames mix grayscale \(input_2\.tif\)"):
        brackets.read_bracket(brackets.list_frames(str(scene)), 'demo_train_000', evs=[-2, 0, 2])
    for name in ('input_1.tif', 'input_3.tif'):  # an all-gray (monochrome) bracket is fine
        _make_gray(scene / name)
    assert len(brackets.read_bracket(brackets.list_frames(str(scene)), 's', evs=[-2, 0, 2]).frames) == 3
    assert len(FolderSceneReader(str(split), ['*.tif'], ['HDRImg.hdr'], 'exposure.txt', 3).images('demo_train_000')[0])


def test_inference_refuses_mixed_bit_depths_like_training(split):
    scene = split / 'demo_train_000'
    img = cv2.imread(str(scene / 'input_2.tif'), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(scene / 'input_2.png'), (img // 257).astype(np.uint8))
    paths = [str(scene / 'input_1.tif'), str(scene / 'input_2.png'), str(scene / 'input_3.tif')]
    with pytest.raises(
            ValueError,
            match=r"Scene 's': frames mix bit depths \(input_1\.tif 16-bit, input_2\.png 8-bit, "
            r'input_3\.tif 16-bit\)'):
        brackets.read_bracket(paths, 's', evs=[-2, 0, 2])


def test_inference_refuses_repeated_exposures_and_warns_about_an_unordered_exposure_file(split):
    scene = split / 'demo_train_000'
    frames = brackets.list_frames(str(scene))
    with pytest.raises(UserInputError, match=r"Scene 's': exposures \(ev\) repeats an exposure \(input_1\.tif: 1, "):
        brackets.read_bracket(frames, 's', evs=[0, 0, 2])
    (scene / 'exposure.txt').write_text('2\n0\n-2\n')
    with pytest.warns(UserWarning, match=r'exposure\.txt does not increase in file-name order'):
        bracket = brackets.read_bracket(frames, 's', exposure_file=str(scene / 'exposure.txt'))
    assert [Path(p).name for p in bracket.paths] == ['input_3.tif', 'input_2.tif', 'input_1.tif']


def test_generators_refuse_repeated_or_decreasing_evs(tmp_path, capsys):
    demo = load_script('make_demo_data')
    assert demo.main(['--out', str(tmp_path / 'demo'), '--evs', '-2', '0', '0']) == 1
    assert '--evs -2 0 0 repeats value 3: exposures must strictly increase' in capsys.readouterr().err
    synthetic = load_script('make_synthetic_brackets')
    assert synthetic.main(['--input', str(tmp_path), '--out', str(tmp_path / 's'), '--evs', '2', '0', '-2']) == 1
    assert '--evs 2 0 -2 decreases at value 2' in capsys.readouterr().err
    assert not (tmp_path / 'demo').exists() and not (tmp_path / 's').exists()


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
