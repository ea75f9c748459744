"""The shared body of our `evaluate` modules: a thin ``evaluate.Metric`` over a registry scorer.

Each module folder (``hf_metrics/rexrank_<name>/<name>.py``) holds only its card text and::

    from hf_metrics import evaluate_module

    class RexrankBleu2(evaluate_module.ScorerMetric):
        metric_name = "bleu2"

(the base class is reached through the module, so `evaluate`'s loader, which takes the first
``EvaluationModule`` subclass it finds in the file's namespace, finds the concrete one).

``compute(predictions=..., references=..., **options)`` passes ``options`` (``device``,
``batch_size``, ``model``...) to the scorer and returns ``{name: mean, name + "_per_study":
[...], ...}`` plus any extra per-study columns and corpus-level figures the scorer gives.
"""

from __future__ import annotations

import math
from typing import Any

import datasets
import evaluate

from hf_metrics.registry import get_spec, load_scorer
from rexrank.errors import InputError

_HOMEPAGE = "https://rexrank.ai"


def check_inputs(predictions: list[Any], references: list[Any]) -> None:
    """Same length, strings only: the error names the offending positions."""
    if len(predictions) != len(references):
        raise InputError(f"{len(predictions)} predictions but {len(references)} references: they must pair up one to one")
    for side, texts in (("prediction", predictions), ("reference", references)):
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise InputError(f"{side}s must be strings; not at positions {bad[:5]}{' ...' if len(bad) > 5 else ''} "
                             f"(e.g. {texts[bad[0]]!r}). Replace missing reports with '' deliberately, or drop them.")


class ScorerMetric(evaluate.Metric):
    """Base class: subclasses set ``metric_name`` (a registry name), and optionally card text."""

    metric_name: str = ""
    description: str = ""
    citation: str = ""
    inputs_description: str = ""

    def _info(self) -> evaluate.MetricInfo:
        spec = get_spec(self.metric_name)
        return evaluate.MetricInfo(
            module_type="metric",
            description=self.description or f"{spec.display} as computed for the ReXrank leaderboard ({spec.official}).",
            citation=self.citation,
            inputs_description=self.inputs_description or _default_inputs(spec.name),
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}),
            homepage=_HOMEPAGE,
            codebase_urls=["https://github.com/rajpurkarlab/ReXrank"],
        )

    def _compute(self, predictions: list[str], references: list[str], **options: Any) -> dict[str, Any]:
        check_inputs(predictions, references)
        spec = get_spec(self.metric_name)
        result = load_scorer(self.metric_name, **options)(list(predictions), list(references))
        out: dict[str, Any] = {}
        for column, values in result.values.items():
            finite = [v for v in values if not math.isnan(v)]
            out[column] = float(sum(finite) / len(finite)) if finite else float("nan")
            out[f"{column}_per_study"] = list(values)
        if spec.reported_as == "reciprocal_mean":
            out[f"1/{spec.name}"] = spec.report(out[spec.name])
        out.update(result.corpus)
        if result.details is not None:
            out[f"{spec.name}_details"] = result.details
        out["provenance"] = result.provenance
        return out


def _default_inputs(name: str) -> str:
    return f"""
Args:
    predictions (list of str): generated reports, one per study.
    references (list of str): reference reports, in the same order.
    **options: scorer options, e.g. ``device="cuda"``, ``batch_size=64``, ``model="<repo>@<rev>"`` or a local folder.
Returns:
    {name} (float): mean over studies of the per-study value.
    {name}_per_study (list of float): one value per study, in input order.
    provenance (dict): models and revisions actually used, options.
"""
