"""List the ReXrank metrics from the registry: how each is reported, its models and pinned revisions,
whether it needs a GPU or an API key, and whether it runs by default here."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the registry as JSON")


def rows() -> list[dict]:
    from rexrank.metrics.registry import METRICS, default_metrics

    defaults = set(default_metrics())
    out = []
    for spec in METRICS.values():
        out.append({
            "name": spec.name, "display": spec.display,
            "reported_as": "1/mean" if spec.reported_as == "reciprocal_mean" else "mean",
            "needs": ", ".join(n for n, f in (("GPU", spec.needs_gpu), ("API key", spec.needs_api)) if f) or "–",
            "default": "yes" if spec.name in defaults else "no",
            "requires": ", ".join(spec.requires) or "–",
            "models": [str(m) for m in spec.models],
            "official": spec.official,
            "rexrank_eight": not spec.extra,
        })
    return out


def run(args: argparse.Namespace) -> int:
    data = rows()
    if args.json:
        import json

        print(json.dumps(data, indent=2))
        return 0
    header = ("name", "display", "reported_as", "needs", "default", "requires")
    widths = {h: max(len(h), *(len(str(r[h])) for r in data)) for h in header}
    print("  ".join(f"{h:<{widths[h]}}" for h in header) + "  models (repo@revision)")
    print("  ".join("-" * widths[h] for h in header) + "  " + "-" * 22)
    for r in data:
        print("  ".join(f"{str(r[h]):<{widths[h]}}" for h in header) + "  " + ("; ".join(r["models"]) or "–"))
    print("\nrevision 'main' = not pinned to a commit yet. Official implementations: `rexrank metrics --json`.")
    return 0
