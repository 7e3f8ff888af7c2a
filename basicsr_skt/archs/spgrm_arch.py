"""SPGRM: Semantic Priors Guided Reconstruction Model, the training-only teacher of SKT (docs/method.md §2).

SPGRM refines the ORM's HDR estimate with the semantic knowledge bank (SKB). All processing is in the μ-law domain:

    t   = T(f_O)                                       (f_O: the ORM output, detached)
    F0  = head(concat(t, ref_frame))
    F_g = fuse_g(group_g(F_{g-1}), S)                  g = 1..num_groups; F_G is exposed as ``features`` (for SKAM)
    R   = tail(body_conv(F_G) + F0)                    (a μ-law residual; ``tail`` is zero-initialised)
    f_S = T^-1(clip(t + R, 0, 1))

S, the semantic condition, is ``conv1x1(embedding) || boundary(labels) || segment_mean(t, labels)``, turned into
``num_feat`` condition channels S_c by a shared conv3x3 + LeakyReLU. Fusion after every group is SFT
(``F * (1 + γ(S_c)) + β(S_c)``, γ and β from 1x1 convs). The research variants of the teacher (windowed
cross-attention fusion, the condition also at the head conv) are ``SPGRMProbe`` in ``research/spgrm_probe_arch.py``;
they build on the hooks :meth:`SPGRM._set_variant`, :meth:`SPGRM._head_channels`, :meth:`SPGRM._make_fusion` and
:meth:`SPGRM._head_input`, and an option of theirs given to ``SPGRM`` is a user error naming it.

Identity at initialisation: the tail conv is zero, so R = 0 and ``f_S == f_O`` bit for bit (for f_O in [0, 1]). To
keep this exact in floating point (T^-1(T(x)) is only x up to rounding), the output is computed as
``clip(f_O + (T^-1(clip(t + R, 0, 1)) - T^-1(t)), 0, 1)``, which equals the formula above in exact arithmetic for
every f_O (T^-1(T(x)) = x); the outer clip only removes rounding noise of order 1e-7 and keeps f_S in [0, 1].

``use_semantics=False`` (the "SPGRM without semantic priors" ablation) keeps the same modules and parameter count
but sets S to zeros and never reads the SKB; the condition features are then the spatially constant
``LeakyReLU(bias)``, so γ and β are learned per-channel constants (SFT becomes a learned channel-wise affine map). Only
the biases of the condition branch receive gradients in that mode.
"""
from typing import Any, Dict, List, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import nn

from basicsr.utils.registry import ARCH_REGISTRY
from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.masks import label_boundaries, segment_mean_map
from basicsr_skt.utils.tonemap import DEFAULT_MU, inverse_mu_law, mu_law

FUSION_MODES = ('sft', )
#: Options of the research teacher ``SPGRMProbe`` (research/spgrm_probe_arch.py) that the library's SPGRM refuses.
RESEARCH_OPTIONS = ('condition_at_head', 'num_heads', 'window_size')
RESEARCH_FUSIONS = ('cross_attention', )
LABEL_ENCODING_CHANNELS = 4  # boundary map (1) + per-segment mean colour of T(f_O) (3, for img_channels = 3)


class SPGRMResBlock(nn.Module):
    """conv3x3 -> ReLU -> conv3x3 plus identity: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class SPGRMResidualGroup(nn.Module):
    """``num_blocks`` residual blocks, a conv3x3 and a group-level skip: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, num_feat: int, num_blocks: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[SPGRMResBlock(num_feat) for _ in range(num_blocks)])
        self.conv = nn.Conv2d(num_feat, num_feat, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(self.blocks(x))


class SPGRMSFTFusion(nn.Module):
    """Spatial feature transform: ``F' = F * (1 + γ(S)) + β(S)``, γ and β each conv1x1 -> LeakyReLU -> conv1x1.

    Args:
        num_feat: Channels of the image features F.
        cond_feat: Channels of the semantic condition S.
    """

    def __init__(self, num_feat: int, cond_feat: int) -> None:
        super().__init__()
        self.gamma = nn.Sequential(
            nn.Conv2d(cond_feat, num_feat, 1), nn.LeakyReLU(0.2), nn.Conv2d(num_feat, num_feat, 1))
        self.beta = nn.Sequential(
            nn.Conv2d(cond_feat, num_feat, 1), nn.LeakyReLU(0.2), nn.Conv2d(num_feat, num_feat, 1))

    def forward(self, feat: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """feat (B, num_feat, H, W), cond (B, cond_feat, H, W) -> (B, num_feat, H, W)."""
        return feat * (1 + self.gamma(cond)) + self.beta(cond)


@ARCH_REGISTRY.register()
class SPGRM(nn.Module):
    """Semantic Priors Guided Reconstruction Model (training-only teacher; see the module docstring).

    Args:
        embed_channels: Channels C_e of the SKB embedding (256 for SAM, 512 for VGG16 relu4_3).
        ref_channels: Channels of the reference frame's network input (6 = concat(L**2.2 / t, L) for sRGB data).
        num_feat: Width of the image features (and of the exposed ``features``).
        num_groups: Residual groups, each followed by a semantic fusion block.
        num_blocks: Residual blocks per group.
        embed_feat: Channels the embedding is projected to (conv1x1) before joining the label encoding.
        fusion: ``'sft'`` (the only fusion of the library; ``'cross_attention'`` is ``SPGRMProbe``'s).
        use_semantics: False ignores the SKB (S = 0; same modules and parameter count, see the module docstring).
        mu: μ of the tone mapping T.
        img_channels: Channels of the ORM output (3 for BGR HDR; 4 for packed RGGB RAW).
        **variant: The options of a subclass's variant (:meth:`_set_variant`); the library's SPGRM takes none.

    Raises:
        UserInputError: An option of the research teacher (``fusion: cross_attention``, ``condition_at_head``,
            ``num_heads``, ``window_size``): the message names it and where it lives now.
        ValueError: Another unknown ``fusion``.
        TypeError: Another unknown option.
    """

    def __init__(self,
                 embed_channels: int = 256,
                 ref_channels: int = 6,
                 num_feat: int = 64,
                 num_groups: int = 4,
                 num_blocks: int = 2,
                 embed_feat: int = 32,
                 fusion: str = 'sft',
                 use_semantics: bool = True,
                 mu: float = DEFAULT_MU,
                 img_channels: int = 3,
                 **variant: Any) -> None:
        super().__init__()
        self._set_variant(fusion, variant)
        self.embed_channels = embed_channels
        self.num_feat = num_feat
        self.use_semantics = use_semantics
        self.mu = mu
        self.img_channels = img_channels
        self.head = nn.Conv2d(self._head_channels(img_channels, ref_channels, num_feat), num_feat, 3, padding=1)
        self.embed_proj = nn.Conv2d(embed_channels, embed_feat, 1)
        self.cond = nn.Sequential(nn.Conv2d(embed_feat + 1 + img_channels, num_feat, 3, padding=1), nn.LeakyReLU(0.2))
        self.groups = nn.ModuleList([SPGRMResidualGroup(num_feat, num_blocks) for _ in range(num_groups)])
        self.fusions = nn.ModuleList([self._make_fusion(num_feat) for _ in range(num_groups)])
        self.body_conv = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.tail = nn.Conv2d(num_feat, img_channels, 3, padding=1)
        nn.init.zeros_(self.tail.weight)  # R = 0 at initialisation: SPGRM starts as the identity f_S = f_O
        nn.init.zeros_(self.tail.bias)

    # ---------------------------------------------------------------------------------------- hooks of a variant
    def _set_variant(self, fusion: str, variant: Mapping[str, Any]) -> None:
        """Check and store the fusion and the variant's options (called first, before any module is built).

        The library's SPGRM: SFT and no further option; a research option is a :class:`UserInputError` naming it.
        """
        moved = [key for key in RESEARCH_OPTIONS if key in variant]
        if fusion in RESEARCH_FUSIONS:
            moved.insert(0, f'fusion: {fusion}')
        if moved:
            raise UserInputError(
                f'SPGRM: {", ".join(moved)} is a research option, no longer part of the library\'s teacher; the '
                'teacher variant SPGRMProbe in research/spgrm_probe_arch.py has it (network_t type: SPGRMProbe, '
                'trained with python -m research.train from the repository root), or remove the key')
        if fusion not in FUSION_MODES:
            raise ValueError(f'Unknown fusion {fusion!r}; expected one of {FUSION_MODES}')
        if variant:
            raise TypeError(f'SPGRM got unexpected option(s) {sorted(variant)}')
        self.fusion = fusion

    def _head_channels(self, img_channels: int, ref_channels: int, num_feat: int) -> int:
        """Input channels of the head conv: T(f_O) and the reference frame."""
        return img_channels + ref_channels

    def _make_fusion(self, num_feat: int) -> nn.Module:
        """The fusion block after one residual group: SFT of the features by the condition S_c."""
        return SPGRMSFTFusion(num_feat, num_feat)

    def _head_input(self, tone_mapped: torch.Tensor, ref_frame: torch.Tensor, cond: torch.Tensor) -> List[torch.Tensor]:
        """The tensors concatenated into the head conv: [T(f_O), ref_frame] (``cond``, S_c, is unused here)."""
        return [tone_mapped, ref_frame.to(tone_mapped.dtype)]

    # ------------------------------------------------------------------------------------------------- forward
    def semantic_input(self, tone_mapped: torch.Tensor, skb_embedding: Optional[torch.Tensor],
                       skb_labels: Optional[torch.Tensor]) -> torch.Tensor:
        """The raw semantic map S = ``conv1x1(embedding) || boundary(labels) || segment_mean(T(f_O), labels)``.

        Args:
            tone_mapped: T(f_O), (B, 3, H, W) in [0, 1].
            skb_embedding: (B, C_e, He, We); resized bilinearly to (H, W) when its size differs (the dataset already
                delivers it on the pixel grid).
            skb_labels: (B, H, W) integer segment ids.

        Returns:
            (B, embed_feat + 4, H, W); all zeros (and the SKB unused) when ``use_semantics`` is False.
        """
        b, _, h, w = tone_mapped.shape
        channels = self.embed_proj.out_channels + 1 + self.img_channels
        if not self.use_semantics:
            return tone_mapped.new_zeros(b, channels, h, w)
        if skb_embedding is None or skb_labels is None:
            raise ValueError('SPGRM(use_semantics=True) needs skb_embedding and skb_labels')
        if skb_embedding.dim() != 4 or skb_embedding.shape[:2] != (b, self.embed_channels):
            raise ValueError(f'skb_embedding must be (B={b}, C_e={self.embed_channels}, H, W), '
                             f'got {tuple(skb_embedding.shape)}')
        if skb_labels.shape[-2:] != (h, w):
            raise ValueError(f'skb_labels {tuple(skb_labels.shape)} do not match the image size {(h, w)}')
        embedding = skb_embedding.to(tone_mapped.dtype)
        if embedding.shape[-2:] != (h, w):
            embedding = F.interpolate(embedding, size=(h, w), mode='bilinear', align_corners=False)
        encoding = [label_boundaries(skb_labels).to(tone_mapped.dtype), segment_mean_map(tone_mapped, skb_labels)]
        return torch.cat([self.embed_proj(embedding)] + encoding, dim=1)

    def forward(self,
                orm_output: torch.Tensor,
                ref_frame: torch.Tensor,
                skb_embedding: Optional[torch.Tensor] = None,
                skb_labels: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Refine the ORM's HDR estimate.

        Args:
            orm_output: f_O, (B, 3, H, W) linear HDR in [0, 1] (BGR). Detached here: no gradient reaches the ORM.
            ref_frame: The reference frame's network input, (B, ref_channels, H, W).
            skb_embedding: (B, C_e, H, W) SKB embedding on the pixel grid (other sizes are resized bilinearly).
                Ignored (may be None) when ``use_semantics`` is False.
            skb_labels: (B, H, W) integer SKB segment ids. Ignored (may be None) when ``use_semantics`` is False.

        Returns:
            A dict with
            ``'output'``: f_S, (B, 3, H, W) linear HDR in [0, 1];
            ``'features'``: (B, num_feat, H, W) the fused features of the last group (SKAM's teacher tap);
            ``'residual'``: R, (B, 3, H, W) the μ-law residual before clipping.
        """
        orm_output = orm_output.detach()
        tone_mapped = mu_law(orm_output, self.mu)
        cond = self.cond(self.semantic_input(tone_mapped, skb_embedding, skb_labels))
        first = self.head(torch.cat(self._head_input(tone_mapped, ref_frame, cond), dim=1))
        feat = first
        for group, fusion in zip(self.groups, self.fusions):
            feat = fusion(group(feat), cond)
        residual = self.tail(self.body_conv(feat) + first)
        refined = inverse_mu_law((tone_mapped + residual).clamp(0, 1), self.mu)
        output = (orm_output + (refined - inverse_mu_law(tone_mapped, self.mu))).clamp(0, 1)  # == refined, see top
        return {'output': output, 'features': feat, 'residual': residual}
