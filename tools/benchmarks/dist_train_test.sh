#!/usr/bin/env bash
# Fine-tune and test one downstream config from a pretrained checkpoint (shared by the mmdetection and
# mmsegmentation twins of dist_train.sh).
#   bash tools/benchmarks/dist_train_test.sh FRAMEWORK CONFIG PRETRAIN GPUS [train.py args...]
# GPUS=1 runs one plain process (single-process runs turn SyncBN into BN, so this also works on a CPU);
# GPUS>1 starts torchrun (SyncBN needs GPUs). The work dir defaults to
# ${WORK_ROOT:-work_dirs/benchmarks}/FRAMEWORK/<config name>; pass --work-dir to change it.
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: $0 FRAMEWORK CONFIG PRETRAIN GPUS [train.py args...]" >&2
  exit 2
fi
FRAMEWORK=$1
CONFIG=$2
PRETRAIN=$3
GPUS=$4
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK_ROOT=${WORK_ROOT:-work_dirs/benchmarks}
NAME="$(basename "$CONFIG" .py)"
# shellcheck source=tools/python_env.sh
source "$ROOT/tools/python_env.sh"
[ -f "$PRETRAIN" ] || { echo "pretrained checkpoint not found: $PRETRAIN" >&2; exit 2; }

# mmengine's --cfg-options accumulates over repeats, so the caller's own --cfg-options (or --work-dir,
# where the last one wins) still apply after this one.
ARGS=("$CONFIG" --work-dir "$WORK_ROOT/$FRAMEWORK/$NAME" --cfg-options "model.backbone.init_cfg.checkpoint=$PRETRAIN"
      "${@:5}")

if [ "$GPUS" -eq 1 ]; then
  exec "$PYTHON" "$ROOT/tools/benchmarks/train_test.py" "${ARGS[@]}"
fi
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" --nproc_per_node="$GPUS" \
    "$ROOT/tools/benchmarks/train_test.py" "${ARGS[@]}" --launcher pytorch
