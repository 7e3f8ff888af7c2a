"""``python -m basicsr_skt.test -opt X.yml``: BasicSR's test pipeline with the plugin registered.

results/ is written under the current directory: per dataset, predictions (``.hdr`` + μ-law PNG) and
``<dataset>_metrics.{md,csv}`` with per-scene values and the mean.
"""
import os

import basicsr_skt  # noqa: F401 isort:skip  (first: makes basicsr 1.4.2 importable, registers the plugin)
from basicsr.test import test_pipeline


def main() -> None:
    test_pipeline(os.getcwd())


if __name__ == '__main__':
    main()
