#!/bin/bash
# Screen 5 (docs/evidence_notes.md): train the stage-2 configs named on the command line, JOBS at a time, one thread
# each, from the worktree pinned for screen 4; finished runs are skipped, interrupted ones resumed.
JOBS=${JOBS:-2}
cd /work/screen4
run_one() {
  name=$1
  iters=$(echo $name | sed -E 's/.*_i([0-9]+)_s.*/\1/')
  if ls experiments/$name/models/net_g_${iters}.pth >/dev/null 2>&1; then echo "skip $name"; return; fi
  extra=""
  ls experiments/$name/training_states/*.state >/dev/null 2>&1 && extra="--auto_resume"
  PYTHONPATH=/work/wt_screen4 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 /work/main/.venv/bin/python -m basicsr_skt.train \
    -opt student_configs/$name.yml $extra > logs/$name.log 2>&1
  echo "done $name rc=$?"
}
export -f run_one
printf '%s\n' "$@" | xargs -P $JOBS -I{} bash -c 'run_one {}'
