#!/bin/bash
# Probe 7 (research/evidence_notes.md): train the four probe configs of make_probe_configs.py in screen 4's work folder,
# one run at a time, one thread. It ran with the code of main at d62d7cf (gnr_<term> diagnostics). From the repository
# root (PYTHON: the interpreter of the project's environment, default `python`):
#   research/screen_20261204/probe7/run_probe.sh ../screen4
set -u
REPO=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$1" || exit 2
mkdir -p logs
for name in probe7_student_oracle_start_i60_s0 probe7_student_oracle_end_i60_s0 probe7_student_none_start_i60_s0 \
    probe7_student_none_end_i60_s0; do
  PYTHONPATH=$REPO OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 ${PYTHON:-python} -m research.train \
    -opt probe7_configs/$name.yml > logs/$name.log 2>&1
  echo "done $name rc=$?"
done
