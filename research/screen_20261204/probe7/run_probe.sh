#!/bin/bash
# Probe 7 with the code of /work/main at d62d7cf (gnr_<term> diagnostics); one run at a time, one thread.
cd /work/screen4
for name in probe7_student_oracle_start_i60_s0 probe7_student_oracle_end_i60_s0 probe7_student_none_start_i60_s0 probe7_student_none_end_i60_s0; do
  PYTHONPATH=/work/main OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 /work/main/.venv/bin/python -m basicsr_skt.train -opt probe7_configs/$name.yml > logs/$name.log 2>&1
  echo "done $name rc=$?"
done
