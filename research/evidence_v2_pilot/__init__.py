"""The Evidence v2 pilot's per-seed test means, recovered from its committed reports (recover_scores.py)."""
