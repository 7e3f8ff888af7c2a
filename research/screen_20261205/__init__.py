"""Screen 7 and probe 8 of 2026-12-05 (research/evidence_notes.md): the table script and the probe's configs."""
