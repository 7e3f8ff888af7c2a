"""Per-scene SKB files (format 1): writing, reading and validation.

Files in a scene folder (next to the scene's frames in the Kalantari layout, or in a mirror tree):

* ``skb_embedding.npy``: float16 (C, He, We) semantic embedding (SAM: 256 x 64 x 64 after SAM's own resize to a
  long side of 1024 and zero padding to a square).
* ``skb_labels.npy``: uint16 (H, W) segment labels at the scene's image size: 0 = background (pixels no segment
  claims and segments merged for being small), 1..K = segments sorted by area (1 = largest).
* ``skb_meta.json``: ``{"format": 1, "backend": "sam_vit_b" | "sam_vit_l" | "sam_vit_h" | "vgg16" (or a name given to
  :func:`register_backend`), "source": "gt" |
  "orm" | "reference", "image_size": [H, W], "embedding_shape": [C, He, We], "cell_size": [cy, cx],
  "num_segments": K, ...backend settings...}``.
* ``skb_preview.png``: 8-bit BGR image, the segments coloured over the tone-mapped source (for people, not read back).

Geometry: embedding cell (i, j) is centred on image pixel coordinates ``((i + 0.5) * cy - 0.5, (j + 0.5) * cx - 0.5)``
where pixel (y, x) is centred on (y, x); see :mod:`basicsr_skt.skb.geometry`.

Files are written to a temporary name and renamed, the meta file last: a scene whose ``skb_meta.json`` exists has
complete data even if an extraction run was interrupted.
"""
import json
import os
import zlib
from numbers import Integral, Real
from os import path as osp
from typing import Any, Dict, Mapping, Optional, Union

import cv2
import numpy as np
import torch

from basicsr_skt.skb.labels import check_label_map

FORMAT_VERSION = 1
EMBEDDING_FILE = 'skb_embedding.npy'
LABELS_FILE = 'skb_labels.npy'
META_FILE = 'skb_meta.json'
PREVIEW_FILE = 'skb_preview.png'
#: The backends of the library; :func:`register_backend` adds others (e.g. research's diagnostic ``oracle``).
BACKENDS = ('sam_vit_b', 'sam_vit_l', 'sam_vit_h', 'vgg16')
_registered_backends = list(BACKENDS)
SOURCES = ('gt', 'orm', 'reference')
REQUIRED_META_KEYS = ('format', 'backend', 'source', 'image_size', 'embedding_shape', 'cell_size', 'num_segments')
#: Meta key of the CRC-32 of each file's contents (array bytes; the meta's other keys as sorted JSON), written by
#: :func:`save_scene_priors` and checked by :func:`load_scene_priors` when present (files written before it have none).
CRC_KEY = 'crc32'

ArrayOrTensor = Union[np.ndarray, torch.Tensor]


# ------------------------------------------------------------------------------------------------------- backends
def register_backend(name: str) -> None:
    """Accept SKB files whose meta names ``backend: name`` (a backend defined outside the library, e.g. the
    diagnostic ``oracle`` of ``research/oracle_backend.py``); registering a known name again changes nothing.

    Args:
        name: The ``backend`` value its files carry (its :class:`~basicsr_skt.skb.extractors.SemanticBackend`
            ``name``).

    Raises:
        ValueError: ``name`` is not a non-empty string.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f'an SKB backend name must be a non-empty string, got {name!r}')
    if name not in _registered_backends:
        _registered_backends.append(name)


def known_backends() -> tuple:
    """The ``backend`` values whose files are read: :data:`BACKENDS` plus the registered ones, in that order."""
    return tuple(_registered_backends)


# ---------------------------------------------------------------------------------------------------------- checks
def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _int_list(meta: Mapping[str, Any], key: str, length: int, name: str) -> list:
    value = meta[key]
    if not isinstance(value, (list, tuple)) or len(value) != length or not all(_is_int(v) and v > 0 for v in value):
        raise ValueError(f'{name}: meta "{key}" must be a list of {length} positive integers, got {value!r}')
    return [int(v) for v in value]


def validate_meta(meta: Mapping[str, Any], name: str = META_FILE) -> None:
    """Check the keys and value types of an SKB meta dict.

    Args:
        meta: The parsed ``skb_meta.json``.
        name: What to call it in error messages (e.g. its path).

    Raises:
        ValueError: Not a dict, a required key missing, or a value of the wrong type / range (the message names the
            key and ``name``).
    """
    if not isinstance(meta, Mapping):
        raise ValueError(f'{name}: expected a JSON object, got {type(meta).__name__}')
    missing = [key for key in REQUIRED_META_KEYS if key not in meta]
    if missing:
        raise ValueError(f'{name}: meta lacks required key(s) {missing} (required: {list(REQUIRED_META_KEYS)})')
    if meta['format'] != FORMAT_VERSION or isinstance(meta['format'], bool):
        raise ValueError(f'{name}: unsupported SKB format {meta["format"]!r} (this code reads format {FORMAT_VERSION})')
    if meta['backend'] not in known_backends():
        raise ValueError(f'{name}: unknown backend {meta["backend"]!r}; expected one of {list(known_backends())} (a '
                         'backend defined outside the library must be registered first: skb.format.register_backend; '
                         'the research oracle priors are read by python -m research.train)')
    if meta['source'] not in SOURCES:
        raise ValueError(f'{name}: unknown source {meta["source"]!r}; expected one of {list(SOURCES)}')
    _int_list(meta, 'image_size', 2, name)
    _int_list(meta, 'embedding_shape', 3, name)
    cell = meta['cell_size']
    if (not isinstance(cell, (list, tuple)) or len(cell) != 2
            or not all(isinstance(v, Real) and not isinstance(v, bool) and np.isfinite(v) and v > 0 for v in cell)):
        raise ValueError(f'{name}: meta "cell_size" must be [cy, cx], two positive numbers, got {cell!r}')
    if not _is_int(meta['num_segments']) or meta['num_segments'] < 0:
        raise ValueError(f'{name}: meta "num_segments" must be an integer >= 0, got {meta["num_segments"]!r}')


def _check_embedding(embedding: np.ndarray, meta: Mapping[str, Any], name: str) -> None:
    if embedding.dtype != np.float16 or embedding.ndim != 3:
        raise ValueError(f'{name}: expected a float16 (C, He, We) embedding, got {embedding.dtype} of shape '
                         f'{embedding.shape}')
    if list(embedding.shape) != list(meta['embedding_shape']):
        raise ValueError(f'{name}: embedding shape {list(embedding.shape)} differs from meta embedding_shape '
                         f'{list(meta["embedding_shape"])}')


def _check_labels(labels: np.ndarray, meta: Mapping[str, Any], name: str) -> None:
    if isinstance(labels, np.ndarray) and labels.ndim == 2 and list(labels.shape) != list(meta['image_size']):
        raise ValueError(f'{name}: label map shape {list(labels.shape)} differs from meta image_size '
                         f'{list(meta["image_size"])}')
    check_label_map(labels, meta['num_segments'], name)


def _check_preview(preview: np.ndarray, meta: Mapping[str, Any], name: str) -> None:
    height, width = meta['image_size']
    if preview.dtype != np.uint8 or preview.shape != (height, width, 3):
        raise ValueError(f'{name}: preview must be a uint8 BGR image of shape {(height, width, 3)}, got '
                         f'{preview.dtype} of shape {preview.shape}')


def validate_scene_priors(embedding: np.ndarray, labels: np.ndarray, meta: Mapping[str, Any], name: str = '') -> None:
    """Validate one scene's arrays and meta against each other (the checks :func:`load_scene_priors` runs).

    Args:
        embedding: float16 (C, He, We).
        labels: uint16 (H, W), labels 0..K contiguous and area-sorted.
        meta: Meta dict with :data:`REQUIRED_META_KEYS`.
        name: Prefix of error messages (e.g. the scene folder).

    Raises:
        ValueError: Any violation of the format; the message names the offending file.
    """
    prefix = f'{name}/' if name else ''
    validate_meta(meta, prefix + META_FILE)
    _check_embedding(embedding, meta, prefix + EMBEDDING_FILE)
    if not np.all(np.isfinite(embedding)):
        raise ValueError(f'{prefix}{EMBEDDING_FILE}: embedding holds NaN/Inf values')
    _check_labels(labels, meta, prefix + LABELS_FILE)


# ---------------------------------------------------------------------------------------------------------- writing
def _replace_atomically(path: str, write) -> None:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then rename it to ``path``."""
    tmp = f'{path}.tmp{os.getpid()}'
    try:
        with open(tmp, 'wb') as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def _embedding_array(embedding: ArrayOrTensor) -> np.ndarray:
    if isinstance(embedding, torch.Tensor):
        embedding = embedding.detach().cpu().numpy()
    embedding = np.asarray(embedding)
    if not np.issubdtype(embedding.dtype, np.floating):
        raise ValueError(f'{EMBEDDING_FILE}: the embedding must be floating point, got {embedding.dtype}')
    with np.errstate(over='ignore'):  # overflow becomes inf, reported by the finiteness check
        return np.ascontiguousarray(embedding, dtype=np.float16)


def save_scene_priors(folder: str,
                      embedding: ArrayOrTensor,
                      labels: np.ndarray,
                      meta: Mapping[str, Any],
                      preview: Optional[np.ndarray] = None) -> Dict[str, Any]:
    """Validate and write one scene's SKB files into ``folder`` (created if needed).

    ``image_size``, ``embedding_shape``, ``num_segments`` and ``format`` are filled in from the arrays when ``meta``
    lacks them, and checked against the arrays when it has them.

    Args:
        folder: Scene folder.
        embedding: (C, He, We) float array or tensor; stored as float16 (must stay finite after the cast).
        labels: uint16 (H, W) label map: 0 background, 1..K area-sorted (see :mod:`basicsr_skt.skb.labels`).
        meta: At least ``backend``, ``source`` and ``cell_size``, plus any JSON-serialisable backend settings.
        preview: uint8 (H, W, 3) BGR preview image, or None to write no preview.

    Returns:
        The meta dict as written.

    Raises:
        ValueError: Invalid arrays or meta (the message names the file it concerns); nothing is written then.
    """
    embedding = _embedding_array(embedding)
    if embedding.ndim != 3:
        raise ValueError(f'{osp.join(folder, EMBEDDING_FILE)}: expected a (C, He, We) embedding, got shape '
                         f'{embedding.shape}')
    labels = np.asarray(labels)
    full_meta = {'format': FORMAT_VERSION}
    full_meta.update(meta)
    full_meta.setdefault('image_size', [int(v) for v in labels.shape])
    full_meta.setdefault('embedding_shape', [int(v) for v in embedding.shape])
    if 'num_segments' not in full_meta and labels.size:
        full_meta['num_segments'] = int(labels.max())
    validate_scene_priors(embedding, labels, full_meta, folder)
    full_meta.pop(CRC_KEY, None)
    if preview is not None:
        _check_preview(np.asarray(preview), full_meta, osp.join(folder, PREVIEW_FILE))
    try:
        full_meta[CRC_KEY] = {
            EMBEDDING_FILE: _crc(embedding),
            LABELS_FILE: _crc(labels),
            META_FILE: _meta_crc(full_meta)
        }
        meta_text = json.dumps(full_meta, indent=2)
    except (TypeError, ValueError) as err:
        raise ValueError(f'{osp.join(folder, META_FILE)}: meta is not JSON-serialisable: {err}') from err

    os.makedirs(folder, exist_ok=True)
    meta_path = osp.join(folder, META_FILE)
    if osp.exists(meta_path):
        os.remove(meta_path)  # the scene is incomplete until the new meta is in place
    _replace_atomically(osp.join(folder, EMBEDDING_FILE), lambda f: np.save(f, embedding, allow_pickle=False))
    _replace_atomically(osp.join(folder, LABELS_FILE), lambda f: np.save(f, labels, allow_pickle=False))
    if preview is not None:
        ok, png = cv2.imencode('.png', np.ascontiguousarray(preview))
        if not ok:
            raise ValueError(f'{osp.join(folder, PREVIEW_FILE)}: OpenCV failed to encode the preview')
        _replace_atomically(osp.join(folder, PREVIEW_FILE), lambda f: f.write(png.tobytes()))
    _replace_atomically(meta_path, lambda f: f.write(meta_text.encode('utf-8')))
    return full_meta


def _crc(array: np.ndarray) -> int:
    return zlib.crc32(memoryview(np.ascontiguousarray(array)).cast('B'))


def _meta_crc(meta: Mapping[str, Any]) -> int:
    return zlib.crc32(json.dumps({k: v for k, v in meta.items() if k != CRC_KEY}, sort_keys=True).encode('utf-8'))


def check_crc(name: str, path: str, value: Any, meta: Mapping[str, Any]) -> None:
    """Refuse SKB contents that differ from the CRC-32 recorded in the meta when they were written.

    Args:
        name: The file name (a key of ``meta['crc32']``).
        path: Its path, for the message.
        value: The array read (or the meta dict, for ``skb_meta.json``).
        meta: The scene's meta; without ``crc32`` (files from before it existed) nothing is checked.

    Raises:
        ValueError: The contents or the recorded CRC were changed after writing (a damaged disk or copy).
    """
    recorded = meta.get(CRC_KEY)
    if recorded is None:
        return
    if not isinstance(recorded, dict) or set(recorded) != {EMBEDDING_FILE, LABELS_FILE, META_FILE}:
        raise ValueError(f'{path}: meta "{CRC_KEY}" must map {EMBEDDING_FILE}, {LABELS_FILE} and {META_FILE} to '
                         f'their CRC-32, got {recorded!r}: {META_FILE} was changed or damaged since it was written; '
                         'copy the priors again or rerun scripts/make_semantic_priors.py for this scene')
    actual = _meta_crc(value) if name == META_FILE else _crc(value)
    if recorded[name] != actual:
        raise ValueError(f'{path}: contents do not match the CRC-32 recorded in {META_FILE} when it was written '
                         f'({recorded[name]!r} recorded, {actual} now): the file was changed or damaged since (disk, '
                         'copy); copy the priors again or rerun scripts/make_semantic_priors.py for this scene')


# ---------------------------------------------------------------------------------------------------------- reading
def read_meta(folder: str) -> Dict[str, Any]:
    """Read and validate ``skb_meta.json`` of a scene folder.

    Raises:
        FileNotFoundError: The file is missing (the message names it).
        ValueError: The file is not valid JSON or not a valid meta dict.
    """
    path = osp.join(folder, META_FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(f'SKB meta file not found: {path} (run scripts/make_semantic_priors.py)')
    try:
        with open(path, 'r', encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f'{path}: cannot read SKB meta: {err}') from err
    validate_meta(meta, path)
    check_crc(META_FILE, path, meta, meta)
    return meta


def _load_npy(path: str, mmap_mode: Optional[str]) -> np.ndarray:
    if not osp.isfile(path):
        raise FileNotFoundError(f'SKB file not found: {path} (run scripts/make_semantic_priors.py)')
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except Exception as err:  # noqa: B902 -- a damaged header fails in numpy's parser (TokenError, SyntaxError ...)
        raise ValueError(f'{path}: cannot read .npy array: {err}') from err


def load_scene_priors(folder: str, mmap_mode: Optional[str] = None) -> Dict[str, Any]:
    """Read and validate one scene's SKB files.

    Args:
        folder: Scene folder holding the SKB files.
        mmap_mode: Passed to ``np.load`` for the embedding (e.g. ``'r'`` to memory-map it); labels are always read.

    Returns:
        ``{'embedding': float16 ndarray (C, He, We), 'labels': uint16 ndarray (H, W), 'meta': dict}``.

    Raises:
        FileNotFoundError: A file is missing (named in the message).
        ValueError: A file is unreadable or violates the format (dtype, shape vs ``image_size`` /
            ``embedding_shape``, meta keys, label contiguity); the message names the file.
    """
    meta = read_meta(folder)
    embedding = _load_npy(osp.join(folder, EMBEDDING_FILE), mmap_mode)
    _check_embedding(embedding, meta, osp.join(folder, EMBEDDING_FILE))
    check_crc(EMBEDDING_FILE, osp.join(folder, EMBEDDING_FILE), embedding, meta)
    labels = _load_npy(osp.join(folder, LABELS_FILE), None)
    _check_labels(labels, meta, osp.join(folder, LABELS_FILE))
    check_crc(LABELS_FILE, osp.join(folder, LABELS_FILE), labels, meta)
    return {'embedding': embedding, 'labels': labels, 'meta': meta}


def scene_priors_done(folder: str, backend: Optional[str] = None, source: Optional[str] = None) -> bool:
    """Whether ``folder`` holds complete SKB files (meta valid, embedding and labels present), cheaply.

    Args:
        folder: Scene folder.
        backend: If given, the meta's backend must equal it.
        source: If given, the meta's source must equal it.

    Returns:
        True when the meta file exists, parses, is valid and matches ``backend`` / ``source``, and both ``.npy``
        files exist. Array contents are not read (use :func:`load_scene_priors` for full validation).
    """
    try:
        meta = read_meta(folder)
    except (FileNotFoundError, ValueError):
        return False
    if backend is not None and meta['backend'] != backend:
        return False
    if source is not None and meta['source'] != source:
        return False
    return osp.isfile(osp.join(folder, EMBEDDING_FILE)) and osp.isfile(osp.join(folder, LABELS_FILE))
