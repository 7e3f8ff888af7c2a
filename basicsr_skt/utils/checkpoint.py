"""Reading network weights saved by BasicSR, by official HDR code, or wrapped by (Distributed)DataParallel; writing
checkpoints atomically."""
import os
import os.path as osp
import tempfile
from collections import OrderedDict
from typing import Any, Dict, Optional

import torch

WRAPPER_KEYS = ('params_ema', 'params', 'state_dict', 'model', 'net')


def unwrap_state_dict(checkpoint: Dict[str, Any], param_key: Optional[str] = None) -> 'OrderedDict[str, torch.Tensor]':
    """Return the bare parameter dict of a checkpoint.

    Args:
        checkpoint: A state dict, or a dict that holds one under ``param_key`` or one of :data:`WRAPPER_KEYS`
            (BasicSR: ``params``/``params_ema``; official HDR code: ``state_dict``).
        param_key: Key to use; ``None`` picks the first of :data:`WRAPPER_KEYS` present, else the dict itself.

    Returns:
        The state dict with any ``module.`` prefixes (DataParallel / DDP) removed.

    Raises:
        KeyError: ``param_key`` is given but absent (the message lists the keys that exist).
    """
    if param_key is not None:
        if param_key not in checkpoint:
            raise KeyError(f'Checkpoint has no key {param_key!r}; its top-level keys are {sorted(checkpoint)[:10]}')
        state = checkpoint[param_key]
    else:
        state = next((checkpoint[k] for k in WRAPPER_KEYS if isinstance(checkpoint.get(k), dict)), checkpoint)
    return OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v) for k, v in state.items())


def load_state_dict_file(path: str, param_key: Optional[str] = None) -> 'OrderedDict[str, torch.Tensor]':
    """Load a checkpoint file on the CPU and unwrap it with :func:`unwrap_state_dict`."""
    checkpoint = torch.load(path, map_location='cpu', weights_only=False)
    return unwrap_state_dict(checkpoint, param_key)


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` to a temporary file beside ``path``, flushed to disk, then renamed over ``path``.

    A run killed mid-write leaves the previous file (or none) and a stray ``.tmp`` file, never a truncated ``path``.
    The temporary file is removed when saving fails.
    """
    folder = osp.dirname(osp.abspath(path))
    fd, tmp_path = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise
