"""Screens 4-6 of 2026-12-04 (research/evidence_notes.md): config makers, the runner, tables and their records."""
