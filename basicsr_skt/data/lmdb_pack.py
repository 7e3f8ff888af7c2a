"""Building and checking the multi-exposure LMDBs (``scripts/make_lmdb.py``): :class:`LmdbWriter` (build beside the
target, rename into place when complete), :func:`pack_lmdb` (scenes of a
:class:`~basicsr_skt.data.scene_reader.SceneReader` into one database) and :func:`verify_lmdb` (every record against
``meta_info.txt`` and the source). Record format: :mod:`basicsr_skt.data.lmdb_format`."""
import errno
import os
import shutil
import tempfile
from os import path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from basicsr_skt.data.lmdb_format import (EXPOSURES_KEY, GT_KEY, LQ_DTYPES, META_INFO_HEADER, META_INFO_NAME,
                                          RAW_DTYPES, RAW_GT_KEY, RAW_META_KEY, SKB_EMBEDDING_KEY, SKB_KEYS,
                                          SKB_LABELS_KEY, SKB_META_KEY, RecordInfo, RecordValue, check_scene_name,
                                          checksum, encode_record, group_by_scene, lq_index, raw_index, read_meta_info,
                                          record_key)
from basicsr_skt.data.lmdb_reader import release_lmdb_env, shared_lmdb_handle
from basicsr_skt.data.scene_reader import SceneReader
from basicsr_skt.skb.geometry import check_embedding_geometry
from basicsr_skt.utils.file_checks import check_writable_dir


class LmdbWriter:
    """Builds an LMDB in a hidden folder beside ``db_path`` and moves it there only when complete.

    Use as a context manager: an exception (including KeyboardInterrupt) inside the ``with`` block removes the
    partial build and leaves ``db_path`` untouched; a normal exit writes ``meta_info.txt`` last, then renames the
    folder into place (replacing an existing database only when ``force``). A process killed outright leaves only a
    hidden ``.<name>.partial-*`` folder without ``meta_info.txt``, which no reader accepts.

    The map size is automatic: it starts from ``size_hint`` (or 1 GiB) and doubles whenever a scene does not fit.

    Args:
        db_path: Target ``.lmdb`` folder.
        force: Replace an existing database at ``db_path`` (only a folder that looks like an LMDB: it holds
            ``data.mdb`` or is empty), after the new one is complete.
        size_hint: Expected total bytes of all records (sets the initial map size).

    A full disk (``ENOSPC`` from LMDB or from writing ``meta_info.txt``) raises :class:`LmdbDiskFullError`, after
    the partial build has been removed.

    Raises:
        FileExistsError: ``db_path`` exists and ``force`` is False, or it exists but is not an LMDB folder.
        PermissionError: The folder that would receive ``db_path`` is not writable (checked here, before any work).
    """

    def __init__(self, db_path: str, force: bool = False, size_hint: Optional[int] = None):
        self.db_path = osp.abspath(str(db_path)).rstrip(os.sep)
        self.force = force
        self.map_size = max(64 << 20, int(1.25 * size_hint) + (16 << 20)) if size_hint else 1 << 30
        self.size_hint = size_hint
        self.records: List[RecordInfo] = []
        self._tmp_dir: Optional[str] = None
        self._env = None
        check_output_path(self.db_path, force)
        check_writable_dir(osp.dirname(self.db_path), 'LMDB output folder')

    def __enter__(self) -> 'LmdbWriter':
        import lmdb

        parent = osp.dirname(self.db_path)
        os.makedirs(parent, exist_ok=True)
        self._tmp_dir = tempfile.mkdtemp(prefix=f'.{osp.basename(self.db_path)}.partial-', dir=parent)
        self._env = lmdb.open(self._tmp_dir, map_size=self.map_size, subdir=True, meminit=False, map_async=True)
        return self

    def put_scene(self, scene: str, values: Dict[str, RecordValue]) -> List[RecordInfo]:
        """Write all records of one scene in one transaction (the map grows when they do not fit)."""
        import lmdb

        check_scene_name(scene)
        encoded = [encode_record(record_key(scene, name), value) for name, value in values.items()]
        while True:
            try:
                self._put_records(encoded)
                break
            except lmdb.MapFullError:
                self.map_size *= 2
                self._env.set_mapsize(self.map_size)
            except (lmdb.Error, OSError) as err:
                if _is_disk_full(err):
                    raise self._disk_full(err, f'scene {scene!r}') from err
                raise
        infos = [info for _, info in encoded]
        self.records.extend(infos)
        return infos

    def _put_records(self, encoded: List[Tuple[bytes, RecordInfo]]) -> None:
        """Write encoded records in one transaction (a separate method so tests can simulate a full disk)."""
        with self._env.begin(write=True) as txn:
            for data, info in encoded:
                txn.put(info.key.encode('utf-8'), data)

    def _disk_full(self, err: BaseException, during: str) -> 'LmdbDiskFullError':
        parent = osp.dirname(self.db_path)
        try:
            free = f'{shutil.disk_usage(parent).free / 2**30:.2f} GiB free'
        except OSError:
            free = 'free space unknown'
        need = f'about {self.size_hint / 2**30:.2f} GiB' if self.size_hint else 'an unknown amount'
        kept = ' (the existing database there is untouched)' if osp.lexists(self.db_path) else ''
        return LmdbDiskFullError(
            f'Disk full while writing LMDB {self.db_path} ({during}): {err}. The partial build was removed and '
            f'{self.db_path} was not written{kept}. The records need {need}; {parent} has {free}: free some space '
            'or choose another --output')

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is not None:
            self._abort()
            return
        try:
            self._commit()
        except BaseException as err:
            self._abort()  # a failed commit (e.g. a full disk while writing meta_info.txt) leaves nothing behind
            if isinstance(err, OSError) and _is_disk_full(err):
                raise self._disk_full(err, f'writing {META_INFO_NAME}') from err
            raise

    def _write_meta_info(self) -> None:
        meta_path = osp.join(self._tmp_dir, META_INFO_NAME)
        with open(meta_path, 'w', encoding='utf-8') as f:
            f.write(META_INFO_HEADER + ''.join(info.to_line() + '\n' for info in self.records))
            f.flush()
            os.fsync(f.fileno())

    def _commit(self) -> None:
        self._env.sync(True)
        self._env.close()
        self._env = None
        self._write_meta_info()
        old = None
        if osp.lexists(self.db_path):
            check_output_path(self.db_path, self.force)  # re-check: it may have appeared meanwhile
            old = tempfile.mkdtemp(prefix=f'.{osp.basename(self.db_path)}.old-', dir=osp.dirname(self.db_path))
            os.rename(self.db_path, osp.join(old, 'db'))
        release_lmdb_env(self.db_path)  # a reader in this process must not keep serving the replaced database
        os.rename(self._tmp_dir, self.db_path)
        self._tmp_dir = None
        if old is not None:
            shutil.rmtree(old)

    def _abort(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            self._tmp_dir = None


class LmdbDiskFullError(OSError):
    """The disk filled up while building an LMDB; the partial build has been removed (``errno`` is ENOSPC)."""

    def __init__(self, message: str):
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return self.strerror


def _is_disk_full(err: BaseException) -> bool:
    """ENOSPC (or EDQUOT) from the OS, or an LMDB error reporting it."""
    if getattr(err, 'errno', None) in (errno.ENOSPC, getattr(errno, 'EDQUOT', errno.ENOSPC)):
        return True
    text = str(err).lower()
    return 'no space left' in text or 'disk quota' in text


def check_output_path(db_path: str, force: bool) -> None:
    """Refuse an existing output unless ``force``; never replace something that is not an LMDB folder."""
    if not osp.lexists(db_path):
        return
    looks_like_lmdb = osp.isdir(db_path) and (not os.listdir(db_path) or osp.isfile(osp.join(db_path, 'data.mdb')))
    if not looks_like_lmdb:
        raise FileExistsError(f'{db_path} exists and is not an LMDB folder: refusing to replace it')
    if not force:
        raise FileExistsError(f'LMDB {db_path} already exists: use force=True (--force) to replace it')


# ------------------------------------------------------------------------------------------------------ pack/verify
def check_scene_values(scene: str, values: Dict[str, RecordValue], location: str) -> None:
    """Consistency of one scene's records before packing: frame/GT sizes and dtypes, exposures, SKB contract."""
    where = f'{location}, scene {scene!r}'
    if RAW_GT_KEY in values:
        check_raw_scene_values(where, values)
        return
    gt = values.get(GT_KEY)
    if not isinstance(gt, np.ndarray) or gt.dtype != np.float32 or gt.ndim != 3 or gt.shape[2] != 3:
        raise ValueError(f'{where}: gt must be a float32 H x W x 3 array')
    frames = [values[name] for name in values if lq_index(name) is not None]
    for name in values:
        index = lq_index(name)
        if index is not None and (values[name].dtype.name not in LQ_DTYPES or values[name].shape != gt.shape):
            raise ValueError(f'{where}: {name} is {values[name].dtype} {values[name].shape}, expected uint8/uint16 '
                             f'{gt.shape} like the GT')
    if len({frame.dtype for frame in frames}) > 1:
        listing = ', '.join(f'{name} {values[name].dtype}' for name in values if lq_index(name) is not None)
        raise ValueError(f'{where}: frames mix bit depths ({listing}); all frames of a scene must have the same bit '
                         'depth: re-export the odd frame(s) from the originals (e.g. all 16-bit TIFF)')
    exposures = values.get(EXPOSURES_KEY)
    if not isinstance(exposures, np.ndarray) or exposures.dtype != np.float32 or exposures.shape != (len(frames), ):
        raise ValueError(f'{where}: exposures must be float32 with one value per frame ({len(frames)})')
    _check_skb_values(where, values, gt.shape[:2])


def check_raw_scene_values(where: str, values: Dict[str, RecordValue]) -> None:
    """The RAW counterpart of :func:`check_scene_values`: packed frames and GT of one (H/2, W/2, 4) size, one frame
    dtype (uint16 / float32), float32 GT, ``exposures`` per frame, ``raw_meta`` a dict, and the SKB contract."""
    gt = values[RAW_GT_KEY]
    if not isinstance(gt, np.ndarray) or gt.dtype != np.float32 or gt.ndim != 3 or gt.shape[2] != 4:
        raise ValueError(f'{where}: raw_gt must be a float32 packed (h, w, 4) array')
    names = [name for name in values if raw_index(name) is not None]
    for name in names:
        if values[name].dtype.name not in RAW_DTYPES or values[name].shape != gt.shape:
            raise ValueError(f'{where}: {name} is {values[name].dtype} {values[name].shape}, expected uint16/float32 '
                             f'{gt.shape} like raw_gt')
    if not names or len({values[name].dtype for name in names}) > 1:
        raise ValueError(f'{where}: needs RAW frames of one dtype, got {[(n, values[n].dtype.name) for n in names]}')
    exposures = values.get(EXPOSURES_KEY)
    if not isinstance(exposures, np.ndarray) or exposures.dtype != np.float32 or exposures.shape != (len(names), ):
        raise ValueError(f'{where}: exposures must be float32 with one value per frame ({len(names)})')
    if not isinstance(values.get(RAW_META_KEY), dict):
        raise ValueError(f'{where}: raw_meta must be a dict (the scene metadata)')
    _check_skb_values(where, values, gt.shape[:2])


def _check_skb_values(where: str, values: Dict[str, RecordValue], image_shape: Tuple[int, int]) -> None:
    """The SKB records of a scene are all there or all absent, with the documented dtypes and the image's size."""
    present = [key for key in SKB_KEYS if key in values]
    if present and len(present) != len(SKB_KEYS):
        raise ValueError(f'{where}: semantic priors are incomplete: has {present}, needs all of {list(SKB_KEYS)}')
    if present:
        embedding, labels = values[SKB_EMBEDDING_KEY], values[SKB_LABELS_KEY]
        if embedding.dtype != np.float16 or embedding.ndim != 3:
            raise ValueError(f'{where}: skb_embedding must be float16 (C, He, We), got {embedding.dtype} '
                             f'{embedding.shape}')
        if labels.dtype != np.uint16 or labels.shape != tuple(image_shape):
            raise ValueError(f'{where}: skb_labels must be uint16 {tuple(image_shape)} (the image size), got '
                             f'{labels.dtype} {labels.shape}')
        meta = values[SKB_META_KEY]
        if not isinstance(meta, dict):
            raise ValueError(f'{where}: skb_meta must be a JSON object')
        if 'cell_size' in meta:
            check_embedding_geometry(embedding.shape, meta['cell_size'], image_shape, f'{where}: skb_embedding')


def _progress(items: Sequence, enabled: bool, desc: str):
    if not enabled:
        return items
    from tqdm import tqdm
    return tqdm(items, desc=desc, unit='scene')


def pack_lmdb(source: SceneReader,
              db_path: str,
              scenes: Optional[Sequence[str]] = None,
              force: bool = False,
              progress: bool = False) -> Dict[str, object]:
    """Pack scenes into one LMDB, losslessly (frames at their stored bit depth, GT float32 as decoded).

    Every record the source lists for a scene is written (``lq_<i>``, ``gt``, ``exposures`` and, when the scene has
    them, ``skb_embedding``, ``skb_labels``, ``skb_meta``), then ``meta_info.txt``; see :class:`LmdbWriter` for the
    build-beside-then-rename guarantees.

    Args:
        source: Where the scenes come from (e.g. the folder backend of ``HDRMultiExposureDataset``).
        db_path: Output ``.lmdb`` folder.
        scenes: Scene names to pack (default: every scene of the source, in its order).
        force: Replace an existing database.
        progress: Show a tqdm progress bar.

    Returns:
        ``{'db_path', 'scenes': [names], 'records': count, 'bytes': total record bytes}``.

    Raises:
        FileExistsError: The output exists and ``force`` is False (nothing is written).
        PermissionError: The output folder is not writable (checked before any scene is read).
        LmdbDiskFullError: The disk filled up (an ``OSError`` with errno ENOSPC); the partial build is removed.
        ValueError: A scene with missing/mismatched files, sizes or dtypes (message names the scene and file); the
            partial build is removed and an existing database stays as it was.
    """
    target = osp.abspath(str(db_path)).rstrip(os.sep)
    check_output_path(target, force)  # output problems first, before any scene is read
    check_writable_dir(osp.dirname(target), 'LMDB output folder')
    names = list(source.scene_names() if scenes is None else scenes)
    if not names:
        raise ValueError(f'No scenes to pack from {source.location} (expected one folder per scene)')
    for name in names:
        check_scene_name(name)
        source.index_scene(name)  # cheap checks of every scene before writing anything
    first = _scene_values(source, names[0])
    size_hint = len(names) * sum(v.nbytes if isinstance(v, np.ndarray) else 4096 for v in first.values())
    total = 0
    with LmdbWriter(db_path, force=force, size_hint=size_hint) as writer:
        for position, name in enumerate(_progress(names, progress, f'packing {osp.basename(str(db_path))}')):
            values = first if position == 0 else _scene_values(source, name)
            first = None
            check_scene_values(name, values, source.location)
            total += sum(info.nbytes for info in writer.put_scene(name, values))
    return {'db_path': str(db_path), 'scenes': names, 'records': len(writer.records), 'bytes': total}


def _scene_values(source: SceneReader, scene: str) -> Dict[str, RecordValue]:
    return {key: source.read_full(scene, key) for key in source.keys(scene)}


class LmdbVerifyError(ValueError):
    """``verify_lmdb`` found problems; ``problems`` lists one message per bad record."""

    def __init__(self, db_path: str, problems: List[str]):
        self.problems = problems
        shown = '\n  '.join(problems[:20]) + (f'\n  ... and {len(problems) - 20} more' if len(problems) > 20 else '')
        super().__init__(f'LMDB {db_path}: {len(problems)} problem(s):\n  {shown}')


def verify_lmdb(db_path: str, source: Optional[SceneReader] = None, progress: bool = False) -> Dict[str, object]:
    """Re-read every record and check it against ``meta_info.txt`` and, optionally, against the source.

    Checks: every listed key is in the database with the listed size and checksum; the database holds no unlisted
    keys; with ``source``, every scene has the same records as the source with identical shape, dtype and content
    (checksum of the source's values).

    Args:
        db_path: The ``.lmdb`` folder.
        source: The scenes it was packed from (e.g. the folder backend), or None to check self-consistency only.
        progress: Show a tqdm progress bar.

    Returns:
        ``{'db_path', 'scenes': count, 'records': count, 'bytes': total}`` when everything matches.

    Raises:
        ValueError: No/malformed meta_info.txt, or the database cannot be opened.
        LmdbVerifyError: One message per missing, resized, corrupt, extra or differing record (db path and key named).
    """
    import lmdb

    records = read_meta_info(db_path)
    scenes = group_by_scene(records.values())
    problems: List[str] = []
    total = 0
    try:
        with shared_lmdb_handle(db_path).env.begin(buffers=True) as txn:
            for scene in _progress(list(scenes), progress, f'verifying {osp.basename(str(db_path))}'):
                for info in scenes[scene].values():
                    total += info.nbytes
                    problems += _check_stored_record(txn, info)
                if source is not None:
                    problems += _compare_with_source(source, scene, scenes[scene])
            listed = set(records)
            extra = [
                key for key in (bytes(k).decode('utf-8', 'replace') for k in txn.cursor().iternext(values=False))
                if key not in listed
            ]
            problems += [f'{key}: in the database but not listed in {META_INFO_NAME}' for key in extra]
    except lmdb.Error as err:
        problems.append(f'the database structure is corrupt ({type(err).__name__}: {err})')
    if source is not None:
        missing = [name for name in source.scene_names() if name not in scenes]
        problems += [f'scene {name!r} of {source.location} is not in the database' for name in missing]
    if problems:
        raise LmdbVerifyError(db_path, problems)
    return {'db_path': str(db_path), 'scenes': len(scenes), 'records': len(records), 'bytes': total}


def _check_stored_record(txn, info: RecordInfo) -> List[str]:
    buffer = txn.get(info.key.encode('utf-8'))
    if buffer is None:
        return [f'{info.key}: listed in {META_INFO_NAME} but missing from the database']
    if len(buffer) != info.nbytes:
        return [
            f'{info.key}: {len(buffer)} bytes stored, {META_INFO_NAME} says {info.dtype} {info.shape} = '
            f'{info.nbytes} bytes'
        ]
    digest = checksum(buffer)
    if digest != info.checksum:
        return [
            f'{info.key}: checksum mismatch (stored data {digest[:23]}..., {META_INFO_NAME} '
            f'{info.checksum[:23]}...): the record is corrupt'
        ]
    return []


def _compare_with_source(source: SceneReader, scene: str, stored: Dict[str, RecordInfo]) -> List[str]:
    try:
        source_keys = source.keys(scene)
    except ValueError as err:
        return [f'scene {scene!r}: cannot list it in {source.location}: {err}']
    problems = [
        f'{record_key(scene, key)}: in {source.location} but not in the database' for key in source_keys
        if key not in stored
    ]
    problems += [
        f'{record_key(scene, key)}: in the database but not in {source.location}' for key in stored
        if key not in source_keys
    ]
    for key in (key for key in source_keys if key in stored):
        try:
            _, expected = encode_record(record_key(scene, key), source.read_full(scene, key))
        except ValueError as err:
            problems.append(f'{record_key(scene, key)}: cannot read it from {source.location}: {err}')
            continue
        info = stored[key]
        if (expected.shape, expected.dtype) != (info.shape, info.dtype):
            problems.append(f'{info.key}: database has {info.dtype} {info.shape}, {source.location} has '
                            f'{expected.dtype} {expected.shape}')
        elif expected.checksum != info.checksum:
            problems.append(f'{info.key}: content differs from {source.location} (checksum)')
    return problems
