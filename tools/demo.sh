#!/usr/bin/env bash
# Quick start, command 1: set up .venv if needed, then run the demo pretraining (ResNet-18, BYOL + LC-loss,
# 300 iterations on scikit-image's bundled photos, CPU) into work_dirs/demo. Extra args go to tools/train.py.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" tools/train.py configs/byol_lc/byol-lc_resnet18_1xb8-coslr-300i_bundled-photos.py --work-dir work_dirs/demo "$@"
