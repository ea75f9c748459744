"""Check a result with the official implementations: re-score a sample of its studies with the
official packages, on the weights and revisions its provenance records, and compare.

  rexrank verify --setup                  once: the official packages in their own venv
  rexrank verify results/my_model         re-score 50 studies (empty and longest included), compare

Prints, per metric, the studies checked, the largest and mean |ours - official|, the tolerance
(the parity bounds of the test suite) and PASS/FAIL, names every study beyond it, and writes
verify.json next to results.json. Exit status 1 when any metric FAILs.

The venv (CPU torch 2.13, transformers 4.57, bert-score 0.3.11, fast-bleu 0.0.90, radgraph
0.1.18, f1chexbert 0.0.2, RaTEScore 0.6.0 + medspacy) lives in $REXRANK_ORACLE_VENV, else
$HF_HOME/rexrank/oracle-venv (a checkout's .oracle when there is one); about 1.7 GB.
FineRadScore is never re-run (an LLM judge samples anew); GREEN only when asked (--metrics green).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="?", type=Path, help="a results folder (or its results.json)")
    parser.add_argument("--setup", action="store_true",
                        help="create the venv with the official packages first (once; idempotent)")
    parser.add_argument("--sample", type=int, default=50, metavar="N", help="studies to re-score (default 50)")
    parser.add_argument("--metrics", nargs="+", default=None, metavar="METRIC",
                        help="metrics to check (default: every metric of the result)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--oracle-venv", type=Path, default=None,
                        help="where the official packages' venv is (default: $REXRANK_ORACLE_VENV, else "
                             "$HF_HOME/rexrank/oracle-venv)")
    parser.add_argument("--torch-index-url", default=None,
                        help="with --setup: the index for torch (e.g. https://download.pytorch.org/whl/cpu for a "
                             "CPU-only build; PyPI's Linux wheel brings the CUDA libraries)")
    parser.add_argument("--predictions", type=Path, default=None,
                        help="the predictions file, for a results.json that does not record its texts")
    parser.add_argument("--manifest", type=Path, default=None, help="with --predictions: the test-set manifest used")


def run(args: argparse.Namespace) -> int:
    from rexrank.errors import InputError

    if args.setup:
        from rexrank.metrics.oracle import venv

        where = args.oracle_venv or venv.default_venv()
        python = venv.create(where, torch_index_url=args.torch_index_url)
        print(f"The official packages are ready in {python.parent.parent} ({venv.DISK_COST.split(';')[0]}).")
        if args.results is None:
            return 0
    if args.results is None:
        raise InputError("give a results folder to check (or --setup to create the official packages' venv)")
    metrics = [m for item in args.metrics for m in item.split(",") if m] if args.metrics else None
    from rexrank.metrics.reporting.tables import verify_table
    from rexrank.metrics.verify.run import verify_result

    report = verify_result(args.results, sample=args.sample, metrics=metrics, seed=args.seed,
                           oracle_venv=args.oracle_venv, predictions=args.predictions, manifest=args.manifest,
                           progress=logger.isEnabledFor(logging.INFO))
    print(verify_table(report))
    print(f"\nWrote {Path(report['results']).parent / 'verify.json'}")
    return 0 if report["passed"] else 1
