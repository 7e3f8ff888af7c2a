#!/bin/bash
# Screens 4-6 (docs/evidence_notes.md): train the configs named on the command line from one config folder of
# /work/screen4, JOBS at a time (default 2), one thread each, with the code of the worktree pinned for screen 4.
# A run whose final network file exists is skipped; an interrupted one is resumed.
#   run_screen_configs.sh teacher_configs net_t teacher_none_i1200_s0 ...   # screen 4 (teachers on a frozen ORM)
#   run_screen_configs.sh student_configs net_g student_oracle_i1200_s0 ... # screens 5 and 6 (stage 2)
export CONFIGS=$1 NETWORK=$2
shift 2
cd /work/screen4
run_one() {
  name=$1
  iters=$(echo $name | sed -E 's/.*_i([0-9]+)_s.*/\1/')
  if ls experiments/$name/models/${NETWORK}_${iters}.pth >/dev/null 2>&1; then echo "skip $name"; return; fi
  extra=""
  ls experiments/$name/training_states/*.state >/dev/null 2>&1 && extra="--auto_resume"
  PYTHONPATH=/work/wt_screen4 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 /work/main/.venv/bin/python -m basicsr_skt.train \
    -opt $CONFIGS/$name.yml $extra > logs/$name.log 2>&1
  echo "done $name rc=$?"
}
export -f run_one
printf '%s\n' "$@" | xargs -P ${JOBS:-2} -I{} bash -c 'run_one {}'
