"""Run the ReXrank leaderboard Space locally.

By default the Space keeps its queue and results in a local folder (no account needed),
seeds the published ReXrank tables into it, and evaluates submissions in a worker thread.
Use --store hub:ORG/REPO to share the queue with other replicas and `rexrank worker`
processes through a Hub dataset repo (HF_TOKEN from the environment), and --no-worker when
separate workers do the evaluation.

Examples:
  rexrank serve                                   # http://127.0.0.1:7860
  rexrank serve --store hub:my-org/rexrank-queue --no-worker
"""

from __future__ import annotations

import argparse
import logging

from rexrank.space.cli.options import add_store_arguments, pairs, worker_settings

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    add_store_arguments(parser)
    parser.add_argument("--no-worker", action="store_true", help="do not evaluate in this process")
    parser.add_argument("--max-upload-mb", type=float, default=None, help="upload size limit (default 20 MB)")


def run(args: argparse.Namespace) -> int:
    from rexrank.space.app import UI_READ_CACHE_S, AppSettings, build_app, launch, prepare_store, start_worker_thread
    from rexrank.space.store import open_store
    from rexrank.space.submit import SubmitPolicy

    store = open_store(args.store, read_cache_seconds=UI_READ_CACHE_S)
    settings_w = worker_settings(args)
    policy = SubmitPolicy(manifests=pairs(args.manifest, "--manifest"))
    if args.max_upload_mb is not None:
        policy.max_upload_bytes = int(args.max_upload_mb * 2**20)
    settings = AppSettings(policy=policy, metrics=settings_w.metrics)
    if settings.on_space:
        import os

        policy.rate_limit = int(os.environ.get("REXRANK_RATE_LIMIT", "5"))
    prepare_store(store)
    stop = None
    if not args.no_worker:
        _, stop = start_worker_thread(open_store(args.store), settings_w)  # its own client: no read cache
    logger.info("store: %s; worker: %s", store.location, "off" if args.no_worker else "in this process")
    try:
        launch(build_app(store, settings), host=args.host, port=args.port, settings=settings)
    finally:
        if stop is not None:
            stop.set()
    return 0
