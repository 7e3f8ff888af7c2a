#!/usr/bin/env bash
# One device check on a CUDA machine: the GPU test suite (pytest -m gpu), the training-step benchmark (fp32 / bf16 /
# fp16 side by side at the official size) and the inference benchmark (1000 x 1500, whole and tiled, fp32 and AMP),
# written to ONE Markdown report. About 5-8 minutes on an H100.
#
#   scripts/gpu_check.sh [REPORT]        # default results/gpu_check.md
#
# Environment: PYTHON (default: python), GPU_CHECK_ITERS (timed training steps, default 10), GPU_CHECK_REPEATS (timed
# inference runs, default 3). Exits 2 at once, with one message, when no CUDA GPU is visible; 1 when a part failed
# (the report is written anyway and names it).
set -uo pipefail

REPORT=${1:-results/gpu_check.md}
PY=${PYTHON:-python}
ITERS=${GPU_CHECK_ITERS:-10}
REPEATS=${GPU_CHECK_REPEATS:-3}
cd "$(dirname "$0")/.."

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "error: no CUDA GPU is visible (torch.cuda.is_available() is false for $PY); run scripts/gpu_check.sh on a" \
       "machine with an NVIDIA GPU and a CUDA build of torch" >&2
  exit 2
fi

mkdir -p "$(dirname "$REPORT")" || exit 1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
DEVICE=$("$PY" -c 'import torch; p = torch.cuda.get_device_properties(0)
print(f"{p.name}, {p.total_memory / 2**30:.0f} GiB, compute capability {p.major}.{p.minor}")')
VERSIONS=$("$PY" -c 'import torch
print(torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())')
AMP=$("$PY" -c 'import torch; print("fp32 bf16 fp16" if torch.cuda.is_bf16_supported() else "fp32 fp16")')
INFER_AMP=${AMP#fp32 }
status=0

show() {  # show TABLE LOG: the benchmark's table, or the end of its log when it wrote none
  if [ -s "$1" ]; then cat "$1"; else echo '```'; tail -30 "$2"; echo '```'; fi
}

step() {  # step NAME LOGFILE COMMAND...: run, record the exit status and the seconds
  local name=$1 log=$2
  shift 2
  echo "== $name" >&2
  local start=$SECONDS
  "$@" >"$log" 2>&1
  local rc=$?
  echo "$name|$rc|$((SECONDS - start))" >>"$WORK/steps"
  [ $rc -eq 0 ] || status=1
  return 0
}

step 'GPU test suite (pytest -m gpu)' "$WORK/pytest.txt" \
  timeout 420 "$PY" -m pytest -m gpu tests/test_gpu.py -s -q -rA -p no:cacheprovider
step 'training step benchmark' "$WORK/train_bench.txt" \
  timeout 240 "$PY" benchmarks/bench_train_step.py --config official --device cuda --amp $AMP --iters "$ITERS" \
  --out "$WORK/train.md"
step 'inference benchmark' "$WORK/infer_bench.txt" \
  timeout 240 "$PY" benchmarks/bench_inference.py --device cuda --size 1000 1500 --tiles 512 --overlaps 64 \
  --amp $INFER_AMP --skip-official --warmup 1 --repeats "$REPEATS" --out "$WORK/infer.md"

{
  echo "# GPU check"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "- GPU: $DEVICE"
  echo "- torch $VERSIONS"
  echo
  echo "| part | exit status | seconds |"
  echo "|---|---|---|"
  while IFS='|' read -r name rc seconds; do
    echo "| $name | $rc$([ "$rc" -eq 0 ] || echo ' **FAILED**') | $seconds |"
  done <"$WORK/steps"
  echo
  echo "## GPU test suite"
  echo
  echo "Measured values (one line per check):"
  echo
  echo '```'
  grep '^GPU-CHECK' "$WORK/pytest.txt" | sed 's/^GPU-CHECK //'
  echo '```'
  echo
  echo 'Result:'
  echo
  echo '```'
  grep -E '^(PASSED|FAILED|ERROR|SKIPPED)|passed|failed|skipped' "$WORK/pytest.txt" | tail -40
  echo '```'
  echo
  echo "## Training step (official config, fp32 / AMP side by side)"
  echo
  show "$WORK/train.md" "$WORK/train_bench.txt"
  echo
  echo "## Inference, 1000 x 1500 bracket, whole and tiled"
  echo
  show "$WORK/infer.md" "$WORK/infer_bench.txt"
} >"$REPORT"

echo "report: $REPORT" >&2
exit $status
