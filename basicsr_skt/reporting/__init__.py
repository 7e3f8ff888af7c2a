"""Application code on top of the library: run comparisons (``compare``) and charts (``charts``) of test results;
nothing here is registered. The experiment's statistics and log readers live in ``research/`` (not shipped)."""
