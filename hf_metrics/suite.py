"""The ReXrank suite: run the chosen metrics of the registry, the way the leaderboard reports them.

* ``score_predictions``: lists of predictions and references in, per metric the leaderboard
  value (mean, or ``1/mean`` for RadCliQ-v1 and FineRadScore), its 95% CI and n out.
* ``score_test_set``: a ReXrank test set (config, split, track) and a ``{study_id: report}``
  mapping in, the content of ``results.json`` out (values, CIs, per-study values, analyses,
  provenance); files written when ``out_dir`` is given.

Metrics come from :mod:`hf_metrics.registry` only; the suite never computes a metric itself.
A metric that ``requires`` others (RadCliQ) gets their per-study values, computed once.
Per-study scores are cached on disk (:mod:`hf_metrics.score_cache`) under (metric, model
revisions, options, prediction, reference), so an identical rerun only reads the cache.
"""

from __future__ import annotations

import collections
import datetime as _dt
import importlib
import inspect
import json
import logging
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from hf_metrics import stats
from hf_metrics.models import ModelRef, parse_model_spec
from hf_metrics.registry import METRICS, MetricSpec, ScoreResult, default_metrics, get_spec
from hf_metrics.score_cache import ScoreCache, digest, pair_key
from rexrank import __version__
from rexrank.errors import InputError, RexrankError, describe_ids

logger = logging.getLogger(__name__)

RESULTS_SCHEMA = "rexrank-results/1"
# Studies actually sent to each metric's scorer in this process; tests use it to prove cache hits.
SCORED_COUNTER: collections.Counter[str] = collections.Counter()
# Options that change speed, never a score: left out of the cache key.
_SPEED_ONLY = frozenset({"batch_size", "progress", "num_workers", "concurrency"})
_CHUNK = 256  # unique pairs per call of a slow scorer: each chunk is saved before the next one starts


@dataclass
class MetricRun:
    """One metric's per-study results over the inputs, in input order."""

    spec: MetricSpec
    values: dict[str, list[float]]
    details: list[Any] | None
    corpus: dict[str, float]
    provenance: dict[str, Any]
    config_key: str
    cached: int = 0
    computed: int = 0
    by_pair: dict[str, dict] = field(default_factory=dict, repr=False)

    @property
    def primary(self) -> list[float]:
        return self.values[self.spec.name]


# ------------------------------------------------------------------ metric selection and options


def resolve_metrics(metrics: Sequence[str] | str | None) -> list[str]:
    """Chosen metric names (default: the registry's default set), validated, order kept."""
    if metrics is None:
        return default_metrics()
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    names = []
    for name in metrics:
        names.append(get_spec(name).name)  # raises InputError naming the known metrics
    if not names:
        raise InputError("no metric chosen; known metrics: " + ", ".join(METRICS))
    return list(dict.fromkeys(names))


def execution_order(names: Sequence[str]) -> list[str]:
    """The chosen metrics plus what they require, each after its requirements."""
    order: list[str] = []

    def visit(name: str, stack: tuple[str, ...] = ()) -> None:
        if name in order:
            return
        if name in stack:
            raise RexrankError(f"metric requirements form a cycle: {' -> '.join(stack + (name,))}")
        for dep in get_spec(name).requires:
            visit(dep, stack + (name,))
        order.append(name)

    for name in names:
        visit(name)
    return order


def _scorer_class(spec: MetricSpec) -> type:
    module_name, cls_name = spec.scorer.split(":")
    try:
        return getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as err:
        raise RexrankError(f"metric {spec.name!r} is not available in this installation ({spec.scorer}: {err}). "
                           "Choose others with --metrics / metrics=[...].") from err


def options_for(spec: MetricSpec, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options this metric's scorer accepts.

    Global options (``device``, ``batch_size``...) go to every scorer that takes them;
    ``metric_options={"bertscore": {...}}`` adds per-metric ones; ``model`` only makes sense
    per metric, so a global ``model`` is refused when several metrics run (see ``score_predictions``).
    """
    per_metric = dict((options.get("metric_options") or {}).get(spec.name, {}))
    merged = {k: v for k, v in options.items() if k != "metric_options"}
    merged.update(per_metric)
    cls = _scorer_class(spec)
    params = inspect.signature(cls).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return {k: v for k, v in merged.items() if v is not None}
    unknown = set(per_metric) - set(params)
    if unknown:
        raise InputError(f"metric {spec.name!r} does not take option(s) {sorted(unknown)}; it takes {sorted(params)}")
    return {k: v for k, v in merged.items() if k in params and v is not None}


def _revision_fingerprint(ref: ModelRef) -> str:
    """The commit a ref resolves to, without downloading weights ('unresolved' if unknown)."""
    path = Path(ref.repo_id)
    if path.is_dir():
        files = sorted((str(p.relative_to(path)), p.stat().st_size, int(p.stat().st_mtime))
                       for p in path.rglob("*") if p.is_file())
        return "local:" + digest(files)[:16]
    if ref.pinned:
        return ref.revision
    from huggingface_hub import constants

    refs_file = Path(constants.HF_HUB_CACHE) / f"models--{ref.repo_id.replace('/', '--')}" / "refs" / ref.revision
    if refs_file.is_file():
        return refs_file.read_text().strip()
    if not constants.HF_HUB_OFFLINE:
        try:
            from huggingface_hub import HfApi

            return HfApi().model_info(ref.repo_id, revision=ref.revision).sha or "unresolved"
        except Exception:  # unreachable hub: the scorer will report the real problem
            return "unresolved"
    return "unresolved"


def config_key(spec: MetricSpec, options: Mapping[str, Any], dependency_keys: Sequence[str] = ()) -> str:
    """Cache key of a metric configuration: anything that can change a per-study value."""
    refs = list(spec.models)
    if isinstance(options.get("model"), str):
        refs.append(parse_model_spec(options["model"]))
    environment = {}
    if spec.needs_api:  # the LLM behind the API is chosen by environment (never the key, a secret)
        for name in ("OPENAI_BASE_URL", f"{spec.name.upper()}_MODEL"):
            environment[name] = os.environ.get(name)
    return digest({
        "metric": spec.name, "scorer": spec.scorer, "package": __version__, "environment": environment,
        "models": [[str(r), _revision_fingerprint(r)] for r in refs],
        "options": {k: v for k, v in sorted(options.items()) if k not in _SPEED_ONLY},
        "requires": list(dependency_keys),
    })


# ------------------------------------------------------------------ running


def _check_texts(predictions: Sequence[Any], references: Sequence[Any], study_ids: Sequence[str] | None) -> list[str]:
    if len(predictions) != len(references):
        raise InputError(f"{len(predictions)} predictions but {len(references)} references: they must pair up one to one")
    ids = [str(i) for i in study_ids] if study_ids is not None else [str(i) for i in range(len(predictions))]
    if len(ids) != len(predictions):
        raise InputError(f"{len(ids)} study ids for {len(predictions)} predictions")
    dupes = [i for i, c in collections.Counter(ids).items() if c > 1]
    if dupes:
        raise InputError(f"study ids must be unique; repeated: {describe_ids(dupes)}")
    for side, texts in (("prediction", predictions), ("reference", references)):
        bad = [ids[i] for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise InputError(f"{side}s must be strings; not for {describe_ids(bad)}. "
                             "Replace a missing report with '' deliberately, or leave the study out.")
    return ids


def _payloads(result: ScoreResult, spec: MetricSpec, n: int) -> list[dict]:
    if spec.name not in result.values:
        raise RexrankError(f"scorer of {spec.name!r} returned no {spec.name!r} column (got {list(result.values)})")
    for column, values in result.values.items():
        if len(values) != n:
            raise RexrankError(f"scorer of {spec.name!r} returned {len(values)} values in {column!r} for {n} studies")
    return [{"v": {c: (None if v is None else float(v)) for c, v in ((c, vals[i]) for c, vals in result.values.items())},
             "d": result.details[i] if result.details is not None else None} for i in range(n)]


def _score_missing(spec: MetricSpec, scorer: Any, pairs: list[tuple[str, str, str]],
                   components: dict[str, dict[str, dict]], cache: ScoreCache | None, key: str,
                   progress: bool) -> tuple[dict[str, dict], dict, dict]:
    """Score unique (pair key, prediction, reference) triples in chunks, saving each chunk."""
    from tqdm.auto import tqdm

    out: dict[str, dict] = {}
    corpus: dict = {}
    provenance: dict = {}
    # Slow metrics (GPU LLM, API) save every chunk so a killed run resumes; the others run in one
    # call, which keeps their corpus-level figures (e.g. CheXbert micro/macro F1) whole.
    size = _CHUNK if (spec.needs_gpu or spec.needs_api) else max(len(pairs), 1)
    chunks = [pairs[i:i + size] for i in range(0, len(pairs), size)]
    bar = tqdm(total=len(pairs), desc=f"{spec.name}", unit="study", disable=not progress or len(chunks) == 0,
               leave=False)
    for chunk in chunks:
        preds = [p for _, p, _ in chunk]
        refs = [r for _, _, r in chunk]
        if spec.requires and hasattr(scorer, "from_components"):
            comp = {dep: [components[dep][pk]["v"][dep] for pk, _, _ in chunk] for dep in spec.requires}
            result = scorer.from_components(comp)
        else:
            result = scorer(preds, refs)
        SCORED_COUNTER[spec.name] += len(chunk)
        payloads = dict(zip((pk for pk, _, _ in chunk), _payloads(result, spec, len(chunk))))
        if cache is not None:  # a failed study (no value, e.g. no valid LLM reply) is retried next run
            cache.put_many(key, {pk: p for pk, p in payloads.items() if p["v"].get(spec.name) is not None
                                 and not math.isnan(p["v"][spec.name])})
        out.update(payloads)
        corpus = dict(result.corpus) if len(chunks) == 1 else {}
        provenance = result.provenance or provenance
        bar.update(len(chunk))
    bar.close()
    return out, corpus, provenance


def run_metrics(predictions: Sequence[str], references: Sequence[str], metrics: Sequence[str] | None = None, *,
                cache_dir: str | os.PathLike | None = None, use_cache: bool = True, progress: bool = True,
                **scorer_options: Any) -> dict[str, MetricRun]:
    """Per-study results of every chosen metric (and of what they require), in input order."""
    from tqdm.auto import tqdm

    chosen = resolve_metrics(metrics)
    order = execution_order(chosen)
    if isinstance(scorer_options.get("model"), str) and len([m for m in order if get_spec(m).models]) > 1:
        raise InputError("option 'model' names one checkpoint but several model-based metrics run; "
                         "use metric_options={'<metric>': {'model': ...}} instead")
    stray = sorted(set(scorer_options.get("metric_options") or {}) - set(order))
    if stray:
        raise InputError(f"metric_options for {stray}, which {'is' if len(stray) == 1 else 'are'} not run "
                         f"(running: {', '.join(order)})")
    cache = ScoreCache(cache_dir) if use_cache else None
    keys_in_order = [pair_key(p, r) for p, r in zip(predictions, references)]
    unique = dict(zip(keys_in_order, zip(predictions, references)))
    runs: dict[str, MetricRun] = {}
    for name in tqdm(order, desc="metrics", unit="metric", disable=not progress or len(order) < 2):
        spec = get_spec(name)
        opts = options_for(spec, scorer_options)
        key = config_key(spec, opts, [runs[d].config_key for d in spec.requires])
        by_pair = cache.get_many(key, unique) if cache else {}
        hits = len(by_pair)
        missing = [(pk, p, r) for pk, (p, r) in unique.items() if pk not in by_pair]
        corpus_key = f"{key}/corpus/{digest(keys_in_order)}"
        info = cache.get_info(key) if cache else None
        corpus = (cache.get_info(corpus_key) or {}) if cache else {}
        provenance = (info or {}).get("provenance", {})
        if missing:
            logger.info("%s: %d unique studies to score (%d from cache)", name, len(missing), hits)
            scorer = spec.load(**opts)
            components = {dep: runs[dep].by_pair for dep in spec.requires}
            fresh, fresh_corpus, provenance = _score_missing(spec, scorer, missing, components, cache, key, progress)
            by_pair.update(fresh)
            corpus = fresh_corpus if not hits else {}
            if cache is not None:
                cache.put_info(key, {"provenance": provenance, "metric": name})
                if corpus:
                    cache.put_info(corpus_key, corpus)
            if hits and fresh_corpus:
                logger.info("%s: corpus-level figures left out (part of the studies came from the cache)", name)
        else:
            logger.info("%s: all %d unique studies from cache", name, hits)
        columns = list(next(iter(by_pair.values()))["v"]) if by_pair else [name]
        values = {c: [_num(by_pair[pk]["v"].get(c)) for pk in keys_in_order] for c in columns}
        details = [by_pair[pk]["d"] for pk in keys_in_order]
        runs[name] = MetricRun(spec, values, details if any(d is not None for d in details) else None, corpus,
                               provenance, key, cached=hits, computed=len(missing), by_pair=by_pair)
    return {name: runs[name] for name in order}


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


# ------------------------------------------------------------------ summaries


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
        "higher_is_better": spec.higher_is_better != (spec.reported_as == "reciprocal_mean"),
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
                      n_resamples: int = 1000, seed: int = 0, use_cache: bool = True,
                      **scorer_options: Any) -> dict[str, dict[str, Any]]:
    """Score prediction/reference pairs with the chosen metrics (default: the registry's default set).

    Returns ``{metric: {"value", "ci": [low, high], "n", "mean", "mean_ci", ...}}`` in the order
    asked; ``per_study=True`` adds ``per_study`` (and ``details`` where the scorer gives them).
    ``ci="bootstrap"`` switches to a seeded percentile bootstrap (``n_resamples``, ``seed``).
    """
    _check_texts(predictions, references, study_ids)
    chosen = resolve_metrics(metrics)
    runs = run_metrics(list(predictions), list(references), chosen, cache_dir=cache_dir, use_cache=use_cache,
                       progress=progress, **scorer_options)
    return {name: summarise(runs[name], ci=ci, confidence=confidence, n_resamples=n_resamples, seed=seed,
                            per_study=per_study) for name in chosen}


# ------------------------------------------------------------------ test sets


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
    from hf_metrics.models import pick_device

    return pick_device(options.get("device"))


def _models_in(obj: Any) -> list[dict]:
    """Every model record (a dict with ``repo_id``) anywhere in a scorer's provenance."""
    found: list[dict] = []
    if isinstance(obj, dict):
        if "repo_id" in obj:
            found.append(obj)
        else:
            for v in obj.values():
                found.extend(_models_in(v))
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            found.extend(_models_in(v))
    return found


def check_predictions(predictions: Mapping[str, str], study_ids: Sequence[str], *, allow_missing: bool,
                      what: str) -> list[str]:
    """Predictions in test-set order; a clear error for missing or non-text entries."""
    if not isinstance(predictions, Mapping):
        raise InputError("predictions must be a mapping {study_id: report}; read a file with "
                         "hf_datasets.predictions.read_predictions")
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
                   plots: bool = True, track_data: Any = None, **scorer_options: Any) -> dict[str, Any]:
    """Score a system on a ReXrank test set; returns the ``results.json`` content.

    ``predictions``: ``{study_id: report}`` (read files with ``hf_datasets.predictions``).
    ``labels``: optional ``{study_id: is_normal}`` for the normal/abnormal split (default:
    CheXbert's "No Finding" of the reference, when the chexbert metric ran).
    With ``out_dir``: writes ``results.json``, ``per_study.csv`` and the plots there.
    ``track_data``: an already loaded ``hf_datasets.tracks.TrackData`` of this test set and track.
    """
    from hf_datasets.tracks import load_track

    started = time.time()
    data = track_data or load_track(dataset, track, split=split, manifest=manifest, reference_style=reference_style)
    if (data.config, data.split, data.track) != (dataset, split, track):
        raise InputError(f"track_data is {data.config}/{data.split}/{data.track}, not {dataset}/{split}/{track}")
    what = f"the {dataset} {split} set, {track} track ({len(data.study_ids)} studies)"
    texts = check_predictions(predictions, data.study_ids, allow_missing=allow_missing, what=what)
    chosen = resolve_metrics(metrics)
    # The normal/abnormal split needs CheXbert's labels of the references: when SembScore runs
    # (chosen, or as a RadCliQ component), the same CheXbert pass gives them, so add the labeler
    # (not reported unless chosen).
    auxiliary = ["chexbert"] if labels is None and "semb_score" in execution_order(chosen) \
        and "chexbert" not in chosen else []
    runs = run_metrics(texts, data.references, chosen + auxiliary, cache_dir=cache_dir, use_cache=use_cache,
                       progress=progress, **scorer_options)
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
    }
    from hf_metrics import analysis

    results["analyses"] = analysis.analyse(results, studies=data.studies, labels=labels)
    results["provenance"] = {
        "package": {"name": "rexrank", "version": __version__},
        "dataset": {"config": dataset, "split": split, "track": track, "manifest_sha256": data.manifest_sha256,
                    "manifest": str(manifest) if manifest else "official (rajpurkarlab/ReXrank@8152f99)",
                    "reference_style": data.reference_style},
        "metrics": {name: {"official": runs[name].spec.official, "config_key": runs[name].config_key,
                           "options": {k: v for k, v in options_for(runs[name].spec, scorer_options).items()},
                           "scorer": runs[name].provenance} for name in runs},
        "models": _unique_models(runs),
        "assets": sorted({f"manifest {dataset}/{split} sha256:{data.manifest_sha256}"} |
                         {str(a) for r in runs.values() for a in _as_list(r.provenance.get("assets"))}),
        "device": _device(scorer_options),
        "libraries": _library_versions(),
        "platform": platform.platform(),
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.time() - started, 3),
        "statistics": {"ci": ci, "confidence": 0.95, "n_resamples": n_resamples if ci == "bootstrap" else None,
                       "seed": seed if ci == "bootstrap" else None},
        "cache": {"dir": str(ScoreCache(cache_dir).path.parent) if use_cache else None,
                  "hits": {n: r.cached for n, r in runs.items()}, "computed": {n: r.computed for n, r in runs.items()}},
    }
    results = sanitize(results)
    if out_dir is not None:
        write_outputs(results, out_dir, plots=plots)
    return results


def _as_list(v: Any) -> list:
    if v is None:
        return []
    if isinstance(v, dict):
        return [f"{k}={x}" if not isinstance(x, dict) else k for k, x in v.items()]
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _unique_models(runs: Mapping[str, MetricRun]) -> list[dict]:
    seen: dict[tuple, dict] = {}
    for name, run in runs.items():
        for m in _models_in(run.provenance):
            key = (m.get("repo_id"), m.get("resolved_revision"))
            seen.setdefault(key, {**m, "metrics": []})["metrics"].append(name)
    return list(seen.values())


def sanitize(obj: Any) -> Any:
    """JSON-safe: NaN -> None, ±inf -> "inf"/"-inf" strings, tuples -> lists."""
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, dict):
        return {str(k): sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitize(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return sanitize(obj.item())
    return obj


def as_float(v: Any) -> float:
    """Inverse of :func:`sanitize` for one number read back from results.json."""
    if v is None:
        return math.nan
    if v == "inf":
        return math.inf
    if v == "-inf":
        return -math.inf
    return float(v)


def write_outputs(results: Mapping[str, Any], out_dir: str | os.PathLike, *, plots: bool = True) -> list[Path]:
    """``results.json`` (atomic), ``per_study.csv`` and the plots into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "results.json.tmp"
    tmp.write_text(results_json(results), encoding="utf-8")
    os.replace(tmp, out / "results.json")
    written = [out / "results.json", write_per_study_csv(results, out / "per_study.csv")]
    if plots:
        from hf_metrics import plots as plotting

        written += plotting.plots_for_result(results, out)
    return written


def results_json(results: Mapping[str, Any]) -> str:
    """Indented JSON, with the bulky per-study lists and details one line each (a third of the size)."""
    bulky = ("per_study", "per_study_columns", "details")
    head = {k: v for k, v in results.items() if k not in bulky}
    text = json.dumps(head, indent=2, ensure_ascii=False, allow_nan=False)
    parts = []
    for key in bulky:
        if key in results:
            inner = ",\n".join(f"    {json.dumps(k, ensure_ascii=False)}: "
                               f"{json.dumps(v, ensure_ascii=False, allow_nan=False, separators=(',', ':'))}"
                               for k, v in results[key].items())
            parts.append(f'  "{key}": {{\n{inner}\n  }}' if inner else f'  "{key}": {{}}')
    if not parts:
        return text + "\n"
    return text[:-2] + ",\n" + ",\n".join(parts) + "\n}\n"


def write_per_study_csv(results: Mapping[str, Any], path: Path) -> Path:
    import csv

    per = results["per_study"]
    extra = {f"{m}.{c}": v for m, cols in results.get("per_study_columns", {}).items() for c, v in cols.items()}
    columns = {**per, **extra}
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(list(columns))
        for row in zip(*columns.values()):
            writer.writerow(["" if v is None else v for v in row])
    return path
