#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment at .venv and install the pinned OpenMMLab stack.
#
#   bash tools/setup_env.sh          # idempotent: a second run with nothing to do takes seconds
#
# Pins live in requirements/stack.txt only. mmcv has no wheel for current torch, so it is built from its
# sdist with two patches (C++20 for ATen, numpy-2-safe hue) and the wheel is cached outside the repo in
# ${MMLC_CACHE:-~/.cache/mmlc}, keyed by mmcv/torch/python version and by CPU-only vs CUDA ops.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMLC_VENV:-$ROOT/.venv}"
REQ="$ROOT/requirements/stack.txt"
CACHE="${MMLC_CACHE:-$HOME/.cache/mmlc}"
PY="${PYTHON:-python3.11}"
STEP="(start)"

log() { printf '[mmlc setup] %s\n' "$*" >&2; }
fail() { log "FAILED at step: $STEP"; exit 1; }
trap fail ERR

pin() {  # pin NAME -> the exact requirement line from requirements/stack.txt
  local line
  line="$(grep -iE "^$1([=<>!~ ]|$)" "$REQ" | head -n1)"
  [ -n "$line" ] || { log "no pin for '$1' in $REQ"; return 1; }
  printf '%s\n' "$line"
}

# Everything that decides what the venv holds: a change to any of these re-runs the install.
STAMP_SRC="$(cat "$REQ" "$ROOT/tools/setup_env.sh" "$ROOT/setup.cfg" "$ROOT/setup.py" 2>/dev/null | sha256sum | cut -c1-16)"
STAMP="$VENV/.mmlc-setup-stamp"

STEP="check for an up-to-date environment"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_SRC" ] \
   && "$VENV/bin/python" -c "import mmlc, mmcv.ops" >/dev/null 2>&1; then
  log "environment at $VENV is up to date"
  exit 0
fi

STEP="create the virtual environment ($PY -m venv $VENV)"
command -v "$PY" >/dev/null || PY=python3
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip install --disable-pip-version-check)

STEP="install build tools and torch"
"${PIP[@]}" -q "$(pin setuptools)" "$(pin wheel)" "$(pin ninja)"
"${PIP[@]}" -q "$(pin torch)" "$(pin torchvision)" "$(pin mmengine)"

STEP="build or reuse the mmcv wheel"
MMCV_PIN="$(pin mmcv)"
MMCV_VER="${MMCV_PIN#*==}"
TORCH_VER="$("$VPY" -c 'import torch; print(torch.__version__.split("+")[0])')"
PYTAG="$("$VPY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
OPS="cpu"
if command -v nvcc >/dev/null 2>&1 && "$VPY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  OPS="cuda"
fi
WHEEL_DIR="$CACHE/wheels/mmcv-$MMCV_VER-torch$TORCH_VER-$PYTAG-$OPS"
mkdir -p "$WHEEL_DIR"
if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
  SRC="$(mktemp -d)"
  log "building mmcv $MMCV_VER ($OPS ops) from its sdist; ~20 minutes on 2 cores, done once per machine"
  "$VPY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation "$MMCV_PIN" -d "$SRC"
  tar -xzf "$SRC"/mmcv-"$MMCV_VER".tar.gz -C "$SRC"
  MMCV_SRC="$SRC/mmcv-$MMCV_VER"
  STEP="patch mmcv (C++20 for ATen; numpy-2 safe adjust_hue)"
  sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$MMCV_SRC/setup.py"
  grep -q -- '-std=c++20' "$MMCV_SRC/setup.py"
  sed -i 's/np\.uint8(hue_factor \* 255)/np.uint8(int(hue_factor * 255) % 256)/g' \
    "$MMCV_SRC/mmcv/image/photometric.py"
  grep -q 'int(hue_factor \* 255) % 256' "$MMCV_SRC/mmcv/image/photometric.py"
  STEP="compile mmcv $MMCV_VER"
  if [ "$OPS" = cuda ]; then export FORCE_CUDA=1; fi
  MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "$VPY" -m pip wheel -q --no-deps --no-build-isolation "$MMCV_SRC" -w "$SRC/dist"
  mv "$SRC"/dist/mmcv-*.whl "$WHEEL_DIR/"
  rm -rf "$SRC"
fi
STEP="install the mmcv wheel"
"${PIP[@]}" -q --no-deps --force-reinstall "$(ls "$WHEEL_DIR"/mmcv-*.whl | head -n1)"

STEP="install the rest of the stack"
# mmcv's own dependencies (addict, yapf, opencv, ...) plus the downstream libraries and mmlc's extras.
"${PIP[@]}" -q addict packaging Pillow pyyaml opencv-python \
  "$(pin mmpretrain)" "$(pin mmdet)" "$(pin mmsegmentation)" "$(pin mmselfsup)" "$(pin mmcls)" "$(pin ftfy)" "$(pin regex)" \
  "$(pin scikit-image)" "$(pin tensorboard)" "$(pin matplotlib)" "$(pin scikit-learn)" "$(pin pytest)" \
  "$(pin colorama)" "$(pin pandas)" "$(pin requests)" "$(pin tabulate)"
STEP="install openmim without its dependencies (requirements/stack.txt says why)"
"${PIP[@]}" -q --no-deps "$(pin openmim)"

STEP="install the lint tools (.pre-commit-config.yaml runs them from this environment)"
"${PIP[@]}" -q "$(pin pre-commit)" "$(pin pre-commit-hooks)" "$(pin flake8)" "$(pin isort)" "$(pin yapf)" \
  "$(pin codespell)" "$(pin docformatter)" "$(pin mdformat)" "$(pin mdformat-openmmlab)"

STEP="install mmlc (editable)"
"${PIP[@]}" -q --no-deps --no-build-isolation -e "$ROOT"

STEP="verify the installation"
"$VPY" - <<'PYEOF'
import mmcv, mmcv.ops, mmdet, mmengine, mmpretrain, mmseg, torch  # noqa: F401
import mmcls, mmselfsup  # noqa: F401  (both assert their mmcv range on import)
import mmlc  # noqa: F401
print(f'torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, '
      f'mmpretrain {mmpretrain.__version__}, mmselfsup {mmselfsup.__version__}, mmdet {mmdet.__version__}, '
      f'mmseg {mmseg.__version__}')
PYEOF
echo "$STAMP_SRC" > "$STAMP"
log "ready: $VENV"
