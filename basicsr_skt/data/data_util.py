"""Helpers shared by the datasets (BasicSR keeps its own in ``basicsr/data/data_util.py``). Not a ``*_dataset.py``
module: it registers nothing."""
import numpy as np

#: Keys BasicSR itself puts into or reads from a dataset's option dict (not ours, but expected).
BASICSR_DATASET_KEYS = frozenset({
    'name', 'type', 'phase', 'scale', 'use_shuffle', 'num_worker_per_gpu', 'batch_size_per_gpu',
    'dataset_enlarge_ratio', 'prefetch_mode', 'pin_memory', 'persistent_workers', 'num_prefetch_queue'
})


def positive_int_option(value: object, key: str) -> int:
    """``value`` as an ``int`` if it is a positive integer (not a bool), else a ``ValueError`` naming option ``key``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f'Option {key!r} must be a positive integer, got {value!r}')
    return int(value)


def read_only(array: np.ndarray) -> np.ndarray:
    """Mark ``array`` read-only (in place) and return it, so cached scene data cannot be changed by a caller."""
    array.setflags(write=False)
    return array
