"""AHDRNet (Yan et al., "Attention-guided Network for Ghost-free High Dynamic Range Imaging", CVPR 2019).

A re-implementation whose parameter names and shapes equal those of the authors' PyTorch code
(``qingsenyangit/AHDRNet``, ``model.py``, class ``AHDR``), so official checkpoints load with ``strict=True`` and give
the same outputs. Differences from the official code, none of which change the computation:

- Keyword-argument constructor (``in_chans``, ``num_feat``, ``num_dense_layers``, ``growth_rate``) instead of an
  ``args`` namespace (``nChannel``, ``nFeat``, ``nDenselayer``, ``growthRate``); defaults are the published model
  (1,515,139 parameters).
- ``attConv1`` and ``attConv3`` exist in the official module but its forward never uses them; they are kept (unused)
  so that official state dicts load strictly and ours load into the official module.
- Convolution weights are initialised with Kaiming-normal (fan-in, gain sqrt(2)) as the official training script does
  (``weights_init_kaiming``); biases keep PyTorch's default.

Architecture: a shared 3x3 conv + LeakyReLU(0.01) per frame (``conv1``); attention maps of the short and long frame
w.r.t. the reference (concat -> 3x3 conv -> LeakyReLU -> 3x3 conv -> sigmoid, multiplied in); ``conv2`` merges the
three (3C -> C); three dilated residual dense blocks (DRDBs: dense layers of dilated 3x3 convs + ReLU, a 1x1 fusion
conv and a residual); global feature fusion (1x1 then 3x3 conv over the three DRDB outputs) plus the reference
features; ``conv_up``; ``conv3`` (C -> 3); sigmoid. Fully convolutional: any H x W works without padding.
"""
from typing import Tuple

import torch
from torch import nn

from basicsr.utils.registry import ARCH_REGISTRY


class AHDRDilatedDenseLayer(nn.Module):
    """One dense layer: ``concat(x, ReLU(conv3x3_dilation2(x)))``; (B, C, H, W) -> (B, C + growth_rate, H, W)."""

    def __init__(self, in_channels: int, growth_rate: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, growth_rate, 3, padding=2, dilation=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((x, torch.relu(self.conv(x))), dim=1)


class AHDRDilatedResidualDenseBlock(nn.Module):
    """Dilated residual dense block (DRDB): ``x + conv1x1(dense_layers(x))``; (B, C, H, W) -> (B, C, H, W).

    Args:
        num_feat: Channels C of the block's input and output.
        num_layers: Dense layers; the 1x1 conv sees C + num_layers * growth_rate channels.
        growth_rate: Channels added by each dense layer.
    """

    def __init__(self, num_feat: int, num_layers: int, growth_rate: int) -> None:
        super().__init__()
        self.dense_layers = nn.Sequential(
            *[AHDRDilatedDenseLayer(num_feat + i * growth_rate, growth_rate) for i in range(num_layers)])
        self.conv_1x1 = nn.Conv2d(num_feat + num_layers * growth_rate, num_feat, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_1x1(self.dense_layers(x))


@ARCH_REGISTRY.register()
class AHDRNet(nn.Module):
    """AHDRNet: three LDR exposures -> linear HDR image, with the official parameter layout.

    Frames are given as three tensors (short, reference, long) of shape (B, in_chans, H, W), each
    ``concat(L**2.2 / t, L)`` with L in [0, 1]. Any H x W works (the network is fully convolutional).

    Args:
        in_chans: Channels per frame (official ``nChannel``).
        num_feat: Feature channels C (official ``nFeat``).
        num_dense_layers: Dense layers per DRDB (official ``nDenselayer``).
        growth_rate: Channels added per dense layer (official ``growthRate``).
    """

    def __init__(self, in_chans: int = 6, num_feat: int = 64, num_dense_layers: int = 6, growth_rate: int = 32) -> None:
        super().__init__()
        # Attribute names follow the official module (state-dict compatibility), hence the mixed case.
        self.conv1 = nn.Conv2d(in_chans, num_feat, 3, padding=1)  # shared by the three frames
        self.conv2 = nn.Conv2d(num_feat * 3, num_feat, 3, padding=1)
        self.att11 = nn.Conv2d(num_feat * 2, num_feat * 2, 3, padding=1)  # short-frame attention
        self.att12 = nn.Conv2d(num_feat * 2, num_feat, 3, padding=1)
        self.attConv1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)  # unused by the official forward
        self.att31 = nn.Conv2d(num_feat * 2, num_feat * 2, 3, padding=1)  # long-frame attention
        self.att32 = nn.Conv2d(num_feat * 2, num_feat, 3, padding=1)
        self.attConv3 = nn.Conv2d(num_feat, num_feat, 3, padding=1)  # unused by the official forward
        self.RDB1 = AHDRDilatedResidualDenseBlock(num_feat, num_dense_layers, growth_rate)
        self.RDB2 = AHDRDilatedResidualDenseBlock(num_feat, num_dense_layers, growth_rate)
        self.RDB3 = AHDRDilatedResidualDenseBlock(num_feat, num_dense_layers, growth_rate)
        self.GFF_1x1 = nn.Conv2d(num_feat * 3, num_feat, 1)  # global feature fusion
        self.GFF_3x3 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_up = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv3 = nn.Conv2d(num_feat, 3, 3, padding=1)
        self.relu = nn.LeakyReLU()  # default slope 0.01, as the official module
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)

    def _attention(self, feat: torch.Tensor, feat_ref: torch.Tensor, first: nn.Conv2d,
                   second: nn.Conv2d) -> torch.Tensor:
        """Weights in (0, 1), (B, C, H, W): sigmoid(second(LeakyReLU(first(concat(feat, feat_ref)))))."""
        return torch.sigmoid(second(self.relu(first(torch.cat((feat, feat_ref), dim=1)))))

    def extract(self, x1: torch.Tensor, x2: torch.Tensor,
                x3: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-frame features with the non-reference frames attention-weighted; three (B, C, H, W) maps."""
        f1, f2, f3 = (self.relu(self.conv1(x)) for x in (x1, x2, x3))
        f1 = f1 * self._attention(f1, f2, self.att11, self.att12)
        f3 = f3 * self._attention(f3, f2, self.att31, self.att32)
        return f1, f2, f3

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
        """Merge three exposures.

        Args:
            x1: Short exposure (B, in_chans, H, W): ``concat(L**2.2 / t, L)``, L in [0, 1].
            x2: Reference (middle) exposure, same shape.
            x3: Long exposure, same shape.

        Returns:
            (B, 3, H, W) linear HDR estimate in (0, 1) (BGR if the inputs are BGR).
        """
        f1, f2, f3 = self.extract(x1, x2, x3)
        r1 = self.RDB1(self.conv2(torch.cat((f1, f2, f3), dim=1)))
        r2 = self.RDB2(r1)
        r3 = self.RDB3(r2)
        fused = self.GFF_3x3(self.GFF_1x1(torch.cat((r1, r2, r3), dim=1)))
        return torch.sigmoid(self.conv3(self.conv_up(fused + f2)))
