"""The record format of the multi-exposure HDR LMDBs: key scheme, ``meta_info.txt`` and the array / JSON codec.

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

Reading is :mod:`basicsr_skt.data.lmdb_reader`; building and checking a database is :mod:`basicsr_skt.data.lmdb_pack`.
"""
import hashlib
import json
import re
from dataclasses import dataclass
from os import path as osp
from typing import Dict, Iterable, Optional, Tuple, Union

import numpy as np

from basicsr_skt.utils.paths import check_name

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
#: First lines of every ``meta_info.txt`` (comments).
META_INFO_HEADER = (
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


def check_scene_name(name: str, what: str = 'Scene name') -> str:
    """A scene name usable in keys and meta_info.txt and as a file name of the results: one plain path component
    (:func:`~basicsr_skt.utils.paths.check_name`: no separator, ``..``, control character), without whitespace."""
    if isinstance(name, str) and name and any(ch.isspace() for ch in name):
        raise ValueError(f'{what} {name!r} cannot be stored in an LMDB: it must be non-empty, without "/" or '
                         'whitespace (rename the scene folder)')
    return check_name(name, what)


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
        scene, _ = split_record_key(key)
        check_scene_name(scene, f'{where}: scene name (it names the result files)')
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
    with open(path, 'rb') as f:
        raw_lines = f.read().split(b'\n')
    for number, raw in enumerate(raw_lines, start=1):
        try:
            line = raw.decode('utf-8')
        except UnicodeDecodeError:
            raise ValueError(f'{path}, line {number}: not UTF-8 text (the file is damaged): rebuild the database with '
                             'scripts/make_lmdb.py --force, or copy it again') from None
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


def is_lmdb_folder(path: str) -> bool:
    """True for a folder holding an LMDB (``data.mdb`` or ``meta_info.txt``)."""
    return osp.isfile(osp.join(path, 'data.mdb')) or osp.isfile(osp.join(path, META_INFO_NAME))
