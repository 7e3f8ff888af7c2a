"""Probe 7 (research/evidence_notes.md): the pull of each distillation term on the ORM in stage 2."""
