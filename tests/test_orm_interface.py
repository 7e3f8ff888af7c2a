"""The ORM interface: any registered HDR arch that takes frames as separate arguments trains with SKT.

A toy ORM defined in this file (registered in BasicSR's registry on import), tiny AHDRNet and tiny SCTNet each run
2 SKT iterations through the real entry point (``basicsr_skt.train.main``, i.e. BasicSR's ``train_pipeline``),
in-process so that the toy arch registered here is visible to ``build_network``.
"""
import copy
import logging
import math
import os
import os.path as osp
import re
import sys
from typing import Dict, List

import pytest
import torch
from helpers import (OPTIONS_DIR, TINY_AHDRNET, TINY_SCTNET, add_fake_priors, dump_yaml, load_yaml, make_tiny_demo,
                     tiny_train_options)
from torch import nn

from basicsr.archs import build_network
from basicsr.models import build_model
from basicsr.utils.registry import ARCH_REGISTRY
from basicsr_skt import train as train_entry
from basicsr_skt.utils.feature_tap import FeatureTap


@ARCH_REGISTRY.register()
class ORMInterfaceToyNet(nn.Module):
    """The smallest ORM: concat(frames) -> conv -> ReLU -> conv (``body``, the SKAM tap) -> ReLU -> conv -> sigmoid.

    Args:
        in_chans: Channels per frame (6: [L**2.2 / t, L]).
        num_frames: Frames per sample (the reference is the middle one).
        num_feat: Feature channels (what SKAM's ``orm_channels`` must be for the ``body`` tap).
    """

    def __init__(self, in_chans: int = 6, num_frames: int = 3, num_feat: int = 8) -> None:
        super().__init__()
        self.head = nn.Conv2d(in_chans * num_frames, num_feat, 3, padding=1)
        self.body = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.tail = nn.Conv2d(num_feat, 3, 3, padding=1)

    def forward(self, *frames: torch.Tensor) -> torch.Tensor:
        """``num_frames`` tensors (B, in_chans, H, W) -> (B, 3, H, W) linear HDR in (0, 1)."""
        x = torch.relu(self.head(torch.cat(frames, dim=1)))
        return torch.sigmoid(self.tail(torch.relu(self.body(x))))


TOY = {'type': 'ORMInterfaceToyNet', 'num_feat': 8}
#: (network_g, SKAM tap, channels at the tap) of each ORM trained here.
ORMS = {
    'toy': (TOY, 'body', 8),
    'ahdrnet': (TINY_AHDRNET, 'GFF_3x3', TINY_AHDRNET['num_feat']),
    'sctnet': (TINY_SCTNET, 'conv_after_body', TINY_SCTNET['embed_dim']),
}
LOSS_PATTERN = re.compile(r'(l_[a-z_]+): ([-+0-9.e]+)')


@pytest.fixture(scope='module')
def demo_with_priors(tmp_path_factory):
    demo = make_tiny_demo(tmp_path_factory.mktemp('orm_demo'))
    add_fake_priors(demo, channels=512)
    return demo


def tiny_skt_options(demo, name: str, network: dict, tap: str, channels: int) -> dict:
    """The SKT demo config (SPGRM teacher, SKAM, content/colour/SKAM distillation) on ``network`` for 2 iterations."""
    opt = load_yaml(OPTIONS_DIR / 'demo' / 'train_demo_skt_hdrtransformer.yml')
    tiny = tiny_train_options(demo, name)
    for key in ('name', 'logger', 'val'):
        opt[key] = tiny[key]
    opt['network_g'] = copy.deepcopy(network)
    opt['datasets']['train'].update(tiny['datasets']['train'], skb=True)
    opt['datasets']['val'] = tiny['datasets']['val']
    opt['train'].update(total_iter=2)
    opt['skt'].update(mode='joint', distill_warmup_iter=1, orm_tap=tap)
    opt['network_skam']['orm_channels'] = channels
    return opt


class _Collect(logging.Handler):

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def train_in_process(opt: dict, root, monkeypatch) -> str:
    """``python -m basicsr_skt.train -opt <opt>`` run in this process (cwd = root); returns everything it logged."""
    config = dump_yaml(opt, root / f'{opt["name"]}.yml')
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, 'argv', ['basicsr_skt.train', '-opt', str(config)])
    logger = logging.getLogger('basicsr')
    handler, level = _Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # an earlier test may have initialised BasicSR's logger without a level
    try:
        train_entry.main()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return '\n'.join(handler.messages)


def logged_losses(log: str) -> Dict[str, List[float]]:
    values: Dict[str, List[float]] = {}
    for name, value in LOSS_PATTERN.findall(log):
        values.setdefault(name, []).append(float(value))
    return values


@pytest.mark.parametrize('orm', list(ORMS))
def test_skt_trains_any_orm_through_the_training_entry(orm, demo_with_priors, tmp_path, monkeypatch):
    network, tap, channels = ORMS[orm]
    name = f'tiny_skt_{orm}'
    log = train_in_process(tiny_skt_options(demo_with_priors, name, network, tap, channels), tmp_path, monkeypatch)

    losses = logged_losses(log)  # one value per iteration (print_freq 1)
    for term in ('l_rec', 'l_t_rec', 'l_content', 'l_colour', 'l_skam'):
        assert len(losses[term]) == 2 and all(math.isfinite(v) and v >= 0 for v in losses[term]), (term, losses)
        assert losses[term][-1] > 0, (term, losses)  # every term is active at iteration 2
    assert 'Validation demo_val @ iter 2' in log

    models = osp.join(tmp_path, 'experiments', name, 'models')
    assert {'net_g_2.pth', 'net_t_2.pth', 'net_skam_2.pth'} <= set(os.listdir(models))
    orm_net = build_network(copy.deepcopy(network))
    saved = torch.load(osp.join(models, 'net_g_2.pth'), weights_only=True)['params']
    orm_net.load_state_dict(saved, strict=True)  # a plain ORM checkpoint: no SKT modules inside
    skam = torch.load(osp.join(models, 'net_skam_2.pth'), weights_only=True)['params']
    assert any(v.dim() == 4 and v.shape[1] == channels for v in skam.values())  # SKAM reads the tap's channels
    with torch.no_grad():
        out = orm_net.eval()(*[torch.rand(1, 6, 16, 24)] * 3)
    assert out.shape == (1, 3, 16, 24) and 0 <= out.min().item() and out.max().item() <= 1


def test_toy_orm_tap_captures_its_named_module():
    torch.manual_seed(0)
    net = build_network(dict(TOY))
    frames = [torch.rand(2, 6, 12, 20) for _ in range(3)]
    tap = FeatureTap(net, 'body')
    with tap:
        net(*frames)
    features = tap.pop()
    expected = net.body(torch.relu(net.head(torch.cat(frames, dim=1))))
    assert torch.allclose(features, expected, atol=1e-6)


def test_unknown_tap_fails_at_build_time_listing_module_names(demo_with_priors, tmp_path):
    opt = tiny_skt_options(demo_with_priors, 'bad_tap', TOY, 'not_a_module', 8)
    opt.update(num_gpu=0, is_train=True, dist=False, rank=0, world_size=1)
    opt['path'] = {'pretrain_network_g': None, 'visualization': str(tmp_path), 'results_root': str(tmp_path)}
    with pytest.raises(KeyError, match=r"not_a_module.*body, head, tail"):
        build_model(opt)


@pytest.mark.parametrize('path', sorted(OPTIONS_DIR.rglob('train_skt_*.yml')), ids=lambda p: p.name)
def test_shipped_skt_configs_tap_the_declared_number_of_channels(path):
    """``network_skam.orm_channels`` equals the channels the full-size ORM emits at ``skt.orm_tap``."""
    opt = load_yaml(path)
    net = build_network(copy.deepcopy(opt['network_g'])).eval()
    tap = FeatureTap(net, opt['skt']['orm_tap'])
    with torch.no_grad(), tap:
        channels = 8 if opt['datasets']['train']['type'] == 'BracketIRERawDataset' else 6  # per frame (RAW: 4 + 4)
        net(*[torch.rand(1, channels, 16, 16)] * 3)
    assert tap.pop().shape[1] == opt['network_skam']['orm_channels']
