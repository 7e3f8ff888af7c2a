"""SKAM: Semantic Knowledge Alignment Module, feature-level transfer from SPGRM to the ORM (docs/method.md §4).

    Z_O = LN(P_O(resize(orm_features)))      Z_S = sg[LN(P_S(teacher_features))]
    X_M = M * Z_O + (1 - M) * e              X_{1-M} = (1 - M) * Z_O + M * e
    L_SKAM = |G(X_M) - Z_S|_1 + |G(X_{1-M}) - Z_S|_1     (see ``basicsr_skt.losses.distill_loss.SKAMLoss``)

P_O, P_S are 1x1 convs to ``latent_dim`` channels, LN a LayerNorm over channels at every pixel, e a learned mask
token, G = conv3x3 (-> ReLU -> conv3x3) x (``generator_layers`` - 1), so G's receptive field on the latent grid is
``2 * generator_layers + 1`` cells. M (B, 1, h, w) is a {0, 1} mask with **1 = visible** (see
``basicsr_skt.utils.masks``). The latent grid is the teacher features' spatial size divided by ``latent_stride``
(ceil): both feature maps are average-pooled to it (stride 1: the teacher size); ORM features of another size (one or
several taps, concatenated along channels) are first resized to the teacher size bilinearly (``align_corners=False``).

A hidden position whose receptive field holds no visible position is predicted from the mask token alone and sends
no gradient into the ORM: patches of the mask should be no larger than ``generator_layers`` cells
(:meth:`SKAM.context_share` measures the share of hidden positions that do see the ORM latent).

Z_S is detached, so P_S gets no gradient from L_SKAM: it is a fixed (randomly initialised) projection of the
teacher's features, which keeps the target from collapsing. The "shared latent space" is therefore the teacher's
features seen through a fixed random 1x1 map and a LayerNorm (the teacher's space up to a random linear map): P_O,
e and G learn to land in it; its parameters have ``requires_grad=False`` (so that no
optimiser holds them and DDP does not wait for their gradients) and are saved with the state dict. P_O, e and G are
trained through the ORM's loss.
"""
from typing import Dict, Sequence, Tuple, Union

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
        orm_channels: Channels of the ORM feature tap(s), summed over taps (60 for HDR-Transformer's body output).
        teacher_channels: Channels of the SPGRM features (its ``num_feat``, 64).
        latent_dim: Channels d of the shared latent space.
        latent_stride: Pooling factor from the teacher's feature grid to the latent grid (>= 1).
        generator_layers: 3x3 convs of G (>= 1); receptive field ``2 * generator_layers + 1`` latent cells.
    """

    def __init__(self,
                 orm_channels: int = 60,
                 teacher_channels: int = 64,
                 latent_dim: int = 64,
                 latent_stride: int = 1,
                 generator_layers: int = 2) -> None:
        super().__init__()
        if latent_stride < 1 or generator_layers < 1:
            raise ValueError(
                f'latent_stride and generator_layers must be >= 1, got {latent_stride}, {generator_layers}')
        self.latent_dim = latent_dim
        self.latent_stride = latent_stride
        self.generator_layers = generator_layers
        self.proj_orm = nn.Sequential(nn.Conv2d(orm_channels, latent_dim, 1), SKAMChannelLayerNorm(latent_dim))
        self.proj_teacher = nn.Sequential(nn.Conv2d(teacher_channels, latent_dim, 1), SKAMChannelLayerNorm(latent_dim))
        self.proj_teacher.requires_grad_(False)  # sg[Z_S]: a fixed projection (saved with the state dict)
        self.mask_token = nn.Parameter(torch.zeros(latent_dim))
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        layers = [nn.Conv2d(latent_dim, latent_dim, 3, padding=1)]
        for _ in range(generator_layers - 1):
            layers += [nn.ReLU(inplace=True), nn.Conv2d(latent_dim, latent_dim, 3, padding=1)]
        self.generator = nn.Sequential(*layers)

    @property
    def receptive_radius(self) -> int:
        """Cells r such that G's output at a position depends on the input within Chebyshev distance r."""
        return self.generator_layers

    def latent_size(self, height: int, width: int) -> Tuple[int, int]:
        """Latent grid (h, w) for teacher features of size (height, width): ``ceil(size / latent_stride)``."""
        return -(-height // self.latent_stride), -(-width // self.latent_stride)

    def to_latent_grid(self, features: torch.Tensor) -> torch.Tensor:
        """Average-pool (B, C, H, W) teacher-size features to the latent grid (identity for stride 1)."""
        if self.latent_stride == 1:
            return features
        return F.avg_pool2d(features, self.latent_stride, ceil_mode=True)

    def fill(self, latent: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``mask * latent + (1 - mask) * e``: hidden positions (mask 0) get the mask token."""
        token = self.mask_token.to(latent.dtype).view(1, -1, 1, 1)
        return mask * latent + (1 - mask) * token

    def context_share(self, mask: torch.Tensor) -> torch.Tensor:
        """Share of hidden positions with at least one visible position in G's receptive field, both passes.

        Structural (from the mask and the receptive field; ``tests/test_skt_transfer.py`` checks it against autograd):
        a hidden position outside it is predicted from the mask token alone.

        Args:
            mask: (B, 1, h, w) keep-mask M of {0, 1} on the latent grid (the pass 1 - M is counted too).

        Returns:
            A scalar tensor in [0, 1] (1 when nothing is hidden).
        """
        r = self.receptive_radius
        seen, hidden = 0.0, 0.0
        for keep in (mask, 1 - mask):
            sees = F.max_pool2d(keep.float(), 2 * r + 1, stride=1, padding=r) > 0
            is_hidden = keep < 0.5
            seen = seen + (sees & is_hidden).sum()
            hidden = hidden + is_hidden.sum()
        return torch.as_tensor(seen / hidden if hidden > 0 else 1.0, dtype=torch.float32)

    def forward(self, orm_features: Union[torch.Tensor, Sequence[torch.Tensor]], teacher_features: torch.Tensor,
                mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Project both feature maps, mask the ORM latent with M and 1 - M, and regenerate both.

        Args:
            orm_features: (B, orm_channels, Ho, Wo) ORM features (with gradient), or a sequence of such maps (one
                per tap, each resized to the teacher size, then concatenated along channels).
            teacher_features: (B, teacher_channels, H, W) SPGRM features (detached inside).
            mask: (B, 1, h, w) (or (1, 1, h, w), broadcast) float mask of {0, 1}, 1 = visible, on the latent grid
                ``(h, w) = latent_size(H, W)``.

        Returns:
            A dict with
            ``'target'``: Z_S, (B, latent_dim, h, w), detached;
            ``'pred'``: G(X_M), (B, latent_dim, h, w);
            ``'pred_complement'``: G(X_{1-M}), (B, latent_dim, h, w);
            ``'latent'``: Z_O, (B, latent_dim, h, w) (for logging/diagnostics);
            ``'mask'``: M as given (for ``SKAMLoss(positions='hidden')``).
        """
        full = teacher_features.shape[-2:]
        size = self.latent_size(*full)
        if mask.dim() != 4 or mask.shape[1] != 1 or tuple(mask.shape[-2:]) != size:
            raise ValueError(f'mask must be (B, 1, {size[0]}, {size[1]}), got {tuple(mask.shape)}')
        maps = [orm_features] if isinstance(orm_features, torch.Tensor) else list(orm_features)
        maps = [
            f if f.shape[-2:] == full else F.interpolate(f, size=full, mode='bilinear', align_corners=False)
            for f in maps
        ]
        orm_features = maps[0] if len(maps) == 1 else torch.cat(maps, dim=1)
        with torch.no_grad():
            target = self.proj_teacher(self.to_latent_grid(teacher_features))
        latent = self.proj_orm(self.to_latent_grid(orm_features))
        mask = mask.to(latent.dtype)
        return {
            'target': target,
            'pred': self.generator(self.fill(latent, mask)),
            'pred_complement': self.generator(self.fill(latent, 1 - mask)),
            'latent': latent,
            'mask': mask
        }
