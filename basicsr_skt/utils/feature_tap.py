"""Read intermediate features of a network by module name with a forward hook, leaving its code untouched."""
import difflib
from typing import List, Optional

import torch
from torch import nn

#: Suffix of a tap name that captures the module's first input instead of its output.
INPUT_SUFFIX = ':input'


class FeatureTap:
    """Captures the output (or the first input) of one named sub-module of ``net`` on each forward while enabled.

    Args:
        net: The (bare, not DDP-wrapped) network, e.g. an ORM.
        module_name: Name as in ``net.named_modules()``, e.g. ``'conv_after_body'`` of ``HDRTransformer``; with the
            suffix ``':input'`` the module's first positional input is captured instead of its output (e.g.
            ``'conv_after_body:input'``: HDR-Transformer's body output ``forward_features(x) + x``, a (B, C, H, W) map).

    Raises:
        KeyError: ``module_name`` is not a sub-module of ``net``; the message suggests close names ("Did you mean
            'conv_after_body'?") and lists the available ones.

    Example:
        >>> tap = FeatureTap(orm, 'conv_after_body')
        >>> with tap:
        ...     out = orm(x1, x2, x3)
        >>> tap.pop().shape  # (B, C, H, W)
    """

    def __init__(self, net: nn.Module, module_name: str):
        self.module_name = module_name
        self.capture_input = str(module_name).endswith(INPUT_SUFFIX)
        name = module_name[:-len(INPUT_SUFFIX)] if self.capture_input else module_name
        modules = dict(net.named_modules())
        if name not in modules or name == '':
            close = difflib.get_close_matches(str(name), [n for n in modules if n], n=3)
            hint = f' Did you mean {" or ".join(repr(n) for n in close)}?' if close else ''
            raise KeyError(f'Tap {name!r} is not a module of {type(net).__name__}.{hint} Available module '
                           f'names: {", ".join(available_module_names(net))}')
        self.features: Optional[torch.Tensor] = None
        self._enabled = False
        self._handle = modules[name].register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, inputs, output) -> None:
        if self._enabled:
            self.features = inputs[0] if self.capture_input else output

    def __enter__(self) -> 'FeatureTap':
        """Capture during the ``with`` block only (forwards outside it, e.g. validation, keep nothing)."""
        self.features = None
        self._enabled = True
        return self

    def __exit__(self, *exc) -> None:
        self._enabled = False

    def pop(self) -> torch.Tensor:
        """The captured features (then forgotten). Raises RuntimeError if the module did not run."""
        if self.features is None:
            raise RuntimeError(f'Tap {self.module_name!r} captured nothing: the module did not run in the last forward')
        features, self.features = self.features, None
        return features

    def remove(self) -> None:
        """Remove the hook from the network."""
        self._handle.remove()
        self.features = None


def available_module_names(net: nn.Module, max_names: int = 60) -> List[str]:
    """Names usable as taps (leaf and container modules), shortest first, at most ``max_names``."""
    names = sorted((name for name, _ in net.named_modules() if name), key=lambda n: (n.count('.'), n))
    return names[:max_names] + (['...'] if len(names) > max_names else [])
