"""SKAM: Semantic Knowledge Alignment Module, feature-level transfer from SPGRM to the ORM (docs/method.md §4).

    Z_O = LN(P_O(resize(orm_features)))      Z_S = sg[LN(P_S(teacher_features))]
    X_M = M * Z_O + (1 - M) * e              X_{1-M} = (1 - M) * Z_O + M * e
    L_SKAM = |G(X_M) - Z_S|_1 + |G(X_{1-M}) - Z_S|_1     (see ``basicsr_skt.losses.distill_loss.SKAMLoss``)

P_O, P_S are 1x1 convs to ``latent_dim`` channels, LN a LayerNorm over channels at every pixel, e a learned mask
token, G = conv3x3 -> ReLU -> conv3x3. M (B, 1, h, w) is a {0, 1} mask with **1 = visible** (see
``basicsr_skt.utils.masks``). Everything happens at the teacher features' spatial size: the ORM features are resized
to it bilinearly (``align_corners=False``) when the sizes differ.

Z_S is detached, so P_S gets no gradient from L_SKAM: it is a fixed (randomly initialised) projection of the
teacher's features, which keeps the target from collapsing; its parameters have ``requires_grad=False`` (so that no
optimiser holds them and DDP does not wait for their gradients) and are saved with the state dict. P_O, e and G are
trained through the ORM's loss.
"""
from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from basicsr.utils.registry import ARCH_REGISTRY


class SKAMChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) map (each pixel normalised on its own), with affine params."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


@ARCH_REGISTRY.register()
class SKAM(nn.Module):
    """Shared latent space, mask token and generator of the SKAM alignment (training only).

    Args:
        orm_channels: Channels of the ORM feature tap (60 for HDR-Transformer's ``conv_after_body``).
        teacher_channels: Channels of the SPGRM features (its ``num_feat``, 64).
        latent_dim: Channels d of the shared latent space.
    """

    def __init__(self, orm_channels: int = 60, teacher_channels: int = 64, latent_dim: int = 64) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.proj_orm = nn.Sequential(nn.Conv2d(orm_channels, latent_dim, 1), SKAMChannelLayerNorm(latent_dim))
        self.proj_teacher = nn.Sequential(nn.Conv2d(teacher_channels, latent_dim, 1), SKAMChannelLayerNorm(latent_dim))
        self.proj_teacher.requires_grad_(False)  # sg[Z_S]: a fixed projection (saved with the state dict)
        self.mask_token = nn.Parameter(torch.zeros(latent_dim))
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        self.generator = nn.Sequential(
            nn.Conv2d(latent_dim, latent_dim, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(latent_dim, latent_dim, 3, padding=1))

    def fill(self, latent: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``mask * latent + (1 - mask) * e``: hidden positions (mask 0) get the mask token."""
        token = self.mask_token.to(latent.dtype).view(1, -1, 1, 1)
        return mask * latent + (1 - mask) * token

    def forward(self, orm_features: torch.Tensor, teacher_features: torch.Tensor,
                mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Project both feature maps, mask the ORM latent with M and 1 - M, and regenerate both.

        Args:
            orm_features: (B, orm_channels, Ho, Wo) ORM features (with gradient).
            teacher_features: (B, teacher_channels, h, w) SPGRM features (detached inside).
            mask: (B, 1, h, w) (or (1, 1, h, w), broadcast) float mask of {0, 1}, 1 = visible, at the teacher size.

        Returns:
            A dict with
            ``'target'``: Z_S, (B, latent_dim, h, w), detached;
            ``'pred'``: G(X_M), (B, latent_dim, h, w);
            ``'pred_complement'``: G(X_{1-M}), (B, latent_dim, h, w);
            ``'latent'``: Z_O, (B, latent_dim, h, w) (for logging/diagnostics).
        """
        size = teacher_features.shape[-2:]
        if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[-2:] != size:
            raise ValueError(f'mask must be (B, 1, {size[0]}, {size[1]}), got {tuple(mask.shape)}')
        if orm_features.shape[-2:] != size:
            orm_features = F.interpolate(orm_features, size=size, mode='bilinear', align_corners=False)
        with torch.no_grad():
            target = self.proj_teacher(teacher_features)
        latent = self.proj_orm(orm_features)
        mask = mask.to(latent.dtype)
        return {
            'target': target,
            'pred': self.generator(self.fill(latent, mask)),
            'pred_complement': self.generator(self.fill(latent, 1 - mask)),
            'latent': latent
        }
