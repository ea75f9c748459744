"""Fetch, verify or seed the official assets (test-set manifests, GREEN and FineRadScore
prompts, RaTEScore matrices, published leaderboards). Each is pinned to a commit of its
official repository and a sha256; see DESIGN.md §8.

  rexrank assets list                 # what there is and whether it is cached
  rexrank assets fetch [NAME ...]     # download (all by default), verify, extract, cache
  rexrank assets seed DIR             # offline: take verified copies from a folder
"""

from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="list assets, their sources and cache state")
    fetch = sub.add_parser("fetch", help="download and verify assets into the cache")
    fetch.add_argument("names", nargs="*", help="asset names (default: all)")
    seed = sub.add_parser("seed", help="seed the cache from files in a folder (checked by sha256)")
    seed.add_argument("directory")


def run(args: argparse.Namespace) -> int:
    from rexrank import assets

    if args.action == "list":
        for name, asset in assets.ASSETS.items():
            state = "cached" if assets.cached_path(asset).is_file() else "missing"
            print(f"{name:40s} {state:8s} {asset.sources[0].repo}@{asset.sources[0].commit[:7]} {asset.description}")
        return 0
    if args.action == "fetch":
        for name in args.names or list(assets.ASSETS):
            logger.info("%s -> %s", name, assets.fetch(name))
        return 0
    seeded = assets.seed_directory(args.directory)
    logger.info("seeded %d assets: %s", len(seeded), ", ".join(seeded) or "none")
    return 0 if seeded else 1
