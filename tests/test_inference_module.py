"""basicsr_skt.inference: one pad-or-tile path (== HDRModel.infer), one network input, one weights loader, layers."""
import ast
import runpy
import setuptools
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import REPO_ROOT, TINY_HDRT, eval_hdr_model
from torch import nn

from basicsr.archs import build_network
from basicsr_skt.inference import DEFAULT_TILE_OVERLAP, forward_frames, load_weights, predict, run_orm
from basicsr_skt.models.hdr_model import forward_frames as model_forward_frames
from basicsr_skt.models.model_options import ValOptions
from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.hdr_io import ldr_to_linear, network_input


class ToyConvORM(nn.Module):
    """All-convolutional 3-frame ORM (receptive radius 2 px) taking one (B, 6, H, W) tensor per frame."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(18, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(8, 3, 3, padding=1), nn.Sigmoid())

    def forward(self, *frames):
        return self.body(torch.cat(frames, dim=1))


# ----------------------------------------------------------------------------------------------------------------------
# forward_frames / run_orm
# ----------------------------------------------------------------------------------------------------------------------
def test_forward_frames_passes_one_tensor_per_frame():
    lq = torch.arange(2 * 3 * 6 * 2 * 2, dtype=torch.float32).reshape(2, 3, 6, 2, 2)
    seen = []

    def net(*frames):
        seen.extend(frames)
        return frames[1][:, :3]

    out = forward_frames(net, lq)
    assert len(seen) == 3 and all(torch.equal(f, lq[:, i]) for i, f in enumerate(seen))
    assert torch.equal(out, lq[:, 1, :3]) and model_forward_frames is forward_frames  # one definition
    MODEL_TILE_OVERLAP = ValOptions().tile_overlap  # val.tile_overlap's default
    assert DEFAULT_TILE_OVERLAP == MODEL_TILE_OVERLAP == 32


@pytest.mark.parametrize('arch', ['toy', 'hdrt'])
@pytest.mark.parametrize('pad_multiple, tile, overlap', [(1, None, 32), (8, None, 32), (8, 32, 16), (1, 24, 12),
                                                         (4, 40, 8)])
def test_run_orm_equals_hdr_model_infer(tmp_path, arch, pad_multiple, tile, overlap):
    torch.manual_seed(0)
    val = {'pad_multiple': pad_multiple, 'tile_overlap': overlap}
    if tile is not None:
        val['tile'] = tile
    model = eval_hdr_model(tmp_path, **val)
    net = (ToyConvORM() if arch == 'toy' else model.net_g).eval()
    lq = torch.rand(1, 3, 6, 37, 53)  # neither side a multiple of 8: padding and a flush last tile are exercised
    with torch.no_grad():
        expected = model.infer(net, lq)
        got = run_orm(net, lq, pad_multiple, tile, overlap)
    assert got.shape == (1, 3, 37, 53)
    assert torch.equal(got, expected)


def test_run_orm_pads_to_the_multiple_and_crops_back():
    shapes = []

    def net(*frames):
        shapes.append(tuple(frames[0].shape))
        return frames[1][:, 3:]  # the middle frame's LDR part: padding and cropping give the input back

    lq = torch.rand(2, 3, 6, 13, 21)
    out = run_orm(net, lq, pad_multiple=8)
    assert shapes == [(2, 6, 16, 24)] and torch.equal(out, lq[:, 1, 3:])
    assert torch.equal(run_orm(net, lq), lq[:, 1, 3:]) and shapes[-1] == (2, 6, 13, 21)  # pad_multiple 1: as is


def test_run_orm_rejects_a_wrong_output_and_bad_tiles():
    lq = torch.rand(1, 3, 6, 16, 16)
    with pytest.raises(ValueError, match=r'The network returned \(1, 6, 16, 16\); expected a \(B, 3, H, W\) image'):
        run_orm(lambda *frames: frames[0], lq)
    with pytest.raises(ValueError, match='overlap must be smaller than tile'):
        run_orm(ToyConvORM(), lq, tile=8, overlap=8)


def test_predict_is_run_orm_on_one_bracket():
    torch.manual_seed(0)
    net = ToyConvORM().eval()
    lq = torch.rand(3, 6, 30, 44)
    whole = predict(net, lq, torch.device('cpu'), pad_multiple=8)
    assert whole.shape == (3, 30, 44) and not whole.requires_grad
    with torch.no_grad():
        assert torch.equal(whole, run_orm(net, lq[None], 8)[0])
        assert torch.equal(
            predict(net, lq, torch.device('cpu'), 8, tile=24, tile_overlap=12),
            run_orm(net, lq[None], 8, 24, 12)[0])
    assert torch.equal(predict(net, lq, torch.device('cpu'), 8, tile=0), whole)  # tile 0: whole image


# ----------------------------------------------------------------------------------------------------------------------
# network_input
# ----------------------------------------------------------------------------------------------------------------------
def old_network_input(frames, times, gamma):
    """The construction network_input replaces (basicsr_skt/utils/brackets.py before issue 17)."""
    stacked = []
    for frame, t in zip(frames, times):
        ldr = np.asarray(frame, dtype=np.float32)
        linear = ldr_to_linear(ldr, np.float32(t), gamma)
        stacked.append(np.concatenate([linear, ldr], axis=2).transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(stacked))


@pytest.mark.parametrize('gamma', [2.2, 1.0, 2.0])
def test_network_input_equals_the_old_construction(gamma):
    rng = np.random.default_rng(0)
    frames = [rng.random((9, 11, 3), dtype=np.float32) for _ in range(3)]
    times = np.array([1.0, 4.0, 16.0])
    got = network_input(frames, times, gamma)
    assert got.dtype == np.float32 and got.shape == (3, 6, 9, 11) and got.flags.c_contiguous
    np.testing.assert_array_equal(got, old_network_input(frames, times, gamma))
    np.testing.assert_array_equal(network_input(np.stack(frames), times, gamma), got)  # (N, H, W, 3) array too


def test_network_input_known_values_and_integer_frames():
    frame = np.full((2, 3, 3), 0.5, np.float32)
    frame[0, 0] = (0.0, 1.0, 0.25)
    got = network_input([frame, frame], [0.25, 1.0], gamma=2.0)
    assert got[0, :3, 1, 1].tolist() == [1.0, 1.0, 1.0]  # 0.5 ** 2 / 0.25
    assert got[1, :3, 1, 1].tolist() == [0.25, 0.25, 0.25]
    assert got[0, :3, 0, 0].tolist() == [0.0, 4.0, 0.25] and got[0, 3:, 0, 0].tolist() == [0.0, 1.0, 0.25]
    stored8 = np.array([[[0, 255, 51]]], np.uint8)
    stored16 = np.array([[[0, 65535, 13107]]], np.uint16)
    for stored, white in ((stored8, 255), (stored16, 65535)):
        expected = network_input([stored.astype(np.float32) / np.float32(white)], [2.0])  # read_ldr's scaling
        np.testing.assert_array_equal(network_input([stored], [2.0]), expected)
        assert network_input([stored], [2.0])[0, 3:, 0, 0].tolist() == [0.0, 1.0, pytest.approx(0.2)]


def test_network_input_writes_into_out_and_checks_its_arguments():
    frames = [np.full((4, 5, 3), 0.5, np.float32)] * 2
    out = np.zeros((2, 6, 4, 5), np.float32)
    assert network_input(frames, [1.0, 2.0], out=out) is out
    np.testing.assert_array_equal(out, network_input(frames, [1.0, 2.0]))
    with pytest.raises(ValueError, match='float32 array of shape'):
        network_input(frames, [1.0, 2.0], out=np.zeros((2, 6, 5, 4), np.float32))
    with pytest.raises(ValueError, match='2 frames but 3 exposure times'):
        network_input(frames, [1.0, 2.0, 4.0])
    with pytest.raises(ValueError, match='frames of one size'):
        network_input([frames[0], np.zeros((4, 6, 3), np.float32)], [1.0, 2.0])
    with pytest.raises(ValueError, match='uint8 or uint16'):
        network_input([np.zeros((4, 5, 3), np.int32)], [1.0])


# ----------------------------------------------------------------------------------------------------------------------
# load_weights
# ----------------------------------------------------------------------------------------------------------------------
def _weights(value: float) -> dict:
    return {'weight': torch.full((2, 1, 1, 1), value), 'bias': torch.full((2, ), value)}


def _loaded_value(net: nn.Module) -> float:
    return net.weight.detach().flatten()[0].item()


@pytest.fixture()
def checkpoints(tmp_path):
    both, live = tmp_path / 'net_g_both.pth', tmp_path / 'net_g_live.pth'
    torch.save({'params': _weights(1.0), 'params_ema': _weights(2.0)}, both)
    torch.save({'params': _weights(3.0)}, live)
    official = tmp_path / 'official.pth'
    torch.save({'epoch': 7, 'state_dict': {f'module.{k}': v for k, v in _weights(4.0).items()}}, official)
    return {'both': str(both), 'live': str(live), 'official': str(official)}


def test_load_weights_prefers_params_ema_and_honours_the_key(checkpoints):
    net = nn.Conv2d(1, 2, 1)
    for key in ('auto', None):
        load_weights(net, checkpoints['both'], key)
        assert _loaded_value(net) == 2.0  # params_ema
    load_weights(net, checkpoints['both'], 'params')
    assert _loaded_value(net) == 1.0
    load_weights(net, checkpoints['both'])
    assert _loaded_value(net) == 2.0 and net.bias.detach()[1].item() == 2.0
    load_weights(net, checkpoints['live'])
    assert _loaded_value(net) == 3.0  # no params_ema: params
    load_weights(net, checkpoints['official'])
    assert _loaded_value(net) == 4.0  # official {'state_dict': ...} with DataParallel prefixes


def test_load_weights_rejects_bad_files_with_user_errors(tmp_path, checkpoints):
    net = nn.Conv2d(1, 2, 1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    garbage = tmp_path / 'bad.pth'
    garbage.write_bytes(b'garbage')
    with pytest.raises(UserInputError, match=r'Cannot read checkpoint .*bad\.pth: .*bad\.pth holds Python objects'):
        load_weights(net, str(garbage))
    truncated = tmp_path / 'cut.pth'
    truncated.write_bytes(Path(checkpoints['live']).read_bytes()[:100])
    with pytest.raises(
            UserInputError, match=r'Cannot read checkpoint .*cut\.pth: Cannot read weights file .*truncated'):
        load_weights(net, str(truncated))
    with pytest.raises(UserInputError, match=r'absent\.pth: network weights file not found'):
        load_weights(net, str(tmp_path / 'absent.pth'))
    with pytest.raises(UserInputError, match=r"net_g_live\.pth: Checkpoint has no key 'params_ema'"):
        load_weights(net, checkpoints['live'], 'params_ema')
    state = tmp_path / 'training.state'
    torch.save({'iter': 3, 'optimizers': [{'lr': 1e-3}], 'schedulers': []}, state)
    with pytest.raises(UserInputError, match=r'training\.state is not a network checkpoint \(a training state\?\)'):
        load_weights(net, str(state))
    with pytest.raises(UserInputError, match=r"does not fit Conv2d: first mismatching key 'weight'.* \(--arch\)$"):
        load_weights(nn.Conv2d(1, 3, 1), checkpoints['live'], hint=' (--arch)')
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())  # nothing was loaded


def test_load_weights_into_an_hdr_transformer_matches_the_saved_network(tmp_path):
    torch.manual_seed(0)
    saved = build_network(dict(TINY_HDRT))
    torch.save({'params': saved.state_dict()}, tmp_path / 'net_g_1.pth')
    torch.manual_seed(1)
    fresh = build_network(dict(TINY_HDRT))
    load_weights(fresh, str(tmp_path / 'net_g_1.pth'))
    assert all(torch.equal(v, saved.state_dict()[k]) for k, v in fresh.state_dict().items())


# ----------------------------------------------------------------------------------------------------------------------
# Layering (docs/internals.md)
# ----------------------------------------------------------------------------------------------------------------------
def _imported_modules(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _project_imports(folder: str, package: str = 'basicsr_skt'):
    for path in sorted((REPO_ROOT / folder).rglob('*.py')):
        for module in _imported_modules(path):
            if module == package or module.startswith(package + '.'):
                yield path.relative_to(REPO_ROOT).as_posix(), module


def test_utils_and_inference_import_nothing_above_them():
    above_utils = [(p, m) for p, m in _project_imports('basicsr_skt/utils') if not m.startswith('basicsr_skt.utils')]
    assert above_utils == []
    allowed = ('basicsr_skt.utils', 'basicsr_skt.skb', 'basicsr_skt.inference')
    above_inference = [(p, m) for p, m in _project_imports('basicsr_skt/inference') if not m.startswith(allowed)]
    assert above_inference == []


def test_synthesis_sits_on_utils_and_skb_and_training_never_imports_it():
    allowed = ('basicsr_skt.utils', 'basicsr_skt.skb', 'basicsr_skt.synthesis')
    above = [(p, m) for p, m in _project_imports('basicsr_skt/synthesis') if not m.startswith(allowed)]
    assert above == []
    # evidence_data.py is the evidence experiment's data recipe, not a dataset: it leaves data/ for research/
    readers = [(p, m) for folder in ('basicsr_skt/data', 'basicsr_skt/models', 'basicsr_skt/archs',
                                     'basicsr_skt/losses', 'basicsr_skt/metrics', 'basicsr_skt/inference')
               for p, m in _project_imports(folder)
               if m.startswith('basicsr_skt.synthesis') and p != 'basicsr_skt/data/evidence_data.py']
    assert readers == []


def test_skb_sits_on_utils_and_only_its_extraction_run_reaches_above():
    """``skb/extract.py`` (the offline extraction over a dataset) is the one skb module above ``data/`` and
    ``inference/``; nothing in the library imports it, so the datasets' use of ``skb/`` makes no circle."""
    extract = 'basicsr_skt/skb/extract.py'
    allowed = ('basicsr_skt.utils', 'basicsr_skt.skb')
    above = [(p, m) for p, m in _project_imports('basicsr_skt/skb') if p != extract and not m.startswith(allowed)]
    assert above == []
    users = [(p, m) for p, m in _project_imports('basicsr_skt') if m == 'basicsr_skt.skb.extract']
    assert users == []
    reached = {m for p, m in _project_imports('basicsr_skt/skb') if p == extract}
    above = ('basicsr_skt.models', 'basicsr_skt.synthesis', 'basicsr_skt.reporting')
    assert not [m for m in reached if m.startswith(above)]


def test_scripts_and_benchmarks_do_not_import_models():
    users = [(p, m) for folder in ('scripts', 'benchmarks') for p, m in _project_imports(folder)
             if m.startswith('basicsr_skt.models')]
    assert users == []


def test_nothing_in_the_product_imports_research():
    """research/ (experiments, README there) may import the library; the library, scripts and benchmarks never import
    research, and the wheel does not ship it."""
    product = ('basicsr_skt', 'scripts', 'benchmarks')
    users = [(p, m) for folder in product for p, m in _project_imports(folder, 'research')]
    assert users == []
    assert [m for _, m in _project_imports('research')]  # the rule is not vacuous: research uses the library


def test_the_wheel_ships_the_library_only(monkeypatch):
    """setup.py's package list (its ``setup`` call captured): basicsr_skt and its subpackages, never research."""
    captured = {}
    monkeypatch.setattr(setuptools, 'setup', lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(REPO_ROOT)
    runpy.run_path(str(REPO_ROOT / 'setup.py'))
    packages = captured['packages']
    assert {'basicsr_skt', 'basicsr_skt.skb', 'basicsr_skt.models'} <= set(packages)
    assert [p for p in packages if p.split('.')[0] != 'basicsr_skt'] == []


def test_run_orm_checks_the_channel_count_only_when_asked():
    """A RAW ORM returns 4 packed Bayer planes: validation runs it with ``out_channels=None``; a 3-D output is never
    accepted."""
    lq = torch.rand(1, 3, 8, 12, 10)
    planes = run_orm(lambda *frames: frames[1][:, :4], lq, pad_multiple=8, out_channels=None)
    assert torch.equal(planes, lq[:, 1, :4])
    with pytest.raises(ValueError, match=r'expected a \(B, 3, H, W\) image'):
        run_orm(lambda *frames: frames[1][:, :4], lq)
    with pytest.raises(ValueError, match=r'expected a \(B, C, H, W\) image'):
        run_orm(lambda *frames: frames[1][0], lq, out_channels=None)
