#!/bin/bash
# Screens 4-6 (research/evidence_notes.md): train the configs named on the command line from one config folder of the
# screen's work folder, JOBS at a time (default 2), one thread each, with the code of this checkout (screen 4 pinned
# its own worktree: check out the commit named in the notes to repeat it exactly). A run whose final network file
# exists is skipped; an interrupted one is resumed. From the repository root (PYTHON: the project's interpreter,
# default `python`):
#   research/screen_20261204/run_screen_configs.sh ../screen4 teacher_configs net_t teacher_none_i1200_s0 ...  # 4
#   research/screen_20261204/run_screen_configs.sh ../screen4 student_configs net_g student_oracle_i1200_s0 ... # 5, 6
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export REPO CONFIGS=$2 NETWORK=$3 PYTHON=${PYTHON:-python}
cd "$1" || exit 2
shift 3
mkdir -p logs
run_one() {
  name=$1
  iters=$(echo $name | sed -E 's/.*_i([0-9]+)_s.*/\1/')
  if ls experiments/$name/models/${NETWORK}_${iters}.pth >/dev/null 2>&1; then echo "skip $name"; return; fi
  extra=""
  ls experiments/$name/training_states/*.state >/dev/null 2>&1 && extra="--auto_resume"
  PYTHONPATH=$REPO OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $PYTHON -m research.train \
    -opt $CONFIGS/$name.yml $extra > logs/$name.log 2>&1
  echo "done $name rc=$?"
}
export -f run_one
printf '%s\n' "$@" | xargs -P ${JOBS:-2} -I{} bash -c 'run_one {}'
