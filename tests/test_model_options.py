"""The models' option sections (parsed once into frozen dataclasses), the model classes' shape (depth, one definition
per method, the RAW display strategy) and the teacher's validation through ``run_orm``."""
import copy
import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import OPTIONS_DIR, dump_yaml, load_yaml, make_tiny_demo, tiny_skt_options
from test_skt_model import batch, skt_opt

from basicsr.utils.registry import MODEL_REGISTRY
from basicsr_skt.inference.orm import run_orm
from basicsr_skt.models.hdr_model import HDRModel
from basicsr_skt.models.model_options import (BASICSR_VAL_KEYS, DiagnosticsOptions, MaskOptions, SKTOptions,
                                              ValOptions)
from basicsr_skt.models.skt_model import SKTModel
from basicsr_skt.models.val_display import RawDisplay, SRGBDisplay, display_for
from basicsr_skt.utils import errors
from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.padding import crop_to, pad_to_multiple

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Classes between a registered model and ``object`` (the model itself included), at most.
MAX_MODEL_DEPTH = 6


# ----------------------------------------------------------------------------------------------------------------------
# Option sections
# ----------------------------------------------------------------------------------------------------------------------
def test_known_keys_are_the_fields_and_each_default_is_written_once():
    assert ValOptions.known_keys() == ValOptions.keys() + BASICSR_VAL_KEYS
    assert set(ValOptions.keys()) == {'mu', 'pad_multiple', 'tile', 'tile_overlap', 'save_exr', 'figure_scenes',
                                      'num_tb_images'}
    assert SKTOptions.keys() == ('mode', 'orm_tap', 'mask', 'distill_warmup_iter', 'ramp_iter', 'content_opt',
                                 'colour_opt', 'skam_opt', 'teacher_input', 'teacher_ema_decay', 'val_teacher',
                                 'val_teacher_zeroed_priors', 'diagnostics')
    assert SKTOptions.subsections() == {'mask': MaskOptions, 'diagnostics': DiagnosticsOptions}
    # absent, null and empty sections give the same defaults
    assert SKTOptions.parse(None) == SKTOptions.parse({}) == SKTOptions.parse({'mask': None, 'mode': None})
    defaults = SKTOptions()
    assert (defaults.mode, defaults.mask.patch_size, defaults.mask.type, defaults.distill_warmup_iter) == (
        'joint', 8, 'random_patch', 0)
    assert ValOptions().mu == 5000.0 and ValOptions().tile_overlap == 32
    with pytest.raises(dataclasses.FrozenInstanceError):
        defaults.mode = 'staged_student'


def test_no_literal_mu_in_the_models():
    """μ = 5000 lives in utils/tonemap.DEFAULT_MU (val.mu's default); the models never type it again."""
    for path in (REPO_ROOT / 'basicsr_skt' / 'models').glob('*.py'):
        assert '5000' not in path.read_text(), path


@pytest.mark.parametrize('cls, options, message', [
    (SKTOptions, {'ramp_iter': -1}, 'skt.ramp_iter must be an integer >= 0, got -1'),
    (SKTOptions, {'distill_warmup_iter': 2.5}, 'skt.distill_warmup_iter must be an integer >= 0, got 2.5'),
    (SKTOptions, {'teacher_ema_decay': 1.0}, r'skt.teacher_ema_decay must be a number in \[0, 1\), got 1.0'),
    (SKTOptions, {'mode': 'both'}, "skt.mode must be one of .'joint', 'staged_teacher', 'staged_student'., got 'both'"),
    (SKTOptions, {'mask': {'ratio_max': 1.5}}, r'skt.mask.ratio_max must be a number in \[0, 1\], got 1.5'),
    (SKTOptions, {'mask': {'ratio_min': 0.6}}, r'skt.mask.ratio_min must be a number in \[0, 0.5\], got 0.6'),
    (SKTOptions, {'mask': {'patch_size': 0}}, 'skt.mask.patch_size must be an integer >= 1, got 0'),
    (SKTOptions, {'mask': {'type': 'grid'}}, "skt.mask.type must be one of .'random_patch', 'semantic'., got 'grid'"),
    (SKTOptions, {'diagnostics': {'grad_cosine_freq': -5}}, 'skt.diagnostics.grad_cosine_freq must be an integer'),
    (SKTOptions, {'val_teacher': 'yes'}, "skt.val_teacher must be true or false, got 'yes'"),
    (SKTOptions, {'mode': 'staged_student', 'teacher_ema_decay': 0.9}, 'teacher_ema_decay needs skt.mode joint'),
    (ValOptions, {'mu': 0}, 'val.mu must be a number > 0, got 0'),
    (ValOptions, {'tile': 64, 'tile_overlap': 64}, r'val.tile_overlap must be an integer in \[0, 64\), got 64'),
    (ValOptions, {'pad_multiple': 0}, 'val.pad_multiple must be an integer >= 1, got 0'),
    (ValOptions, {'figure_scenes': 'a'}, 'val.figure_scenes must be a list of scene names or a count'),
])
def test_a_value_out_of_range_is_a_user_error_naming_the_valid_range(cls, options, message):
    with pytest.raises(UserInputError, match=message):
        cls.parse(options)


def test_parsing_never_modifies_the_options(tmp_path):
    opt = skt_opt(tmp_path, orm_tap='conv_after_body')
    before = copy.deepcopy(opt)
    model = SKTModel(opt)
    # the sections the plugin parses (BasicSR's own setup_schedulers pops train.scheduler.type; build_model copies)
    assert (opt['skt'], opt['val']) == (before['skt'], before['val'])
    assert model.skt.orm_tap == ('conv_after_body', ) and model.skt.mask.patch_size == 4
    assert model.val_options == ValOptions.parse(opt['val'])


def test_renamed_warmup_key_is_a_user_error_naming_the_new_one(tmp_path):
    opt = skt_opt(tmp_path)
    opt['skt']['warmup_iter'] = opt['skt'].pop('distill_warmup_iter')
    for build in (lambda: SKTModel(opt), lambda: SKTModel.checkpoint_networks(opt)):
        with pytest.raises(UserInputError, match=r'skt.warmup_iter is no longer read: it is now '
                           r'skt.distill_warmup_iter'):
            build()
    opt['skt']['distill_warmup_iter'] = 3  # both: still the old key's error
    with pytest.raises(UserInputError, match='distill_warmup_iter'):
        SKTOptions.parse(opt['skt'])


def test_renamed_warmup_key_stops_the_training_entry_with_one_block(tmp_path):
    demo = make_tiny_demo(tmp_path / 'demo')
    opt = tiny_skt_options(demo, 'old_key')
    opt['skt']['warmup_iter'] = opt['skt'].pop('distill_warmup_iter')
    opt['datasets']['train']['skb'] = False  # no priors needed: the model stops before the first batch
    env = {k: v for k, v in __import__('os').environ.items() if k != errors.DEBUG_ENV}
    env['OMP_NUM_THREADS'] = '1'
    out = subprocess.run([sys.executable, '-m', 'basicsr_skt.train', '-opt', str(dump_yaml(opt, tmp_path / 'o.yml'))],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == errors.USER_ERROR_EXIT, out.stderr[-2000:]
    assert 'Traceback' not in out.stderr
    assert 'error: skt.warmup_iter is no longer read: it is now skt.distill_warmup_iter' in out.stderr


def test_checkpoint_networks_reads_the_parsed_options():
    skam = {'type': 'SKAMLoss', 'loss_weight': 0.1}
    for mode, expected in (('joint', ['g', 't', 'skam']), ('staged_student', ['g', 't', 'skam']),
                           ('staged_teacher', ['g', 't'])):
        opt = {'skt': {'mode': mode, 'skam_opt': skam}}
        assert SKTModel.checkpoint_networks(opt) == expected
        assert SKTOptions.parse(opt['skt']).trains_skam == ('skam' in expected)
    assert SKTModel.checkpoint_networks({'skt': {'skam_opt': {}}}) == ['g', 't']  # an empty section is off


@pytest.mark.parametrize('path', sorted(OPTIONS_DIR.rglob('*.yml')), ids=lambda p: p.name)
def test_shipped_sections_parse(path):
    opt = load_yaml(path)
    assert ValOptions.unknown_key_messages(opt.get('val')) == []
    ValOptions.parse(opt.get('val'))
    if 'skt' in opt:
        assert SKTOptions.unknown_key_messages(opt['skt']) == []
        assert SKTOptions.parse(opt['skt']).distill_warmup_iter >= 0
    assert isinstance(display_for(opt), RawDisplay if 'raw' in path.name else SRGBDisplay)


# ----------------------------------------------------------------------------------------------------------------------
# Model classes
# ----------------------------------------------------------------------------------------------------------------------
def plugin_models():
    return sorted((name, cls) for name, cls in MODEL_REGISTRY if cls.__module__.startswith('basicsr_skt.'))


def test_every_plugin_model_is_at_most_six_classes_deep():
    models = plugin_models()
    assert {name for name, _ in models} >= {'HDRModel', 'SKTModel', 'RawHDRModel', 'RawSKTModel'}
    for name, cls in models:
        depth = len(cls.__mro__) - 1  # the model and every class up to, not counting, object
        assert depth <= MAX_MODEL_DEPTH, (name, [c.__name__ for c in cls.__mro__])


def test_each_plugin_method_is_defined_once_along_every_mro():
    """No method (function, property, class or static method; ``__init__`` included) is defined by two of the
    plugin's classes on one MRO: ``feed_data``, ``test``, every validation step and BasicSR's model API (``__init__``,
    ``init_training_settings``, ``optimize_parameters``, ``save``, ``resume_training``, ...) once each."""
    for name, cls in plugin_models():
        owners = {}
        for klass in cls.__mro__:
            if not klass.__module__.startswith('basicsr_skt.'):
                continue
            for attr, value in vars(klass).items():
                is_method = inspect.isfunction(value) or isinstance(value, (property, classmethod, staticmethod))
                if is_method and (attr == '__init__' or not attr.startswith('__')):
                    owners.setdefault(attr, []).append(klass.__name__)
        twice = {attr: where for attr, where in owners.items() if len(where) > 1}
        assert twice == {}, (name, twice)
        assert {'feed_data', 'test', 'optimize_parameters', 'save', 'resume_training'} <= set(owners)


def test_raw_display_follows_the_datasets_and_raw_names_are_thin():
    raw = {'datasets': {'train': {'type': 'BracketIRERawDataset'}, 'val': {'type': 'BracketIRERawDataset'}}}
    srgb = {'datasets': {'train': {'type': 'HDRMultiExposureDataset'}, 'val': {'type': 'HDRMultiExposureDataset'}}}
    assert isinstance(display_for(raw), RawDisplay) and isinstance(display_for(srgb), SRGBDisplay)
    assert isinstance(display_for({}), SRGBDisplay)
    with pytest.raises(UserInputError, match=r"datasets \['train'\] are packed RAW"):
        display_for({'datasets': {'train': raw['datasets']['train'], 'val': srgb['datasets']['val']}})
    for name, base in (('RawHDRModel', HDRModel), ('RawSKTModel', SKTModel)):
        cls = MODEL_REGISTRY.get(name)
        assert cls.__bases__ == (base, ) and not [k for k in vars(cls) if not k.startswith('__')]


def test_hdr_model_takes_priors_and_colour_metadata_in_one_feed_data(tmp_path):
    model = SKTModel(skt_opt(tmp_path))
    data = batch()
    model.feed_data(data)
    assert model.batch_scenes == ['s0', 's1'] and torch.equal(model.skb_labels, data['skb_labels'])
    display = RawDisplay()
    display.take_batch({'wb': torch.tensor([[2.0, 1.0, 1.0, 1.5]]), 'ccm': torch.eye(3)[None]})
    assert display.wb.tolist() == [2.0, 1.0, 1.0, 1.5] and display.ccm.shape == (3, 3)


# ----------------------------------------------------------------------------------------------------------------------
# The teacher's validation goes through run_orm
# ----------------------------------------------------------------------------------------------------------------------
def test_teacher_validation_equals_run_orm_on_an_input_that_needs_padding(tmp_path):
    """val.pad_multiple 8 on a 20 x 28 image: the teacher's validation output is run_orm's (reflect-padded inputs,
    output cropped back), and differs from the unpadded teacher (so the padding really happened)."""
    model = SKTModel(skt_opt(tmp_path))
    model.feed_data(batch())
    model.optimize_parameters(1)  # the teacher is no longer the identity
    model.val_options = dataclasses.replace(model.val_options, pad_multiple=8)
    torch.manual_seed(1)
    data = batch(batch_size=1)
    data.update(lq=torch.rand(1, 3, 6, 20, 28), gt=torch.rand(1, 3, 20, 28),
                skb_embedding=torch.randn(1, 8, 20, 28), skb_labels=(torch.rand(1, 20, 28) > 0.5).long())
    model.feed_data(data)
    model.test()
    teacher = model.teacher_validation.validation_teacher().eval()
    orm_output = model.output
    packed = torch.cat([orm_output, model.lq[:, 1], model.skb_embedding, model.skb_labels[:, None].float()], 1)

    def run(x):
        return teacher(x[:, :3], x[:, 3:9], x[:, 9:17], x[:, 17].round().long())['output']

    with torch.no_grad():
        expected = run_orm(run, packed[:, None], pad_multiple=8, out_channels=3)
        padded, _ = pad_to_multiple(packed, 8)
        by_hand = crop_to(run(padded), 20, 28)
        unpadded = run(packed)
    assert padded.shape[-2:] == (24, 32)
    torch.testing.assert_close(model.side_outputs['teacher_'], expected, rtol=0, atol=0)
    torch.testing.assert_close(expected, by_hand, rtol=0, atol=0)
    assert not torch.allclose(expected, unpadded, atol=1e-6)
    assert F.l1_loss(expected, unpadded) < 0.5  # the same teacher: close away from the borders
