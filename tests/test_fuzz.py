"""Property-based fuzz suite (hypothesis; docs/bad-inputs.md, "Fuzz suite").

Properties, for option values of the shipped configs, damaged files of every kind the plugin reads, and names with
separators and control characters:

* a bad input ends in a *user error* (``errors.is_user_error``: what ``run_cli`` prints as one message with exit 2)
  whose message names the file or the option key -- never a signal, a hang, an error from inside a library (a bare
  traceback), or
* a success that returns exactly the intact data (damage the format cannot see, e.g. a byte of TIFF pixels, is
  listed per kind below as "undetectable"), and
* no file outside the output folder changes.

Every file check runs in a forked child with an alarm, so a SIGBUS / SIGSEGV or a hang is a failing example, not a
dead test run. Profiles: ``ci`` (default: derandomized, a few hundred examples, well under a minute) and ``long``
(``BASICSR_SKT_FUZZ=long``: 2000 examples per test, or ``BASICSR_SKT_FUZZ_EXAMPLES``, random seeds) -- e.g.
``BASICSR_SKT_FUZZ=long BASICSR_SKT_FUZZ_EXAMPLES=300 pytest tests/test_fuzz.py``.
"""
import copy
import faulthandler
import glob
import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basicsr_skt.utils.errors import is_user_error
from tests.helpers import OPTIONS_DIR, TINY_HDRT, add_fake_priors, make_tiny_demo

settings.register_profile(
    'ci',
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile(
    'long',
    max_examples=int(os.environ.get('BASICSR_SKT_FUZZ_EXAMPLES', '2000')),
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
LONG = os.environ.get('BASICSR_SKT_FUZZ') == 'long'
PROFILE = settings.get_profile('long' if LONG else 'ci')


def examples(ci: int) -> settings:
    """The profile, with ``ci`` examples in CI (the long profile keeps its own count)."""
    return settings(PROFILE, max_examples=PROFILE.max_examples if LONG else ci)


#: Seconds a check may take before it counts as a hang.
HANG_SECONDS = 20


# ------------------------------------------------------------------------------------------------------- harness
def in_child(check: Callable[[], bool]) -> Tuple[str, str]:
    """Run ``check`` in a forked child: ``('ok', 'same'|'changed')`` when it returns (whether the data read equals
    the intact data), ``('user', message)`` for a user error, ``('bug', 'Type: message')`` for any other exception,
    ``('signal', name)`` when the child dies (SIGBUS, SIGSEGV, SIGALRM for a hang)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        os.close(read_end)
        try:
            faulthandler.disable()  # a signal is the finding; the parent reports it
            signal.alarm(HANG_SECONDS)
            try:
                result = ('ok', 'same' if check() else 'changed')
            except BaseException as err:  # noqa: B902 -- classified, not swallowed
                result = ('user' if is_user_error(err) else 'bug', f'{type(err).__name__}: {err}')
            os.write(write_end, json.dumps(result).encode('utf-8', 'replace'))
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while True:
        chunk = os.read(read_end, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return 'signal', signal.Signals(os.WTERMSIG(status)).name
    return tuple(json.loads(b''.join(chunks).decode('utf-8')))


def assert_reported(outcome: Tuple[str, str], names: List[str], detectable: bool = True) -> None:
    """The property: a user error naming one of ``names``, or a success with the intact data (or, where the format
    cannot see the damage, any success)."""
    kind, detail = outcome
    assert kind in ('ok', 'user'), f'{kind}: {detail}'
    if kind == 'user':
        assert any(name in detail for name in names), f'the message names none of {names}: {detail}'
    elif detectable:
        assert detail == 'same', 'damaged data was used silently'


@st.composite
def damage(draw, size: int) -> Tuple[str, int, int]:
    """A truncation to a drawn length, or a flipped byte (drawn offset and bit mask) in a file of ``size`` bytes."""
    if draw(st.booleans()):
        return 'cut', draw(st.integers(0, size - 1)), 0
    return 'flip', draw(st.integers(0, size - 1)), draw(st.integers(1, 255))


def apply_damage(path: Path, how: Tuple[str, int, int]) -> None:
    kind, offset, mask = how
    if kind == 'cut':
        os.truncate(path, offset)
    else:
        data = bytearray(path.read_bytes())
        data[offset] ^= mask
        path.write_bytes(bytes(data))


def snapshot(root: Path) -> Dict[str, Tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob('*') if p.is_file()}


# ------------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope='module')
def world(tmp_path_factory) -> Dict[str, Any]:
    """Intact files of every kind: a demo dataset with priors, its Test split packed as LMDB, a checkpoint, a
    training state with its network file; and the values read from each."""
    from basicsr_skt.archs.hdr_transformer_arch import HDRTransformer
    from basicsr_skt.data.lmdb_pack import pack_lmdb
    from basicsr_skt.data.lmdb_reader import LmdbSceneReader
    from basicsr_skt.data.scene_reader import FolderSceneReader
    root = tmp_path_factory.mktemp('fuzz')
    demo = make_tiny_demo(root / 'demo', num_train=1, num_val=1)
    add_fake_priors(demo, channels=4)
    db = root / 'Test.lmdb'
    pack_lmdb(FolderSceneReader(str(demo / 'Test')), str(db))
    reader = LmdbSceneReader(str(db))
    lmdb_values = {
        (s, k): np.array(reader.read_full(s, k))
        for s in reader.scene_names()
        for k in reader.keys(s) if reader.info(s, k).dtype != 'json'
    }
    reader.close()
    torch.manual_seed(0)
    weights = HDRTransformer(**{k: v for k, v in TINY_HDRT.items() if k != 'type'}).state_dict()
    checkpoint = root / 'net_g.pth'
    torch.save({'params': weights}, checkpoint)
    experiment = root / 'experiment'
    (experiment / 'models').mkdir(parents=True)
    (experiment / 'training_states').mkdir()
    torch.save({'params': weights}, experiment / 'models' / 'net_g_4.pth')
    torch.save({
        'iter': 4,
        'epoch': 1,
        'optimizers': [],
        'schedulers': [],
        'payload': torch.arange(300.)
    }, experiment / 'training_states' / '4.state')
    return {
        'root': root,
        'demo': demo,
        'db': db,
        'lmdb_values': lmdb_values,
        'weights': weights,
        'checkpoint': checkpoint,
        'experiment': experiment,
        'snapshot': snapshot(root),
        'options': snapshot(OPTIONS_DIR)
    }


@pytest.fixture()
def work(world, tmp_path) -> Path:
    """An empty folder for one example's damaged copy (reused across the examples of a test)."""
    return tmp_path


def fresh_copy(source: Path, work: Path, name: str) -> Path:
    target = work / name
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy(source, target)
    return target


# ---------------------------------------------------------------------------------------------------- checkpoints
@examples(40)
@given(data=st.data())
def test_damaged_checkpoints_are_named_or_intact(world, work, data):
    from basicsr_skt.utils.checkpoint import load_state_dict_file
    path = fresh_copy(world['checkpoint'], work, 'net_g.pth')
    apply_damage(path, data.draw(damage(path.stat().st_size)))
    weights = world['weights']

    def check() -> bool:
        loaded = load_state_dict_file(str(path), 'params')
        return set(loaded) == set(weights) and all(torch.equal(loaded[k], weights[k]) for k in weights)

    assert_reported(in_child(check), [str(path)])


@examples(20)
@given(data=st.data(), which=st.sampled_from(['state', 'network']))
def test_damaged_training_states_are_named_or_intact(world, work, data, which):
    from basicsr_skt import compat
    experiment = fresh_copy(world['experiment'], work, 'experiment')
    path = experiment / ('training_states/4.state' if which == 'state' else 'models/net_g_4.pth')
    apply_damage(path, data.draw(damage(path.stat().st_size)))
    opt = {
        'num_gpu': 0,
        'model_type': 'HDRModel',
        'network_g': dict(TINY_HDRT),
        'path': {
            'models': str(experiment / 'models'),
            'experiments_root': str(experiment)
        }
    }

    def check() -> bool:
        state = compat.read_training_state(str(experiment / 'training_states' / '4.state'), opt)
        return state['iter'] == 4 and torch.equal(state['payload'], torch.arange(300.))

    assert_reported(in_child(check), [str(path)])


# ------------------------------------------------------------------------------------------------------------ LMDB
def _read_lmdb(db: Path, intact: Dict[Tuple[str, str], np.ndarray], verify: bool) -> bool:
    from basicsr_skt.data.lmdb_pack import verify_lmdb
    from basicsr_skt.data.lmdb_reader import LmdbSceneReader
    if verify:
        verify_lmdb(str(db))
    reader = LmdbSceneReader(str(db))
    for (scene, key), value in intact.items():
        reader.index_scene(scene)
        if not np.array_equal(np.array(reader.read_full(scene, key)), value):
            return False
    return True


@examples(40)
@given(data=st.data(), verify=st.booleans())
def test_damaged_lmdb_data_is_named_never_a_signal(world, work, data, verify):
    """data.mdb cut or flipped: ``--verify`` (sha256 per record) must see any change of the records; a plain read
    checks sizes only, so a flipped byte inside a record's data is undetectable there (the reason --verify exists)."""
    db = fresh_copy(world['db'], work, 'fuzz.lmdb')
    how = data.draw(damage((db / 'data.mdb').stat().st_size))
    apply_damage(db / 'data.mdb', how)
    assert_reported(
        in_child(lambda: _read_lmdb(db, world['lmdb_values'], verify)), [str(db)], detectable=verify or how[0] == 'cut')


@examples(30)
@given(data=st.data())
def test_damaged_meta_info_is_named_or_intact(world, work, data):
    db = fresh_copy(world['db'], work, 'meta.lmdb')
    apply_damage(db / 'meta_info.txt', data.draw(damage((db / 'meta_info.txt').stat().st_size)))
    assert_reported(in_child(lambda: _read_lmdb(db, world['lmdb_values'], False)), [str(db)])


# ------------------------------------------------------------------------------------------------------ SKB files
@examples(36)
@given(data=st.data(), name=st.sampled_from(['skb_embedding.npy', 'skb_labels.npy', 'skb_meta.json']))
def test_damaged_priors_are_named_or_intact(world, work, data, name):
    from basicsr_skt.skb.format import load_scene_priors
    source = next((world['demo'] / 'Training').iterdir())
    intact = load_scene_priors(str(source))
    scene = fresh_copy(source, work, 'scene')
    apply_damage(scene / name, data.draw(damage((scene / name).stat().st_size)))

    def check() -> bool:
        priors = load_scene_priors(str(scene))
        return (np.array_equal(priors['embedding'], intact['embedding'])
                and np.array_equal(priors['labels'], intact['labels']) and priors['meta'] == intact['meta'])

    assert_reported(in_child(check), [str(scene / name)])


# ---------------------------------------------------------------------------------------------- scene folder files
@examples(36)
@given(data=st.data(), name=st.sampled_from(['input_1.tif', 'HDRImg.hdr', 'exposure.txt']))
def test_damaged_scene_files_are_named_never_a_crash(world, work, data, name):
    """LDR frames, the GT and the exposure file, through the dataset's reader. TIFF and Radiance files carry no
    checksum: a changed pixel byte is undetectable, so only structural damage must be reported."""
    from basicsr_skt.data.scene_reader import FolderSceneReader
    split = work / 'split'
    shutil.rmtree(split, ignore_errors=True)
    source = next((world['demo'] / 'Test').iterdir())
    scene = fresh_copy(source, split, source.name) if split.mkdir() is None else None
    names = sorted(p.name for p in scene.iterdir())
    target = scene / (name if name in names else next(n for n in names if n.endswith(name.split('.')[-1])))
    apply_damage(target, data.draw(damage(target.stat().st_size)))

    def check() -> bool:
        reader = FolderSceneReader(str(split), cache_images=False)
        reader.index_scene(scene.name)
        for key in reader.keys(scene.name):
            reader.read_full(scene.name, key)
        return True

    assert_reported(in_child(check), [target.name], detectable=False)


@examples(15)
@given(data=st.data())
def test_damaged_exr_files_are_named(world, work, data):
    from basicsr_skt.utils.hdr_io import read_hdr, write_hdr
    path = work / 'gt.exr'
    write_hdr(str(path), np.random.default_rng(0).random((16, 24, 3), dtype=np.float32) * 4)
    apply_damage(path, data.draw(damage(path.stat().st_size)))
    assert_reported(in_child(lambda: read_hdr(str(path)) is not None), [str(path)], detectable=False)


# -------------------------------------------------------------------------------------------------------- options
def _shipped_configs() -> List[Path]:
    return sorted(Path(p) for p in glob.glob(str(OPTIONS_DIR / '**' / '*.yml'), recursive=True))


def _option_keys(opt: Dict[str, Any]) -> List[Tuple[str, ...]]:
    """Leaf keys of the network sections and the run options BasicSR's loop divides or names files by."""
    keys = [(section, key) for section, value in opt.items()
            if section.startswith('network_') and isinstance(value, dict) for key in value if key != 'type']
    keys += [('name', ), ('logger', 'print_freq'), ('logger', 'save_checkpoint_freq'), ('val', 'suffix')]
    if opt.get('is_train', True) and 'train' in opt:
        keys += [('train', 'total_iter'), ('val', 'val_freq')]
    for phase in opt.get('datasets') or {}:
        keys += [('datasets', phase, 'name')]
        if phase == 'train':
            keys += [('datasets', phase, 'batch_size_per_gpu'), ('datasets', phase, 'dataset_enlarge_ratio')]
    return keys


BAD_VALUES = st.one_of(
    st.text(max_size=8), st.integers(-10**6, 0), st.sampled_from([float('nan'),
                                                                  float('inf'), -1.5, 1e30, 0.0]), st.booleans(),
    st.none(), st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.sampled_from(['../x', 'a/b', 'x\ny', '']))


@examples(80)
@given(data=st.data())
def test_shipped_config_options_with_bad_values_are_named(data):
    """Each shipped config, one key set to a value of the wrong type or out of range: the option checks (run at
    parsing, before any work) either refuse it naming the key, or the network it configures still builds."""
    from basicsr.utils.registry import ARCH_REGISTRY

    from basicsr_skt import compat
    from basicsr_skt.utils.option_checks import load_options_yaml
    config = data.draw(st.sampled_from(_shipped_configs()))
    opt = load_options_yaml(str(config))
    opt.update(num_gpu=0, is_train=not config.name.startswith('test'))
    opt['path'] = {k: v for k, v in (opt.get('path') or {}).items() if 'pretrain' not in k and 'resume' not in k}
    keys = _option_keys(opt)
    key = data.draw(st.sampled_from(keys))
    value = data.draw(BAD_VALUES)
    section = opt
    for part in key[:-1]:
        section = section.setdefault(part, {})
    section[key[-1]] = value
    frozen = copy.deepcopy(opt)

    def check() -> bool:
        compat.check_parsed_options(opt, str(config))
        if key[0].startswith('network_'):  # accepted: the network must build with it
            net_opt = dict(opt[key[0]])
            ARCH_REGISTRY.get(net_opt.pop('type'))(**net_opt)
        return True

    kind, detail = in_child(check)
    assert kind in ('ok', 'user'), f'{config.name} {".".join(key)}={value!r}: {kind}: {detail}'
    if kind == 'user':
        assert key[-1] in detail, (key, detail)
    assert opt == frozen or opt != opt  # NaN values compare unequal to themselves; the options are never mutated


# ---------------------------------------------------------------------------------------------------------- names
NAMES = st.text(
    alphabet=st.one_of(st.characters(), st.sampled_from(['/', '\\', '.', '\0', '\n', '\x1b', '\x7f'])), max_size=12)


@examples(150)
@given(name=NAMES)
def test_names_are_plain_components_or_refused(tmp_path, name):
    """Every name check_name accepts stays directly inside the output folder; every one it refuses is named."""
    import unicodedata

    from basicsr_skt.utils.errors import UserInputError
    from basicsr_skt.utils.paths import check_name, safe_join
    bad = (not name.strip() or name in ('.', '..') or any(c in name for c in '/\\\0')
           or any(unicodedata.category(c) == 'Cc' for c in name))
    if bad:
        with pytest.raises(UserInputError, match='Scene name'):
            check_name(name, 'Scene name')
        return
    root = str(tmp_path / 'out')
    joined = safe_join(root, name, 'Scene name')
    assert os.path.dirname(joined) == root and os.path.basename(joined) == name
    assert os.path.realpath(joined).startswith(os.path.realpath(root) + os.sep)


def test_no_input_changed_while_fuzzing(world):
    """Every damaged copy lived in its example's own folder: the intact inputs and the shipped configs are as they
    were (runs after the fuzz tests of this module)."""
    assert snapshot(world['root']) == world['snapshot']
    assert snapshot(OPTIONS_DIR) == world['options']


def test_fuzz_damage_helpers_really_damage(tmp_path):
    """The strategies produce real damage: a flip changes one byte, a cut shortens the file."""
    path = tmp_path / 'f.bin'
    path.write_bytes(bytes(range(256)))
    apply_damage(path, ('flip', 10, 0xFF))
    assert path.read_bytes()[10] == 10 ^ 0xFF and len(path.read_bytes()) == 256
    apply_damage(path, ('cut', 100, 0))
    assert path.stat().st_size == 100
    assert in_child(lambda: os.kill(os.getpid(), signal.SIGBUS))[0] == 'signal'
    assert in_child(lambda: 1 / 0)[0] == 'bug' and in_child(lambda: True) == ('ok', 'same')
