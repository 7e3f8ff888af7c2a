"""SPGRMProbe: the research variants of the SKT teacher that no shipped config uses (research/evidence_notes.md).

:class:`SPGRMProbe` is the library's :class:`~basicsr_skt.archs.spgrm_arch.SPGRM` with two more knobs, built through
SPGRM's hooks so that at its defaults it *is* SPGRM (same modules, same initial weights for the same seed):

* ``fusion: cross_attention``: windowed multi-head cross-attention after every group instead of SFT (queries from the
  condition features S_c, keys/values from the image features F, ``F + proj(attention)``); with
  ``use_semantics=False`` every query in a window is the same learned vector. Arm ``oracle_xattn`` of
  ``research/run_evidence.py`` and arm D of screen 4.
* ``condition_at_head``: S_c also enters the head conv, next to T(f_O): a direct path on which the first layer can
  compare the prior with the ORM's estimate pixel by pixel (screen 4: is the SFT-only injection what keeps the teacher
  from using its priors?). ``F0 = head(concat(t, ref_frame, S_c))``.

Registered in BasicSR's ``ARCH_REGISTRY`` when this module is imported: train such a teacher with
``python -m research.train -opt X.yml`` (``network_t: {type: SPGRMProbe, ...}``).
"""
from typing import Any, List, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from basicsr.utils.registry import ARCH_REGISTRY
from basicsr_skt.archs.hdr_transformer_arch import window_merge, window_split
from basicsr_skt.archs.spgrm_arch import SPGRM

PROBE_FUSIONS = ('sft', 'cross_attention')


class SPGRMCrossAttentionFusion(nn.Module):
    """Windowed multi-head cross-attention: queries from the semantics, keys/values from the image features.

    ``F' = F + proj(softmax(q k^T / sqrt(d)) v)`` inside non-overlapping ``window_size`` windows, with
    ``q = Wq LN(S)``, ``k, v = Wkv LN(F)``. Maps whose size is not a multiple of the window are zero-padded at the
    bottom/right; padded positions are masked out as keys and cropped from the output, so the result does not
    depend on the padding. Cost per pixel is O(window_size**2 * num_feat): cheap at 128 x 128 on a CPU.

    Args:
        num_feat: Channels of the image features (and of the attention); divisible by ``num_heads``.
        cond_feat: Channels of the semantic condition.
        num_heads: Attention heads.
        window_size: Window side in pixels.
    """

    def __init__(self, num_feat: int, cond_feat: int, num_heads: int = 4, window_size: int = 8) -> None:
        super().__init__()
        if num_feat % num_heads:
            raise ValueError(f'num_feat={num_feat} must be divisible by num_heads={num_heads}')
        self.num_heads = num_heads
        self.window_size = window_size
        self.norm_q = nn.LayerNorm(cond_feat)
        self.norm_kv = nn.LayerNorm(num_feat)
        self.q = nn.Linear(cond_feat, num_feat)
        self.kv = nn.Linear(num_feat, 2 * num_feat)
        self.proj = nn.Linear(num_feat, num_feat)

    def _windows(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, Hp, Wp) -> (B * nW, ws*ws, C)."""
        return window_split(x.permute(0, 2, 3, 1), self.window_size)

    def _heads(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B', N, C) -> (B', heads, N, C / heads)."""
        b_, n, c = tokens.shape
        return tokens.view(b_, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(self, feat: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """feat (B, num_feat, H, W), cond (B, cond_feat, H, W) -> (B, num_feat, H, W)."""
        b, c, h, w = feat.shape
        ws = self.window_size
        pad_h, pad_w = (-h) % ws, (-w) % ws
        valid = feat.new_ones(b, 1, h, w)
        if pad_h or pad_w:
            feat_p, cond_p, valid = (F.pad(x, (0, pad_w, 0, pad_h)) for x in (feat, cond, valid))
        else:
            feat_p, cond_p = feat, cond
        q = self._heads(self.q(self.norm_q(self._windows(cond_p))))
        k, v = (self._heads(t) for t in self.kv(self.norm_kv(self._windows(feat_p))).chunk(2, dim=-1))
        key_ok = self._windows(valid)[..., 0].bool()[:, None, None, :]  # (B*nW, 1, 1, N): True = a real pixel
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_ok)
        out = self.proj(out.transpose(1, 2).reshape(out.shape[0], -1, c))
        out = window_merge(out, ws, h + pad_h, w + pad_w)[:, :h, :w].permute(0, 3, 1, 2)
        return feat + out

    def extra_repr(self) -> str:
        return f'num_heads={self.num_heads}, window_size={self.window_size}'


@ARCH_REGISTRY.register()
class SPGRMProbe(SPGRM):
    """SPGRM with the research knobs (see the module docstring); the other arguments are SPGRM's.

    Args:
        fusion: ``'sft'`` (default, as SPGRM) or ``'cross_attention'``.
        num_heads: Attention heads of the cross-attention fusion.
        window_size: Window side of the cross-attention fusion.
        condition_at_head: Also feed the condition features S_c to the head conv.
        **spgrm: SPGRM's arguments (``embed_channels``, ``num_feat``, ``use_semantics``, ...).
    """

    def __init__(self,
                 fusion: str = 'sft',
                 num_heads: int = 4,
                 window_size: int = 8,
                 condition_at_head: bool = False,
                 **spgrm: Any) -> None:
        super().__init__(fusion=fusion, num_heads=num_heads, window_size=window_size,
                         condition_at_head=condition_at_head, **spgrm)

    def _set_variant(self, fusion: str, variant: Mapping[str, Any]) -> None:
        if fusion not in PROBE_FUSIONS:
            raise ValueError(f'Unknown fusion {fusion!r}; expected one of {PROBE_FUSIONS}')
        self.fusion = fusion
        self.num_heads = variant['num_heads']
        self.window_size = variant['window_size']
        self.condition_at_head = variant['condition_at_head']

    def _head_channels(self, img_channels: int, ref_channels: int, num_feat: int) -> int:
        return img_channels + ref_channels + (num_feat if self.condition_at_head else 0)

    def _make_fusion(self, num_feat: int) -> nn.Module:
        if self.fusion == 'sft':
            return super()._make_fusion(num_feat)
        return SPGRMCrossAttentionFusion(num_feat, num_feat, self.num_heads, self.window_size)

    def _head_input(self, tone_mapped: torch.Tensor, ref_frame: torch.Tensor, cond: torch.Tensor) -> List[torch.Tensor]:
        return super()._head_input(tone_mapped, ref_frame, cond) + ([cond] if self.condition_at_head else [])
