"""``python -m research.train -opt X.yml``: ``python -m basicsr_skt.train`` with research's additions registered.

Registers the diagnostic ``oracle`` SKB backend (:mod:`research.oracle_backend`: its priors are read by the datasets)
and the research teacher ``SPGRMProbe`` (:mod:`research.spgrm_probe_arch`: ``network_t: {type: SPGRMProbe, fusion:
cross_attention, condition_at_head: true, ...}``), then runs BasicSR's training pipeline exactly as the library's
entry point does (same flags, same outputs under the current directory). Run from the repository root, or with the
root on ``PYTHONPATH`` (``research/run_evidence.py`` starts its runs so).
"""
import sys

import basicsr_skt  # noqa: F401 isort:skip  (first: makes basicsr 1.4.2 importable, registers the plugin)
import research.oracle_backend  # noqa: F401  (registers the 'oracle' SKB backend)
import research.spgrm_probe_arch  # noqa: F401  (registers SPGRMProbe in ARCH_REGISTRY)
from basicsr_skt.train import main

if __name__ == '__main__':
    sys.exit(main())
