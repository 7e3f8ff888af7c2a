"""Application code on top of the library: statistics and reports of experiments (nothing here is registered)."""
