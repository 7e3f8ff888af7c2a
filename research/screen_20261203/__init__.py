"""Screens of 2026-12-03 (research/evidence_notes.md): reports, teacher scores and the gradient probe's configs."""
