"""Seed a leaderboard store with the published ReXrank tables (and optionally your own results).

The eight published tables (findings and findings + impression for MIMIC-CXR, IU-Xray,
CheXpert Plus and ReXGradient) are fetched from rajpurkarlab/ReXrank at their pinned commit,
checked against their sha256 (``rexrank.assets``), and written to the store's ``published/``
folder with a ``SOURCES.json`` recording where each came from. A ``results.json`` from
``rexrank score`` can be added as a finished evaluation with ``--result``.

Examples:
  python scripts/seed_leaderboard.py                                   # the default local store
  python scripts/seed_leaderboard.py --store hub:my-org/rexrank-queue  # a Hub dataset repo (HF_TOKEN)
  python scripts/seed_leaderboard.py --store DIR --result runs/mine/results.json --name "My system"
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


logger = logging.getLogger("seed_leaderboard")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default=None, help="a folder or hub:ORG/REPO (default: the `rexrank serve` store)")
    parser.add_argument("--overwrite", action="store_true", help="replace published tables already in the store")
    parser.add_argument("--result", action="append", default=[], metavar="RESULTS_JSON",
                        help="a results.json written by `rexrank score`, added as a finished evaluation; repeatable")
    parser.add_argument("--name", action="append", default=[], help="leaderboard name for each --result, in order")
    parser.add_argument("--model", action="append", default=[], help="Hub model id for each --result (for the link)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from rexrank.redaction import install_log_filter

    install_log_filter()
    from rexrank.errors import RexrankError
    from rexrank.space.leaderboard import seed_published
    from rexrank.space.store import Request, new_request_id, open_store

    try:
        store = open_store(args.store)
        seeded = seed_published(store, overwrite=args.overwrite)
        logger.info("%s: %d published tables written%s", store.location, len(seeded),
                    "" if seeded else " (all were there already; --overwrite replaces them)")
        for k, path in enumerate(args.result):
            results = json.loads(Path(path).read_text(encoding="utf-8"))
            dataset = results["dataset"]
            name = args.name[k] if k < len(args.name) else (results.get("system") or Path(path).parent.name)
            model = args.model[k] if k < len(args.model) else None
            request = Request(new_request_id(), "model" if model else "predictions", dataset["config"],
                              dataset["track"], split=dataset.get("split", "test"), model=model, display_name=name,
                              submitter="seed")
            store.put_result(request, {"schema": "rexrank-space-result/1",
                                       "request": {"id": request.id, "dataset": request.dataset,
                                                   "track": request.track, "split": request.split,
                                                   "submitter": "seed", "submitted_at": request.submitted_at},
                                       "system": {"name": name, "kind": request.kind, "model": model},
                                       "evaluation": {"imported_from": Path(path).name},
                                       "results": results})
            logger.info("added %s (%s / %s) as %s", name, request.dataset, request.track, request.id)
    except RexrankError as err:
        logger.error("%s", err)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
