"""ReXrank RadCliQ (an `evaluate` module; the scorer is the registry's ``radcliq``, see README.md)."""

from rexrank.metrics.evaluate_glue import module as evaluate_module

_DESCRIPTION = """RadCliQ-v1 (and v0): CXR-Report-Metric's linear composite of RadGraph F1, BERTScore, SembScore and BLEU-2 per study; the ReXrank leaderboard reports 1 / mean RadCliQ-v1."""

_CITATION = """@inproceedings{jain2021radgraph,
  title={RadGraph: Extracting Clinical Entities and Relations from Radiology Reports},
  author={Jain, Saahil and Agrawal, Ashwin and Saporta, Adriel and Truong, Steven QH and Duong, Du Nguyen and Bui, Tan and Chambon, Pierre and Zhang, Yuhao and Lungren, Matthew P. and Ng, Andrew Y. and Langlotz, Curtis P. and Rajpurkar, Pranav},
  booktitle={NeurIPS Datasets and Benchmarks},
  year={2021}
}"""


class RexrankRadcliq(evaluate_module.ScorerMetric):
    """``evaluate.load(...).compute(predictions=[...], references=[...], **options)``."""

    metric_name = "radcliq"
    metric_description = _DESCRIPTION
    metric_citation = f"{_CITATION}\n\n{evaluate_module.CXR_REPORT_METRIC_CITATION}"
