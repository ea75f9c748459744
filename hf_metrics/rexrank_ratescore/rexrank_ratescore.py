"""ReXrank RaTEScore (an `evaluate` module; the scorer is the registry's ``ratescore``, see README.md)."""

from rexrank.metrics.evaluate_glue import module as evaluate_module

_DESCRIPTION = """RaTEScore of generated chest X-ray reports as the ReXrank leaderboard computes it (RaTEScore 0.6.0): medical entities found by Angelakeke/RaTE-NER-Deberta in each sentence, embedded with FremyCompany/BioLORD-2023-C, matched across the two reports with entity-type affinity weights and a penalty for negated matches; one F1-like value per study, with the entities of both reports."""

_CITATION = """@inproceedings{zhao2024ratescore,
  title={RaTEScore: A Metric for Radiology Report Generation},
  author={Zhao, Weike and Wu, Chaoyi and Zhang, Xiaoman and Zhang, Ya and Wang, Yanfeng and Xie, Weidi},
  booktitle={Proceedings of the 2024 Conference on Empirical Methods in Natural Language Processing},
  pages={15004--15019},
  year={2024}
}"""


class RexrankRatescore(evaluate_module.ScorerMetric):
    """``evaluate.load(...).compute(predictions=[...], references=[...], **options)``."""

    metric_name = "ratescore"
    metric_description = _DESCRIPTION
    metric_citation = _CITATION
