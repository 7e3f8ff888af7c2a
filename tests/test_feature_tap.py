"""FeatureTap: reads a named ORM module's output with a forward hook, only while enabled, and can be removed."""
import pytest
import torch
from helpers import TINY_HDRT

from basicsr.archs import build_network
from basicsr_skt.utils.feature_tap import FeatureTap


def frames(size=16):
    torch.manual_seed(0)
    return [torch.rand(1, 6, size, size) for _ in range(3)]


def test_tap_captures_the_named_module_output_inside_the_block_only():
    net = build_network(dict(TINY_HDRT)).eval()
    expected = {}
    net.conv_after_body.register_forward_hook(lambda m, i, o: expected.update(out=o))
    tap = FeatureTap(net, 'conv_after_body')
    with torch.no_grad():
        net(*frames())  # outside the block: nothing kept
        assert tap.features is None
        with tap:
            out = net(*frames())
    captured = tap.pop()
    assert captured is expected['out'] and captured.shape == (1, TINY_HDRT['embed_dim'], 16, 16)
    assert out.shape == (1, 3, 16, 16)
    with pytest.raises(RuntimeError, match='captured nothing'):
        tap.pop()


def test_tap_removal_detaches_the_hook():
    net = build_network(dict(TINY_HDRT)).eval()
    tap = FeatureTap(net, 'conv_after_body')
    tap.remove()
    assert len(net.conv_after_body._forward_hooks) == 0
    with torch.no_grad(), tap:
        net(*frames())
    assert tap.features is None


def test_unknown_tap_lists_available_module_names():
    net = build_network(dict(TINY_HDRT))
    with pytest.raises(KeyError) as err:
        FeatureTap(net, 'conv_after_bodyy')
    assert 'conv_after_body' in str(err.value) and 'conv_last' in str(err.value)
    with pytest.raises(KeyError):
        FeatureTap(net, '')
