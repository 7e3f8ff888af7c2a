"""Storage of multi-exposure HDR scenes: the per-scene reader interface, and LMDB packing, reading and verification.

One LMDB per split holds raw, C-contiguous arrays (no image codec), so a training crop is sliced straight out of the
memory-mapped record. Keys (``<scene>/<name>``, UTF-8):

=========================  ===================================================  ==================================
name                       value                                                dtype, shape
=========================  ===================================================  ==================================
``lq_<i>`` (i = 0..N-1)    LDR frame ``i`` (shortest exposure first), BGR       uint16 or uint8 (as stored), H×W×3
``gt``                     HDR ground truth, linear, BGR                        float32, H×W×3
``exposures``              exposure times ``t = 2 ** ev``                       float32, (N,)
``skb_embedding``          semantic-prior embedding (when present)              float16, (C, He, We)
``skb_labels``             semantic segment labels (when present)               uint16, (H, W)
``skb_meta``               semantic-prior settings (when present)               UTF-8 JSON
=========================  ===================================================  ==================================

RAW scenes (BracketIRE layout, ``scripts/make_lmdb.py --raw``) store instead of ``lq_<i>`` / ``gt``:
``raw_<i>`` (frame ``i``, 0-based, shortest exposure first: packed RGGB as stored, uint16 or float32, (H/2, W/2, 4)),
``raw_gt`` (float32 packed (H/2, W/2, 4)) and ``raw_meta`` (the normalised ``metadata.npy`` dict as JSON: ``wb``,
``ccm``, ``black_level``, ``white_level``, ``exposures``, ``ref_index``), beside ``exposures`` and the SKB records.

Beside ``data.mdb`` / ``lock.mdb``, ``meta_info.txt`` (in the spirit of BasicSR's) lists one record per line:
``<key> <shape> <dtype> <checksum>``, e.g. ``001/lq_0 (1000,1500,3) uint16 sha256:9f2c…``; JSON records have dtype
``json`` and shape ``(<bytes>,)``; lines starting with ``#`` are comments. It is written last: a database without it
is incomplete. Databases are built in a hidden folder beside the target and renamed into place when complete, so an
interrupted build never leaves a database that looks complete.
"""
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from os import path as osp
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from basicsr_skt.skb.geometry import check_embedding_geometry
from basicsr_skt.utils.input_checks import check_writable_dir

FORMAT_VERSION = 1
META_INFO_NAME = 'meta_info.txt'
GT_KEY = 'gt'
EXPOSURES_KEY = 'exposures'
SKB_EMBEDDING_KEY = 'skb_embedding'
SKB_LABELS_KEY = 'skb_labels'
SKB_META_KEY = 'skb_meta'
SKB_KEYS = (SKB_EMBEDDING_KEY, SKB_LABELS_KEY, SKB_META_KEY)
JSON_DTYPE = 'json'
CHECKSUM_ALGORITHM = 'sha256'
LQ_DTYPES = ('uint8', 'uint16')
RAW_GT_KEY = 'raw_gt'
RAW_META_KEY = 'raw_meta'
RAW_DTYPES = ('uint16', 'float32')

RecordValue = Union[np.ndarray, dict]
_LQ_PATTERN = re.compile(r'lq_(\d+)$')
_RAW_PATTERN = re.compile(r'raw_(\d+)$')
_HEADER = (
    f'# basicsr_skt multi-exposure HDR LMDB, format {FORMAT_VERSION}\n'
    f'# key shape dtype checksum ({CHECKSUM_ALGORITHM} of the stored bytes; raw C-order arrays, JSON as UTF-8)\n')


def lq_key(index: int) -> str:
    """Record name of LDR frame ``index`` (0-based, shortest exposure first): ``'lq_<index>'``."""
    return f'lq_{index}'


def lq_index(name: str) -> Optional[int]:
    """Frame index of an ``lq_<i>`` record name, else None."""
    match = _LQ_PATTERN.match(name)
    return int(match.group(1)) if match else None


def raw_key(index: int) -> str:
    """Record name of RAW frame ``index`` (0-based, shortest exposure first): ``'raw_<index>'``."""
    return f'raw_{index}'


def raw_index(name: str) -> Optional[int]:
    """Frame index of a ``raw_<i>`` record name, else None."""
    match = _RAW_PATTERN.match(name)
    return int(match.group(1)) if match else None


def record_key(scene: str, name: str) -> str:
    """Full LMDB key of a scene's record: ``'<scene>/<name>'``."""
    return f'{scene}/{name}'


def split_record_key(key: str) -> Tuple[str, str]:
    """``'<scene>/<name>'`` -> ``(scene, name)``; ValueError for a key without ``/``."""
    scene, sep, name = key.rpartition('/')
    if not sep or not scene or not name:
        raise ValueError(f'LMDB key {key!r} is not of the form <scene>/<name>')
    return scene, name


def check_scene_name(name: str) -> str:
    """A scene name usable in keys and meta_info.txt: non-empty, no ``/``, no whitespace."""
    if not name or '/' in name or any(ch.isspace() for ch in name):
        raise ValueError(f'Scene name {name!r} cannot be stored in an LMDB: it must be non-empty, without "/" or '
                         'whitespace (rename the scene folder)')
    return name


def checksum(data: Union[bytes, memoryview]) -> str:
    """``'sha256:<hex>'`` of a byte buffer."""
    return f'{CHECKSUM_ALGORITHM}:{hashlib.sha256(data).hexdigest()}'


# ---------------------------------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class RecordInfo:
    """One line of ``meta_info.txt``.

    Attributes:
        key: Full key ``<scene>/<name>``.
        shape: Array shape (for JSON records: ``(number of bytes,)``).
        dtype: Numpy dtype name (``'uint16'``, ``'float32'``, ...) or ``'json'``.
        checksum: ``'sha256:<hex>'`` of the stored bytes.
    """
    key: str
    shape: Tuple[int, ...]
    dtype: str
    checksum: str

    @property
    def scene(self) -> str:
        return split_record_key(self.key)[0]

    @property
    def name(self) -> str:
        return split_record_key(self.key)[1]

    @property
    def nbytes(self) -> int:
        """Exact size of the stored value in bytes."""
        itemsize = 1 if self.dtype == JSON_DTYPE else np.dtype(self.dtype).itemsize
        return int(np.prod(self.shape, dtype=np.int64)) * itemsize

    def to_line(self) -> str:
        return f'{self.key} ({",".join(str(n) for n in self.shape)}) {self.dtype} {self.checksum}'

    @classmethod
    def from_line(cls, line: str, where: str) -> 'RecordInfo':
        """Parse ``<key> (<d0>,<d1>,...) <dtype> <checksum>``; ``where`` names file and line in errors."""
        fields = line.split()
        if len(fields) != 4:
            raise ValueError(f'{where}: expected "<key> <shape> <dtype> <checksum>", got {line.strip()!r}')
        key, shape_text, dtype, digest = fields
        split_record_key(key)
        if not re.fullmatch(r'\((\d+(,\d+)*)?,?\)', shape_text):
            raise ValueError(f'{where}: bad shape {shape_text!r} (expected e.g. (1000,1500,3))')
        shape = tuple(int(n) for n in shape_text.strip('()').split(',') if n)
        if dtype != JSON_DTYPE:
            try:
                np.dtype(dtype)
            except TypeError as err:
                raise ValueError(f'{where}: unknown dtype {dtype!r}') from err
        if not digest.startswith(f'{CHECKSUM_ALGORITHM}:'):
            raise ValueError(f'{where}: checksum {digest!r} is not {CHECKSUM_ALGORITHM}:<hex>')
        return cls(key, shape, dtype, digest)


def encode_record(key: str, value: RecordValue) -> Tuple[bytes, RecordInfo]:
    """Bytes to store and the meta_info entry of one value.

    Args:
        key: Full key ``<scene>/<name>``.
        value: A numpy array (stored raw, C order, its own dtype) or a JSON-serialisable dict (stored as compact UTF-8
            JSON with sorted keys, so the same content always gives the same bytes).

    Returns:
        ``(data, info)``.
    """
    if isinstance(value, dict):
        data = json.dumps(value, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode('utf-8')
        return data, RecordInfo(key, (len(data), ), JSON_DTYPE, checksum(data))
    array = np.ascontiguousarray(value)
    if array.dtype.kind not in 'biuf' or array.dtype.byteorder == '>':
        raise ValueError(f'Record {key}: cannot store dtype {array.dtype} (numeric, native byte order only)')
    data = array.tobytes()
    return data, RecordInfo(key, tuple(int(n) for n in array.shape), array.dtype.name, checksum(data))


def decode_record(buffer: Union[bytes, memoryview], info: RecordInfo, db_path: str) -> RecordValue:
    """A read-only array view of ``buffer`` (or the parsed JSON dict); ValueError naming db and key on a size
    mismatch."""
    if len(buffer) != info.nbytes:
        raise ValueError(f'LMDB {db_path}: record {info.key} has {len(buffer)} bytes, but meta_info.txt says '
                         f'{info.dtype} {info.shape} = {info.nbytes} bytes (corrupt record or stale meta_info.txt; '
                         'rebuild with scripts/make_lmdb.py --force)')
    if info.dtype == JSON_DTYPE:
        try:
            return json.loads(bytes(buffer).decode('utf-8'))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f'LMDB {db_path}: record {info.key} is not valid UTF-8 JSON: {err}') from err
    return np.frombuffer(buffer, dtype=info.dtype).reshape(info.shape)


def read_meta_info(db_path: str) -> Dict[str, RecordInfo]:
    """Parse ``<db_path>/meta_info.txt``.

    Returns:
        ``{key: RecordInfo}`` in file order.

    Raises:
        ValueError: No meta_info.txt (not an LMDB made by ``scripts/make_lmdb.py``, or an incomplete one), a malformed
            line or a duplicate key; the message names the file and line.
    """
    path = osp.join(db_path, META_INFO_NAME)
    if not osp.isfile(path):
        what = 'no data.mdb either: not an LMDB folder' if not osp.isfile(osp.join(db_path, 'data.mdb')) else (
            'the database is incomplete (interrupted build?) or not made by scripts/make_lmdb.py')
        raise ValueError(f'LMDB {db_path} has no {META_INFO_NAME} ({what}); build it with scripts/make_lmdb.py')
    records: Dict[str, RecordInfo] = {}
    with open(path, 'r', encoding='utf-8') as f:
        for number, line in enumerate(f, start=1):
            if not line.strip() or line.lstrip().startswith('#'):
                continue
            info = RecordInfo.from_line(line, f'{path}, line {number}')
            if info.key in records:
                raise ValueError(f'{path}, line {number}: duplicate key {info.key}')
            records[info.key] = info
    if not records:
        raise ValueError(f'{path} lists no records')
    return records


def group_by_scene(records: Iterable[RecordInfo]) -> Dict[str, Dict[str, RecordInfo]]:
    """``{scene: {name: RecordInfo}}``, scenes in order of first appearance."""
    scenes: Dict[str, Dict[str, RecordInfo]] = {}
    for info in records:
        scenes.setdefault(info.scene, {})[info.name] = info
    return scenes


# ------------------------------------------------------------------------------------------------- reader interface
@dataclass(frozen=True)
class SceneRecord:
    """What a dataset knows about one scene after indexing (cheap checks only, no image decoded).

    Attributes:
        name: Scene name (folder name, or key prefix in an LMDB).
        lq_paths: Where the LDR frames come from, in frame order (files; for an LMDB ``<db>/<scene>/lq_<i>``).
        gt_path: Where the GT comes from (file; for an LMDB ``<db>/<scene>/gt``).
        exposures: float32 exposure times ``t = 2 ** ev``, shape (N,); None where they are read with the images
            (LMDB: from the ``exposures`` record).
    """
    name: str
    lq_paths: Tuple[str, ...]
    gt_path: str
    exposures: Optional[np.ndarray] = None


class SceneReader(ABC):
    """Per-scene access to the arrays of a multi-exposure dataset, whatever the storage (folder of files or LMDB).

    Record names follow the LMDB key scheme of this module: ``lq_<i>``, ``gt``, ``exposures`` and, when present,
    ``skb_embedding``, ``skb_labels``, ``skb_meta``. Image-like records (``lq_<i>``, ``gt``, ``skb_labels``) have the
    image's (H, W) as their first two axes and can be read by window; the others are read whole.

    Returned arrays must be treated as read-only (a backend may return views of its cache).
    """

    #: Folder or database the reader serves (used in messages).
    location: str

    @abstractmethod
    def scene_names(self) -> List[str]:
        """Every scene available in the storage (before any ``scene_list`` / ``exclude_scenes`` filtering)."""

    @abstractmethod
    def index_scene(self, scene: str) -> SceneRecord:
        """Check one scene cheaply (files or keys present, frame count) and describe it; ValueError naming it."""

    @abstractmethod
    def keys(self, scene: str) -> List[str]:
        """Record names the scene has, frames first (``lq_0`` ...), then ``gt``, ``exposures``, SKB records."""

    @abstractmethod
    def image_size(self, scene: str) -> Tuple[int, int]:
        """``(H, W)`` of the scene's frames and GT."""

    @abstractmethod
    def read_full(self, scene: str, key: str) -> RecordValue:
        """A whole record: an array (see the table in this module's docstring) or, for ``skb_meta``, a dict."""

    def read_window(self, scene: str, key: str, top: int, left: int, height: int, width: int) -> np.ndarray:
        """Rows ``top:top + height`` and columns ``left:left + width`` of an image-like record."""
        return self.read_windows(scene, [key], top, left, height, width)[0]

    def read_windows(self, scene: str, keys: Sequence[str], top: int, left: int, height: int,
                     width: int) -> List[np.ndarray]:
        """The same window of several image-like records (one transaction / one decode where the backend can)."""
        return [
            image_window(self.read_full(scene, key), top, left, height, width, f'{self.location}: {scene}/{key}')
            for key in keys
        ]


def image_window(array: np.ndarray, top: int, left: int, height: int, width: int, where: str) -> np.ndarray:
    """``array[top:top + height, left:left + width]`` (a view), with bounds checked."""
    if array.ndim < 2:
        raise ValueError(f'{where}: a {array.ndim}-D record has no image window')
    if top < 0 or left < 0 or height < 1 or width < 1 or top + height > array.shape[0] or left + width > array.shape[1]:
        raise ValueError(f'{where}: window rows {top}:{top + height}, columns {left}:{left + width} is outside the '
                         f'{array.shape[1]} x {array.shape[0]} image')
    return array[top:top + height, left:left + width]


# ------------------------------------------------------------------------------------------------------ LMDB reader
def open_lmdb_readonly(db_path: str):
    """Open an LMDB read-only without locking or read-ahead (safe for many reader processes, random access)."""
    import lmdb  # imported here: folder-backend users do not need it

    try:
        return lmdb.open(
            db_path, readonly=True, lock=False, readahead=False, meminit=False, subdir=True, max_readers=2048)
    except lmdb.Error as err:
        raise ValueError(f'Cannot open LMDB {db_path}: {err}') from err


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
    """Scenes of one LMDB made by :func:`pack_lmdb` (``scripts/make_lmdb.py``).

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


# ------------------------------------------------------------------------------------------------------ LMDB writer
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
            f.write(_HEADER + ''.join(info.to_line() + '\n' for info in self.records))
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
