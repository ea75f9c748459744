"""Paired comparison of two systems' results on the studies both scored (``rexrank compare``)."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from rexrank.metrics.suite import stats
from rexrank.metrics.registry import METRICS
from rexrank.metrics.reporting.values import as_float, from_json, to_json
from rexrank.errors import InputError


def _same_test_set(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    keys = ("config", "split", "track", "manifest_sha256", "reference_style")
    return [f"{k}: {a['dataset'].get(k)} vs {b['dataset'].get(k)}" for k in keys
            if a["dataset"].get(k) != b["dataset"].get(k)]


def _note(diff: stats.Interval, reported_as: str, scale: str) -> str | None:
    """Why a difference or its CI is not finite, and on which scale the p-values are."""
    parts = []
    if not math.isfinite(diff.value):
        parts.append("a system's mean is 0, so its 1/mean is unbounded and so is the difference" if
                     reported_as == "reciprocal_mean" else "the difference is undefined (no study both scored)")
    elif not (math.isfinite(diff.low) and math.isfinite(diff.high)):
        parts.append("the CI of the difference is undefined (one study, or an unbounded reciprocal)")
    if scale != reported_as:
        parts.append("p-values are computed on the mean of the per-study values (the same hypothesis)")
    return "; ".join(parts) or None


def compare(a: Mapping[str, Any], b: Mapping[str, Any], metrics: Sequence[str] | None = None, *,
            ci: str = "normal", n_resamples: int = 10000, seed: int = 0, allow_different_sets: bool = False
            ) -> dict[str, Any]:
    """Per metric: A and B on the shared studies, A − B with its CI, paired bootstrap and AR p-values."""
    a, b = from_json(a), from_json(b)
    differences = _same_test_set(a, b)
    if differences and not allow_different_sets:
        raise InputError("the two results are not on the same test set (" + "; ".join(differences) +
                         "); a paired comparison needs the same studies and references")
    ids_a, ids_b = a["per_study"]["study_id"], b["per_study"]["study_id"]
    index_b = {s: i for i, s in enumerate(ids_b)}
    shared = [(i, index_b[s]) for i, s in enumerate(ids_a) if s in index_b]
    if not shared:
        raise InputError("the two results share no study id")
    names = list(metrics) if metrics else [m for m in a["metrics"] if m in b["metrics"]]
    out: dict[str, Any] = {}
    for m in names:
        if m not in a["per_study"] or m not in b["per_study"]:
            raise InputError(f"metric {m!r} is not in both results")
        reported_as = a["metrics"][m].get("reported_as") or (METRICS[m].reported_as if m in METRICS else "mean")
        xa = [as_float(a["per_study"][m][i]) for i, _ in shared]
        xb = [as_float(b["per_study"][m][j]) for _, j in shared]
        diff = stats.paired_difference(xa, xb, reported_as, method=ci, n_resamples=min(n_resamples, 2000), seed=seed)
        note = _note(diff, reported_as, stats.test_scale(xa, xb, reported_as))
        out[m] = {
            "display": a["metrics"][m].get("display", m),
            "a": stats.metric_interval(xa, reported_as).value,
            "b": stats.metric_interval(xb, reported_as).value,
            "difference": diff.value, "ci": [diff.low, diff.high], "n": diff.n,
            "p_bootstrap": stats.paired_bootstrap_pvalue(xa, xb, reported_as, n_resamples=n_resamples, seed=seed),
            "p_randomization": stats.approximate_randomization_pvalue(xa, xb, reported_as, n_samples=n_resamples,
                                                                       seed=seed + 12345),
            "higher_is_better": a["metrics"][m].get("higher_is_better", True),
            **({"note": note} if note else {}),
        }
    return to_json({
        "a": a.get("system"), "b": b.get("system"), "dataset": a["dataset"],
        "n_shared": len(shared), "n_only_a": len(ids_a) - len(shared), "n_only_b": len(ids_b) - len(shared),
        "test_set_differences": differences,
        "statistics": {"ci": ci, "n_resamples": n_resamples, "seed": seed,
                       "p_bootstrap": "paired bootstrap, centred (Berg-Kirkpatrick et al. 2012), two-sided",
                       "p_randomization": "paired approximate randomisation (RadEval PairedTest), two-sided"},
        "metrics": out,
    })
