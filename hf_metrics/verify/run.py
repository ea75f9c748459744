"""Re-score a stratified sample of a result with the official code and compare, per metric.

Our values are read from the result (``per_study``); the official ones come from the oracle
process (``rexrank.metrics.oracle``, task ``verify``) on the weights staged by :mod:`.stage`.
Nothing of ours is re-run, so a changed or corrupted ``results.json`` fails here.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from rexrank.errors import InputError, RexrankError
from rexrank.metrics.registry import METRICS
from rexrank.metrics.reporting.results_file import load_results
from rexrank.metrics.reporting.values import as_float, to_json
from rexrank.metrics.verify.bounds import bound_for
from rexrank.metrics.verify.sample import stratified_sample
from rexrank.metrics.verify.stage import NotStageable, Stage, stage_metric

logger = logging.getLogger(__name__)

VERIFY_SCHEMA = "rexrank-verify/1"
PASS, FAIL, NOT_VERIFIED = "PASS", "FAIL", "NOT VERIFIED"
OFFICIAL = ("bleu2", "bertscore", "semb_score", "chexbert", "radgraph", "ratescore", "green")  # run in the oracle
ORDER = OFFICIAL + ("radcliq",)  # radcliq combines the official values of its components
CHUNK = 10  # studies per oracle call (progress and memory), GREEN: its official batch of 8
NEVER = {"fineradscore": "an LLM judge: a new call is a new sample from the model (ReXrank's numbers came from a "
                         "sampled closed model), and rajpurkarlab/FineRadScore holds only that call; nothing "
                         "deterministic to re-run"}


class OracleNotSetUp(RexrankError):
    """The venv with the official packages does not exist yet."""


@dataclass
class MetricCheck:
    metric: str
    display: str
    status: str
    checked: int = 0
    max_abs_diff: float | None = None
    mean_abs_diff: float | None = None
    tolerance: float | None = None
    tolerance_source: str | None = None
    reason: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)  # studies beyond the tolerance, worst first
    official_could_not_score: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Texts:
    study_ids: list[str]
    predictions: list[str]
    references: list[str]


def texts_of(result: Mapping[str, Any], predictions_file: str | os.PathLike | None = None,
             manifest: str | os.PathLike | None = None) -> Texts:
    """The scored texts: recorded in the result (``texts``), or (older results) rebuilt from the
    predictions file and the test set, checked against the recorded manifest sha256."""
    ids = list(result["per_study"]["study_id"])
    recorded = result.get("texts")
    if recorded and predictions_file is None:
        preds, refs = list(recorded["prediction"]), list(recorded["reference"])
        if not len(preds) == len(refs) == len(ids):
            raise InputError(f"the result's texts ({len(preds)} predictions, {len(refs)} references) do not "
                             f"match its {len(ids)} studies: the file was edited or truncated")
        return Texts(ids, preds, refs)
    if predictions_file is None:
        raise InputError("this results.json does not record the texts it scored (written before rexrank recorded "
                         "them): pass the predictions file with --predictions (the test set is rebuilt from "
                         "the recorded dataset and manifest), or score again")
    from rexrank.datasets.predictions import read_predictions
    from rexrank.datasets.tracks import load_track

    dataset = result["provenance"]["dataset"]
    recorded_manifest = dataset.get("manifest", "")
    local = manifest or (recorded_manifest if recorded_manifest and os.path.exists(recorded_manifest) else None)
    track = load_track(dataset["config"], dataset["track"], split=dataset["split"], manifest=local,
                       reference_style=dataset.get("reference_style", "manifest"))
    if track.manifest_sha256 != dataset["manifest_sha256"]:
        raise InputError(f"the test set manifest now has sha256 {track.manifest_sha256}, the result was scored on "
                         f"{dataset['manifest_sha256']}: pass the manifest it used with --manifest")
    by_id = dict(zip(track.study_ids, track.references))
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise InputError(f"{len(missing)} studies of the result are not in the test set, e.g. {missing[:3]}")
    predictions = read_predictions(predictions_file, list(track.study_ids), allow_missing=True)
    return Texts(ids, [predictions.get(i, "") for i in ids], [by_id[i] for i in ids])


def _chosen(result: Mapping[str, Any], metrics: Sequence[str] | None) -> list[str]:
    available = [m for m in result["metrics"] if m in result["per_study"]]
    if not metrics:
        return [m for m in ORDER if m in available] + [m for m in available if m not in ORDER]
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise InputError(f"{', '.join(unknown)} not in this result; it has {', '.join(available)}")
    return [m for m in ORDER if m in metrics] + [m for m in metrics if m not in ORDER]


def _green_runs_here(explicit: bool) -> str | None:
    """Why GREEN's official loop is not run (a 7B model; the oracle's torch is CPU-only), or None."""
    if explicit:
        return None
    return ("GREEN's official loop runs a 7B model in the official settings; the oracle venv is CPU-only, where "
            "that takes hours: ask for it explicitly (--metrics green) to run it anyway")


def _oracle(venv: Path | None, stage: Stage, log_path: Path):
    from rexrank.metrics.oracle.client import Oracle
    from rexrank.metrics.oracle.venv import DISK_COST, default_venv, python_of

    venv = venv or default_venv()
    python = python_of(venv)
    if not python.exists():
        raise OracleNotSetUp(f"the official packages are not set up at {venv}: run `rexrank verify --setup` once "
                             f"({DISK_COST}; REXRANK_ORACLE_VENV or --oracle-venv choose where)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "HF_", "TRANSFORMERS_"))}
    env.update(stage.env())
    env.update({"LOGURU_LEVEL": "INFO", "CUDA_VISIBLE_DEVICES": "", "TOKENIZERS_PARALLELISM": "false"})
    log = open(log_path, "w", encoding="utf-8")
    return Oracle(str(python), env, stderr=log), log


def _official_values(oracle, metric: str, texts: Texts, rows: list[int], options: Mapping[str, Any],
                     bar) -> tuple[dict[int, float], dict[int, str], dict[str, Any]]:
    """Official per-study values of ``metric`` on ``rows``; the rows it could not score, with why."""
    values: dict[int, float] = {}
    missing: dict[int, str] = {}
    extra: dict[str, Any] = {"labels": {}}
    size = 8 if metric == "green" else CHUNK
    for start in range(0, len(rows), size):
        chunk = rows[start:start + size]
        answer = oracle("verify", metric=metric, predictions=[texts.predictions[i] for i in chunk],
                        references=[texts.references[i] for i in chunk], **options)
        if metric == "green":
            from rexrank.metrics.scorers.green.parse import analyse

            column = [analyse(c)["green"] for c in answer["completions"]]
        else:
            column = answer["values"][metric]
        for j, (row, value) in enumerate(zip(chunk, column)):
            if value is None:
                missing[row] = answer.get("missing", {}).get(str(j), "the official code gives no value")
            else:
                values[row] = float(value)
        if "labels" in answer:
            for j, row in enumerate(chunk):
                extra["labels"][row] = (answer["labels"]["prediction"][j], answer["labels"]["reference"][j])
            extra["label_names"] = answer["labels"]["names"]
        bar.update(len(chunk))
    return values, missing, extra


def _radcliq(official: Mapping[str, dict[int, float]], rows: list[int]) -> tuple[dict[int, float], dict[int, str]]:
    """RadCliQ-v1 of the official component values (CXR-Report-Metric's pickles are the DESIGN §7.6 constants)."""
    from rexrank.metrics.scorers.radcliq import COMPONENTS, radcliq_v1

    values, missing = {}, {}
    for row in rows:
        if all(row in official[c] for c in COMPONENTS):
            values[row] = float(radcliq_v1([[official[c][row] for c in COMPONENTS]])[0])
        else:
            missing[row] = "an official component value is missing for this study"
    return values, missing


def _label_failures(result: Mapping[str, Any], extra: Mapping[str, Any], ids: list[str]) -> list[dict[str, Any]]:
    """Studies whose recorded CheXbert labels differ from f1chexbert's."""
    details = (result.get("details") or {}).get("chexbert") or []
    names = extra.get("label_names") or []
    out = []
    for row, (pred, ref) in extra.get("labels", {}).items():
        if row >= len(details) or not isinstance(details[row], Mapping):
            continue
        ours_pred = [details[row].get("prediction_labels", {}).get(n) for n in names]
        ours_ref = [details[row].get("reference_labels", {}).get(n) for n in names]
        differ = [n for n, a, b, c, d in zip(names, ours_pred, pred, ours_ref, ref) if a != b or c != d]
        if differ:
            out.append({"study_id": ids[row], "labels_differ": differ})
    return out


def compare(metric: str, ours: Sequence[Any], official: Mapping[int, float], missing: Mapping[int, str],
            ids: list[str], scorer_provenance: Mapping[str, Any] | None) -> MetricCheck:
    """One metric's row: |ours − official| over the rows the official code scored, against its bound."""
    bound = bound_for(metric, scorer_provenance)
    diffs = []
    for row, theirs in official.items():
        mine = as_float(ours[row])
        diff = abs(mine - theirs) if not (math.isnan(mine) and math.isnan(theirs)) else 0.0
        diffs.append((math.inf if math.isnan(diff) else diff, row, mine, theirs))
    check = MetricCheck(metric, METRICS[metric].display if metric in METRICS else metric, NOT_VERIFIED,
                        checked=len(diffs), tolerance=bound.value, tolerance_source=bound.source)
    check.official_could_not_score = [{"study_id": ids[r], "reason": why} for r, why in sorted(missing.items())]
    if not diffs:
        check.reason = "the official code could score none of the sampled studies"
        return check
    check.max_abs_diff = max(d for d, *_ in diffs)
    check.mean_abs_diff = sum(d for d, *_ in diffs) / len(diffs)
    check.failures = [{"study_id": ids[row], "ours": mine, "official": theirs, "abs_diff": d}
                      for d, row, mine, theirs in sorted(diffs, key=lambda x: -x[0]) if d > bound.value]
    check.status = FAIL if check.failures else PASS
    return check


def verify_result(results: str | os.PathLike, *, sample: int = 50, metrics: Sequence[str] | None = None,
                  seed: int = 0, oracle_venv: str | os.PathLike | None = None,
                  predictions: str | os.PathLike | None = None, manifest: str | os.PathLike | None = None,
                  progress: bool = True, write: bool = True) -> dict[str, Any]:
    """Check ``results`` (a results.json or its folder); returns the content of ``verify.json``
    (written next to results.json unless ``write=False``)."""
    from rexrank.metrics.runtime.batching import progress_bar

    path = Path(results)
    path = path / "results.json" if path.is_dir() else path
    result = load_results(path)
    texts = texts_of(result, predictions, manifest)
    chosen = _chosen(result, metrics)
    explicit = set(metrics or ())
    strata = stratified_sample(texts.predictions, texts.references, sample, seed)
    rows = list(strata)
    checks: dict[str, MetricCheck] = {}
    official: dict[str, dict[int, float]] = {}
    prov = (result.get("provenance") or {}).get("metrics") or {}
    started = _dt.datetime.now(_dt.timezone.utc)
    with tempfile.TemporaryDirectory(prefix="rexrank-verify-") as tmp:
        stage = Stage(Path(tmp))
        runnable = []
        for metric in chosen:
            display = METRICS[metric].display if metric in METRICS else metric
            why = NEVER.get(metric) or (_green_runs_here(metric in explicit) if metric == "green" else None)
            if metric not in ORDER and why is None:
                why = "no official implementation to run for this metric"
            if why is None and metric in OFFICIAL:
                try:
                    stage_metric(stage, result, metric)
                except (NotStageable, RexrankError) as err:
                    why = f"the weights it was scored with are not available: {err}"
            if why:
                checks[metric] = MetricCheck(metric, display, NOT_VERIFIED, reason=why)
            else:
                runnable.append(metric)
        in_oracle = [m for m in runnable if m in OFFICIAL]
        if in_oracle:
            log_path = path.parent / "verify.log"
            oracle, log = _oracle(Path(oracle_venv) if oracle_venv else None, stage, log_path)
            bar = progress_bar(len(rows) * len(in_oracle), "official code", progress)
            try:
                for metric in in_oracle:
                    options = dict(stage.options.get(metric, {}))
                    options.update(_task_options(metric, prov.get(metric) or {}))
                    try:
                        values, missing, extra = _official_values(oracle, metric, texts, rows, options, bar)
                    except RuntimeError as err:
                        checks[metric] = MetricCheck(metric, METRICS[metric].display, NOT_VERIFIED,
                                                     reason=f"the official code failed (see {log_path}): "
                                                            f"{str(err).strip().splitlines()[-1]}")
                        continue
                    official[metric] = values
                    checks[metric] = compare(metric, result["per_study"][metric], values, missing, texts.study_ids,
                                             (prov.get(metric) or {}).get("scorer"))
                    if metric == "chexbert":
                        label_failures = _label_failures(result, extra, texts.study_ids)
                        checks[metric].failures += label_failures
                        if label_failures:
                            checks[metric].status = FAIL
            finally:
                bar.close()
                oracle.close()
                log.close()
    if "radcliq" in runnable:
        from rexrank.metrics.scorers.radcliq import COMPONENTS

        absent = [c for c in COMPONENTS if c not in official]
        if absent:
            checks["radcliq"] = MetricCheck("radcliq", METRICS["radcliq"].display, NOT_VERIFIED,
                                            reason=f"needs the official values of {', '.join(absent)}, "
                                                   "which were not computed")
        else:
            values, missing = _radcliq(official, rows)
            checks["radcliq"] = compare("radcliq", result["per_study"]["radcliq"], values, missing,
                                        texts.study_ids, None)
    report = {
        "schema": VERIFY_SCHEMA,
        "results": str(path),
        "results_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "system": result.get("system"),
        "dataset": result.get("dataset"),
        "sample": {"requested": sample, "seed": seed, "n": len(rows), "of": len(texts.study_ids),
                   "strata": {s: sum(v == s for v in strata.values()) for s in sorted(set(strata.values()))},
                   "study_ids": [texts.study_ids[i] for i in rows]},
        "metrics": {m: asdict(checks[m]) for m in chosen if m in checks},
        "models": stage.models,
        "oracle": _oracle_versions(oracle_venv) if in_oracle else None,
        "passed": all(c.status != FAIL for c in checks.values()),
        "time": started.isoformat(timespec="seconds"),
    }
    report = to_json(report)
    if write:
        import json

        from rexrank.files import atomic_write_text

        atomic_write_text(path.parent / "verify.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return report


def _task_options(metric: str, prov: Mapping[str, Any]) -> dict[str, Any]:
    """The metric's options as the result recorded them, in the official task's terms."""
    scorer = prov.get("scorer") or {}
    options = prov.get("options") or {}
    if metric == "bertscore":
        return {"prefix_space": bool(options.get("prefix_space", str(scorer.get("tokenisation", "prefix")).startswith("prefix")))}
    if metric == "ratescore":
        return {"affinity_matrix": (scorer.get("options") or {}).get("affinity_matrix", options.get("affinity_matrix", "long"))}
    if metric == "green":
        from rexrank import assets

        return {"template": assets.read_text("green/prompt"), "max_length": int(scorer.get("max_length", 2048)),
                "dtype": scorer.get("dtype", "float16")}
    return {}


def _oracle_versions(oracle_venv: str | os.PathLike | None) -> dict[str, str] | None:
    """The official packages' versions (read from the venv's metadata, without importing them)."""
    import subprocess

    from rexrank.metrics.oracle.venv import default_venv, python_of

    python = python_of(Path(oracle_venv) if oracle_venv else default_venv())
    code = ("import importlib.metadata as m, json\nout = {}\n"
            "for d in ['torch', 'transformers', 'bert-score', 'fast-bleu', 'radgraph', 'f1chexbert', 'RaTEScore']:\n"
            "    try: out[d] = m.version(d)\n    except m.PackageNotFoundError: pass\nprint(json.dumps(out))")
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    import json

    return {"venv": str(python.parent.parent), **json.loads(done.stdout)} if done.returncode == 0 else None
