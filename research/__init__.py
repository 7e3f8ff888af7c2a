"""Research code of basicsr-skt: the evidence experiment, its screens and their records (see research/README.md).

Not part of the library: nothing in ``basicsr_skt/``, ``scripts/`` or ``benchmarks/`` imports it, and the wheel does not
ship it. Run its scripts from the repository root with ``python -m research.<module> ...``.
"""
