#!/usr/bin/env bash
# The parity oracle (DESIGN.md §6): the official metric packages on the stack they were written
# for, in their own venv (.oracle), driven by hf_metrics/oracle/run.py. Idempotent.
# The recipe is hf_metrics/oracle/venv.py, the same one `rexrank verify --setup` runs for users;
# --test-extras adds what only the tests need (datasets 3 and this checkout, for the loading-script test).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" hf_metrics/oracle/venv.py --venv .oracle --test-extras
