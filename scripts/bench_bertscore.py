"""Benchmark: our BERTScore against bert-score 0.3.11, interleaved, several repetitions.

The machine this runs on is shared and its load changes by the minute, so one timing of each
side says little: each repetition runs both sides back to back, alternating which goes first,
on the same real-size random-weight distilroberta-base stand-in and the same workload as
``bench_metrics_core.py`` (the 590 IU-Xray test findings against themselves rotated by 7), with
1 torch thread on each side. Ours starts every repetition with empty text caches; bert-score
runs in the parity-oracle venv (``.oracle``), timed inside its process. Model loading is apart.

    .venv/bin/python scripts/bench_bertscore.py --repeats 5

Prints one row per run (wall-clock and CPU seconds) and the medians. Not a test.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
logger = logging.getLogger("bench_bertscore")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="only the first N studies")
    parser.add_argument("--size", choices=("tiny", "real"), default="real")
    parser.add_argument("--manifest", type=Path, default=ROOT.parent / "shared" / "data" / "manifests" /
                        "ReXRank_IUXray_test.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    home = Path(tempfile.mkdtemp(prefix="bench-bertscore-"))
    os.environ.update({"HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub"), "HF_HUB_OFFLINE": "1",
                       "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                       "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""})
    import torch

    torch.set_num_threads(1)
    from rexrank.datasets.tracks import load_track
    from rexrank.metrics.oracle.client import Oracle, oracle_python
    from rexrank.metrics.registry import load_scorer
    from rexrank.testing import hubcache
    from rexrank.testing.standins import core

    folder = core.build_distilroberta(home / "build" / "distilroberta", size=args.size)
    for repo in ("distilbert/distilroberta-base", "distilroberta-base"):  # ours, bert-score's legacy id
        hubcache.put_folder(repo, folder)
    refs = load_track("iu_xray", "findings", manifest=str(args.manifest)).references
    refs = refs[:args.limit] if args.limit else refs
    preds = refs[7:] + refs[:7]

    scorer = load_scorer("bertscore", device="cpu")
    encoder = scorer._load()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    oracle = Oracle(str(oracle_python()), env)
    rows = []
    try:
        oracle("bench_official", metric="bertscore", predictions=preds[:4], references=refs[:4])  # load apart
        for rep in range(args.repeats):
            for side in (("ours", "official") if rep % 2 == 0 else ("official", "ours")):
                if side == "ours":
                    for cache in encoder.cache.values():
                        cache.clear()
                    t, c = time.perf_counter(), time.process_time()
                    scorer(preds, refs)
                    wall, cpu = time.perf_counter() - t, time.process_time() - c
                else:
                    timing = oracle("bench_official", metric="bertscore", predictions=preds, references=refs)
                    wall, cpu = timing["score"], timing["score_cpu"]
                rows.append((rep + 1, side, wall, cpu, os.getloadavg()[0]))
                logger.info("run %d %s: %.1f s wall, %.1f s CPU (load average %.1f)", *rows[-1])
    finally:
        oracle.close()
    print(f"\nBERTScore, {len(preds)} pairs, {args.size}-size distilroberta-base stand-in, 1 thread each side, "
          f"{os.cpu_count()} CPUs; ours batch {scorer.batch_size} / {scorer.max_tokens} tokens, bert-score batch 64\n")
    print("| run | side | wall s | CPU s | load avg |\n| ---: | --- | ---: | ---: | ---: |")
    for rep, side, wall, cpu, load in rows:
        print(f"| {rep} | {side} | {wall:.1f} | {cpu:.1f} | {load:.1f} |")
    for side in ("ours", "official"):
        walls = [r[2] for r in rows if r[1] == side]
        cpus = [r[3] for r in rows if r[1] == side]
        print(f"| median | {side} | {statistics.median(walls):.1f} | {statistics.median(cpus):.1f} | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
