#!/usr/bin/env bash
# The OpenMMLab lint set of .pre-commit-config.yaml on every tracked file and every new file git does not ignore,
# with the project's own tools (no download). Fixers rewrite files in place and fail the run, so a second run
# passes; CI (.ci/run) fails on any finding. Extra args go to `pre-commit run` (e.g. `--files a.py b.md`, or a
# hook id such as `flake8`).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VENV="${MMLC_VENV:-$ROOT/.venv}"
export PATH="$VENV/bin:$PATH"
export PRE_COMMIT_HOME="${PRE_COMMIT_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/mmlc/pre-commit}"
if [ "$#" -eq 0 ]; then
  # Not `--all-files`: it checks tracked files only, so a file not yet `git add`ed would pass here unchecked and
  # fail in CI's clean clone.
  FILES=()
  while IFS= read -r -d '' f; do
    if [ -f "$f" ]; then FILES+=("$f"); fi  # a tracked file deleted in the working tree is skipped
  done < <(git ls-files -z --cached --others --exclude-standard)
  set -- --files "${FILES[@]}"
fi
exec pre-commit run --show-diff-on-failure --color never "$@"
