"""Benchmark the ReXrank-protocol adapter: what the sandbox and the environment cache cost.

Runs the tiny submission of the tests (``rexrank.testing.submissions``, template reports, one
pure-Python helper installed from a wheel in the folder) through the real
``run_inference_script`` on a synthetic test set of PNGs, interleaving ``isolation="sandbox"``
and ``isolation="none"`` runs, and times a cold environment build against a cached one.
Wall-clock and CPU seconds (ours + children's, from ``resource.getrusage``) per run. Nothing is
downloaded (``PIP_NO_INDEX=1``).

    .venv/bin/python scripts/bench_inference_script.py [--studies 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), _cpu()
    fn()
    return time.perf_counter() - wall, _cpu() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the synthetic manifest is (rightly) not the official one
    os.environ.update({"HF_HUB_OFFLINE": "1", "PIP_NO_INDEX": "1"})
    from bench_generate import _testset  # the same synthetic IU-Xray-like test set

    from rexrank.space.generation.inference_script import run_inference_script
    from rexrank.testing.submissions import write_submission

    with tempfile.TemporaryDirectory(prefix="rexrank-bench-script-") as tmp:
        root = Path(tmp)
        manifest = _testset(root, args.studies)
        folder = write_submission(root / "submission", "ok")
        cold, warm = [], []
        for k in range(args.repeats):  # a cold build (fresh cache) vs the cached environment, interleaved
            venvs = root / f"venvs-{k}"
            cold.append(_timed(lambda: run_inference_script(folder, "iu_xray", root / f"c{k}.json", manifest=manifest,
                                                            data_dir=root / "images", venvs=venvs, limit=1)))
            warm.append(_timed(lambda: run_inference_script(folder, "iu_xray", root / f"w{k}.json", manifest=manifest,
                                                            data_dir=root / "images", venvs=venvs, limit=1)))
        runs: dict[str, list[tuple[float, float]]] = {"sandbox": [], "none": []}
        for k in range(args.repeats):
            for mode in ("sandbox", "none") if k % 2 == 0 else ("none", "sandbox"):
                out = root / f"{mode}{k}.json"
                runs[mode].append(_timed(lambda: run_inference_script(
                    folder, "iu_xray", out, manifest=manifest, data_dir=root / "images", venvs=root / "venvs-0",
                    isolation=mode)))
    print(f"{args.studies} studies, {args.repeats} repeats, median wall s / CPU s (ours + children)")
    for name, values in (("environment: cold build + 1 study", cold), ("environment: cached + 1 study", warm),
                         (f"run {args.studies} studies, sandbox", runs["sandbox"]),
                         (f"run {args.studies} studies, no isolation", runs["none"])):
        print(f"  {name:42s} {statistics.median(v[0] for v in values):7.3f} s wall  "
              f"{statistics.median(v[1] for v in values):7.3f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
