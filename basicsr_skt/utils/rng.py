"""Capture and restore the global random number generators (python, numpy, torch CPU and CUDA) for exact resume."""
import contextlib
import random
from typing import Any, Dict, Iterator

import numpy as np
import torch


def capture_rng_state() -> Dict[str, Any]:
    """Snapshot of every global generator a training step may draw from.

    Returns:
        ``{'python', 'numpy', 'torch', 'cuda'}``; ``cuda`` is a list with one state per visible device (empty without
        CUDA). Safe to ``torch.save`` and to load with ``weights_only=False``.
    """
    return {
        'python': random.getstate(),
        'numpy': np.random.get_state(),
        'torch': torch.get_rng_state(),
        'cuda': torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: Dict[str, Any]) -> None:
    """Put the generators back to a :func:`capture_rng_state` snapshot.

    CUDA states are restored only when the same number of devices is visible (a run resumed on another machine
    keeps its fresh CUDA generators; CPU generators are always restored).
    """
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'].cpu() if hasattr(state['torch'], 'cpu') else state['torch'])
    cuda_states = state.get('cuda') or []
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])


@contextlib.contextmanager
def preserved_rng_state() -> Iterator[None]:
    """Run a block (e.g. a validation pass) without changing the state of any global generator afterwards.

    Creating a data loader iterator draws from torch's generator, so without this a validation run would shift every
    random draw of the training that follows it, and the result of a run would depend on ``val_freq``.
    """
    state = capture_rng_state()
    try:
        yield
    finally:
        restore_rng_state(state)
