#!/usr/bin/env bash
# Set up a working environment in .venv (idempotent).
#   bash scripts/setup.sh         the package and the Space
#   bash scripts/setup.sh --dev   + test tools, Ray (the cluster tests), the parity-oracle venv (.oracle) and Chromium
# torch is installed first and pinned to a CPU build, so no dependency pulls a CUDA build.
# On a GPU machine, install the CUDA torch you want into .venv first; it is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade "pip>=24"
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q "torch==2.13.0"
if [ "$dev" = 1 ]; then
  .venv/bin/pip install -q -e ".[space,dev,ray]"
  bash scripts/oracle_env.sh
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "warning: could not install chromium; browser tests will fail" >&2
    else
      echo "warning: install Debian's chromium for the browser tests (sudo apt-get install chromium)" >&2
    fi
  fi
else
  .venv/bin/pip install -q -e ".[space]"
fi
