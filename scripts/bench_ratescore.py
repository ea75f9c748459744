"""Benchmark: our RaTEScore against the official RaTEScore 0.6.0, in the same run, same weights.

Workload: the 590 IU-Xray test reports (manifest ``report`` field, findings + impression) scored
against themselves rotated by 7 studies. Models: random-weight stand-ins with the real shapes
(``--size real``: DeBERTa-v3-base token classifier for RaTE-NER, MPNet-base for BioLORD;
``--size tiny`` for a quick look), stored under the real repo ids in a temporary HF cache that
both sides read. The official code runs in the parity-oracle venv (``.oracle``) in a subprocess
and times itself; model loading is timed apart from scoring on both sides.

    .venv/bin/python scripts/bench_ratescore.py --size real --threads 1

Prints a table (wall-clock and CPU seconds; speed-up = official / ours) and the largest
per-study difference. On a machine shared with other work, CPU seconds (with ``--threads 1``)
are the stable figure; wall-clock seconds count the waiting too.
Not a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import tempfile
import time
from pathlib import Path

from rexrank.metrics.oracle.client import HERE as ORACLE_DIR

ROOT = Path(__file__).resolve().parents[1]
logger = logging.getLogger("bench_ratescore")


def _workload(manifest: Path, limit: int | None) -> tuple[list[str], list[str]]:
    from rexrank.testing.workloads import rotated_pairs

    return rotated_pairs(manifest, "findings_impression", limit)


def _prepare(home: Path, size: str, corpus: list[str], rules: Path) -> None:
    os.environ.update({"HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub"), "HF_HUB_OFFLINE": "1",
                       "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    from rexrank import assets
    from rexrank.testing import hubcache
    from rexrank.testing.standins.ratescore import BIOLORD_REPO, NER_REPO, build_biolord, build_ner

    assets.seed_directory(ROOT.parent / "shared" / "data")
    assets.seed("ratescore/rush_rules", rules)
    hubcache.put_folder(NER_REPO, build_ner(home / "build" / "ner", size, corpus=corpus))
    hubcache.put_folder(BIOLORD_REPO, build_biolord(home / "build" / "biolord", size, corpus=corpus))


def _official(python: Path, predictions: list[str], references: list[str]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update({"LOGURU_LEVEL": "INFO", "CUDA_VISIBLE_DEVICES": ""})
    request = json.dumps({"task": "ratescore_bench", "args": {"candidates": predictions, "references": references}})
    out = subprocess.run([str(python), str(ORACLE_DIR / "run.py")], input=request + "\n",
                         capture_output=True, text=True, env=env, cwd=str(ROOT), check=True)
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    if not answer["ok"]:
        raise RuntimeError(answer["error"])
    return answer["result"]


def _ours(predictions: list[str], references: list[str], batch_size: int) -> dict:
    from rexrank.metrics.runtime import models
    from rexrank.metrics.scorers.ratescore.scorer import RaTEScoreScorer

    t, c = time.perf_counter(), time.process_time()
    scorer = RaTEScoreScorer(progress=False, batch_size=batch_size)
    scorer._models()
    from rexrank.metrics.scorers.ratescore.sentences import default_splitter

    default_splitter()
    loaded, loaded_cpu = time.perf_counter(), time.process_time()
    values = scorer(predictions, references).values["ratescore"]
    done, done_cpu = time.perf_counter(), time.process_time()
    models.clear_loaded()
    return {"load": loaded - t, "score": done - loaded, "load_cpu": loaded_cpu - c, "score_cpu": done_cpu - loaded_cpu,
            "values": values}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("tiny", "real"), default="real")
    parser.add_argument("--limit", type=int, default=None, help="first N studies only")
    parser.add_argument("--batch-size", type=int, default=64, help="our NER batch size")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads on both sides (default: torch's own choice); 1 is far faster on a loaded machine")
    parser.add_argument("--manifest", type=Path, default=ROOT.parent / "shared" / "data" / "manifests" / "ReXRank_IUXray_test.json")
    parser.add_argument("--oracle-python", type=Path, default=ROOT / ".oracle" / "bin" / "python")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rules = sorted((args.oracle_python.parent.parent).glob("lib/python*/site-packages/resources/en/rush_rules.tsv"))
    if not rules:
        parser.error("medspacy's rush_rules.tsv not found in the oracle venv (bash scripts/oracle_env.sh)")
    predictions, references = _workload(args.manifest, args.limit)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)  # the official subprocess
    with tempfile.TemporaryDirectory(prefix="bench-ratescore-") as home:
        _prepare(Path(home), args.size, references, rules[0])
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        ours = _ours(predictions, references, args.batch_size)
        official = _official(args.oracle_python, predictions, references)
    if len(official["values"]) != len(ours["values"]):
        raise SystemExit(f"official returned {len(official['values'])} values for {len(ours['values'])} studies")
    worst = max(abs(a - b) for a, b in zip(ours["values"], official["values"]))
    distinct = len(set(predictions) | set(references))
    print(f"RaTEScore, {len(references)} IU-Xray test studies ({distinct} distinct reports), size={args.size}, "
          f"CPU threads={torch.get_num_threads()}")
    print(f"{'':10} {'official':>10} {'ours':>10} {'speed-up':>9}")
    for key in ("load", "score", "load_cpu", "score_cpu"):
        print(f"{key:10} {official[key]:10.1f} {ours[key]:10.1f} {official[key] / ours[key]:8.1f}x")
    mean_o, mean_u = (sum(v) / len(v) for v in (official["values"], ours["values"]))
    print(f"mean RaTEScore: official {mean_o:.6f}, ours {mean_u:.6f}; largest per-study difference {worst:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
