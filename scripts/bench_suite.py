"""Benchmark: `rexrank score` on the IU-Xray test set, first run against an identical second run
(per-study score cache), each in a fresh process as a user would run them.

Stand-in checkpoints with the real architectures (``--size real``: distilroberta-base and
bert-base-uncased shapes, random weights; ``tiny`` for a quick check) are put under their real
repo ids in a temporary HF cache; nothing is downloaded. The goal (issue 6): the second run
finishes in seconds.

    .venv/bin/python scripts/bench_suite.py --size real

Prints a table: run, wall seconds, pairs scored vs read from the cache. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("REXRANK_SHARED", ROOT.parent / "shared"))


def _setup(home: Path, size: str) -> None:
    os.environ.update({"HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub"), "HF_HUB_OFFLINE": "1",
                       "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                       "REXRANK_SCORE_CACHE": str(home / "scores")})
    from rexrank import assets
    from rexrank.testing import hubcache
    from rexrank.testing.standins import core

    assets.seed_directory(SHARED / "data")
    folder = core.build_distilroberta(home / "build" / "distilroberta", size=size)
    hubcache.put_folder("distilbert/distilroberta-base", folder)
    chex = core.build_chexbert(home / "build" / "chexbert", size=size)
    hubcache.put_folder("google-bert/bert-base-uncased", chex["bert"])
    hubcache.put_files("StanfordAIMI/RRG_scorers", {"chexbert.pth": chex["chexbert"]})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("tiny", "real"), default="real")
    parser.add_argument("--metrics", nargs="+", default=["bleu2", "bertscore", "semb_score"])
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="rexrank-bench-suite-"))
    _setup(home, args.size)
    manifest = json.loads((SHARED / "data" / "manifests" / "ReXRank_IUXray_test.json").read_text())
    preds = {k: str(v["section_findings"]).split(".")[0] + ". No pneumothorax." for k, v in manifest.items()}
    (home / "preds.json").write_text(json.dumps(preds))
    rows = []
    for run in ("first", "second (cached)"):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rexrank", "-q", "score", "--dataset", "iu_xray", "--track", "findings",
                        "--predictions", str(home / "preds.json"), "--metrics", *args.metrics,
                        "--out", str(home / "out")], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        cache = json.loads((home / "out" / "results.json").read_text())["provenance"]["cache"]
        rows.append((run, wall, sum(cache["computed"].values()), sum(cache["hits"].values())))
    print(f"\nrexrank score, IU-Xray test findings (590 studies), metrics {' '.join(args.metrics)}, "
          f"stand-ins size={args.size}, {os.cpu_count()} CPUs")
    print(f"{'run':<18}{'wall s':>8}{'pairs scored':>14}{'from cache':>12}")
    for run, wall, computed, hits in rows:
        print(f"{run:<18}{wall:>8.1f}{computed:>14}{hits:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
