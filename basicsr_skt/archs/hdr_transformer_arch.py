"""HDR-Transformer (Liu et al., "Ghost-free High Dynamic Range Imaging with Context-aware Transformer", ECCV 2022).

A re-implementation whose parameter and buffer names/shapes equal those of the authors' PyTorch port
(``liuzhen03/HDR-Transformer-PyTorch``, ``models/hdr_transformer.py``), so official checkpoints load with
``strict=True`` and our state dicts load into the official module. Differences from the official code, none of which
change the computation:

- ``forward`` accepts any H x W: frames are reflect-padded to a multiple of the window size and the output is cropped
  back (the official module needs multiples of 8 and leaves padding to the caller).
- Shifted-window attention masks are computed once per (padded) input size, device and dtype and cached (shared by
  all layers) instead of being recomputed by every layer on every forward whose size differs from ``img_size``.
- ``attn_mask`` buffers (persistent in the official module, for ``img_size``) are kept for key-for-key state dicts,
  but they are derived data: loading replaces/ignores whatever a state dict holds for them (absent, or for another
  size). The forward pass always uses the cache.
- Parameter-free official sub-modules (``layers.i.patch_embed``/``patch_unembed``, the model's ``patch_unembed``)
  are plain reshapes here.

Architecture: per-frame 3x3 convs (6 -> C); spatial attention of the short and long frame w.r.t. the reference;
``conv_first`` (3C -> C); ``len(depths)`` context-aware transformer blocks (CTBs), each a stack of CA-ViT layers
(alternating window / shifted-window self-attention with relative position bias + MLP, plus a convolutional local
context extractor with channel attention) followed by a dilated 3x3 conv and a residual; LayerNorm;
``conv_after_body(features + x)``; ``conv_last(f_ref + res)``; sigmoid.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Type, Union

import torch
from torch import nn
from torch.utils import checkpoint as torch_checkpoint

from basicsr.utils.registry import ARCH_REGISTRY
from basicsr_skt.utils.option_checks import check_heads_divide
from basicsr_skt.utils.padding import crop_to, pad_to_multiple

MASK_FILL = -100.0  # logit added between tokens of different regions in a shifted window (official value)


# ----------------------------------------------------------------------------------------------------------------------
# Window helpers
# ----------------------------------------------------------------------------------------------------------------------
def window_split(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """Cut a feature map into non-overlapping square windows.

    Args:
        x: (B, H, W, C), H and W multiples of ``window_size``.
        window_size: Window side length.

    Returns:
        (B * nW, window_size**2, C) with windows in row-major order per image, tokens row-major inside a window.
    """
    b, h, w, c = x.shape
    x = x.view(b, h // window_size, window_size, w // window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size * window_size, c)


def window_merge(windows: torch.Tensor, window_size: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`window_split`.

    Args:
        windows: (B * nW, window_size**2, C).
        window_size: Window side length.
        height: H of the feature map.
        width: W of the feature map.

    Returns:
        (B, H, W, C).
    """
    rows, cols = height // window_size, width // window_size
    c = windows.shape[-1]
    x = windows.view(-1, rows, cols, window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, c)


def _region_labels(size: int, window_size: int, shift_size: int, device: Optional[torch.device]) -> torch.Tensor:
    """Label positions 0/1/2 along one axis of a cyclically shifted map: body, last window, wrapped-around strip."""
    idx = torch.arange(size, device=device)
    return (idx >= size - window_size).long() + (idx >= size - shift_size).long()


def shifted_window_mask(height: int,
                        width: int,
                        window_size: int,
                        shift_size: int,
                        device: Optional[torch.device] = None) -> torch.Tensor:
    """Additive attention mask for shifted-window self-attention (Swin), as the official code builds it.

    After the cyclic shift by ``shift_size``, a window at the bottom/right border holds tokens from image regions
    that are not neighbours; attention between tokens of different regions gets ``MASK_FILL`` (-100).

    Args:
        height: H of the (padded) feature map, a multiple of ``window_size``.
        width: W of the (padded) feature map, a multiple of ``window_size``.
        window_size: Window side length.
        shift_size: Cyclic shift (0 < shift_size < window_size).
        device: Where to build the mask.

    Returns:
        float32 (nW, window_size**2, window_size**2) with values in {0, -100}; nW = H * W / window_size**2.
    """
    labels = _region_labels(height, window_size, shift_size, device)[:, None] * 3 \
        + _region_labels(width, window_size, shift_size, device)[None, :]
    windows = window_split(labels[None, :, :, None].float(), window_size).squeeze(-1)  # (nW, N)
    differs = windows[:, None, :] != windows[:, :, None]
    return torch.zeros(differs.shape, device=device).masked_fill_(differs, MASK_FILL)


class HDRTShiftMaskCache:
    """Cache of :func:`shifted_window_mask` results keyed by size, window, shift, device and dtype.

    One instance is shared by all layers of a network, so a 1504 x 1000 input builds its mask once, not once per
    shifted layer per forward. The oldest entry is dropped beyond ``max_entries``.

    Args:
        max_entries: Number of masks kept (each is nW x N x N values: about 385 MB in float32 for 1504 x 1000).
    """

    def __init__(self, max_entries: int = 4) -> None:
        self.max_entries = max_entries
        self._masks: 'OrderedDict[tuple, torch.Tensor]' = OrderedDict()

    def get(self, height: int, width: int, window_size: int, shift_size: int, device: torch.device,
            dtype: torch.dtype) -> torch.Tensor:
        """Return the (nW, N, N) mask for this size, built on ``device`` in ``dtype`` on first use."""
        key = (height, width, window_size, shift_size, torch.device(device), dtype)
        mask = self._masks.get(key)
        if mask is None:
            mask = shifted_window_mask(height, width, window_size, shift_size, device).to(dtype)
            self._masks[key] = mask
            while len(self._masks) > self.max_entries:
                self._masks.popitem(last=False)
        return mask

    def clear(self) -> None:
        """Forget every cached mask (e.g. to free memory after testing on large images)."""
        self._masks.clear()

    def __len__(self) -> int:
        return len(self._masks)


# ----------------------------------------------------------------------------------------------------------------------
# Building blocks (names of attributes follow the official module for state-dict compatibility)
# ----------------------------------------------------------------------------------------------------------------------
def _drop_path(x: torch.Tensor, prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero whole samples of a residual branch with probability ``prob`` and rescale the rest."""
    if prob == 0. or not training:
        return x
    keep = 1. - prob
    shape = (x.shape[0], ) + (1, ) * (x.dim() - 1)
    return x * x.new_empty(shape).bernoulli_(keep).div_(keep)


class HDRTDropPath(nn.Module):
    """Stochastic depth of a residual branch (identity in eval mode)."""

    def __init__(self, prob: float = 0.) -> None:
        super().__init__()
        self.prob = prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _drop_path(x, self.prob, self.training)

    def extra_repr(self) -> str:
        return f'prob={self.prob}'


class HDRTMlp(nn.Module):
    """Token MLP: Linear -> GELU -> Dropout -> Linear -> Dropout; (..., C) -> (..., C)."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class HDRTWindowAttention(nn.Module):
    """Multi-head self-attention inside windows, with a learned relative position bias.

    Args:
        dim: Token channels C.
        window_size: Window side length Ws (N = Ws**2 tokens per window).
        num_heads: Attention heads (C must be divisible by it).
        qkv_bias: Bias in the q/k/v projection.
        qk_scale: Logit scale; ``None`` means head_dim ** -0.5.
        attn_drop: Dropout on attention weights.
        proj_drop: Dropout after the output projection.
    """

    def __init__(self,
                 dim: int,
                 window_size: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 qk_scale: Optional[float] = None,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.) -> None:
        super().__init__()
        self.dim = dim
        self.window_size = window_size
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads)**-0.5
        span = 2 * window_size - 1  # relative offsets along one axis: -(Ws-1) .. Ws-1
        self.relative_position_bias_table = nn.Parameter(torch.zeros(span * span, num_heads))
        self.register_buffer('relative_position_index', self._relative_index(window_size))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=.02)

    @staticmethod
    def _relative_index(window_size: int) -> torch.Tensor:
        """(N, N) int64 row index into the bias table for the offset (dy, dx) of token i relative to token j."""
        ys, xs = torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing='ij')
        ys, xs = ys.flatten(), xs.flatten()
        dy = ys[:, None] - ys[None, :] + window_size - 1
        dx = xs[:, None] - xs[None, :] + window_size - 1
        return dy * (2 * window_size - 1) + dx

    def relative_position_bias(self) -> torch.Tensor:
        """(num_heads, N, N) bias added to the attention logits of every window."""
        n = self.window_size * self.window_size
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        return bias.permute(2, 0, 1)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Attend within each window.

        Args:
            x: (B * nW, N, C) window tokens.
            mask: Optional (nW, N, N) additive mask (0 / -100) for shifted windows.

        Returns:
            (B * nW, N, C).
        """
        b_, n, c = x.shape
        heads = self.num_heads
        q, k, v = self.qkv(x).reshape(b_, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1) + self.relative_position_bias().unsqueeze(0)
        if mask is not None:
            num_windows = mask.shape[0]
            attn = attn.view(b_ // num_windows, num_windows, heads, n, n) + mask[None, :, None]
            attn = attn.view(b_, heads, n, n)
        attn = self.attn_drop(attn.softmax(dim=-1))
        x = (attn @ v).transpose(1, 2).reshape(b_, n, c)
        return self.proj_drop(self.proj(x))

    def extra_repr(self) -> str:
        return f'dim={self.dim}, window_size={self.window_size}, num_heads={self.num_heads}'


class HDRTLocalContext(nn.Module):
    """Local context extractor: conv1x1 (C -> C/r) -> conv3x3 -> conv1x1 (C/r -> C) -> LeakyReLU(0.2), then SE-style
    channel attention (global average pool -> Linear -> ReLU -> Linear -> sigmoid) scaling the channels.

    Args:
        dim: Channels C.
        reduction: Channel reduction r of the bottleneck and of the channel attention.
    """

    def __init__(self, dim: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = dim // reduction
        self.conv = nn.Sequential(
            nn.Conv2d(dim, hidden, 1), nn.Conv2d(hidden, hidden, 3, padding=1), nn.Conv2d(hidden, dim, 1),
            nn.LeakyReLU(0.2))
        self.fc = nn.Sequential(
            nn.Linear(dim, hidden, bias=False), nn.ReLU(), nn.Linear(hidden, dim, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        x = self.conv(x)
        weights = self.fc(x.mean(dim=(2, 3)))
        return x * weights[:, :, None, None]


class HDRTContextAwareLayer(nn.Module):
    """One CA-ViT layer: (shifted-)window attention and MLP residual branches plus a local context branch.

    ``x = x + attn(norm1(x)); x = x + mlp(norm2(x)); x = x + lce(norm1(x) as an image)``. With
    ``local_context=False`` the last branch (and the ``lce`` module) is absent: a plain Swin Transformer layer, as in
    SwinIR-derived networks (SCTNet).

    Args:
        dim: Channels C.
        input_resolution: (H, W) the layer is built for (the network's ``img_size``). As in the official code, if
            min(H, W) <= window_size, the window shrinks to min(H, W) and shifting is disabled; the ``attn_mask``
            buffer is computed for this size.
        num_heads: Attention heads.
        window_size: Window side length.
        shift_size: Cyclic shift (0 for plain window attention).
        mlp_ratio: MLP hidden size / C.
        qkv_bias: Bias in the q/k/v projection.
        qk_scale: Attention logit scale override.
        drop: Dropout after the attention projection and in the MLP.
        attn_drop: Dropout on attention weights.
        drop_path: Stochastic depth probability of the two transformer branches.
        norm_layer: Normalisation class for tokens.
        mask_cache: Shared mask cache; a private one is made when ``None``.
        local_context: Add the local context extractor branch (HDR-Transformer); ``False`` gives a Swin layer.
    """

    def __init__(self,
                 dim: int,
                 input_resolution: Tuple[int, int],
                 num_heads: int,
                 window_size: int = 8,
                 shift_size: int = 0,
                 mlp_ratio: float = 2.,
                 qkv_bias: bool = True,
                 qk_scale: Optional[float] = None,
                 drop: float = 0.,
                 attn_drop: float = 0.,
                 drop_path: float = 0.,
                 norm_layer: Type[nn.Module] = nn.LayerNorm,
                 mask_cache: Optional[HDRTShiftMaskCache] = None,
                 local_context: bool = True) -> None:
        super().__init__()
        self.dim = dim
        self.input_resolution = tuple(input_resolution)
        if min(self.input_resolution) <= window_size:  # one window covers the map: nothing to shift
            window_size, shift_size = min(self.input_resolution), 0
        if not 0 <= shift_size < window_size:
            raise ValueError(f'shift_size must be in [0, window_size={window_size}), got {shift_size}')
        self.window_size = window_size
        self.shift_size = shift_size
        self.mask_cache = mask_cache if mask_cache is not None else HDRTShiftMaskCache()

        self.norm1 = norm_layer(dim)
        self.attn = HDRTWindowAttention(dim, window_size, num_heads, qkv_bias, qk_scale, attn_drop, drop)
        self.drop_path = HDRTDropPath(drop_path)
        self.norm2 = norm_layer(dim)
        self.mlp = HDRTMlp(dim, int(dim * mlp_ratio), drop)
        if shift_size > 0:  # kept only so state dicts match the official module key-for-key
            self.register_buffer('attn_mask', shifted_window_mask(*self.input_resolution, window_size, shift_size))
        self.lce = HDRTLocalContext(dim) if local_context else None
        self.register_load_state_dict_pre_hook(_HDRTDerivedMaskHook())

    def _attention(self, x: torch.Tensor) -> torch.Tensor:
        """(Shifted-)window attention on a (B, H, W, C) map; returns (B, H, W, C)."""
        _, h, w, c = x.shape
        shift, ws = self.shift_size, self.window_size
        mask = None
        if shift > 0:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
            mask = self.mask_cache.get(h, w, ws, shift, x.device, x.dtype)
        x = window_merge(self.attn(window_split(x, ws), mask=mask), ws, h, w)
        if shift > 0:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
        return x

    def forward(self, x: torch.Tensor, x_size: Tuple[int, int]) -> torch.Tensor:
        """Apply the layer.

        Args:
            x: (B, H*W, C) tokens in row-major order.
            x_size: (H, W), multiples of the window size.

        Returns:
            (B, H*W, C).
        """
        h, w = x_size
        b, length, c = x.shape
        normed = self.norm1(x).view(b, h, w, c)
        local = self.lce(normed.permute(0, 3, 1, 2)) if self.lce is not None else None
        x = x + self.drop_path(self._attention(normed).reshape(b, length, c))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x if local is None else x + local.flatten(2).transpose(1, 2)

    def extra_repr(self) -> str:
        return (f'dim={self.dim}, input_resolution={self.input_resolution}, window_size={self.window_size}, '
                f'shift_size={self.shift_size}')


class _HDRTDerivedMaskHook:
    """``load_state_dict`` pre-hook: ``attn_mask`` entries are derived data, so a layer keeps its own.

    A missing entry or one for another input size is replaced by the layer's current mask (so ``strict=True``
    passes); a stray entry for an unshifted layer is dropped. The caller's dict is not modified (``load_state_dict``
    works on a shallow copy).
    """

    def __call__(self, module: HDRTContextAwareLayer, state_dict: dict, prefix: str, *args) -> None:
        key = prefix + 'attn_mask'
        own = getattr(module, 'attn_mask', None)
        if own is None:
            state_dict.pop(key, None)
        else:
            state_dict[key] = own


class HDRTResidualGroup(nn.Module):
    """A stack of CA-ViT layers alternating window (even index) and shifted-window (odd index) attention."""

    def __init__(self,
                 dim: int,
                 input_resolution: Tuple[int, int],
                 depth: int,
                 num_heads: int,
                 window_size: int,
                 drop_path: Sequence[float],
                 use_checkpoint: bool = False,
                 **layer_kwargs) -> None:
        super().__init__()
        self.use_checkpoint = use_checkpoint
        self.blocks = nn.ModuleList([
            HDRTContextAwareLayer(
                dim,
                input_resolution,
                num_heads,
                window_size,
                shift_size=0 if i % 2 == 0 else window_size // 2,
                drop_path=drop_path[i],
                **layer_kwargs) for i in range(depth)
        ])

    def forward(self, x: torch.Tensor, x_size: Tuple[int, int]) -> torch.Tensor:
        """(B, H*W, C) -> (B, H*W, C)."""
        for block in self.blocks:
            if self.use_checkpoint and self.training:
                x = torch_checkpoint.checkpoint(block, x, x_size, use_reentrant=False)
            else:
                x = block(x, x_size)
        return x


def residual_conv(dim: int, resi_connection: str, dilation: int) -> nn.Module:
    """3x3 conv (or the cheaper '3conv' bottleneck) closing a residual group, with the given dilation."""
    if resi_connection == '1conv':
        return nn.Conv2d(dim, dim, 3, padding=dilation, dilation=dilation)
    if resi_connection == '3conv':
        return nn.Sequential(
            nn.Conv2d(dim, dim // 4, 3, padding=dilation, dilation=dilation), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(dim // 4, dim // 4, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(dim // 4, dim, 3, padding=dilation, dilation=dilation))
    raise ValueError(f"resi_connection must be '1conv' or '3conv', got {resi_connection!r}")


def build_transformer_blocks(block_class: Type[nn.Module], dim: int, depths: Sequence[int], num_heads: Sequence[int],
                             drop_path_rate: float, **block_kwargs) -> nn.ModuleList:
    """One ``block_class(dim, depth=, num_heads=, drop_path=, **block_kwargs)`` per entry of ``depths``, with
    stochastic depth rising linearly from 0 to ``drop_path_rate`` over all their layers (the Swin/SwinIR rule)."""
    rates: List[float] = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
    starts = [sum(depths[:i]) for i in range(len(depths))]
    return nn.ModuleList([
        block_class(dim, depth=depth, num_heads=heads, drop_path=rates[start:start + depth], **block_kwargs)
        for depth, heads, start in zip(depths, num_heads, starts)
    ])


class HDRTContextAwareBlock(nn.Module):
    """Context-aware transformer block (CTB): residual group -> dilated 3x3 conv -> + input."""

    def __init__(self, dim: int, resi_connection: str = '1conv', **group_kwargs) -> None:
        super().__init__()
        self.residual_group = HDRTResidualGroup(dim=dim, **group_kwargs)
        self.dilated_conv = residual_conv(dim, resi_connection, dilation=2)

    def forward(self, x: torch.Tensor, x_size: Tuple[int, int]) -> torch.Tensor:
        """(B, H*W, C) -> (B, H*W, C)."""
        res = tokens_to_map(self.residual_group(x, x_size), x_size)
        return self.dilated_conv(res).flatten(2).transpose(1, 2) + x


class HDRTTokenEmbed(nn.Module):
    """(B, C, H, W) map -> (B, H*W, C) tokens, optionally normalised (the official ``patch_embed`` with patch 1)."""

    def __init__(self, dim: int, norm_layer: Optional[Type[nn.Module]] = None) -> None:
        super().__init__()
        self.norm = norm_layer(dim) if norm_layer is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(2).transpose(1, 2)
        return self.norm(x) if self.norm is not None else x


def tokens_to_map(x: torch.Tensor, x_size: Tuple[int, int]) -> torch.Tensor:
    """(B, H*W, C) tokens -> (B, C, H, W) map."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], x_size[0], x_size[1])


class HDRTSpatialAttention(nn.Module):
    """Attention map of a non-reference frame: sigmoid(conv3x3(LeakyReLU(conv3x3(concat(f_i, f_ref))))).

    Returns (B, C, H, W) weights in (0, 1) for ``f_i``.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.att1 = nn.Conv2d(dim * 2, dim * 2, 3, padding=1)
        self.att2 = nn.Conv2d(dim * 2, dim, 3, padding=1)
        self.relu = nn.LeakyReLU()  # default slope 0.01, as the official module

    def forward(self, feat: torch.Tensor, feat_ref: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.att2(self.relu(self.att1(torch.cat((feat, feat_ref), dim=1)))))


# ----------------------------------------------------------------------------------------------------------------------
# The network
# ----------------------------------------------------------------------------------------------------------------------
@ARCH_REGISTRY.register()
class HDRTransformer(nn.Module):
    """HDR-Transformer: three LDR exposures -> tone-unmapped HDR image, with the official parameter layout.

    The defaults are the published configuration (1,222,113 parameters). Frames are given as three tensors
    (short, reference, long) of shape (B, in_chans, H, W), each ``concat(L**2.2 / t, L)`` with L in [0, 1].

    Args:
        img_size: Training patch size; only sets the ``attn_mask`` buffers (and ``absolute_pos_embed``) that the
            official state dict contains. Inputs of any size are accepted.
        patch_size: Must be 1 (the official network has no patch projection).
        in_chans: Channels per frame.
        embed_dim: Feature channels C.
        depths: CA-ViT layers per CTB.
        num_heads: Attention heads per CTB.
        window_size: Attention window side length; inputs are padded to a multiple of it.
        mlp_ratio: MLP hidden size / C (the paper's model uses 2; the official constructor default is 4).
        qkv_bias: Bias in the q/k/v projections.
        qk_scale: Attention logit scale override (``None``: head_dim ** -0.5).
        drop_rate: Dropout after attention/MLP projections and on the embedded tokens.
        attn_drop_rate: Dropout on attention weights.
        drop_path_rate: Largest stochastic-depth probability (linearly increasing over all layers).
        norm_layer: Token normalisation class.
        ape: Learned absolute position embedding (then inputs must be ``img_size`` after padding).
        patch_norm: LayerNorm on the embedded tokens.
        use_checkpoint: Gradient checkpointing of every CA-ViT layer in training.
        resi_connection: '1conv' or '3conv' for the convs closing each CTB and the body.
        pad_mode: How ``forward`` pads inputs to the window multiple (see
            :func:`basicsr_skt.utils.padding.pad_to_multiple`; reflect falls back to replicate on tiny inputs).
        out_chans: Output channels (3 for BGR HDR; 4 for packed RGGB RAW, see ``BracketIRERawDataset``).
    """

    def __init__(self,
                 img_size: Union[int, Tuple[int, int]] = 128,
                 patch_size: int = 1,
                 in_chans: int = 6,
                 embed_dim: int = 60,
                 depths: Sequence[int] = (6, 6, 6),
                 num_heads: Sequence[int] = (6, 6, 6),
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
                 pad_mode: str = 'reflect',
                 out_chans: int = 3) -> None:
        super().__init__()
        if patch_size != 1:
            raise ValueError(f'HDRTransformer works on pixels: patch_size must be 1, got {patch_size}')
        if len(depths) != len(num_heads):
            raise ValueError(f'depths {tuple(depths)} and num_heads {tuple(num_heads)} differ in length')
        check_heads_divide('HDRTransformer', embed_dim, 'embed_dim', num_heads, 'num_heads')
        self.img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.embed_dim = embed_dim
        self.ape = ape
        self.pad_mode = pad_mode
        # Layers shrink their window to min(img_size) when it is smaller (official behaviour).
        self.window_size = min(window_size, min(self.img_size))
        self.mask_cache = HDRTShiftMaskCache()

        # 1. Feature extraction with spatial attention of the short (h) and long (l) frames w.r.t. the reference.
        self.conv_f1 = nn.Conv2d(in_chans, embed_dim, 3, padding=1)
        self.conv_f2 = nn.Conv2d(in_chans, embed_dim, 3, padding=1)
        self.conv_f3 = nn.Conv2d(in_chans, embed_dim, 3, padding=1)
        self.att_module_l = HDRTSpatialAttention(embed_dim)
        self.att_module_h = HDRTSpatialAttention(embed_dim)
        self.conv_first = nn.Conv2d(embed_dim * 3, embed_dim, 3, padding=1)

        # 2. HDR reconstruction: context-aware transformer blocks.
        self.patch_embed = HDRTTokenEmbed(embed_dim, norm_layer if patch_norm else None)
        if ape:
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, self.img_size[0] * self.img_size[1], embed_dim))
            nn.init.trunc_normal_(self.absolute_pos_embed, std=.02)
        self.pos_drop = nn.Dropout(drop_rate)
        self.layers = self._build_blocks(depths, num_heads, window_size, mlp_ratio, qkv_bias, qk_scale, drop_rate,
                                         attn_drop_rate, drop_path_rate, norm_layer, use_checkpoint, resi_connection)
        self.norm = norm_layer(embed_dim)
        self.conv_after_body = residual_conv(embed_dim, resi_connection, dilation=1)
        self.conv_last = nn.Conv2d(embed_dim, out_chans, 3, padding=1)
        self.apply(self._init_weights)

    def _build_blocks(self, depths: Sequence[int], num_heads: Sequence[int], window_size: int, mlp_ratio: float,
                      qkv_bias: bool, qk_scale: Optional[float], drop_rate: float, attn_drop_rate: float,
                      drop_path_rate: float, norm_layer: Type[nn.Module], use_checkpoint: bool,
                      resi_connection: str) -> nn.ModuleList:
        """Create the CTBs with stochastic depth rising linearly from 0 to ``drop_path_rate`` over all layers."""
        return build_transformer_blocks(
            HDRTContextAwareBlock,
            self.embed_dim,
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

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        """Official initialisation: truncated normal (std 0.02) Linear weights, zero biases, unit LayerNorm."""
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def no_weight_decay(self) -> set:
        """Parameter names excluded from weight decay (as the official module)."""
        return {'absolute_pos_embed'}

    def no_weight_decay_keywords(self) -> set:
        """Parameter-name fragments excluded from weight decay (as the official module)."""
        return {'relative_position_bias_table'}

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Transformer body: (B, C, H, W) -> LayerNormed (B, C, H, W); H, W multiples of the window size."""
        x_size = (x.shape[2], x.shape[3])
        x = self.patch_embed(x)
        if self.ape:
            if x_size != self.img_size:
                raise ValueError(f'ape=True needs inputs of img_size {self.img_size} (after padding), got {x_size}')
            x = x + self.absolute_pos_embed
        x = self.pos_drop(x)
        for layer in self.layers:
            x = layer(x, x_size)
        return tokens_to_map(self.norm(x), x_size)

    def forward_aligned(self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
        """The official forward pass, for frames whose H and W are multiples of :attr:`window_size`.

        Args:
            x1: Short exposure (B, in_chans, H, W).
            x2: Reference (middle) exposure, same shape.
            x3: Long exposure, same shape.

        Returns:
            (B, 3, H, W) HDR estimate in [0, 1] (linear, BGR if the inputs are BGR).

        Raises:
            ValueError: H or W is not a multiple of the window size.
        """
        h, w = x2.shape[-2:]
        if h % self.window_size or w % self.window_size:
            raise ValueError(f'forward_aligned needs H, W multiples of {self.window_size}, got {(h, w)}; '
                             'use forward() to pad automatically')
        f1, f2, f3 = self.conv_f1(x1), self.conv_f2(x2), self.conv_f3(x3)
        f1 = f1 * self.att_module_h(f1, f2)
        f3 = f3 * self.att_module_l(f3, f2)
        x = self.conv_first(torch.cat((f1, f2, f3), dim=1))
        res = self.conv_after_body(self.forward_features(x) + x)
        return torch.sigmoid(self.conv_last(f2 + res))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
        """Merge three exposures of any size.

        Frames are padded at the bottom/right to multiples of the window size (``pad_mode``, reflect by default),
        passed through :meth:`forward_aligned`, and the output is cropped back.

        Args:
            x1: Short exposure (B, in_chans, H, W): ``concat(L**2.2 / t, L)``, L in [0, 1].
            x2: Reference (middle) exposure, same shape.
            x3: Long exposure, same shape.

        Returns:
            (B, 3, H, W) HDR estimate in [0, 1].
        """
        frames = [pad_to_multiple(x, self.window_size, self.pad_mode)[0] for x in (x1, x2, x3)]
        h, w = x2.shape[-2:]
        return crop_to(self.forward_aligned(*frames), h, w)

    def shift_masks(self) -> Dict[str, torch.Tensor]:
        """The ``attn_mask`` buffers (for ``img_size``) by state-dict key; derived data, ignored when loading."""
        return {name: buf for name, buf in self.named_buffers() if name.endswith('attn_mask')}
