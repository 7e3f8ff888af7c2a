"""``python -m basicsr_skt.train -opt X.yml``: BasicSR's training pipeline with the plugin registered.

experiments/ and tb_logger/ are written under the current directory. All of BasicSR's flags work
(``--auto_resume``, ``--launcher pytorch``, ``--force_yml``, ``--debug``).
"""
import os

import basicsr_skt  # noqa: F401 isort:skip  (first: makes basicsr 1.4.2 importable, registers the plugin)
from basicsr.train import train_pipeline


def main() -> None:
    train_pipeline(os.getcwd())


if __name__ == '__main__':
    main()
