"""Shared pytest fixtures: the read-only ``../shared`` folder (real data, official fixtures) when present."""
import logging
import os
import shutil
from pathlib import Path
from typing import List

import pytest

import basicsr_skt  # noqa: F401 isort:skip  (before any test module imports basicsr: torchvision alias)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get('BASICSR_SKT_SHARED', REPO_ROOT.parent / 'shared'))


@pytest.fixture(scope='session')
def shared_dir() -> Path:
    """``../shared`` beside the checkout; the test is skipped where it is absent (a user's machine)."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f'{SHARED_DIR} not present (real data and official fixtures live there)')
    return SHARED_DIR


@pytest.fixture()
def basicsr_warnings():
    """Messages logged at WARNING or above on BasicSR's logger (it does not propagate to pytest's caplog)."""
    records: List[str] = []

    class ListHandler(logging.Handler):

        def emit(self, record):
            records.append(record.getMessage())

    handler = ListHandler(logging.WARNING)
    logger = logging.getLogger('basicsr')
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory) -> Path:
    """Generated scenes of the module (TINY_SCENES, seed 5): ``Training/demo_train_00{0,1}``, ``Test/demo_val_000``.
    A test file may define its own."""
    from helpers import TINY_SCENES

    from basicsr_skt.synthesis.demo_scenes import make_demo_dataset
    root = tmp_path_factory.mktemp('demo')
    make_demo_dataset(str(root), num_train=2, num_val=1, config=TINY_SCENES, seed=5)
    return root


@pytest.fixture()
def split(demo_root, tmp_path) -> Path:
    """A writable copy of the module's ``demo_root`` training scenes: ``<tmp>/Training/demo_train_00{0,1}``."""
    shutil.copytree(demo_root / 'Training', tmp_path / 'Training')
    return tmp_path / 'Training'
