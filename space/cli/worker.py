"""Run the evaluation queue worker.

Claims one PENDING request at a time (atomically: any number of workers can share a store),
generates the model's reports or takes the uploaded predictions, scores them with the suite
and records the result with its provenance; FAILED requests keep the reason. A worker that
dies mid-request is replaced: after --lease seconds without its heartbeat another worker
takes the request over and resumes from the predictions saved so far.

Examples:
  rexrank worker                                  # the local store used by `rexrank serve`
  rexrank worker --store hub:my-org/rexrank-queue --metrics bleu2,bertscore
  rexrank worker --store hub:my-org/rexrank-queue --ray head-node:6379   # each request on the cluster
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from rexrank.space.cli.options import add_store_arguments, worker_settings

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_arguments(parser)
    parser.add_argument("--exit-when-idle", action="store_true", help="stop when the queue has nothing to do")
    parser.add_argument("--max-requests", type=int, default=None, help="stop after this many requests")
    parser.add_argument("--heartbeat", type=float, default=None, help="seconds between heartbeats (default lease/4)")
    parser.add_argument("--device", default=None, help="torch device for generation and scoring (default: auto)")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size for generation and scoring")
    parser.add_argument("--work-dir", default=None, help="scratch folder for predictions in progress")
    parser.add_argument("--max-attempts", type=int, default=5,
                        help="a request whose worker died this many times is marked FAILED (default 5)")
    parser.add_argument("--generator", default="rexrank.space.generation.run:generate_reports",
                        help="generation function (module:function with generate_reports' signature)")
    from rexrank.ray_engine import add_cli_arguments

    add_cli_arguments(parser, "generate and score each claimed request")


def run(args: argparse.Namespace) -> int:
    from rexrank.space.store import open_store
    from rexrank.space.worker import Worker

    from rexrank.ray_engine import cli_options

    options = {k: v for k, v in (("device", args.device), ("batch_size", args.batch_size)) if v is not None}
    options.update(cli_options(args))
    settings = worker_settings(args, heartbeat_seconds=args.heartbeat, generator=args.generator,
                               work_dir=args.work_dir, scorer_options=dict(options), generation_options=dict(options))
    store = open_store(args.store)
    store.max_attempts = args.max_attempts
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker = Worker(store, settings)
    handled = worker.run(stop, exit_when_idle=args.exit_when_idle, max_requests=args.max_requests)
    logger.info("worker %s handled %d requests", worker.worker_id, handled)
    return 0
