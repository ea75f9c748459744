"""Benchmark RadGraph F1: ours against radgraph 0.1.18 (``F1RadGraph``, ``model_type="radgraph"``).

Workload (issue 4): the IU-Xray test findings scored against themselves rotated by 7, on
random-weight stand-ins built by ``rexrank/testing/standins/radgraph.py`` (the official package's own
classes write the weights, so both sides load the same ``radgraph.tar.gz``):

* ``tiny``: 2-layer hidden-32 encoder, where per-report overhead dominates (as on a GPU);
* ``real``: BERT-base encoder, DyGIE++ defaults (compute-bound on this CPU).

The official code runs in the parity-oracle venv (``.oracle``) in a subprocess and is timed
inside it; model loading is timed apart from scoring on both sides. Also measured: a second
system on the same test set (distinct predictions, references already annotated in-process),
and the agreement of the per-pair scores (max |ours - official|).

    .venv/bin/python scripts/bench_radgraph.py --sizes tiny real [--limit N] [--threads T] [--skip-official]

Prints a table (seconds; ratio = official / ours). Not a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
logger = logging.getLogger("bench_radgraph")


def _pairs(manifest: Path, limit: int | None) -> tuple[list[str], list[str]]:
    from rexrank.testing.workloads import rotated_pairs

    return rotated_pairs(manifest, "findings", limit)


def _official(parts: dict, preds: list[str], refs: list[str], threads: int | None) -> dict:
    from rexrank.metrics.oracle.client import TASKS, oracle_python

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update({"CUDA_VISIBLE_DEVICES": "", **({"OMP_NUM_THREADS": str(threads)} if threads else {})})
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"action": "bench", "model_cache_dir": str(parts["model_cache_dir"]),
                   "predictions": preds, "references": refs}, f)
    code = ("import json,sys,importlib.util as u;s=u.spec_from_file_location('t',sys.argv[1]);m=u.module_from_spec(s);"
            "s.loader.exec_module(m);print(json.dumps(m.run(**json.load(open(sys.argv[2])))))")
    out = subprocess.run([str(oracle_python()), "-P", "-c", code, str(TASKS / "radgraph.py"), f.name],
                         env=env, check=True, capture_output=True, text=True)
    os.unlink(f.name)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ours(preds: list[str], refs: list[str], device: str | None, batch_size: int) -> dict:
    from rexrank.metrics.runtime import models
    from rexrank.metrics.scorers.radgraph import RadGraphScorer

    models.clear_loaded()
    start = time.perf_counter()
    scorer = RadGraphScorer(device=device, batch_size=batch_size)
    load = time.perf_counter() - start
    start = time.perf_counter()
    result = scorer(preds, refs)
    score = time.perf_counter() - start
    scorer.annotator._cache.clear()
    start = time.perf_counter()
    scorer([p + " Unchanged from prior." for p in preds], refs)
    first = time.perf_counter() - start
    start = time.perf_counter()
    scorer([p + " No change." for p in preds], refs)
    second = time.perf_counter() - start
    return {"load": load, "score": score, "first": first, "second": second, "result": result,
            "distinct": len(set(preds) | set(refs))}


def run_size(size: str, args: argparse.Namespace) -> list[str]:
    home = Path(tempfile.mkdtemp(prefix=f"bench-radgraph-{size}-"))
    os.environ.update({"HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub"), "HF_HUB_OFFLINE": "1",
                       "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    from rexrank.testing.standins.radgraph import build_all, store_in_hub_cache

    preds, refs = _pairs(args.manifest, args.limit)
    logger.info("%s: building stand-ins in %s", size, home)
    parts = build_all(home / "build", size=size, seed=0)
    store_in_hub_cache(parts)
    logger.info("%s: ours on %d pairs", size, len(preds))
    ours = _ours(preds, refs, args.device, args.batch_size)
    if args.skip_official:
        return [f"| {size} | {len(preds)} | — | — | {ours['load']:.1f} | {ours['score']:.1f} | — | {ours['first']:.1f} | "
                f"{ours['second']:.1f} | {sum(ours['result'].values['radgraph']) / len(preds):.4f} | — |"]
    logger.info("%s: official ...", size)
    official = _official(parts, preds, refs, args.threads)
    values = ours["result"].values
    worst = max(max(abs(a - b) for a, b in zip(values["radgraph_entity_f1"], official["entity"])),
                max(abs(a - b) for a, b in zip(values["radgraph_relation_f1"], official["relation"])))
    mean = sum(values["radgraph"]) / len(preds)
    return [f"| {size} | {len(preds)} | {official['load']:.1f} | {official['score']:.1f} | {ours['load']:.1f} | "
            f"{ours['score']:.1f} | **{official['score'] / ours['score']:.1f}×** | {ours['first']:.1f} | "
            f"{ours['second']:.1f} | {mean:.4f} | {worst:.1e} |"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", choices=("tiny", "real"), default=["tiny", "real"])
    parser.add_argument("--manifest", type=Path, default=ROOT.parent / "shared" / "data" / "manifests" /
                        "ReXRank_IUXray_test.json", help="IU-Xray test manifest (ReXRank_IUXray_test.json)")
    parser.add_argument("--limit", type=int, help="only the first N studies (a quick look)")
    parser.add_argument("--device", default=None, help="ours: cpu / cuda (default: CUDA when present)")
    parser.add_argument("--batch-size", type=int, default=32, help="ours: encoder segments per forward pass")
    parser.add_argument("--threads", type=int, help="torch threads on both sides (default: torch's choice)")
    parser.add_argument("--skip-official", action="store_true", help="time ours only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    rows = ["| size | pairs | official load s | official score s | ours load s | ours score s | ratio (score) | "
            "ours 1st system s | ours 2nd system s | mean RadGraph | max abs diff vs official |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    print("\n".join(rows), flush=True)
    if len(args.sizes) > 1:  # one process per size: huggingface_hub fixes its cache folder at import
        for size in args.sizes:
            argv_one = [a for a in (argv if argv is not None else sys.argv[1:])]
            i = argv_one.index("--sizes") if "--sizes" in argv_one else None
            if i is not None:
                j = i + 1
                while j < len(argv_one) and not argv_one[j].startswith("--"):
                    j += 1
                del argv_one[i:j]
            out = subprocess.run([sys.executable, __file__, "--sizes", size, *argv_one], check=True,
                                 stdout=subprocess.PIPE, text=True)
            print("\n".join(out.stdout.strip().splitlines()[2:]), flush=True)
        return 0
    print("\n".join(run_size(args.sizes[0], args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
