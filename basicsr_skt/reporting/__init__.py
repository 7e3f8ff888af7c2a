"""Application code on top of the library: statistics (``stats``), run comparisons (``compare``) and training-log
curves (``train_logs``) of experiments; nothing here is registered."""
