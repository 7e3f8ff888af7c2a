"""Reading network weights saved by BasicSR, by official HDR code, or wrapped by (Distributed)DataParallel; writing
checkpoints atomically."""
import os
import os.path as osp
import pickle
import tempfile
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from torch import nn

from basicsr_skt.utils.file_checks import verify_checkpoint

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
    """Load a weights file on the CPU (``torch.load(weights_only=True)``) and unwrap it with :func:`unwrap_state_dict`.

    Network files hold tensors (and, in official checkpoints, plain numbers and optimiser state), so no arbitrary
    Python object is unpickled.

    Raises:
        FileNotFoundError: No such file.
        UserInputError: A record of the archive does not match its CRC-32 (see
            :func:`~basicsr_skt.utils.file_checks.verify_checkpoint`).
        ValueError: The file is not a torch checkpoint, is truncated, or holds Python objects other than tensors
            (e.g. a BasicSR training state ``*.state``: pass the ``net_g_*.pth`` file instead).
        KeyError: See :func:`unwrap_state_dict`.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Network weights file not found: {path}')
    verify_checkpoint(path, 'weights file')
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(f'{path} holds Python objects besides tensors, so it is not loaded with weights_only=True '
                         '(a training state? pass a net_*.pth weights file; a checkpoint you trust can be re-saved '
                         f'as a plain state dict): {str(err).splitlines()[0]}') from err
    except (RuntimeError, EOFError, OSError) as err:
        raise ValueError(f'Cannot read weights file {path} (truncated, or not a torch checkpoint): {err}') from err
    if not isinstance(checkpoint, dict):
        raise ValueError(f'{path} holds a {type(checkpoint).__name__}, not a state dict')
    return unwrap_state_dict(checkpoint, param_key)


def _shape(value: object) -> Tuple[int, ...]:
    return tuple(getattr(value, 'shape', ()))


def check_state_dict_fits(net: nn.Module,
                          state_dict: Mapping[str, torch.Tensor],
                          strict: bool = True,
                          what: str = 'checkpoint') -> Tuple[List[str], List[str]]:
    """Check that ``state_dict`` fits ``net`` before loading it, with an error naming the first key that does not.

    ``nn.Module.load_state_dict`` lists every mismatching key (hundreds for a wrong ``embed_dim``); this names the
    first one, in the network's order then the checkpoint's, with the counts of each kind.

    Args:
        net: The bare network (not DDP-wrapped).
        state_dict: The bare state dict (see :func:`unwrap_state_dict`).
        strict: Missing and unexpected keys are errors (as ``load_state_dict(strict=True)``); shape mismatches are
            errors either way.
        what: The checkpoint, for the message (e.g. ``'pretrain_network_g experiments/x/net_g_5000.pth'``).

    Returns:
        ``(missing, unexpected)`` key lists (both empty when ``strict``).

    Raises:
        RuntimeError: ``"<what> does not fit <Net>: first mismatching key 'k' (shape (60, 6, 3, 3) in the checkpoint,
            (12, 6, 3, 3) in the network); 0 missing, 0 unexpected, 52 of another shape. ..."``.
    """
    own = net.state_dict()
    missing = [key for key in own if key not in state_dict]
    unexpected = [key for key in state_dict if key not in own]
    shapes = [key for key in own if key in state_dict and _shape(state_dict[key]) != tuple(own[key].shape)]
    bad = set(shapes) | (set(missing) | set(unexpected) if strict else set())
    if bad:
        first = next(key for key in list(own) + list(state_dict) if key in bad)
        if first in shapes:
            detail = f'shape {_shape(state_dict[first])} in the checkpoint, {tuple(own[first].shape)} in the network'
        elif first in missing:
            detail = 'in the network, missing from the checkpoint'
        else:
            detail = 'in the checkpoint, not a parameter of the network'
        raise RuntimeError(f'{what} does not fit {type(net).__name__}: first mismatching key {first!r} ({detail}); '
                           f'{len(missing)} missing, {len(unexpected)} unexpected, {len(shapes)} of another shape. '
                           'Check the network options (type, embed_dim, depths, num_heads, ...) against those the '
                           'checkpoint was trained with, and param_key (params / params_ema)')
    return missing, unexpected


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
