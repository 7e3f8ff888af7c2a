"""Oracle priors (**diagnostics only**) of every scene of a dataset folder: ``scripts/make_semantic_priors.py`` with
research's :class:`~research.oracle_backend.OracleBackend` (the μ-law GT pooled to ``--cell`` px cells).

    python -m research.make_oracle_priors --dataroot evidence_v2/data_oracle/Training --cell 4 --device cpu

Every other argument is make_semantic_priors.py's (``--source``, ``--segmenter``, ``--min-area``, ``--force``,
``--check``, ...; its ``--backend`` is not used). Train on such priors with ``python -m research.train``: it registers
the backend so that the datasets read the files.
"""
import argparse
import importlib.util
import os.path as osp
import sys
from types import ModuleType
from typing import List, Optional

from basicsr_skt.skb.extract import ExtractionConfig, check_scenes, min_area_settings, run_extraction
from basicsr_skt.utils.cli import dataclass_from_args
from basicsr_skt.utils.errors import run_cli, strip_debug_flag
from research.oracle_backend import OracleBackend
from research.paths import REPO


def priors_script() -> ModuleType:
    """``scripts/make_semantic_priors.py`` as a module, for its command-line options (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location('make_semantic_priors',
                                                  osp.join(REPO, 'scripts', 'make_semantic_priors.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--cell', type=int, default=4, help='cell size of the pooled image in pixels')
    args, rest = parser.parse_known_args(argv)
    script = priors_script()
    options = script.parse_args(rest)
    config = dataclass_from_args(ExtractionConfig, options, [*script.DATA, *script.BACKEND, *script.ORM, *script.RUN])
    try:
        if options.check:
            return 1 if check_scenes(config) else 0
        backend = OracleBackend(cell=args.cell, segmenter=config.segmenter, segment_max_side=config.segment_max_side,
                                **min_area_settings(config))
        run_extraction(config, backend)
    except (OSError, ValueError) as err:  # as make_semantic_priors.py: bad scenes, unwritable output, bad settings
        print(f'error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(lambda: main(strip_debug_flag())))
