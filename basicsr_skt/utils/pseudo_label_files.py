"""The files of a pseudo-labelled scene (teacher labels for a bracket without ground truth), shared by the writer
(:mod:`basicsr_skt.inference.pseudo_labels`), the readers (:mod:`basicsr_skt.data.pseudo_label_dataset`) and the LMDB
packer.

A pseudo-labelled scene is a Kalantari-layout folder in which the GT ``HDRImg.hdr`` is replaced by the teacher's
result and a confidence map is added::

    <out>/<scene>/
        input_1.tif ... input_N.tif   16-bit BGR frames, shortest exposure first (the reference in the middle)
        exposure.txt                  one EV per frame (t = 2 ** ev, relative as the network saw them)
        PseudoHDR.hdr                 the teacher's HDR result: the training target (linear BGR, >= 0)
        Confidence.png                16-bit gray: per-pixel confidence c in [0, 1] as round(65535 c)
        skb_embedding.npy, skb_labels.npy, skb_meta.json, skb_preview.png   the priors the teacher used
        pseudo_label.json             the marker, written last: how the label was made (a scene without it is
                                      unfinished)

In an LMDB (``scripts/make_lmdb.py --pseudo-labels``) the same scene holds the records ``lq_<i>``, ``gt`` (the pseudo
label), ``exposures``, ``confidence`` (float32 H x W x 1 in [0, 1]), ``pseudo_label`` (the marker, JSON) and the
``skb_*`` records.

Imports nothing above ``basicsr_skt.utils``.
"""
import json
import os
import os.path as osp
from typing import Any, Dict

import cv2
import numpy as np

__all__ = [
    'PSEUDO_GT_FILE', 'CONFIDENCE_FILE', 'MARKER_FILE', 'CONFIDENCE_KEY', 'MARKER_KEY', 'FRAME_PATTERN',
    'FORMAT_VERSION', 'frame_name', 'encode_confidence', 'decode_confidence', 'write_confidence', 'read_confidence',
    'read_marker', 'is_finished', 'write_json'
]

#: Version of the pseudo-label layout (``format`` in the marker).
FORMAT_VERSION = 1
#: The teacher's result, in place of Kalantari's ``HDRImg.hdr``.
PSEUDO_GT_FILE = 'PseudoHDR.hdr'
#: Per-pixel confidence, 16-bit gray PNG.
CONFIDENCE_FILE = 'Confidence.png'
#: The marker: written last, so a scene folder without it is unfinished.
MARKER_FILE = 'pseudo_label.json'
#: Record names of the confidence map and the marker (LMDB keys ``<scene>/<name>``; folder reader records).
CONFIDENCE_KEY = 'confidence'
MARKER_KEY = 'pseudo_label'
#: Frame files of a pseudo-labelled scene (the datasets' ``ldr_glob``).
FRAME_PATTERN = 'input_*.tif'
_CONFIDENCE_SCALE = 65535.0


def frame_name(index: int) -> str:
    """File name of frame ``index`` (0-based, network order): ``input_<index + 1>.tif``."""
    return f'input_{index + 1}.tif'


def encode_confidence(confidence: np.ndarray) -> np.ndarray:
    """(H, W) float confidence in [0, 1] -> uint16 ``round(65535 c)``; ValueError outside [0, 1] or non-finite."""
    confidence = np.asarray(confidence, dtype=np.float64)
    if confidence.ndim != 2 or not np.all(np.isfinite(confidence)) or confidence.min() < 0 or confidence.max() > 1:
        raise ValueError(f'A confidence map must be a finite (H, W) array in [0, 1], got shape {confidence.shape}')
    return np.round(confidence * _CONFIDENCE_SCALE).astype(np.uint16)


def decode_confidence(stored: np.ndarray) -> np.ndarray:
    """uint16 (H, W) as stored -> float32 (H, W, 1) in [0, 1] (the layout the datasets crop and flip)."""
    return (stored.astype(np.float32) / np.float32(_CONFIDENCE_SCALE))[:, :, None]


def write_confidence(path: str, confidence: np.ndarray) -> None:
    """Write a (H, W) confidence in [0, 1] as a 16-bit gray PNG."""
    ok, png = cv2.imencode('.png', encode_confidence(confidence))
    if not ok:
        raise ValueError(f'{path}: OpenCV failed to encode the confidence map')
    with open(path, 'wb') as f:
        f.write(png.tobytes())


def read_confidence(path: str) -> np.ndarray:
    """float32 (H, W, 1) in [0, 1] from a 16-bit gray PNG; ValueError naming the file if it is not one."""
    stored = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if stored is None or stored.ndim != 2 or stored.dtype != np.uint16:
        what = 'unreadable' if stored is None else f'{stored.dtype} with shape {stored.shape}'
        raise ValueError(f'Confidence map {path} is {what}; expected a 16-bit gray PNG written by '
                         'scripts/make_pseudo_labels.py (rerun it with --force for this scene)')
    return decode_confidence(stored)


def read_marker(folder: str) -> Dict[str, Any]:
    """The marker of a pseudo-labelled scene folder.

    Raises:
        FileNotFoundError: No marker (the scene is unfinished).
        ValueError: Not a JSON object of this format.
    """
    path = osp.join(folder, MARKER_FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} is missing: the scene is not (completely) pseudo-labelled')
    try:
        with open(path, 'r', encoding='utf-8') as f:
            marker = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f'{path}: cannot read the pseudo-label marker: {err}') from err
    if not isinstance(marker, dict) or marker.get('format') != FORMAT_VERSION:
        raise ValueError(f'{path}: not a pseudo-label marker of format {FORMAT_VERSION}')
    return marker


def is_finished(folder: str) -> bool:
    """Whether a scene folder holds a complete pseudo label (a valid marker and the target and confidence files)."""
    try:
        read_marker(folder)
    except (FileNotFoundError, ValueError):
        return False
    return all(osp.isfile(osp.join(folder, name)) for name in (PSEUDO_GT_FILE, CONFIDENCE_FILE))


def write_json(path: str, value: Dict[str, Any]) -> None:
    """Write a JSON object atomically (a temporary file renamed into place)."""
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(value, f, indent=2)
    os.replace(tmp, path)
