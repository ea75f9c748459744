"""A ReXrank result as Hub evaluation results, so a model page shows its scores.

Two forms that ``huggingface_hub`` (2.4) knows:

* the model card's ``model-index`` (``EvalResult`` entries in ``ModelCardData``), one per metric;
* the newer ``.eval_results/<file>.yaml`` (``EvalResultEntry`` + ``eval_result_entries_to_yaml``),
  one entry per leaderboard metric, its ``task_id`` one of the tasks the dataset repo's
  ``eval.yaml`` declares (``rexrank.datasets.benchmark.task_id``: ``<config>_<split>_<track>_<metric>``),
  with the CI and n in ``notes`` (the format has one value per entry). Metrics and splits without
  a task (CheXbert F1, a validation split) are left out: the Hub would reject an unknown task.

A metric whose value is infinite or undefined (:mod:`rexrank.metrics.reporting.values`) is left
out of both, with a warning saying why: the Hub's formats take one finite number per entry. A CI
bound that is not finite is written as ``∞``/``—`` in the notes and left out of ``metric_args``.

``dataset_id`` is the Hub id of the ReXrank test-set dataset the result refers to
(``$REXRANK_DATASET_ID``, else ``rexrank/rexrank``: change it to where you pushed the dataset).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping

from rexrank.metrics.reporting.values import NOTE, as_float, format_number, from_json, nonfinite_note

logger = logging.getLogger(__name__)

DATASET_PRETTY = "ReXrank"


def dataset_id_default() -> str:
    return os.environ.get("REXRANK_DATASET_ID", "rexrank/rexrank")


def _notes(entry: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    lo, hi = (format_number(x) for x in entry["ci"])
    return (f"{entry['display']}: 95% CI [{lo}, {hi}] ({entry.get('ci_method', 'normal')}), n={entry['n']}, "
            f"{result['dataset']['track']} track, references: {result['dataset']['reference_style']}, "
            f"manifest sha256 {result['dataset']['manifest_sha256'][:12]}, rexrank "
            f"{result.get('provenance', {}).get('package', {}).get('version', '?')}")


def eval_results(result: Mapping[str, Any], dataset_id: str | None = None, source_url: str | None = None) -> list:
    """``model-index`` entries (huggingface_hub.EvalResult), one per metric."""
    from huggingface_hub import EvalResult

    d = result["dataset"]
    out = []
    for name, entry in _finite_entries(result):
        value = as_float(entry["value"])
        bounds = {k: as_float(x) for k, x in zip(("ci_low", "ci_high"), entry["ci"]) if math.isfinite(as_float(x))}
        out.append(EvalResult(
            task_type="image-to-text", task_name="Chest X-ray report generation",
            dataset_type=dataset_id or dataset_id_default(), dataset_name=f"{DATASET_PRETTY} {d['config']} ({d['track']})",
            dataset_config=d["config"], dataset_split=d["split"],
            dataset_args={"track": d["track"], "reference_style": d["reference_style"],
                          "manifest_sha256": d["manifest_sha256"]},
            metric_type=f"rexrank_{name}", metric_name=entry["display"], metric_value=round(value, 6),
            metric_args={**bounds, "n": entry["n"]},
            source_name="rexrank score" if source_url else None, source_url=source_url,
        ))
    return out


def _finite_entries(result: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The metrics the Hub can take (a finite value); the others are logged with the reason."""
    result = from_json(result)
    kept = []
    for name, entry in result["metrics"].items():
        if math.isfinite(as_float(entry.get("value"))):
            kept.append((name, entry))
        else:
            logger.warning("%s is %s (%s): left out of the Hub evaluation results, which take finite numbers only",
                           entry.get("display", name), format_number(entry.get("value")),
                           entry.get(NOTE) or nonfinite_note(entry))
    return kept


def model_card_metadata(result: Mapping[str, Any], model_name: str, dataset_id: str | None = None) -> dict:
    """The YAML header (as a dict) of a model card whose ``model-index`` holds the result."""
    from huggingface_hub import ModelCardData

    card = ModelCardData(model_name=model_name, eval_results=eval_results(result, dataset_id),
                         datasets=[dataset_id or dataset_id_default()], tags=["rexrank", "radiology-report-generation"])
    return card.to_dict()


def eval_result_entries(result: Mapping[str, Any], dataset_id: str | None = None,
                        dataset_revision: str | None = None, source_url: str | None = None) -> list:
    """``.eval_results`` entries (huggingface_hub.EvalResultEntry), one per metric."""
    from huggingface_hub import EvalResultEntry

    from rexrank.datasets import benchmark

    d = result["dataset"]
    when = result.get("provenance", {}).get("time")
    declared = {t["id"] for t in benchmark.tasks([d["config"]])}
    entries = [(name, entry) for name, entry in _finite_entries(result)
               if benchmark.task_id(d["config"], d["split"], d["track"], name) in declared]
    return [EvalResultEntry(
        dataset_id=dataset_id or dataset_id_default(), task_id=benchmark.task_id(d["config"], d["split"], d["track"], name),
        value=round(as_float(entry["value"]), 6), dataset_revision=dataset_revision, date=when,
        source_url=source_url, source_name="rexrank score" if source_url else None,
        notes=_notes(entry, result)) for name, entry in entries]


def eval_results_yaml(result: Mapping[str, Any], **kwargs: Any) -> str:
    import yaml
    from huggingface_hub import eval_result_entries_to_yaml

    return yaml.safe_dump(eval_result_entries_to_yaml(eval_result_entries(result, **kwargs)), sort_keys=False,
                          allow_unicode=True)


def write_hub_files(result: Mapping[str, Any], out_dir: str | os.PathLike, model_name: str,
                    dataset_id: str | None = None) -> list[Path]:
    """``model_index.yaml`` (paste into the model card header) and ``.eval_results/rexrank_<config>_<track>.yaml``."""
    import yaml

    out = Path(out_dir)
    d = result["dataset"]
    meta = model_card_metadata(result, model_name, dataset_id)
    card_path = out / "model_index.yaml"
    card_path.write_text(yaml.safe_dump(meta, sort_keys=False, allow_unicode=True), encoding="utf-8")
    eval_dir = out / ".eval_results"
    eval_dir.mkdir(parents=True, exist_ok=True)
    eval_path = eval_dir / f"rexrank_{d['config']}_{d['split']}_{d['track']}.yaml"
    eval_path.write_text(eval_results_yaml(result, dataset_id=dataset_id), encoding="utf-8")
    return [card_path, eval_path]
