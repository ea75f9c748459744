"""The leaderboard entry of a metric (value, 95% CI, n) from its per-study results, and
``score_predictions``: lists of predictions and references in, those entries out."""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

from rexrank.metrics.suite import stats
from rexrank.metrics.suite.run import MetricRun, _check_texts, resolve_metrics, run_metrics



def summarise(run: MetricRun, *, ci: str = "normal", confidence: float = 0.95, n_resamples: int = 1000,
              seed: int = 0, per_study: bool = False) -> dict[str, Any]:
    """The leaderboard entry of one metric: value, CI, n (+ per-study values on request)."""
    spec = run.spec
    iv = stats.metric_interval(run.primary, spec.reported_as, method=ci, confidence=confidence,
                               n_resamples=n_resamples, seed=seed)
    mean_iv = stats.mean_interval(run.primary, method=ci, confidence=confidence, n_resamples=n_resamples, seed=seed)
    entry: dict[str, Any] = {
        "display": spec.display,
        "value": iv.value, "ci": [iv.low, iv.high], "ci_method": iv.method, "confidence": confidence,
        "n": iv.n, "n_missing": iv.n_missing,
        "mean": mean_iv.value, "mean_ci": [mean_iv.low, mean_iv.high],
        "reported_as": spec.reported_as,
        "higher_is_better": spec.higher_is_better,
        "leaderboard_column": spec.leaderboard_column,
        "columns": {c: _mean(v) for c, v in run.values.items() if c != spec.name},
        "corpus": run.corpus,
        "cache": {"hits": run.cached, "computed": run.computed},
    }
    if per_study:
        entry["per_study"] = list(run.primary)
        entry["per_study_columns"] = {c: list(v) for c, v in run.values.items() if c != spec.name}
        if run.details is not None:
            entry["details"] = run.details
    return entry


def _mean(values: Sequence[float]) -> float:
    arr, _ = stats.finite(values)
    return float(arr.mean()) if len(arr) else math.nan


def score_predictions(predictions: Sequence[str], references: Sequence[str], study_ids: Sequence[str] | None = None,
                      metrics: Sequence[str] | None = None, *, ci: str = "normal", per_study: bool = False,
                      cache_dir: str | os.PathLike | None = None, progress: bool = True, confidence: float = 0.95,
                      n_resamples: int = 1000, seed: int = 0, use_cache: bool = True, engine: str = "local",
                      ray_address: str | None = None, ray_actors: int | None = None,
                      ray_cpus_per_actor: float | None = None,
                      **scorer_options: Any) -> dict[str, dict[str, Any]]:
    """Score prediction/reference pairs with the chosen metrics (default: the registry's default set).

    Returns ``{metric: {"value", "ci": [low, high], "n", "mean", "mean_ci", ...}}`` in the order
    asked; ``per_study=True`` adds ``per_study`` (and ``details`` where the scorer gives them).
    ``ci="bootstrap"`` switches to a seeded percentile bootstrap (``n_resamples``, ``seed``).
    ``engine="ray"`` runs the model work on Ray (``ray_address``: ``"auto"`` or a cluster address).
    """
    from rexrank.metrics.suite.engines import make_engine

    ids = _check_texts(predictions, references, study_ids)
    chosen = resolve_metrics(metrics)
    runner = make_engine(engine, ray_address=ray_address, ray_actors=ray_actors, ray_cpus_per_actor=ray_cpus_per_actor)
    runs = run_metrics(list(predictions), list(references), chosen, cache_dir=cache_dir, use_cache=use_cache,
                       progress=progress, engine=runner, study_ids=ids, **scorer_options)
    return {name: summarise(runs[name], ci=ci, confidence=confidence, n_resamples=n_resamples, seed=seed,
                            per_study=per_study) for name in chosen}


