"""Checkpoints that do not fit or are not safe: another architecture, missing / unexpected keys, pickled code, truncated
network files on resume; each named with the fix. Rows in ``docs/bad-inputs.md``.
"""
import copy
import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from helpers import TINY_HDRT, load_script

from basicsr.archs import build_network
from basicsr_skt import compat
from basicsr_skt.skb import extract
from basicsr_skt.utils.checkpoint import check_state_dict_fits, load_state_dict_file


def test_checkpoint_of_another_architecture_names_the_first_mismatching_key():
    net = build_network(dict(TINY_HDRT))
    wider = build_network(dict(TINY_HDRT, embed_dim=18)).state_dict()
    with pytest.raises(RuntimeError) as err:
        check_state_dict_fits(net, wider, what='pretrain_network_g net_g_5.pth')
    message = str(err.value)
    first_key = next(iter(net.state_dict()))
    assert message.startswith(f"pretrain_network_g net_g_5.pth does not fit HDRTransformer: first mismatching key "
                              f"'{first_key}' (shape (18, 6, 3, 3) in the checkpoint, (12, 6, 3, 3) in the network)")
    num_shapes = sum(v.shape != wider[k].shape for k, v in net.state_dict().items() if k in wider)
    assert f'0 missing, 0 unexpected, {num_shapes} of another shape' in message and 'embed_dim' in message


def test_checkpoint_with_missing_and_unexpected_keys():
    net = build_network(dict(TINY_HDRT))
    state = dict(net.state_dict())
    own_keys = list(state)
    del state[own_keys[3]]
    state['head.extra.weight'] = torch.zeros(2)
    with pytest.raises(
            RuntimeError,
            match=rf"first mismatching key '{own_keys[3]}' \(in the network, missing from "
            r'the checkpoint\); 1 missing, 1 unexpected, 0 of another shape'):
        check_state_dict_fits(net, state)
    assert check_state_dict_fits(net, state, strict=False) == ([own_keys[3]], ['head.extra.weight'])
    state[own_keys[3]] = net.state_dict()[own_keys[3]]
    with pytest.raises(
            RuntimeError,
            match=r"first mismatching key 'head.extra.weight' \(in the checkpoint, not a "
            r'parameter of the network\); 0 missing, 1 unexpected'):
        check_state_dict_fits(net, state)
    assert check_state_dict_fits(net, net.state_dict()) == ([], [])


class _NotATensor:
    pass


def test_weights_are_loaded_with_weights_only(tmp_path):
    net = build_network(dict(TINY_HDRT))
    official = tmp_path / 'official.pth'  # HDR-Transformer's layout: epoch, state_dict, optimizer (plain types only)
    optimizer = torch.optim.Adam(net.parameters())
    torch.save({'epoch': 3, 'state_dict': net.state_dict(), 'optimizer': optimizer.state_dict()}, official)
    assert list(load_state_dict_file(str(official))) == list(net.state_dict())
    with_object = tmp_path / 'pickled.pth'
    torch.save({'params': net.state_dict(), 'args': _NotATensor()}, with_object)
    with pytest.raises(ValueError, match=r'pickled.pth holds Python objects besides tensors.*weights_only=True'):
        load_state_dict_file(str(with_object))
    truncated = tmp_path / 'cut.pth'
    truncated.write_bytes(official.read_bytes()[:200])
    with pytest.raises(ValueError, match=r'Cannot read weights file .*cut.pth \(truncated, or not a torch checkpoint'):
        load_state_dict_file(str(truncated))
    with pytest.raises(FileNotFoundError, match='Network weights file not found: .*absent.pth'):
        load_state_dict_file(str(tmp_path / 'absent.pth'))


def test_priors_script_names_a_checkpoint_of_another_architecture(demo_root, tmp_path, capsys, monkeypatch):
    net = build_network(dict(TINY_HDRT, embed_dim=18))
    torch.save({'params': net.state_dict()}, tmp_path / 'net_g.pth')
    opts = [f'{key}={json.dumps(value)}' for key, value in TINY_HDRT.items() if key != 'type']
    script = load_script('make_semantic_priors')
    args = [
        '--dataroot',
        str(demo_root / 'Test'), '--source', 'orm', '--orm-checkpoint',
        str(tmp_path / 'net_g.pth'), '--orm-opt', *opts, '--backend', 'vgg16', '--skb-root',
        str(tmp_path / 'skb')
    ]
    monkeypatch.setattr(extract, 'build_backend', lambda *a: object())  # the weights are checked before any backend
    assert script.main(args) == 1
    err = capsys.readouterr().err
    assert 'net_g.pth does not fit HDRTransformer: first mismatching key' in err and '(--orm-arch / --orm-opt)' in err
    assert not (tmp_path / 'skb').exists()


def test_unpicklable_payload_is_never_executed(tmp_path):
    """weights_only=True refuses a pickle that would run code on load."""

    class Exploit:

        def __reduce__(self):
            return (os.system, ('echo pwned > ' + str(tmp_path / 'pwned'), ))

    with open(tmp_path / 'evil.pth', 'wb') as f:
        pickle.dump({'params': Exploit()}, f, protocol=2)
    with pytest.raises(ValueError, match='evil.pth'):
        load_state_dict_file(str(tmp_path / 'evil.pth'))
    assert not (tmp_path / 'pwned').exists()


def test_truncated_net_skam_file_is_detected_on_auto_resume(tmp_path):
    models, states = tmp_path / 'models', tmp_path / 'training_states'
    models.mkdir()
    states.mkdir()
    opt = {
        'num_gpu': 0,
        'auto_resume': True,
        'model_type': 'SKTModel',
        'network_g': {},
        'network_t': {},
        'network_skam': {},
        'skt': {
            'mode': 'joint',
            'skam_opt': {
                'type': 'SKAMLoss'
            }
        },
        'path': {
            'models': str(models),
            'experiments_root': str(tmp_path)
        }
    }
    for it in (2, 4):
        torch.save({'iter': it, 'epoch': 0}, states / f'{it}.state')
        for label in ('g', 't', 'skam'):
            torch.save({'params': {'w': torch.zeros(1)}}, models / f'net_{label}_{it}.pth')
    assert [Path(p).name for p in compat.network_files(opt, 4)] == ['net_g_4.pth', 'net_t_4.pth', 'net_skam_4.pth']
    skam = models / 'net_skam_4.pth'
    skam.write_bytes(skam.read_bytes()[:50])
    with pytest.raises(
            RuntimeError, match=r'Network file .*net_skam_4\.pth of training state .*4\.state is missing or '
            'unreadable'):
        compat.read_training_state(str(states / '4.state'), opt)
    staged_teacher = dict(opt, skt={'mode': 'staged_teacher', 'skam_opt': {'type': 'SKAMLoss'}})
    assert [Path(p).name for p in compat.network_files(staged_teacher, 4)] == ['net_g_4.pth', 'net_t_4.pth']
    state_path = states / '4.state'
    assert compat.read_training_state(str(state_path), staged_teacher)['iter'] == 4
    # --auto_resume reports the truncated file and resumes from the previous complete checkpoint
    resumed = compat.load_resume_state(copy.deepcopy(opt))
    assert resumed['iter'] == 2
