"""The body of the ``rexrank`` evaluate module: a thin ``evaluate.Metric`` over :mod:`rexrank.metrics.suite`.

The module file ``hf_metrics/rexrank/rexrank.py`` only subclasses :class:`SuiteMetric` (reached
through this module, so `evaluate`'s loader finds exactly one concrete class in that file).
"""

from __future__ import annotations

from typing import Any, Sequence

import datasets
import evaluate

from rexrank.metrics import suite
from rexrank.metrics.reporting.values import to_json
from rexrank.citation import REXRANK_CITATION

DESCRIPTION = """\
The ReXrank suite: the metrics of the ReXrank leaderboard for chest X-ray report generation
(BLEU-2, BERTScore, SembScore, RadGraph F1, 1/RadCliQ-v1, RaTEScore, and GREEN / 1/FineRadScore
when a GPU / an API key is present), each reported as the leaderboard reports it (the mean over
studies; 1/mean for RadCliQ-v1 and FineRadScore) with its 95% confidence interval and n.
"""

KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): generated reports, one per study.
    references (list of str): reference reports, same order.
    study_ids (list of str, optional): study ids (default: positions); used in error messages
        and returned with per-study values.
    metrics (list of str, optional): registry names to run (default: every metric needing
        neither a GPU nor an API key; GREEN with CUDA, FineRadScore with OPENAI_API_KEY).
    ci ("normal" | "bootstrap"): ReXrank's mean ± 1.96·SE (default) or a seeded percentile bootstrap.
    n_resamples (int), seed (int): bootstrap settings.
    per_study (bool): also return the per-study values.
    cache_dir (str), use_cache (bool): on-disk per-study score cache (default: on).
    device, batch_size, metric_options={"bertscore": {...}}: passed to the scorers.
    Any of metrics, ci, per_study, n_resamples, device, batch_size, metric_options, use_cache can also
    be given once at load time: evaluate.load("rexrank", metrics=["bleu2", "bertscore"]) (useful
    with evaluate.combine, which passes no options to compute).
Returns:
    {metric: {"value": leaderboard value, "ci": [low, high], "n": int, "mean": mean of per-study
    values, "mean_ci": [...], "higher_is_better": bool, ...(+ "per_study")}}
"""


# Options that may be given once at load time, ``evaluate.load("rexrank", metrics=[...], device="cuda")``,
# and then hold for every ``compute`` (which can still override them).
LOAD_OPTIONS = ("metrics", "ci", "per_study", "n_resamples", "seed_bootstrap", "device", "batch_size",
                "metric_options", "use_cache", "score_cache_dir", "progress")


class SuiteMetric(evaluate.Metric):
    """``compute(predictions, references, study_ids=None, metrics=None, ...)`` -> per-metric entries."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.defaults = {k: kwargs.pop(k) for k in LOAD_OPTIONS if k in kwargs}
        super().__init__(*args, **kwargs)

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            module_type="metric",
            description=DESCRIPTION,
            citation=REXRANK_CITATION,
            inputs_description=KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}),
            homepage="https://rexrank.ai",
            codebase_urls=["https://github.com/rajpurkarlab/ReXrank"],
            reference_urls=["https://arxiv.org/abs/2411.15122"],
        )

    def _compute(self, predictions: Sequence[str], references: Sequence[str], study_ids: Sequence[str] | None = None,
                 metrics: Sequence[str] | None = None, ci: str = "normal", per_study: bool = False,
                 progress: bool | None = None, **options: Any) -> dict[str, Any]:
        given = {"metrics": metrics, "ci": ci if ci != "normal" else None, "per_study": per_study or None,
                 "progress": progress}
        merged = {**self.defaults, **{k: v for k, v in given.items() if v is not None}, **options}
        if "score_cache_dir" in merged:
            merged["cache_dir"] = merged.pop("score_cache_dir")
        if "seed_bootstrap" in merged:
            merged["seed"] = merged.pop("seed_bootstrap")
        metrics, ci = merged.pop("metrics", None), merged.pop("ci", "normal")
        per_study, progress = merged.pop("per_study", False), merged.pop("progress", False)
        options = merged
        out = suite.score_predictions(list(predictions), list(references), study_ids, metrics, ci=ci,
                                      per_study=per_study, progress=progress, **options)
        if per_study and study_ids is not None:
            for entry in out.values():
                entry["study_ids"] = [str(i) for i in study_ids]
        return to_json(out)
