"""SCTNet (Tel et al., "Alignment-free HDR Deghosting with Semantics Consistent Transformer", ICCV 2023).

A re-implementation whose parameter and buffer names/shapes equal those of the authors' PyTorch code
(``Zongwei97/SCTNet``, ``models/SCTNet.py`` and ``models/SCAB.py``), so official checkpoints load with ``strict=True``
and give the same outputs. The spatial part (Swin layers with relative position bias, shifted-window masks, the
residual conv closing each group) reuses the HDR-Transformer building blocks of
:mod:`basicsr_skt.archs.hdr_transformer_arch` (a CA-ViT layer without its local-context branch is a Swin layer).
Differences from the official code, none of which change the computation on inputs whose size is a multiple of the
window:

- ``forward`` returns exactly the input size: frames are reflect-padded to a multiple of the window size and the
  output is cropped back (the official forward pads but crops with ``upscale`` = 2, i.e. returns the padded size).
- Shifted-window masks come from a per-size cache shared by all layers; ``attn_mask`` buffers are kept for
  key-for-key state dicts but are derived data (any size, or absent, loads strictly), as in our HDR-Transformer.
- Defaults are the published configuration (embed 60, depths [6, 6, 6, 6], window 8, mlp_ratio 2, in_chans 18:
  994,555 parameters) rather than the official constructor's SwinIR defaults. ``in_chans`` is the channel count of
  the three frames together, as in the official code.
- The official module subtracts an RGB mean only when in_chans == 3 (one-channel frames, never the case for HDR
  inputs) and a zero tensor otherwise; we never subtract a mean.
- The SCAB channel LayerNorms are ``nn.LayerNorm`` on channels-last views (same formula and eps as the official
  ``WithBias_LayerNorm``; parameters stay under ``.body``). The output conv keeps the official name ``upsample``
  although nothing is upsampled.

Architecture: per-frame 3x3 convs (6 -> C/3), concatenated to C channels; LayerNorm tokens t = (t1, t2, t3) split
per frame; ``conv_first`` token MLP; ``len(depths)`` stages, each: residual group of Swin layers + 3x3 conv + residual
-> split into three C/3 groups (y1, y2, y3) -> semantics-consistent cross-attention blocks (SCAB: channel-wise
"transposed" attention with queries from the reference and keys/values from a non-reference frame, + MLP) for
(t2 + y2, t1 + y1) and (t2 + y2, t3 + y3) -> concat with t2 + y2 -> token MLP; LayerNorm; ``conv_after_body`` +
``conv_end(reference features)``; 3x3 conv to 3 channels; sigmoid.
"""
from typing import Optional, Sequence, Tuple, Type, Union

import torch
import torch.nn.functional as F
from torch import nn

from basicsr.utils.registry import ARCH_REGISTRY
from basicsr_skt.archs.hdr_transformer_arch import (HDRTMlp, HDRTransformer, HDRTResidualGroup, HDRTShiftMaskCache,
                                                    HDRTTokenEmbed, build_transformer_blocks, residual_conv,
                                                    tokens_to_map)
from basicsr_skt.utils.option_checks import check_heads_divide
from basicsr_skt.utils.padding import crop_to, pad_to_multiple


class SCTChannelNorm(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) map (the official ``LayerNorm(dim, 'WithBias')``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.body = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class SCTMutualAttention(nn.Module):
    """Channel ("transposed") cross-attention: queries from ``x``, keys and values from ``y``.

    Per head, q and k are (C/heads, H*W) matrices L2-normalised along H*W; the (C/heads x C/heads) attention is
    softmax(q k^T * temperature) and mixes the channels of v. 1x1 convs project q, k, v and the output.

    Args:
        dim: Channels C.
        num_heads: Heads (C must be divisible by it); each has a learned temperature.
        bias: Bias in the 1x1 projections (the official model has none).
    """

    def __init__(self, dim: int, num_heads: int, bias: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'channels {dim} must be divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.q = nn.Conv2d(dim, dim, 1, bias=bias)
        self.k = nn.Conv2d(dim, dim, 1, bias=bias)
        self.v = nn.Conv2d(dim, dim, 1, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) queries ``x`` and keys/values ``y`` -> (B, C, H, W)."""
        b, c, h, w = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, self.num_heads, c // self.num_heads, h * w)

        q = F.normalize(heads(self.q(x)), dim=-1)
        k = F.normalize(heads(self.k(y)), dim=-1)
        attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        return self.project_out((attn @ heads(self.v(y))).reshape(b, c, h, w))


class SCTConsistentBlock(nn.Module):
    """SCAB: ``f = x + attn(norm1_x(x), norm1_y(y)); f = f + ffn(norm2(f))`` on one frame's channel group.

    Args:
        dim: Channels of one frame's group (embed_dim / 3).
        num_heads: Heads of the channel attention.
        ffn_ratio: MLP hidden size / dim.
    """

    def __init__(self, dim: int, num_heads: int, ffn_ratio: float = 4.) -> None:
        super().__init__()
        self.norm1_x = SCTChannelNorm(dim)
        self.norm1_y = SCTChannelNorm(dim)
        self.attn = SCTMutualAttention(dim, num_heads, bias=False)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = HDRTMlp(dim, int(dim * ffn_ratio))

    def forward(self, x: torch.Tensor, y: torch.Tensor, x_size: Tuple[int, int]) -> torch.Tensor:
        """Reference tokens ``x`` and non-reference tokens ``y``, both (B, H*W, dim) -> (B, H*W, dim)."""
        x_map = tokens_to_map(x, x_size)
        fused = x_map + self.attn(self.norm1_x(x_map), self.norm1_y(tokens_to_map(y, x_size)))
        fused = fused.flatten(2).transpose(1, 2)
        return fused + self.ffn(self.norm2(fused))


class SCTSpatialBlock(nn.Module):
    """Global spatial attention block (GSAB, SwinIR's RSTB): Swin layers -> 3x3 conv -> + input; (B, H*W, C)."""

    def __init__(self, dim: int, resi_connection: str = '1conv', **group_kwargs) -> None:
        super().__init__()
        self.residual_group = HDRTResidualGroup(dim=dim, local_context=False, **group_kwargs)
        self.conv = residual_conv(dim, resi_connection, dilation=1)

    def forward(self, x: torch.Tensor, x_size: Tuple[int, int]) -> torch.Tensor:
        res = tokens_to_map(self.residual_group(x, x_size), x_size)
        return self.conv(res).flatten(2).transpose(1, 2) + x


@ARCH_REGISTRY.register()
class SCTNet(nn.Module):
    """SCTNet: three LDR exposures -> linear HDR image, with the official parameter layout.

    Frames are given as three tensors (short, reference, long) of shape (B, in_chans / 3, H, W), each
    ``concat(L**2.2 / t, L)`` with L in [0, 1].

    Args:
        img_size: Training patch size; only sets the ``attn_mask`` buffers (and ``absolute_pos_embed``) that the
            official state dict contains. Inputs of any size are accepted.
        patch_size: Must be 1 (the network works on pixels).
        in_chans: Channels of the three frames together (18 for 6-channel frames).
        embed_dim: Feature channels C (divisible by 3: each frame owns C/3 channels).
        depths: Swin layers per stage.
        num_heads: Spatial attention heads per stage.
        window_size: Attention window side length; inputs are padded to a multiple of it.
        mlp_ratio: Swin MLP hidden size / C.
        qkv_bias: Bias in the q/k/v projections.
        qk_scale: Attention logit scale override (``None``: head_dim ** -0.5).
        drop_rate: Dropout after attention/MLP projections and on the embedded tokens.
        attn_drop_rate: Dropout on attention weights.
        drop_path_rate: Largest stochastic-depth probability (linearly increasing over all Swin layers).
        norm_layer: Token normalisation class.
        ape: Learned absolute position embedding (then inputs must be ``img_size`` after padding).
        patch_norm: LayerNorm on the embedded tokens.
        use_checkpoint: Gradient checkpointing of every Swin layer in training.
        resi_connection: '1conv' or '3conv' for the convs closing each stage and the body.
        img_range: Input scale (inputs are multiplied by it, the output divided before the sigmoid).
        scab_heads: Heads of the channel cross-attention in every SCAB (official: 4).
        scab_ffn_ratio: SCAB MLP hidden size / (C/3) (official: 4).
        pad_mode: How ``forward`` pads inputs to the window multiple (see
            :func:`basicsr_skt.utils.padding.pad_to_multiple`).
    """

    def __init__(self,
                 img_size: Union[int, Tuple[int, int]] = 128,
                 patch_size: int = 1,
                 in_chans: int = 18,
                 embed_dim: int = 60,
                 depths: Sequence[int] = (6, 6, 6, 6),
                 num_heads: Sequence[int] = (6, 6, 6, 6),
                 window_size: int = 8,
                 mlp_ratio: float = 2.,
                 qkv_bias: bool = True,
                 qk_scale: Optional[float] = None,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 norm_layer: Type[nn.Module] = nn.LayerNorm,
                 ape: bool = False,
                 patch_norm: bool = True,
                 use_checkpoint: bool = False,
                 resi_connection: str = '1conv',
                 img_range: float = 1.,
                 scab_heads: int = 4,
                 scab_ffn_ratio: float = 4.,
                 pad_mode: str = 'reflect') -> None:
        super().__init__()
        if patch_size != 1:
            raise ValueError(f'SCTNet works on pixels: patch_size must be 1, got {patch_size}')
        if len(depths) != len(num_heads):
            raise ValueError(f'depths {tuple(depths)} and num_heads {tuple(num_heads)} differ in length')
        if in_chans % 3 or embed_dim % 3:
            raise ValueError(f'in_chans ({in_chans}) and embed_dim ({embed_dim}) must be divisible by 3 frames')
        check_heads_divide('SCTNet', embed_dim, 'embed_dim', num_heads, 'num_heads')
        check_heads_divide('SCTNet', embed_dim // 3, 'embed_dim / 3', [scab_heads], 'scab_heads')
        self.img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.embed_dim = embed_dim
        self.ape = ape
        self.img_range = img_range
        self.pad_mode = pad_mode
        self.window_size = min(window_size, min(self.img_size))  # layers shrink their window like the official code
        self.mask_cache = HDRTShiftMaskCache()
        frame_chans, frame_dim = in_chans // 3, embed_dim // 3

        # 1. Shallow features: one conv per frame, the reference's also feeds the global skip (conv_end).
        self.conv1 = nn.Conv2d(frame_chans, frame_dim, 3, padding=1)
        self.conv2 = nn.Conv2d(frame_chans, frame_dim, 3, padding=1)
        self.conv3 = nn.Conv2d(frame_chans, frame_dim, 3, padding=1)
        self.conv_end = nn.Conv2d(frame_dim, embed_dim, 3, padding=1)
        self.conv_first = HDRTMlp(embed_dim, embed_dim, drop_rate)

        # 2. Deep features: spatial (Swin) stages, each followed by two SCABs and a fusing token MLP.
        self.patch_embed = HDRTTokenEmbed(embed_dim, norm_layer if patch_norm else None)
        if ape:
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, self.img_size[0] * self.img_size[1], embed_dim))
            nn.init.trunc_normal_(self.absolute_pos_embed, std=.02)
        self.pos_drop = nn.Dropout(drop_rate)
        self.layers = build_transformer_blocks(
            SCTSpatialBlock,
            embed_dim,
            depths,
            num_heads,
            drop_path_rate,
            resi_connection=resi_connection,
            input_resolution=self.img_size,
            window_size=window_size,
            use_checkpoint=use_checkpoint,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            qk_scale=qk_scale,
            drop=drop_rate,
            attn_drop=attn_drop_rate,
            norm_layer=norm_layer,
            mask_cache=self.mask_cache)
        self.channel_layers_lm = nn.ModuleList(
            [SCTConsistentBlock(frame_dim, scab_heads, scab_ffn_ratio) for _ in depths])  # reference <- short
        self.channel_layers_rm = nn.ModuleList(
            [SCTConsistentBlock(frame_dim, scab_heads, scab_ffn_ratio) for _ in depths])  # reference <- long
        self.mlps = nn.ModuleList([HDRTMlp(embed_dim, embed_dim, drop_rate) for _ in depths])
        self.norm = norm_layer(embed_dim)
        self.conv_after_body = residual_conv(embed_dim, resi_connection, dilation=1)

        # 3. Reconstruction (official name: no upsampling happens).
        self.upsample = nn.Sequential(nn.Conv2d(embed_dim, 3, 3, padding=1))
        self.apply(HDRTransformer._init_weights)  # the official init: trunc-normal Linear, unit LayerNorm

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Deep features: (B, C, H, W) shallow features -> LayerNormed (B, C, H, W); H, W multiples of the window."""
        x_size = (x.shape[2], x.shape[3])
        x = self.patch_embed(x)
        if self.ape:
            if x_size != self.img_size:
                raise ValueError(f'ape=True needs inputs of img_size {self.img_size} (after padding), got {x_size}')
            x = x + self.absolute_pos_embed
        x = self.pos_drop(x)
        t1, t2, t3 = x.chunk(3, dim=2)  # per-frame shallow tokens, re-injected after every stage
        x = self.conv_first(x)
        for layer, layer_lm, layer_rm, mlp in zip(self.layers, self.channel_layers_lm, self.channel_layers_rm,
                                                  self.mlps):
            y1, y2, y3 = layer(x, x_size).chunk(3, dim=2)
            ref = t2 + y2
            x = mlp(torch.cat((layer_lm(ref, t1 + y1, x_size), ref, layer_rm(ref, t3 + y3, x_size)), dim=2))
        return tokens_to_map(self.norm(x), x_size)

    def forward_aligned(self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
        """The official forward pass, for frames whose H and W are multiples of :attr:`window_size`.

        Args:
            x1: Short exposure (B, in_chans / 3, H, W).
            x2: Reference (middle) exposure, same shape.
            x3: Long exposure, same shape.

        Returns:
            (B, 3, H, W) HDR estimate in (0, 1) (linear, BGR if the inputs are BGR).

        Raises:
            ValueError: H or W is not a multiple of the window size.
        """
        h, w = x2.shape[-2:]
        if h % self.window_size or w % self.window_size:
            raise ValueError(f'forward_aligned needs H, W multiples of {self.window_size}, got {(h, w)}; '
                             'use forward() to pad automatically')
        f1, f2, f3 = (conv(x * self.img_range) for conv, x in zip((self.conv1, self.conv2, self.conv3), (x1, x2, x3)))
        x = self.conv_after_body(self.forward_features(torch.cat((f1, f2, f3), dim=1))) + self.conv_end(f2)
        return torch.sigmoid(self.upsample(x) / self.img_range)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
        """Merge three exposures of any size (padded to the window multiple inside, cropped back).

        Args:
            x1: Short exposure (B, in_chans / 3, H, W): ``concat(L**2.2 / t, L)``, L in [0, 1].
            x2: Reference (middle) exposure, same shape.
            x3: Long exposure, same shape.

        Returns:
            (B, 3, H, W) HDR estimate in (0, 1).
        """
        frames = [pad_to_multiple(x, self.window_size, self.pad_mode)[0] for x in (x1, x2, x3)]
        h, w = x2.shape[-2:]
        return crop_to(self.forward_aligned(*frames), h, w)
