"""``python -m basicsr_skt.train -opt X.yml``: BasicSR's training pipeline with the plugin registered.

experiments/ and tb_logger/ are written under the current directory. All of BasicSR's flags work
(``--auto_resume``, ``--launcher pytorch``, ``--force_yml``, ``--debug``); with ``--auto_resume`` the run continues
exactly: the training sampler is a :class:`~basicsr_skt.utils.resumable_sampler.ResumableSampler` given the resumed
state's position (the pipeline patches are listed in docs/training.md, "Patches to BasicSR"). A user error (bad
option, file or name) is one ``error:`` block on stderr and exit status 2; ``--debug`` or ``BASICSR_SKT_DEBUG=1`` shows
its traceback.
"""
import os
import sys

import basicsr_skt  # noqa: F401 isort:skip  (first: makes basicsr 1.4.2 importable, registers the plugin)
from basicsr.train import train_pipeline
from basicsr_skt.utils.errors import run_cli


def main() -> int:
    """Run the pipeline; a user error (bad option, file or name) prints one block and returns 2 (see
    :mod:`basicsr_skt.utils.errors`; ``--debug`` or ``BASICSR_SKT_DEBUG=1`` shows its traceback)."""
    return run_cli(lambda: train_pipeline(os.getcwd()))


if __name__ == '__main__':
    sys.exit(main())
