"""ReXrank BERTScore (an `evaluate` module; the scorer is the registry's ``bertscore``, see README.md)."""

from rexrank.metrics.evaluate_glue import module as evaluate_module

_DESCRIPTION = """BERTScore F1 (distilroberta-base, layer 5, no idf, baseline-rescaled) of generated chest X-ray reports, exactly as bert-score 0.3.11 computes it for the ReXrank leaderboard."""

_CITATION = """@inproceedings{zhang2020bertscore,
  title={BERTScore: Evaluating Text Generation with BERT},
  author={Tianyi Zhang and Varsha Kishore and Felix Wu and Kilian Q. Weinberger and Yoav Artzi},
  booktitle={International Conference on Learning Representations},
  year={2020}
}"""


class RexrankBertscore(evaluate_module.ScorerMetric):
    """``evaluate.load(...).compute(predictions=[...], references=[...], **options)``."""

    metric_name = "bertscore"
    metric_description = _DESCRIPTION
    metric_citation = f"{_CITATION}\n\n{evaluate_module.CXR_REPORT_METRIC_CITATION}"
