"""User errors versus bugs (``basicsr_skt/utils/errors.py``): one clear block and a non-zero exit for a bad option,
file or name, the traceback for a bug; ``--debug`` shows it for both. Rows in ``docs/bad-inputs.md``.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import val_dataset

from basicsr_skt import compat
from basicsr_skt.utils import errors, option_checks
from basicsr_skt.utils.errors import UserInputError, is_user_error, run_cli
from basicsr_skt.utils.paths import check_name


def _caught(func) -> BaseException:
    try:
        func()
    except BaseException as err:  # noqa: BLE001
        return err
    raise AssertionError('expected an exception')


def test_user_errors_and_bugs_are_told_apart(tmp_path):
    # our checks (one-line and multi-line raise statements) are user errors
    assert is_user_error(_caught(lambda: check_name('../x', '--name')))
    assert is_user_error(_caught(lambda: val_dataset(tmp_path / 'missing')))  # ValueError, multi-line raise
    assert is_user_error(_caught(lambda: compat.registry_get(compat.registry.Registry('arch'), 'Nope')))  # KeyError
    # errors raised elsewhere, or assertions, are bugs
    assert not is_user_error(_caught(lambda: np.zeros(-1)))
    assert not is_user_error(_caught(lambda: {}['key']))
    implicit = _caught(lambda: option_checks.parse_key_values([1], '--x'))  # AttributeError inside our code, no raise
    assert isinstance(implicit, AttributeError) and not is_user_error(implicit)
    assert not is_user_error(AssertionError('x'))


def test_run_cli_prints_one_block_for_a_user_error_and_exits_2(capsys, monkeypatch):
    monkeypatch.delenv(errors.DEBUG_ENV, raising=False)

    def bad_name():
        check_name('a/b', "Option 'name' in x.yml")

    assert run_cli(bad_name, argv=[]) == errors.USER_ERROR_EXIT == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Option 'name' in x.yml 'a/b' holds a path separator")
    assert 'Traceback' not in err and len(err.strip().splitlines()) == 2 and 'BASICSR_SKT_DEBUG=1' in err
    # KeyError messages lose the quotes repr() adds
    assert run_cli(lambda: compat.registry_get(compat.registry.Registry('arch'), 'Nope'), argv=[]) == 2
    assert capsys.readouterr().err.startswith("error: No object named 'Nope' found in 'arch' registry.")
    assert run_cli(lambda: 3, argv=[]) == 3 and run_cli(lambda: None, argv=[]) == 0


def test_run_cli_keeps_tracebacks_of_bugs_and_in_debug_mode(monkeypatch):
    monkeypatch.delenv(errors.DEBUG_ENV, raising=False)
    with pytest.raises(ValueError, match='negative dimensions'):
        run_cli(lambda: np.zeros(-1), argv=[])
    with pytest.raises(UserInputError, match='holds a path separator'):
        run_cli(lambda: check_name('a/b', 'x'), argv=['--debug'])
    monkeypatch.setenv(errors.DEBUG_ENV, '1')
    with pytest.raises(UserInputError):
        run_cli(lambda: check_name('a/b', 'x'), argv=[])


def test_entry_point_user_error_is_one_block_with_exit_2_and_debug_shows_the_traceback(tmp_path):
    opt = tmp_path / 'dup.yml'
    opt.write_text('name: a\nmodel_type: HDRModel\nnum_gpu: 0\nname: b\n')
    env = {k: v for k, v in os.environ.items() if k != errors.DEBUG_ENV}
    env['OMP_NUM_THREADS'] = '1'
    cmd = [sys.executable, '-m', 'basicsr_skt.train', '-opt', str(opt)]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert 'Traceback' not in out.stderr
    assert f"error: Option file {opt}: key 'name' appears twice in the same section (lines 1 and 4)" in out.stderr
    assert not (tmp_path / 'experiments').exists()
    env[errors.DEBUG_ENV] = '1'
    debug = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1 and 'Traceback' in debug.stderr and 'UserInputError' in debug.stderr
