"""Mixed precision (AMP) for training and inference: the ``train.amp`` / ``val.amp`` options in one place.

Modes (``amp:`` in ``train`` or ``val``, ``--amp`` of ``scripts/inference.py``):

* ``false`` (default; also ``null``, ``off``, ``fp32``): everything in float32, as before;
* ``bf16``: the networks' forward passes run under ``torch.autocast(dtype=torch.bfloat16)`` (CPU, or a GPU that
  supports bfloat16: compute capability >= 8.0, e.g. A100 / H100). bfloat16 has float32's range, so no loss scaling;
* ``fp16``: autocast with float16 on a CUDA GPU, with a :class:`torch.amp.GradScaler` per optimiser against gradient
  underflow; its state is part of the training state, so an exact resume continues with the same scale.

On the CPU the backward passes run without oneDNN (:func:`cpu_backward_guard`): in torch 2.14 oneDNN's bfloat16
weight gradient of a dilated convolution whose input is channels-last in memory (HDR-Transformer's context-aware
blocks) is wrong and changes from run to run (relative error ~1, sometimes NaN; the forward is correct), which
``tests/test_amp.py`` checks. The fallback kernels are slower but exact to bfloat16 precision.

Weights, optimiser states and EMA copies stay float32 (autocast casts per operation, it never changes parameters).
The models cast the networks' outputs back to float32 before the losses (:func:`float_outputs`), so the μ-law and log
terms of the losses and metrics run in float32.

Imports nothing above ``basicsr_skt.utils``.
"""
import contextlib
import platform
from typing import Any, Dict, Iterator, Mapping, Optional

import torch

from basicsr_skt.utils.errors import UserInputError

__all__ = [
    'AMP_DTYPES', 'parse_amp', 'check_amp_device', 'autocast', 'cpu_backward_guard', 'float_outputs', 'MixedPrecision',
    'device_label'
]

#: The autocast dtype of each AMP mode.
AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}
#: Values that mean "no mixed precision".
OFF_VALUES = (None, False, 'false', 'off', 'none', 'fp32')


def parse_amp(value: Any, option: str = 'train.amp') -> Optional[str]:
    """The AMP mode of an option value.

    Args:
        value: The option's value: ``'bf16'``, ``'fp16'``, or one of :data:`OFF_VALUES` (``false``, ``null``, ...).
        option: The option's name, for the error message.

    Returns:
        ``'bf16'``, ``'fp16'``, or None (float32).

    Raises:
        UserInputError: Any other value (``true`` included: it does not say which half-precision type).
    """
    if isinstance(value, str):
        value = value.strip().lower()
    if value in OFF_VALUES:
        return None
    if value in AMP_DTYPES:
        return value
    raise UserInputError(f'{option}: {value!r} is not an AMP mode; use bf16, fp16 or false (docs/training.md, '
                         '"Mixed precision")')


def check_amp_device(mode: Optional[str], device: torch.device, option: str = 'train.amp') -> None:
    """Refuse an AMP mode the device cannot run well, with one message naming the option and the fix.

    fp16 needs a CUDA GPU (CPUs have no float16 matrix units and this project keeps no CPU loss scaling path); bf16
    runs on the CPU and on GPUs with bfloat16 support (``torch.cuda.is_bf16_supported()``, compute capability >= 8.0).

    Args:
        mode: ``'bf16'``, ``'fp16'`` or None (always accepted).
        device: Where the networks run.
        option: The option's name (``train.amp``, ``val.amp``, ``--amp``), for the message.

    Raises:
        UserInputError: fp16 off CUDA, bf16 on a GPU without bfloat16, or AMP on another device type.
    """
    if mode is None:
        return
    device = torch.device(device)
    if device.type not in ('cpu', 'cuda'):
        raise UserInputError(f'{option}: {mode} is supported on cpu and cuda devices only, not {device.type}; '
                             f'set {option} to false')
    if mode == 'fp16' and device.type != 'cuda':
        raise UserInputError(f'{option}: fp16 needs a CUDA GPU, but this run is on {device.type}; use {option} bf16 '
                             f'(works on CPUs) or false')
    if mode == 'bf16' and device.type == 'cuda' and not torch.cuda.is_bf16_supported():
        name = torch.cuda.get_device_name(device)
        raise UserInputError(f'{option}: bf16 needs a GPU with bfloat16 support (compute capability >= 8.0), but '
                             f'{name} has none; use {option} fp16 or false')


def autocast(mode: Optional[str], device: torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``device``'s type with ``mode``'s dtype, or a no-op context for None."""
    if mode is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=AMP_DTYPES[mode])


@contextlib.contextmanager
def cpu_backward_guard(mode: Optional[str], device: torch.device) -> Iterator[None]:
    """Back-propagate without oneDNN on the CPU when ``mode`` is set (see the module docstring); otherwise a no-op.

    The flag is process-wide while the block runs and restored afterwards.
    """
    if mode is None or torch.device(device).type != 'cpu':
        yield
        return
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


def float_outputs(value: Any) -> Any:
    """``value`` with every floating tensor in it (a tensor, or a dict / list / tuple of them) cast to float32.

    Applied to a network's outputs after autocast, before the losses, so that the losses run in float32.
    """
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, Mapping):
        return type(value)((k, float_outputs(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(float_outputs(v) for v in value)
    return value


def device_label(device: torch.device) -> str:
    """What a benchmark table names as its device: the GPU's name (``cuda:0 NVIDIA H100 80GB HBM3``), or the CPU's
    model from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    device = torch.device(device)
    if device.type == 'cuda':
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f'cuda:{index} {torch.cuda.get_device_name(index)}'
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            model = next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), model)
    except OSError:
        pass
    return f'{device.type} {model}'.strip()


class MixedPrecision:
    """The AMP policy of a training model: the autocast context and, for fp16, one gradient scaler per optimiser.

    Args:
        mode: ``'bf16'``, ``'fp16'`` or None (float32: :meth:`autocast` does nothing and :meth:`backward_step` is
            ``loss.backward(); optimizer.step()``).
        device: Where the networks run (autocast's device type; the scalers' device).
        option: The option's name for error messages.
        check: Refuse modes the device cannot run (:func:`check_amp_device`). Tests pass False to exercise the fp16
            scaler on the CPU (torch has a CPU ``GradScaler``).
    """

    def __init__(self, mode: Optional[str], device: torch.device, option: str = 'train.amp', check: bool = True):
        if check:
            check_amp_device(mode, device, option)
        self.mode = mode
        self.device = torch.device(device)
        self.scalers: Dict[str, torch.amp.GradScaler] = {}

    @classmethod
    def from_options(cls, opt: Mapping[str, Any], device: torch.device) -> 'MixedPrecision':
        """The policy of ``opt['train']['amp']`` (absent: float32)."""
        return cls(parse_amp((opt.get('train') or {}).get('amp'), 'train.amp'), device)

    @property
    def enabled(self) -> bool:
        return self.mode is not None

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context the networks' forward passes run in."""
        return autocast(self.mode, self.device)

    def backward_context(self) -> contextlib.AbstractContextManager:
        """The context every backward pass (``backward``, ``torch.autograd.grad``) of an AMP step runs in
        (:func:`cpu_backward_guard`)."""
        return cpu_backward_guard(self.mode, self.device)

    def scaler(self, label: str) -> torch.amp.GradScaler:
        """The gradient scaler of optimiser ``label`` (created on first use; fp16 only)."""
        if label not in self.scalers:
            self.scalers[label] = torch.amp.GradScaler(self.device.type)
        return self.scalers[label]

    def backward_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, label: str = 'g') -> None:
        """Back-propagate ``loss`` and step ``optimizer``; with fp16 through the scaler ``label`` (scale, backward,
        step unless the gradients overflowed, update the scale)."""
        if self.mode != 'fp16':
            with self.backward_context():
                loss.backward()
            optimizer.step()
            return
        scaler = self.scaler(label)
        with self.backward_context():
            scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def state_dict(self) -> Dict[str, Dict[str, Any]]:
        """The scalers' states by optimiser label (empty without fp16), for the training state."""
        return {label: scaler.state_dict() for label, scaler in self.scalers.items()}

    def load_state_dict(self, state: Optional[Mapping[str, Mapping[str, Any]]]) -> None:
        """Restore :meth:`state_dict` (None or empty: nothing saved, e.g. a state written before AMP or without
        fp16)."""
        for label, scaler_state in (state or {}).items():
            self.scaler(label).load_state_dict(dict(scaler_state))
