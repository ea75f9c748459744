"""Score a system on a ReXrank test set (config, split, track): the content of ``results.json``
(values, CIs, per-study values, analyses, provenance), written to a folder when asked."""

from __future__ import annotations

import datetime as _dt
import logging
import os
import platform
import time
from typing import Any, Mapping, Sequence

from rexrank.metrics.runtime.score_cache import ScoreCache
from rexrank import __version__
from rexrank.metrics.reporting.results_file import RESULTS_SCHEMA, write_outputs
from rexrank.metrics.reporting.values import to_json
from rexrank.metrics.suite.run import MetricRun, execution_order, options_for, resolve_metrics, run_metrics
from rexrank.metrics.suite.summary import summarise
from rexrank.errors import InputError, describe_ids


logger = logging.getLogger(__name__)


def _library_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("torch", "transformers", "tokenizers", "huggingface_hub", "datasets", "evaluate", "numpy",
                 "scipy", "pandas"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _device(options: Mapping[str, Any]) -> str:
    """The device the model-based scorers ran on; without torch loaded no model ran (all cached or
    model-free), so importing it (seconds) just to ask would slow a cached rerun for nothing."""
    import sys

    if "torch" not in sys.modules:
        return str(options.get("device") or "cpu") + " (no model loaded in this run)"
    from rexrank.metrics.runtime.models import pick_device

    return pick_device(options.get("device"))


def models_in(obj: Any) -> list[dict]:
    """Every model record (a dict with ``repo_id``) anywhere in a scorer's provenance."""
    found: list[dict] = []
    if isinstance(obj, dict):
        if "repo_id" in obj:
            found.append(obj)
        else:
            for v in obj.values():
                found.extend(models_in(v))
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            found.extend(models_in(v))
    return found


def check_predictions(predictions: Mapping[str, str], study_ids: Sequence[str], *, allow_missing: bool,
                      what: str) -> list[str]:
    """Predictions in test-set order; a clear error for missing or non-text entries."""
    if not isinstance(predictions, Mapping):
        raise InputError("predictions must be a mapping {study_id: report}; read a file with "
                         "rexrank.datasets.predictions.read_predictions")
    missing = [i for i in study_ids if i not in predictions]
    if missing and not allow_missing:
        raise InputError(f"no prediction for {describe_ids(missing)} of {what}. Generate them, or pass "
                         "allow_missing=True (--allow-missing) to score them as empty reports, as the official script does.")
    if missing:
        logger.warning("%s have no prediction: scored as empty reports", describe_ids(missing))
    wanted = set(study_ids)
    extra = [k for k in predictions if k not in wanted]
    if extra:
        logger.info("ignoring predictions for %s that are not in %s", describe_ids(extra), what)
    texts = [predictions.get(i, "") for i in study_ids]
    bad = [i for i, t in zip(study_ids, texts) if not isinstance(t, str)]
    if bad:
        raise InputError(f"predictions must be strings; not for {describe_ids(bad)}")
    return texts


def score_test_set(dataset: str, predictions: Mapping[str, str], *, track: str = "findings", split: str = "test",
                   metrics: Sequence[str] | None = None, manifest: str | os.PathLike | None = None,
                   out_dir: str | os.PathLike | None = None, allow_missing: bool = False,
                   reference_style: str = "manifest", ci: str = "normal", n_resamples: int = 1000, seed: int = 0,
                   cache_dir: str | os.PathLike | None = None, use_cache: bool = True, progress: bool = True,
                   system: str | None = None, labels: Mapping[str, bool] | None = None,
                   plots: bool = True, track_data: Any = None, engine: str = "local", ray_address: str | None = None,
                   ray_actors: int | None = None, ray_cpus_per_actor: float | None = None,
                   **scorer_options: Any) -> dict[str, Any]:
    """Score a system on a ReXrank test set; returns the ``results.json`` content.

    ``predictions``: ``{study_id: report}`` (read files with ``rexrank.datasets.predictions``).
    ``labels``: optional ``{study_id: is_normal}`` for the normal/abnormal split (default:
    CheXbert's "No Finding" of the reference, when the chexbert metric ran).
    With ``out_dir``: writes ``results.json``, ``per_study.csv`` and the plots there.
    ``track_data``: an already loaded ``rexrank.datasets.tracks.TrackData`` of this test set and track.
    ``engine="ray"``: the model work runs on Ray actors (``ray_address``: ``"auto"`` starts or joins a
    local instance, an address joins that cluster; ``ray_actors`` / ``ray_cpus_per_actor`` size the
    pools); reading, checking, the cache and everything else stay here.
    """
    from rexrank.datasets.tracks import load_track
    from rexrank.metrics.suite.engines import make_engine

    started = time.time()
    data = track_data or load_track(dataset, track, split=split, manifest=manifest, reference_style=reference_style)
    if (data.config, data.split, data.track) != (dataset, split, track):
        raise InputError(f"track_data is {data.config}/{data.split}/{data.track}, not {dataset}/{split}/{track}")
    what = f"the {dataset} {split} set, {track} track ({len(data.study_ids)} studies)"
    texts = check_predictions(predictions, data.study_ids, allow_missing=allow_missing, what=what)
    if labels is not None:  # refused now, not after the scoring
        from rexrank.metrics.suite.analysis import check_labels

        labels = check_labels(labels, data.study_ids)
    chosen = resolve_metrics(metrics)
    # The normal/abnormal split needs CheXbert's labels of the references: when SembScore runs
    # (chosen, or as a RadCliQ component), the same CheXbert pass gives them, so add the labeler
    # (not reported unless chosen).
    auxiliary = ["chexbert"] if labels is None and "semb_score" in execution_order(chosen) \
        and "chexbert" not in chosen else []
    runner = make_engine(engine, ray_address=ray_address, ray_actors=ray_actors, ray_cpus_per_actor=ray_cpus_per_actor)
    runs = run_metrics(texts, data.references, chosen + auxiliary, cache_dir=cache_dir, use_cache=use_cache,
                       progress=progress, engine=runner, study_ids=data.study_ids, **scorer_options)
    results: dict[str, Any] = {
        "schema": RESULTS_SCHEMA,
        "system": system,
        "dataset": {"config": dataset, "split": split, "track": track, "n_studies": len(data.study_ids),
                    "manifest_sha256": data.manifest_sha256, "reference_style": data.reference_style},
        "metrics": {name: summarise(runs[name], ci=ci, n_resamples=n_resamples, seed=seed) for name in chosen},
        "per_study": {"study_id": list(data.study_ids),
                      **{name: list(runs[name].primary) for name in chosen}},
        "per_study_columns": {name: {c: list(v) for c, v in runs[name].values.items() if c != name}
                              for name in chosen if len(runs[name].values) > 1},
        "details": {name: runs[name].details for name in runs if runs[name].details is not None},
        "empty_predictions": [i for i, t in zip(data.study_ids, texts) if not t.strip()],
        # the texts scored, so a result can be re-checked (`rexrank verify`) and read (`rexrank explore`) alone
        "texts": {"prediction": list(texts), "reference": list(data.references)},
    }
    failures = _failures(runs, data.study_ids, texts, data.references)
    if failures:
        results["failures"] = failures
    from rexrank.metrics.suite import analysis

    results["analyses"] = analysis.analyse(results, studies=data.studies, labels=labels)
    results["strata"] = analysis.study_strata(results, studies=data.studies, labels=labels)
    results["provenance"] = {
        "package": {"name": "rexrank", "version": __version__},
        "dataset": {"config": dataset, "split": split, "track": track, "manifest_sha256": data.manifest_sha256,
                    "manifest": data.manifest_source or (str(manifest) if manifest else
                                                         "official (rajpurkarlab/ReXrank@8152f99)"),
                    "reference_style": data.reference_style},
        "metrics": {name: {"official": runs[name].spec.official, "config_key": runs[name].config_key,
                           "options": {k: v for k, v in options_for(runs[name].spec, scorer_options).items()},
                           "scorer": runs[name].provenance} for name in runs},
        "models": _unique_models(runs),
        "assets": sorted({f"manifest {dataset}/{split} sha256:{data.manifest_sha256}"} |
                         {str(a) for r in runs.values() for a in _as_list(r.provenance.get("assets"))}),
        "device": _device(scorer_options) if runner.name == "local" else
        f"{_ray_device(runner, scorer_options)} (Ray actors)",
        "engine": runner.provenance(),
        "libraries": _library_versions(),
        "platform": platform.platform(),
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.time() - started, 3),
        "statistics": {"ci": ci, "confidence": 0.95, "n_resamples": n_resamples if ci == "bootstrap" else None,
                       "seed": seed if ci == "bootstrap" else None},
        "cache": {"dir": str(ScoreCache(cache_dir).path.parent) if use_cache else None,
                  "hits": {n: r.cached for n, r in runs.items()}, "computed": {n: r.computed for n, r in runs.items()}},
    }
    results = to_json(results)
    if out_dir is not None:
        write_outputs(results, out_dir, plots=plots)
    return results


def _ray_device(runner: Any, options: Mapping[str, Any]) -> str:
    from rexrank.ray_engine import actor_device

    return actor_device(runner.options, options.get("device"))


def _failures(runs: Mapping[str, MetricRun], study_ids: Sequence[str], predictions: Sequence[str],
              references: Sequence[str]) -> dict[str, dict[str, str]]:
    """``{metric: {study_id: why it has no value}}`` for the studies a metric could not score."""
    from rexrank.metrics.runtime.score_cache import pair_key

    out: dict[str, dict[str, str]] = {}
    if not any(run.failures for run in runs.values()):
        return out
    keys = [pair_key(p, r) for p, r in zip(predictions, references)]
    for name, run in runs.items():
        failed = {sid: run.failures[k] for sid, k in zip(study_ids, keys) if k in run.failures}
        if failed:
            out[name] = failed
    return out


def _as_list(v: Any) -> list:
    if v is None:
        return []
    if isinstance(v, dict):
        return [f"{k}={x}" if not isinstance(x, dict) else k for k, x in v.items()]
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _unique_models(runs: Mapping[str, MetricRun]) -> list[dict]:
    seen: dict[tuple, dict] = {}
    for name, run in runs.items():
        for m in models_in(run.provenance):
            key = (m.get("repo_id"), m.get("resolved_revision"))
            seen.setdefault(key, {**m, "metrics": []})["metrics"].append(name)
    return list(seen.values())


