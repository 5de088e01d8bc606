#!/usr/bin/env bash
# GPU self-check: mmcv's CUDA ops, AMP training steps of BYOL and BYOL + LC on every visible GPU, the lean
# LC-loss and the data pipeline, in one table (docs/gpu_check.md). Exit code 1 if any part FAILs.
#   bash tools/misc/gpu_check.sh [--gpus N] [--batch B] [--reduced] [--parts PART ...]
# Without CUDA it runs every part at tiny scale on the CPU (what the test suite does).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=tools/python_env.sh
source "$ROOT/tools/python_env.sh"
# Freed tensors must leave the resident set for the CPU peak-memory readings (benchmarks/_common.py).
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-65536}"
exec "$PYTHON" "$ROOT/tools/misc/gpu_check.py" "$@"
