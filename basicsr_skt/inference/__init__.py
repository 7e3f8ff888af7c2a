"""Running trained ORMs on real exposure brackets (application code used by the scripts; registers nothing)."""
