#!/usr/bin/env bash
# The parity oracle (DESIGN.md §6): the official metric packages on the stack they were written
# for, in their own venv (.oracle), driven by hf_metrics/oracle/run.py. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# datasets 3 runs our builder as a loading script, which imports rexrank.datasets: this checkout,
# without its dependencies (the oracle keeps the official packages' transformers 4 stack).
oracle_rexrank() {
  .oracle/bin/python -c "import rexrank.datasets.manifests" 2>/dev/null || .oracle/bin/pip install -q --no-deps -e .
}
if .oracle/bin/python -c "import bert_score, fast_bleu, radgraph, f1chexbert, RaTEScore, medspacy, datasets" 2>/dev/null; then
  oracle_rexrank
  exit 0
fi
[ -x .oracle/bin/python ] || "$PY" -m venv .oracle
# pip >= 24.1 refuses bert-score 0.3.11's malformed metadata.
.oracle/bin/python -m pip install -q "pip<24.1"
.oracle/bin/pip install -q "torch==2.13.0"
constraints=$(mktemp)
echo "torch==2.13.0" > "$constraints"
.oracle/bin/pip install -q -c "$constraints" "transformers<5" bert-score==0.3.11 fast-bleu==0.0.90 \
  radgraph==0.1.18 requests f1chexbert==0.0.2 RaTEScore==0.6.0 medspacy "pandas<3" "scikit-learn<1.8" \
  "datasets>=3.6,<4" "pyarrow<21"  # datasets 3 runs our builder as a loading script; pyarrow 21+ needs numpy 2
rm -f "$constraints"
oracle_rexrank
