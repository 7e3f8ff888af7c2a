"""Reading the multi-exposure LMDBs: one read-only handle per database and process, and :class:`LmdbSceneReader`,
the :class:`~basicsr_skt.data.scene_reader.SceneReader` over an LMDB made by
:func:`basicsr_skt.data.lmdb_pack.pack_lmdb` (record format: :mod:`basicsr_skt.data.lmdb_format`)."""
import os
from os import path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from basicsr_skt.data.lmdb_format import (EXPOSURES_KEY, GT_KEY, JSON_DTYPE, LQ_DTYPES, META_INFO_NAME, RecordInfo,
                                          RecordValue, decode_record, group_by_scene, lq_index, lq_key, read_meta_info,
                                          record_key)
from basicsr_skt.data.scene_reader import SceneReader, SceneRecord, image_window

#: What to do with a damaged database, for the messages.
REBUILD_HINT = ('rebuild it with scripts/make_lmdb.py --force, or copy it again from an intact source (an '
                'interrupted copy or a full disk leaves data.mdb cut short)')


def check_lmdb_size(env, db_path: str) -> None:
    """Refuse a database whose ``data.mdb`` is shorter than the pages its header says it holds.

    LMDB maps the file into memory, so the first read of a page past the end of a cut-short file kills the process
    with SIGBUS (exit 135, no message). The header (the two meta pages, read by ``lmdb.open``) records the last page
    in use: ``(last_pgno + 1) * psize`` bytes must be on disk.

    Args:
        env: An open ``lmdb.Environment`` of ``db_path``.
        db_path (str): The ``.lmdb`` folder, for the message.

    Raises:
        UserInputError: ``data.mdb`` is shorter than the pages in use; the message names the database, both sizes and
            the fix.
    """
    from basicsr_skt.utils.errors import UserInputError

    needed = (int(env.info()['last_pgno']) + 1) * int(env.stat()['psize'])
    size = osp.getsize(osp.join(db_path, 'data.mdb'))
    if size < needed:
        raise UserInputError(f'LMDB {db_path} is damaged: data.mdb is {size} bytes but its header says the database '
                             f'holds {needed} bytes (cut short by {needed - size} bytes); {REBUILD_HINT}')


def open_lmdb_readonly(db_path: str):
    """Open an LMDB read-only without locking or read-ahead (safe for many reader processes, random access).

    Every read path opens its databases here (the datasets through :class:`LmdbHandle`, ``verify_lmdb``), so a
    cut-short ``data.mdb`` is refused by :func:`check_lmdb_size` before any record is read.

    Raises:
        UserInputError: No ``data.mdb``, a file that is not an LMDB (e.g. cut inside its header pages), or one cut
            short (see :func:`check_lmdb_size`); the message names the database and says to rebuild or re-copy it.
    """
    import lmdb  # imported here: folder-backend users do not need it

    from basicsr_skt.utils.errors import UserInputError

    data = osp.join(db_path, 'data.mdb')
    if not osp.isfile(data):
        raise UserInputError(f'LMDB {db_path} has no data.mdb: not an LMDB folder, or an incomplete copy; '
                             f'{REBUILD_HINT}')
    try:
        env = lmdb.open(
            db_path, readonly=True, lock=False, readahead=False, meminit=False, subdir=True, max_readers=2048)
    except lmdb.Error as err:
        raise UserInputError(f'Cannot open LMDB {db_path} (data.mdb: {osp.getsize(data)} bytes): {err}; the file is '
                             f'damaged or not an LMDB: {REBUILD_HINT}') from err
    try:
        check_lmdb_size(env, db_path)
    except BaseException:
        env.close()
        raise
    return env


def check_lmdb_intact(db_path: str) -> None:
    """Open ``db_path`` once to check its size (:func:`open_lmdb_readonly`) unless this process already holds it.

    Called when a reader is made, so a damaged database is reported when the dataset is built, before training or
    testing starts, not by a data-loader worker.
    """
    handle = _HANDLES.get(osp.realpath(db_path))
    if handle is None or handle.pid != os.getpid():
        open_lmdb_readonly(db_path).close()


class LmdbHandle:
    """This process's read-only view of one database: the environment, one long-lived read transaction, and the
    record views made from it (``np.frombuffer`` over the memory map, valid until :meth:`close`).

    The databases are never written once built, so one read transaction can serve every read of the process; the
    views are made once per record and sliced per sample.
    """

    def __init__(self, db_path: str):
        self.pid = os.getpid()
        self.db_path = db_path
        self.env = open_lmdb_readonly(db_path)
        self.txn = self.env.begin(buffers=True)
        self.views: Dict[str, np.ndarray] = {}

    def close(self) -> None:
        self.views.clear()
        for closable in (self.txn.abort, self.env.close):
            try:
                closable()
            except Exception:  # a handle inherited through fork may refuse; it is dropped either way
                pass


# LMDB allows one open environment per database file and process: every reader of a database shares one handle.
_HANDLES: Dict[str, LmdbHandle] = {}


def shared_lmdb_handle(db_path: str, real_path: Optional[str] = None) -> LmdbHandle:
    """This process's :class:`LmdbHandle` of ``db_path``, opened on first use.

    A handle inherited from the parent through ``fork`` (data-loader workers) is dropped and a new one opened: LMDB
    handles must not be used across processes.
    """
    key = real_path or osp.realpath(db_path)
    handle = _HANDLES.get(key)
    if handle is not None and handle.pid == os.getpid():
        return handle
    if handle is not None:
        handle.close()
    handle = _HANDLES[key] = LmdbHandle(db_path)
    return handle


def release_lmdb_env(db_path: str) -> None:
    """Close this process's handle of ``db_path`` (the next read reopens it; views made from it become invalid)."""
    handle = _HANDLES.pop(osp.realpath(db_path), None)
    if handle is not None:
        handle.close()


class LmdbSceneReader(SceneReader):
    """Scenes of one LMDB made by :func:`~basicsr_skt.data.lmdb_pack.pack_lmdb` (``scripts/make_lmdb.py``).

    Construction parses ``meta_info.txt`` only (the reader pickles into data-loader workers); the LMDB environment is
    opened lazily, read-only, without locks or read-ahead, on first use in each process, and shared by every reader
    of that database in the process (see :class:`LmdbHandle`). Records are read with ``buffers=True`` inside a
    long-lived read transaction and viewed in place with ``np.frombuffer(...).reshape(shape)`` (once per record and
    process); a window read slices the view and copies only the window's rows, so a training crop costs work
    proportional to the crop, never a full-image decode.

    Args:
        db_path: The ``.lmdb`` folder.
        num_frames: Expected frames per scene (checked by :meth:`index_scene`); None accepts any.

    Raises:
        ValueError: No ``meta_info.txt`` (or a malformed one); later, when reading, a key missing from the database
            or a record whose size does not match meta_info.txt. Messages name the database and the key.
    """

    def __init__(self, db_path: str, num_frames: Optional[int] = None):
        self.location = self.db_path = str(db_path)
        if not osp.isdir(self.db_path):
            raise ValueError(f'LMDB {self.db_path} is not a folder (build it with scripts/make_lmdb.py)')
        self.num_frames = num_frames
        self.records = read_meta_info(self.db_path)
        self._scenes = group_by_scene(self.records.values())
        self._real_path = osp.realpath(self.db_path)
        check_lmdb_intact(self.db_path)
        self._exposures: Dict[str, np.ndarray] = {}

    def _handle(self) -> LmdbHandle:
        return shared_lmdb_handle(self.db_path, self._real_path)  # opened lazily, once per process

    def close(self) -> None:
        """Close this process's environment of the database (reopened on the next read)."""
        release_lmdb_env(self.db_path)

    # ---------------------------------------------------------------- index
    def scene_names(self) -> List[str]:
        return list(self._scenes)

    def info(self, scene: str, key: str) -> RecordInfo:
        """The meta_info entry of ``<scene>/<key>``; ValueError naming the database when it is not listed."""
        try:
            return self._scenes[scene][key]
        except KeyError:
            raise ValueError(f'LMDB {self.db_path}: key {record_key(scene, key)} is not listed in '
                             f'{META_INFO_NAME}') from None

    def keys(self, scene: str) -> List[str]:
        return list(self._scenes[scene]) if scene in self._scenes else []

    def index_scene(self, scene: str) -> SceneRecord:
        if scene not in self._scenes:
            raise ValueError(f'LMDB {self.db_path}: no scene {scene!r} in {META_INFO_NAME}')
        records = self._scenes[scene]
        frames = sorted(i for i in (lq_index(name) for name in records) if i is not None)
        where = f'LMDB {self.db_path}, scene {scene!r}'
        if frames != list(range(len(frames))) or not frames:
            raise ValueError(f'{where}: frames must be {lq_key(0)} ... {lq_key(max(len(frames), 1) - 1)}, '
                             f'{META_INFO_NAME} lists {[lq_key(i) for i in frames]}')
        if self.num_frames is not None and len(frames) != self.num_frames:
            raise ValueError(f'{where}: expected num_frames={self.num_frames} LDR frames, the database has '
                             f'{len(frames)}')
        gt, exposures = self.info(scene, GT_KEY), self.info(scene, EXPOSURES_KEY)
        if gt.dtype != 'float32' or len(gt.shape) != 3 or gt.shape[2] != 3:
            raise ValueError(f'{where}: {gt.key} must be float32 H x W x 3, {META_INFO_NAME} says {gt.dtype} '
                             f'{gt.shape}')
        if exposures.dtype != 'float32' or exposures.shape != (len(frames), ):
            raise ValueError(f'{where}: {exposures.key} must be float32 ({len(frames)},), {META_INFO_NAME} says '
                             f'{exposures.dtype} {exposures.shape}')
        for index in frames:
            lq = records[lq_key(index)]
            if lq.dtype not in LQ_DTYPES or lq.shape != gt.shape:
                raise ValueError(f'{where}: {lq.key} is {lq.dtype} {lq.shape}; frames must be uint8/uint16 with the '
                                 f'GT\'s shape {gt.shape}')
        if len({records[lq_key(index)].dtype for index in frames}) > 1:
            listing = ', '.join(f'{lq_key(i)} {records[lq_key(i)].dtype}' for i in frames)
            raise ValueError(f'{where}: frames mix bit depths ({listing}); all frames of a scene must have the same '
                             'bit depth (rebuild from consistent frames)')
        return SceneRecord(scene, tuple(osp.join(self.db_path, scene, lq_key(i)) for i in frames),
                           osp.join(self.db_path, scene, GT_KEY))

    def image_size(self, scene: str) -> Tuple[int, int]:
        shape = self.info(scene, GT_KEY).shape
        return int(shape[0]), int(shape[1])

    # ---------------------------------------------------------------- reading
    def _lookup(self, txn, info: RecordInfo) -> RecordValue:
        """Value of one record in a ``buffers=True`` transaction (an array view valid only while it is open)."""
        import lmdb

        try:
            buffer = txn.get(info.key.encode('utf-8'))
        except lmdb.Error as err:
            raise ValueError(f'LMDB {self.db_path}: cannot read key {info.key} ({type(err).__name__}: {err}): the '
                             'database is corrupt; check it with scripts/make_lmdb.py --verify and rebuild it with '
                             '--force') from err
        if buffer is None:
            raise ValueError(f'LMDB {self.db_path}: key {info.key} is listed in {META_INFO_NAME} but missing from the '
                             'database (corrupt or incomplete; rebuild with scripts/make_lmdb.py --force)')
        return decode_record(buffer, info, self.db_path)

    def _view(self, info: RecordInfo) -> np.ndarray:
        """Read-only array view of a record over the memory map (made once per process, never returned)."""
        handle = self._handle()
        view = handle.views.get(info.key)
        if view is None:
            view = self._lookup(handle.txn, info)
            if not isinstance(view, np.ndarray):
                raise ValueError(f'LMDB {self.db_path}: {info.key} is JSON, not an array record')
            handle.views[info.key] = view
        return view

    def read_full(self, scene: str, key: str) -> RecordValue:
        if key == EXPOSURES_KEY and scene in self._exposures:
            return self._exposures[scene]
        info = self.info(scene, key)
        if info.dtype == JSON_DTYPE:
            return self._lookup(self._handle().txn, info)
        value = self._view(info).copy()
        if key == EXPOSURES_KEY:
            value.setflags(write=False)
            self._exposures[scene] = value
        return value

    def read_windows(self, scene: str, keys: Sequence[str], top: int, left: int, height: int,
                     width: int) -> List[np.ndarray]:
        views = [self._view(self.info(scene, key)) for key in keys]
        return [
            image_window(view, top, left, height, width, f'LMDB {self.db_path}: {record_key(scene, key)}').copy()
            for key, view in zip(keys, views)
        ]
