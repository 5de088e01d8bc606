# Sourced (not run) by the launch scripts, with ROOT set to the repository root. Sets PYTHON to the
# project's .venv interpreter unless PYTHON is given or another virtual environment is active, and puts
# the repository on PYTHONPATH so that `import mmlc` works without installing it.
if [ -z "${PYTHON:-}" ]; then
  PYTHON=python
  if [ -z "${VIRTUAL_ENV:-}" ] && [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; fi
fi
export PYTHON
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
