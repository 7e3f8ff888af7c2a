"""One checkpoint loader for inference: BasicSR ``net_*.pth`` (``params`` / ``params_ema``) or official HDR code.

:func:`load_weights` reads the file with ``torch.load(weights_only=True)``
(:func:`~basicsr_skt.utils.checkpoint.load_state_dict_file`), picks the weights (``'auto'``: the first of
:data:`~basicsr_skt.utils.checkpoint.WRAPPER_KEYS` present, so ``params_ema`` before ``params`` before
``state_dict``), checks that they fit the network (:func:`~basicsr_skt.utils.checkpoint.check_state_dict_fits`,
which names the first mismatching key) and loads them. Every problem of the file is a
:class:`~basicsr_skt.utils.errors.UserInputError` naming it.
"""
import os.path as osp
from typing import Any, Dict, Optional

import torch
from torch import nn

from basicsr.utils.registry import ARCH_REGISTRY
from basicsr_skt.utils.checkpoint import check_state_dict_fits, load_state_dict_file
from basicsr_skt.utils.errors import UserInputError

__all__ = ['AUTO_KEY', 'load_weights', 'registered_arch', 'build_orm']

#: ``param_key`` that picks the first wrapper key present (``params_ema``, ``params``, ``state_dict``, ...).
AUTO_KEY = 'auto'


def load_weights(net: nn.Module,
                 path: str,
                 param_key: Optional[str] = AUTO_KEY,
                 strict: bool = True,
                 what: Optional[str] = None,
                 hint: str = '') -> None:
    """Load a weights file into ``net`` after checking that it fits.

    Args:
        net: The bare network (not wrapped by (Distributed)DataParallel); its device is kept.
        path: Weights file: a BasicSR ``net_*.pth`` (``{'params': ..., 'params_ema': ...}``), an official checkpoint
            (``{'state_dict': ...}``, ``module.`` prefixes), or a bare state dict.
        param_key: Key holding the weights; ``'auto'`` or None: the first of ``params_ema``, ``params``,
            ``state_dict``, ``model``, ``net`` present, else the dict itself.
        strict: Missing and unexpected keys are errors (shapes must match either way).
        what: The checkpoint in messages (default ``'Checkpoint <path>'``).
        hint: Appended to the message of a checkpoint that does not fit ``net`` (e.g. which options set the arch).

    Raises:
        UserInputError: The file is missing, unreadable (truncated, not a torch checkpoint, holding Python objects
            such as a training state), has no ``param_key``, holds no network weights, or does not fit ``net``
            (the first mismatching key; see :func:`~basicsr_skt.utils.checkpoint.check_state_dict_fits`).
    """
    what = what or f'Checkpoint {path}'
    if not osp.isfile(path):
        raise UserInputError(f'{what}: network weights file not found')
    key = None if param_key in (None, AUTO_KEY) else param_key
    try:
        state = load_state_dict_file(path, key)
    except KeyError as err:
        raise UserInputError(f'{what}: {err.args[0]}') from None
    except (ValueError, AttributeError) as err:  # AttributeError: the weights under param_key are not a dict
        raise UserInputError(f'Cannot read checkpoint {path}: {err}') from err
    if 'optimizers' in state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserInputError(f'{path} is not a network checkpoint (a training state?): pass net_g_*.pth')
    try:
        check_state_dict_fits(net, state, strict=strict, what=what)
    except RuntimeError as err:
        raise UserInputError(f'{err}{hint}') from None
    net.load_state_dict(state, strict=strict)


def registered_arch(arch: str, option: str = '--arch') -> type:
    """The class registered as ``arch`` in BasicSR's ``ARCH_REGISTRY``.

    Raises:
        ValueError: ``arch`` is not registered; the message names ``option`` and lists the registered names.
    """
    try:
        return ARCH_REGISTRY.get(arch)
    except KeyError as err:
        raise ValueError(f'Unknown {option} {arch!r}: {err.args[0]}') from None


def build_orm(arch: str,
              opts: Dict[str, Any],
              path: str,
              device: torch.device,
              param_key: Optional[str] = AUTO_KEY,
              option: str = '--arch',
              what: Optional[str] = None,
              hint: str = '') -> nn.Module:
    """The network ``arch`` of BasicSR's ``ARCH_REGISTRY`` with the weights of ``path`` (strict), in eval mode.

    Args:
        arch: Registered arch name (the plugin's archs are registered by ``import basicsr_skt``).
        opts: Keyword arguments of the arch.
        path: Weights file (see :func:`load_weights`).
        device: Where the network goes.
        param_key: Key holding the weights (see :func:`load_weights`).
        option: The command-line option that named ``arch``, for the unknown-name message.
        what: The checkpoint in messages (see :func:`load_weights`).
        hint: Appended to the message of a checkpoint that does not fit.

    Returns:
        The network on ``device`` in eval mode.

    Raises:
        ValueError: ``arch`` is not registered.
        UserInputError: See :func:`load_weights`.
    """
    net = registered_arch(arch, option)(**opts)
    load_weights(net, path, param_key, what=what, hint=hint)
    return net.to(device).eval()
