"""Run the chosen metrics of the registry over prediction/reference pairs, per study.

Metrics come from :mod:`rexrank.metrics.registry` only; the suite never computes a metric itself.
A metric that ``requires`` others (RadCliQ) gets their per-study values, computed once.
Per-study scores are cached on disk (:mod:`rexrank.metrics.runtime.score_cache`) under (metric, model
revisions, options, prediction, reference), so an identical rerun only reads the cache, and
identical pairs are scored once.
"""

from __future__ import annotations

import collections
import inspect
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from rexrank.metrics.runtime.models import ModelRef, parse_model_spec
from rexrank.metrics.registry import METRICS, MetricSpec, default_metrics, get_spec
from rexrank.metrics.scorers.base import ScoreResult
from rexrank.metrics.runtime.score_cache import ScoreCache, pair_key
from rexrank import __version__
from rexrank.digests import sha256_json
from rexrank.errors import InputError, RexrankError, describe_ids

logger = logging.getLogger(__name__)

# Options that change speed, never a score: left out of the cache key.
_SPEED_ONLY = frozenset({"batch_size", "max_tokens", "progress", "num_workers", "concurrency"})
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
    failures: dict[str, str] = field(default_factory=dict)  # pair key -> why that study has no value

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


def options_for(spec: MetricSpec, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options this metric's scorer accepts.

    Global options (``device``, ``batch_size``...) go to every scorer that takes them;
    ``metric_options={"bertscore": {...}}`` adds per-metric ones; ``model`` only makes sense
    per metric, so a global ``model`` is refused when several metrics run (see ``score_predictions``).
    """
    per_metric = dict((options.get("metric_options") or {}).get(spec.name, {}))
    merged = {k: v for k, v in options.items() if k != "metric_options"}
    merged.update(per_metric)
    cls = spec.scorer_class()
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
        return "local:" + sha256_json(files)[:16]
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
    return sha256_json({
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
                   progress: bool, engine: Any) -> tuple[dict[str, dict], dict, dict, dict[str, str]]:
    """Score unique (pair key, prediction, reference) triples in chunks, saving each chunk."""
    from tqdm.auto import tqdm

    out: dict[str, dict] = {}
    corpus: dict = {}
    provenance: dict = {}
    failures: dict[str, str] = {}
    # API metrics save every chunk so a killed run resumes; the others run in one call, which keeps
    # their corpus-level figures (e.g. CheXbert micro/macro F1) whole and their batches the same on
    # every engine (GREEN's completions are saved per batch by GREEN itself).
    size = _CHUNK if spec.needs_api else max(len(pairs), 1)
    chunks = [pairs[i:i + size] for i in range(0, len(pairs), size)]
    bar = tqdm(total=len(pairs), desc=f"{spec.name}", unit="study", disable=not progress or len(chunks) == 0,
               leave=False)

    def store(payloads: dict[str, dict]) -> None:
        if cache is not None:  # a failed study (no value, e.g. no valid LLM reply) is retried next run
            cache.put_many(key, {pk: p for pk, p in payloads.items() if p["v"].get(spec.name) is not None
                                 and not math.isnan(p["v"][spec.name])})

    for chunk in chunks:
        preds = [p for _, p, _ in chunk]
        refs = [r for _, _, r in chunk]
        if spec.requires and hasattr(scorer, "from_components"):
            comp = {dep: [components[dep][pk]["v"][dep] for pk, _, _ in chunk] for dep in spec.requires}
            result, failed = scorer.from_components(comp), {}
        else:
            def save(indices: Sequence[int], partial: ScoreResult, chunk=chunk) -> None:
                store(dict(zip((chunk[i][0] for i in indices), _payloads(partial, spec, len(indices)))))

            result, failed = engine.score(scorer, preds, refs, save, progress)
        payloads = dict(zip((pk for pk, _, _ in chunk), _payloads(result, spec, len(chunk))))
        store(payloads)
        failures.update({chunk[i][0]: error for i, error in failed.items()})
        out.update(payloads)
        corpus = dict(result.corpus) if len(chunks) == 1 else {}
        provenance = result.provenance or provenance
        bar.update(len(chunk))
    bar.close()
    return out, corpus, provenance, failures


def run_metrics(predictions: Sequence[str], references: Sequence[str], metrics: Sequence[str] | None = None, *,
                cache_dir: str | os.PathLike | None = None, use_cache: bool = True, progress: bool = True,
                engine: Any = None, study_ids: Sequence[str] | None = None,
                **scorer_options: Any) -> dict[str, MetricRun]:
    """Per-study results of every chosen metric (and of what they require), in input order.

    ``engine``: where model work runs (:mod:`rexrank.metrics.suite.engines`; default this process).
    """
    from tqdm.auto import tqdm

    from rexrank.metrics.suite.engines import LocalEngine

    engine = engine or LocalEngine()
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
    ids_in_order = [str(i) for i in (study_ids if study_ids is not None else range(len(predictions)))]
    keys_in_order = [pair_key(p, r) for p, r in zip(predictions, references)]
    unique = dict(zip(keys_in_order, zip(predictions, references)))
    options = {name: options_for(get_spec(name), scorer_options) for name in order}
    keys: dict[str, str] = {}
    for name in order:
        keys[name] = config_key(get_spec(name), options[name], [keys[d] for d in get_spec(name).requires])
    ready = _preflight(order, options, keys, unique, cache)
    runs: dict[str, MetricRun] = {}
    for name in tqdm(order, desc="metrics", unit="metric", disable=not progress or len(order) < 2):
        spec = get_spec(name)
        opts, key = options[name], keys[name]
        by_pair = cache.get_many(key, unique) if cache else {}
        hits = len(by_pair)
        missing = [(pk, p, r) for pk, (p, r) in unique.items() if pk not in by_pair]
        corpus_key = f"{key}/corpus/{sha256_json(keys_in_order)}"
        info = cache.get_info(key) if cache else None
        corpus = (cache.get_info(corpus_key) or {}) if cache else {}
        provenance = (info or {}).get("provenance", {})
        if missing:
            logger.info("%s: %d unique studies to score (%d from cache)", name, len(missing), hits)
            with engine.scorer_context(spec, opts):
                scorer = ready.pop(name, None) or spec.load(**opts)
                components = {dep: runs[dep].by_pair for dep in spec.requires}
                fresh, fresh_corpus, provenance, failures = _score_missing(spec, scorer, missing, components, cache,
                                                                           key, progress, engine)
            if failures:
                studies = [i for i, pk in zip(ids_in_order, keys_in_order) if pk in failures]
                logger.warning("%s: no value for %s (%s); recorded as failed, a rerun retries them", name,
                               describe_ids(studies), next(iter(failures.values())))
            by_pair.update(fresh)
            corpus = fresh_corpus if not hits else {}
            if cache is not None:
                cache.put_info(key, {"provenance": provenance, "metric": name})
                if corpus:
                    cache.put_info(corpus_key, corpus)
            if hits and fresh_corpus:
                logger.info("%s: corpus-level figures left out (part of the studies came from the cache)", name)
        else:
            failures = {}
            logger.info("%s: all %d unique studies from cache", name, hits)
        columns = list(next(iter(by_pair.values()))["v"]) if by_pair else [name]
        values = {c: [_num(by_pair[pk]["v"].get(c)) for pk in keys_in_order] for c in columns}
        details = [by_pair[pk]["d"] for pk in keys_in_order]
        runs[name] = MetricRun(spec, values, details if any(d is not None for d in details) else None, corpus,
                               provenance, key, cached=hits, computed=len(missing), by_pair=by_pair,
                               failures=failures)
    return {name: runs[name] for name in order}


def _preflight(order: Sequence[str], options: Mapping[str, dict], keys: Mapping[str, str],
               unique: Mapping[str, Any], cache: ScoreCache | None) -> dict[str, Any]:
    """Build and check, before any metric runs, the scorers that can fail fast (an LLM endpoint:
    no key, unreachable, key refused, unknown model) and still have studies to score, so such a
    run stops in seconds rather than after the other metrics. Returns those scorers for reuse."""
    ready = {}
    for name in order:
        spec = get_spec(name)
        if not hasattr(spec.scorer_class(), "preflight"):
            continue
        if cache is not None and len(cache.get_many(keys[name], unique)) == len(unique):
            continue  # everything cached: the endpoint is not needed
        scorer = spec.load(**options[name])
        scorer.preflight()
        ready[name] = scorer
    return ready


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


