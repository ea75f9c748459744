"""ReXrank RadGraph F1 (an `evaluate` module; the scorer is the registry's ``radgraph``, see README.md)."""

from rexrank.metrics.evaluate_glue import module as evaluate_module

_DESCRIPTION = """RadGraph F1: mean of entity F1 and relation F1 between the RadGraph annotations (DyGIE++ RadGraph model) of a generated and a reference chest X-ray report, as CXR-Report-Metric / radgraph 0.1.18 compute them."""

_CITATION = """@inproceedings{jain2021radgraph,
  title={RadGraph: Extracting Clinical Entities and Relations from Radiology Reports},
  author={Jain, Saahil and Agrawal, Ashwin and Saporta, Adriel and Truong, Steven QH and Duong, Du Nguyen and Bui, Tan and Chambon, Pierre and Zhang, Yuhao and Lungren, Matthew P. and Ng, Andrew Y. and Langlotz, Curtis P. and Rajpurkar, Pranav},
  booktitle={NeurIPS Datasets and Benchmarks},
  year={2021}
}"""


class RexrankRadgraph(evaluate_module.ScorerMetric):
    """``evaluate.load(...).compute(predictions=[...], references=[...], **options)``."""

    metric_name = "radgraph"
    metric_description = _DESCRIPTION
    metric_citation = f"{_CITATION}\n\n{evaluate_module.CXR_REPORT_METRIC_CITATION}"
