"""Options shared by `rexrank serve` and `rexrank worker` (store, test-set files, metrics, leases)."""

from __future__ import annotations

import argparse

from rexrank.errors import InputError


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=None,
                        help="where requests and results live: a folder (default $REXRANK_STORE or "
                             "~/.cache/rexrank/space) or hub:ORG/REPO for a Hub dataset repo (token from HF_TOKEN)")
    parser.add_argument("--manifest", action="append", default=[], metavar="CONFIG=PATH",
                        help="use a local manifest for a test set (e.g. rexgradient=ReXGradient.json); repeatable")
    parser.add_argument("--data-dir", action="append", default=[], metavar="CONFIG=DIR",
                        help="image root of a test set, needed to generate reports from a model; repeatable")
    parser.add_argument("--metrics", default=None,
                        help="comma-separated metrics the worker computes (default: `rexrank metrics` default set)")
    parser.add_argument("--lease", type=float, default=300.0,
                        help="seconds a worker holds a request without a heartbeat before another takes it over")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between looks at an empty queue")
    parser.add_argument("--script-isolation", choices=("sandbox", "auto", "none"), default="sandbox",
                        help="approved inference-script submissions: sandbox (default) refuses to run them where "
                             "this machine cannot isolate code; auto/none run them unisolated")
    parser.add_argument("--script-time-limit", type=float, default=12 * 3600.0, metavar="SECONDS",
                        help="time limit of one inference-script run (default 12 hours)")


def pairs(values: list[str], option: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, path = value.partition("=")
        if not sep or not key or not path:
            raise InputError(f"{option} expects CONFIG=PATH, got {value!r}")
        out[key.strip()] = path.strip()
    return out


def worker_settings(args: argparse.Namespace, **extra):
    from rexrank.space.worker import WorkerSettings

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    return WorkerSettings(lease_seconds=args.lease, poll_seconds=args.poll, metrics=metrics,
                          manifests=pairs(args.manifest, "--manifest"), data_dirs=pairs(args.data_dir, "--data-dir"),
                          script_isolation=args.script_isolation, script_time_limit=args.script_time_limit, **extra)
