#!/usr/bin/env bash
# Fine-tune and test an mmdetection benchmark config from an mmlc checkpoint.
#   bash tools/benchmarks/mmdetection/dist_train.sh CONFIG PRETRAIN GPUS [train.py args, e.g. --cfg-options ...]
# PRETRAIN: a full pretraining Runner checkpoint, or tools/model_converters/extract_backbone.py
# --keep-prefix output. GPUS=1 runs a single process (also on a CPU, for a smoke run).
set -euo pipefail
exec bash "$(dirname "$0")/../dist_train_test.sh" mmdetection "$@"
