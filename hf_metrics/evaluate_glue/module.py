"""The shared body of our `evaluate` modules: a thin ``evaluate.Metric`` over a registry scorer.

Each module folder (``hf_metrics/rexrank_<name>/<name>.py``) holds only its card text and::

    from rexrank.metrics.evaluate_glue import module as evaluate_module

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

from rexrank.citation import REXRANK_CITATION
from rexrank.metrics.scorers.base import check_pairs
from rexrank.metrics.registry import get_spec, load_scorer

_HOMEPAGE = "https://rexrank.ai"

#: The paper of CXR-Report-Metric, the official implementation of BLEU-2, BERTScore, SembScore, RadGraph F1, RadCliQ.
CXR_REPORT_METRIC_CITATION = """\
@article{yu2023evaluating,
  title={Evaluating progress in automatic chest X-ray radiology report generation},
  author={Yu, Feiyang and Endo, Mark and Krishnan, Rayan and Pan, Ian and Tsai, Andy and Reis, Eduardo Pontes and Fonseca, Eduardo Kaiser Ururahy Nunes and Lee, Henrique Min Ho and Abad, Zahra Shakeri Hossein and Ng, Andrew Y. and Langlotz, Curtis P. and Venugopal, Vasantha Kumar and Rajpurkar, Pranav},
  journal={Patterns},
  volume={4},
  number={9},
  year={2023}
}
"""

#: Every module cites ReXrank after its own metric's paper(s).


class ScorerMetric(evaluate.Metric):
    """Base class: subclasses set ``metric_name`` (a registry name), and optionally card text."""

    metric_name: str = ""
    # Card texts. Not named description/citation: those are evaluate's own read-only properties.
    metric_description: str = ""
    metric_citation: str = ""
    metric_inputs: str = ""

    def _info(self) -> evaluate.MetricInfo:
        spec = get_spec(self.metric_name)
        return evaluate.MetricInfo(
            module_type="metric",
            description=self.metric_description or f"{spec.display} as computed for the ReXrank leaderboard ({spec.official}).",
            citation=f"{self.metric_citation}\n\n{REXRANK_CITATION}" if self.metric_citation else REXRANK_CITATION,
            inputs_description=self.metric_inputs or _default_inputs(spec.name),
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}),
            homepage=_HOMEPAGE,
            codebase_urls=["https://github.com/rajpurkarlab/ReXrank"],
        )

    def _compute(self, predictions: list[str], references: list[str], **options: Any) -> dict[str, Any]:
        spec = get_spec(self.metric_name)
        predictions, references = check_pairs(predictions, references, spec.display)
        result = load_scorer(self.metric_name, **options)(predictions, references)
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
