"""``python -m basicsr_skt.test -opt X.yml``: BasicSR's test pipeline with the plugin registered.

results/ is written under the current directory: per dataset, predictions (``.hdr`` + μ-law PNG) and
``<dataset>_metrics.{md,csv}`` with per-scene values and the mean.
"""
import os
import sys

import basicsr_skt  # noqa: F401 isort:skip  (first: makes basicsr 1.4.2 importable, registers the plugin)
from basicsr.test import test_pipeline
from basicsr_skt.utils.errors import run_cli


def main() -> int:
    """Run the pipeline; a user error (bad option, file or name) prints one block and returns 2 (see
    :mod:`basicsr_skt.utils.errors`; ``--debug`` or ``BASICSR_SKT_DEBUG=1`` shows its traceback)."""
    return run_cli(lambda: test_pipeline(os.getcwd()))


if __name__ == '__main__':
    sys.exit(main())
