"""ReXrank BLEU-2 (an `evaluate` module; the scorer is the registry's ``bleu2``, see README.md)."""

from rexrank.metrics.evaluate_glue import module as evaluate_module

_DESCRIPTION = """BLEU-2 of generated chest X-ray reports as the ReXrank leaderboard computes it (CXR-Report-Metric with fast-bleu 0.0.90): sentence-level BLEU with bigram weights, one value per study."""

_CITATION = """@inproceedings{papineni2002bleu,
  title={BLEU: a method for automatic evaluation of machine translation},
  author={Papineni, Kishore and Roukos, Salim and Ward, Todd and Zhu, Wei-Jing},
  booktitle={ACL},
  year={2002}
}"""


class RexrankBleu2(evaluate_module.ScorerMetric):
    """``evaluate.load(...).compute(predictions=[...], references=[...], **options)``."""

    metric_name = "bleu2"
    metric_description = _DESCRIPTION
    metric_citation = f"{_CITATION}\n\n{evaluate_module.CXR_REPORT_METRIC_CITATION}"
