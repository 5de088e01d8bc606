#!/usr/bin/env bash
# The paper's downstream protocol set (Tables 1-4, 8, 9) from one pretrained checkpoint, then the
# Markdown results table.
#   bash tools/benchmarks/run_all.sh PRETRAIN [GPUS] [train.py args...]
# GPUS defaults to 8 (the mmdet configs assume 8 GPUs x 2 images, the mmseg ones 4 GPUs; see
# the README's "Downstream evaluation" for other counts). ONLY=REGEX runs the configs whose path matches REGEX.
# Work dirs: ${WORK_ROOT:-work_dirs/benchmarks}/FRAMEWORK/<config name>; table: $WORK_ROOT/results.md.
# The mini-COCO annotation files of Table 9 are made from data/coco on first use (seed 0).
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 PRETRAIN [GPUS] [train.py args...]" >&2
  exit 2
fi
PRETRAIN=$1
GPUS=${2:-8}
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export WORK_ROOT=${WORK_ROOT:-work_dirs/benchmarks}
# shellcheck source=tools/python_env.sh
source "$ROOT/tools/python_env.sh"

ANN=data/coco/annotations
for pct in 5 10; do
  subset="$ANN/instances_train2017_${pct}pct_seed0.json"
  if [ ! -f "$subset" ] && [ -f "$ANN/instances_train2017.json" ] && [[ "mask-rcnn_r50_fpn_8xb2-1x_coco-${pct}pct" =~ ${ONLY:-.} ]]; then
    "$PYTHON" "$ROOT/tools/dataset_converters/coco_subset.py" "$ANN/instances_train2017.json" "$subset" \
      --fraction "$(printf '0.%02d' "$pct")" --seed 0
  fi
done

FAILED=()
while read -r framework config; do
  [[ "$config" =~ ${ONLY:-.} ]] || continue
  echo "=== $framework: $config" >&2
  if ! bash "$ROOT/tools/benchmarks/$framework/dist_train.sh" "$config" "$PRETRAIN" "$GPUS" "${@:3}" </dev/null; then
    FAILED+=("$config")
  fi
done < <("$PYTHON" "$ROOT/tools/benchmarks/results_table.py" --list)

"$PYTHON" "$ROOT/tools/benchmarks/results_table.py" "$WORK_ROOT" --out "$WORK_ROOT/results.md"
if [ ${#FAILED[@]} -gt 0 ]; then
  printf 'failed: %s\n' "${FAILED[@]}" >&2
  exit 1
fi
