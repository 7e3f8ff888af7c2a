"""Pure helpers (tone mapping, HDR I/O, padding, checkpoints); nothing here imports models, archs or data."""
