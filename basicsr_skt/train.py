"""``python -m basicsr_skt.train -opt X.yml``: BasicSR's training pipeline with the plugin registered.

experiments/ and tb_logger/ are written under the current directory. All of BasicSR's flags work
(``--auto_resume``, ``--launcher pytorch``, ``--force_yml``, ``--debug``).
"""
import os

import basicsr_skt  # noqa: F401  (registers the plugin and patches BasicSR's CPU gaps)
from basicsr.train import train_pipeline


def main() -> None:
    train_pipeline(os.getcwd())


if __name__ == '__main__':
    main()
