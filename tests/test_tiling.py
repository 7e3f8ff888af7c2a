"""Overlapped tiled inference (basicsr_skt.utils.tiling): tile placement, blend weights, tiled == whole image."""
import numpy as np
import pytest
import torch
from helpers import TINY_HDRT
from torch import nn

from basicsr.archs import build_network
from basicsr_skt.inference.orm import run_orm
from basicsr_skt.metrics.hdr_metrics import calculate_psnr_mu
from basicsr_skt.synthesis.demo_scenes import DemoSceneConfig, render_scene
from basicsr_skt.utils.padding import crop_to, pad_to_multiple
from basicsr_skt.utils.tiling import blend_weights, tile_starts, tiled_forward

RADIUS = 3  # receptive radius of three 3 x 3 convolutions (receptive field 7)


def _scatter_sum(starts, weights: torch.Tensor, length: int) -> torch.Tensor:
    total = torch.zeros(length, dtype=weights.dtype)
    for start, row in zip(starts, weights):
        total[start:start + weights.shape[1]] += row
    return total


def _coverage(starts, tile: int, length: int) -> torch.Tensor:
    count = torch.zeros(length, dtype=torch.int64)
    for start in starts:
        count[start:start + min(tile, length)] += 1
    return count


class _TinyConvNet(nn.Module):
    """Three 3 x 3 convolutions (receptive field 7) on stacked frames: (B, N, C, h, w) -> (B, 3, h, w)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(8, 8, 3, padding=1),
            nn.LeakyReLU(0.2), nn.Conv2d(8, 3, 3, padding=1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.body(frames.flatten(1, 2))


@pytest.fixture(scope='module')
def conv_net() -> _TinyConvNet:
    torch.manual_seed(0)
    return _TinyConvNet(in_channels=2 * 3).eval()


# ----------------------------------------------------------------------------------------------------------------------
# tile_starts
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('length, tile, overlap, align', [(1000, 256, 32, 8), (1500, 512, 64, 8), (100, 64, 16, 1),
                                                          (300, 256, 32, 8), (37, 16, 12, 1), (20, 8, 0, 1),
                                                          (50, 8, 7, 1), (17, 5, 4, 3)])
def test_tile_starts_cover_axis_with_requested_overlap(length, tile, overlap, align):
    starts = tile_starts(length, tile, overlap, align)
    assert starts[0] == 0 and starts[-1] == length - tile
    assert all(b > a for a, b in zip(starts, starts[1:]))
    assert all(a + tile - b >= overlap for a, b in zip(starts, starts[1:]))  # consecutive overlap >= requested
    assert int(_coverage(starts, tile, length).min()) >= 1  # [0, length) fully covered, nothing outside
    if tile - overlap >= align:
        assert all(start % align == 0 for start in starts[:-1])


def test_tile_starts_known_values():
    assert tile_starts(1000, 256, 32, align=8) == [0, 224, 448, 672, 744]
    assert tile_starts(20, 8, 0) == [0, 8, 12]
    assert tile_starts(10, 4, 2) == [0, 2, 4, 6]
    assert tile_starts(256, 256, 32) == [0]
    assert tile_starts(7, 256, 32) == [0]  # shorter than a tile: one piece


# ----------------------------------------------------------------------------------------------------------------------
# blend weights
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('length, tile, overlap', [(1000, 256, 32), (100, 64, 16), (300, 256, 32), (37, 16, 12),
                                                   (20, 8, 0), (50, 8, 7), (10, 4, 3), (9, 16, 4)])
def test_blend_weights_partition_of_unity(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    weights = blend_weights(starts, size, length)
    assert weights.shape == (len(starts), size)
    assert float(weights.min()) >= 0.0 and float(weights.max()) <= 1.0
    torch.testing.assert_close(_scatter_sum(starts, weights, length), torch.ones(length, dtype=torch.float64),
                               rtol=0, atol=1e-12)


def test_blend_weights_known_profile():
    # Two tiles of 64 overlapping by 16 on [0, 112): the cross-fade spans the central 8 pixels of the overlap.
    weights = blend_weights([0, 48], 64, 112)
    left, right = weights[0], weights[1]
    assert torch.equal(left[:52], torch.ones(52, dtype=torch.float64))  # 1 up to a quarter into the overlap
    assert torch.equal(left[60:], torch.zeros(4, dtype=torch.float64))  # 0 in the last quarter (tile edge)
    assert torch.all(left[52:60].diff() < 0)  # a strictly falling raised cosine
    expected = 0.5 - 0.5 * torch.cos(torch.pi * (torch.arange(8, dtype=torch.float64) + 0.5) / 8)
    torch.testing.assert_close(right[4:12], expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(left[52:60] + right[4:12], torch.ones(8, dtype=torch.float64), rtol=0, atol=1e-12)


def test_blend_weights_2d_sum_to_one():
    rows, cols = tile_starts(45, 16, 8), tile_starts(70, 16, 8)
    row_w, col_w = blend_weights(rows, 16, 45), blend_weights(cols, 16, 70)
    total = torch.zeros(45, 70, dtype=torch.float64)
    for top, wy in zip(rows, row_w):
        for left, wx in zip(cols, col_w):
            total[top:top + 16, left:left + 16] += torch.outer(wy, wx)
    torch.testing.assert_close(total, torch.ones_like(total), rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------------------------------------------------
# tiled_forward
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('height, width', [(37, 53), (64, 64), (20, 30), (5, 70), (1, 1), (41, 16)])
def test_identity_run_returns_input_exactly(height, width):
    frames = torch.rand(2, 3, 6, height, width, generator=torch.Generator().manual_seed(height * width))
    output = tiled_forward(lambda tile: tile[:, 1, 3:], frames, tile=16, overlap=6, pad_multiple=1)
    assert torch.equal(output, frames[:, 1, 3:])


def test_any_channel_count_when_out_channels_is_none():
    """A RAW ORM's 4 packed channels: ``out_channels=None`` takes the first tile's count (run_orm passes it on)."""
    frames = torch.rand(1, 3, 6, 37, 53, generator=torch.Generator().manual_seed(4))
    output = tiled_forward(lambda tile: tile[:, 1, 2:], frames, tile=16, overlap=6, out_channels=None)
    assert torch.equal(output, frames[:, 1, 2:])
    calls = []

    def changing(tile: torch.Tensor) -> torch.Tensor:  # 4 channels on the first tile, 6 afterwards
        calls.append(1)
        return tile[:, 1, 2:] if len(calls) == 1 else tile[:, 1]

    with pytest.raises(ValueError, match='to \\(B, out_channels, h, w\\)'):
        tiled_forward(changing, frames, tile=16, overlap=6, out_channels=None)

    class FourChannels(torch.nn.Module):

        def forward(self, *frames: torch.Tensor) -> torch.Tensor:
            return frames[1][:, 2:]

    torch.testing.assert_close(run_orm(FourChannels(), frames, 1, 16, 6, out_channels=None), frames[:, 1, 2:],
                               rtol=0, atol=0)


def test_identity_run_with_padding_returns_input_exactly():
    frames = torch.rand(1, 3, 6, 29, 43, generator=torch.Generator().manual_seed(1))

    def run(tile: torch.Tensor) -> torch.Tensor:
        assert tile.shape[-2] % 8 == 0 and tile.shape[-1] % 8 == 0
        return tile[:, 0, :3]

    assert torch.equal(tiled_forward(run, frames, tile=20, overlap=8, pad_multiple=8), frames[:, 0, :3])


@pytest.mark.parametrize('height, width', [(37, 53), (64, 64), (45, 70), (20, 30), (13, 90)])
@pytest.mark.parametrize('tile, overlap', [(24, 12), (32, 16)])
def test_local_network_tiled_equals_whole(conv_net, height, width, tile, overlap):
    assert overlap >= 4 * RADIUS
    frames = torch.rand(2, 2, 3, height, width, generator=torch.Generator().manual_seed(height + width))
    with torch.no_grad():
        whole = conv_net(frames)
        tiled = tiled_forward(conv_net, frames, tile=tile, overlap=overlap)
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-5)


def test_local_network_small_overlap_is_not_exact(conv_net):
    """Sensitivity check of the equivalence test: without enough overlap tile edges leak into the result."""
    frames = torch.rand(1, 2, 3, 40, 40, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        difference = (tiled_forward(conv_net, frames, tile=16, overlap=4) - conv_net(frames)).abs().max()
    assert float(difference) > 1e-3


@pytest.mark.parametrize('height, width', [(64, 80), (20, 30)])
def test_padded_tiles_match_padded_whole_image(conv_net, height, width):
    """pad_multiple: ``run`` only sees multiples of 8; tiles of a multiple-of-8 size need no padding at all."""
    frames = torch.rand(1, 2, 3, height, width, generator=torch.Generator().manual_seed(5))
    seen = []

    def run(tile: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(tile.shape[-2:]))
        return conv_net(tile)

    with torch.no_grad():
        tiled = tiled_forward(run, frames, tile=32, overlap=16, pad_multiple=8)
        padded, _ = pad_to_multiple(frames, 8)
        whole = crop_to(conv_net(padded), height, width)  # what HDRModel.infer does for a small image
    assert all(h % 8 == 0 and w % 8 == 0 for h, w in seen)
    if min(height, width) >= 32:
        whole = conv_net(frames)  # all tiles are 32 x 32: no padding anywhere
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-5)


def test_accumulator_dtype_and_device():
    frames = torch.rand(1, 1, 3, 20, 20, dtype=torch.float64)
    output = tiled_forward(lambda tile: tile[:, 0], frames, tile=8, overlap=4)
    assert output.dtype == torch.float64 and output.device == frames.device
    half = tiled_forward(lambda tile: tile[:, 0].half(), frames.float(), tile=8, overlap=4)
    assert half.dtype == torch.float32


@pytest.mark.parametrize('kwargs, message', [
    (dict(tile=0, overlap=0), 'tile must be >= 1'),
    (dict(tile=16, overlap=16), 'overlap must be smaller than tile'),
    (dict(tile=16, overlap=20), 'overlap must be smaller than tile'),
    (dict(tile=16, overlap=-1), 'overlap must be >= 0'),
    (dict(tile=16.0, overlap=4), 'tile must be an integer'),
    (dict(tile=16, overlap=4, pad_multiple=0), 'pad_multiple must be >= 1'),
    (dict(tile=16, overlap=4, out_channels=0), 'out_channels must be >= 1'),
])
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiled_forward(lambda tile: tile[:, 0], torch.zeros(1, 1, 3, 8, 8), **kwargs)


def test_bad_frames_and_run_output_raise():
    with pytest.raises(ValueError, match=r'\(B, N, C, H, W\)'):
        tiled_forward(lambda tile: tile, torch.zeros(1, 3, 8, 8), tile=4, overlap=2)
    with pytest.raises(ValueError, match='run must map'):
        tiled_forward(lambda tile: tile[:, 0, :1], torch.zeros(1, 1, 3, 8, 8), tile=4, overlap=2)
    with pytest.raises(ValueError, match='overlap must be smaller than tile'):
        tile_starts(10, 4, 4)
    with pytest.raises(ValueError, match='length must be >= 1'):
        tile_starts(0, 4, 1)
    with pytest.raises(ValueError, match='do not span'):
        blend_weights([0, 4], 4, 10)
    with pytest.raises(ValueError, match='leave no gaps'):
        blend_weights([0, 5, 6], 4, 10)


# ----------------------------------------------------------------------------------------------------------------------
# HDR-Transformer: global context (shifted windows, SE pooling) makes tiling approximate; the error must stay tiny.
# ----------------------------------------------------------------------------------------------------------------------
def _scene_frames(height: int, width: int):
    scene = render_scene(np.random.default_rng(0), DemoSceneConfig(height=height, width=width))
    frames = []
    for frame, ev in zip(scene.frames, scene.evs):
        ldr = torch.from_numpy(frame.astype(np.float32) / 65535).permute(2, 0, 1)
        frames.append(torch.cat([ldr**2.2 / 2**ev, ldr]))
    return torch.stack(frames)[None], torch.from_numpy(scene.gt).permute(2, 0, 1)


def test_hdr_transformer_tiled_close_to_whole():
    torch.manual_seed(0)
    net = build_network(dict(TINY_HDRT)).eval()
    frames, gt = _scene_frames(64, 96)  # multiples of the window: the whole image needs no padding either

    def run(tile: torch.Tensor) -> torch.Tensor:
        return net(*tile.unbind(1))

    with torch.no_grad():
        whole = run(frames)
        tiled = tiled_forward(run, frames, tile=48, overlap=16, pad_multiple=8)
    # Measured: max |difference| 1.0e-3, PSNR-mu(tiled vs whole) 98.6 dB, PSNR-mu vs GT changes by < 0.001 dB.
    assert float((tiled - whole).abs().max()) < 1e-2
    assert calculate_psnr_mu(tiled[0], whole[0]) > 80
    assert abs(calculate_psnr_mu(tiled[0], gt) - calculate_psnr_mu(whole[0], gt)) < 0.01
