"""ReXrank CheXbert F1 (an `evaluate` module; the scorer is the registry's ``chexbert``, see README.md)."""

from rexrank.metrics.evaluate_glue import module as evaluate_module

_DESCRIPTION = """CheXbert labels (14 CheXpert observations) of generated and reference chest X-ray reports, and CheXbert F1 (micro/macro over 14 and over the 5 common labels) as f1chexbert 0.0.2 computes it."""

_CITATION = """@inproceedings{smit2020chexbert,
  title={CheXbert: Combining Automatic Labelers and Expert Annotations for Accurate Radiology Report Labeling Using BERT},
  author={Smit, Akshay and Jain, Saahil and Rajpurkar, Pranav and Pareek, Anuj and Ng, Andrew Y. and Lungren, Matthew P.},
  booktitle={EMNLP},
  year={2020}
}"""


class RexrankChexbert(evaluate_module.ScorerMetric):
    """``evaluate.load(...).compute(predictions=[...], references=[...], **options)``."""

    metric_name = "chexbert"
    metric_description = _DESCRIPTION
    metric_citation = _CITATION
