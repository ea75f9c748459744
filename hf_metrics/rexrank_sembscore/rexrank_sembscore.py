"""ReXrank SembScore (an `evaluate` module; the scorer is the registry's ``semb_score``, see README.md)."""

from rexrank.metrics.evaluate_glue import module as evaluate_module

_DESCRIPTION = """SembScore: cosine similarity of CheXbert [CLS] embeddings of a generated and a reference chest X-ray report, as CXR-Report-Metric computes it for ReXrank."""

_CITATION = """@inproceedings{smit2020chexbert,
  title={CheXbert: Combining Automatic Labelers and Expert Annotations for Accurate Radiology Report Labeling Using BERT},
  author={Smit, Akshay and Jain, Saahil and Rajpurkar, Pranav and Pareek, Anuj and Ng, Andrew Y. and Lungren, Matthew P.},
  booktitle={EMNLP},
  year={2020}
}"""


class RexrankSembscore(evaluate_module.ScorerMetric):
    """``evaluate.load(...).compute(predictions=[...], references=[...], **options)``."""

    metric_name = "semb_score"
    metric_description = _DESCRIPTION
    metric_citation = f"{_CITATION}\n\n{evaluate_module.CXR_REPORT_METRIC_CITATION}"
