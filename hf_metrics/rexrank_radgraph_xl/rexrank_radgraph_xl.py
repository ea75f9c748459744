"""RadGraph-XL RG_ER (an `evaluate` module; the scorer is the registry's ``radgraph_xl``, see README.md)."""

from rexrank.metrics.evaluate_glue import module as evaluate_module

_DESCRIPTION = """RadGraph-XL RG_ER: radgraph 0.1.18's F1RadGraph reward levels with model_type=\"radgraph-xl\" (a BERT encoder named in the archive's config.json (RadEval documents it as BiomedVLP-CXR-BERT)); the headline is the 'partial' level (RG_ER), with 'simple', 'complete' and the entity/relation F1 as extra columns."""

_CITATION = """@inproceedings{delbrouck2024radgraphxl,
  title={RadGraph-XL: A Large-Scale Expert-Annotated Dataset for Entity and Relation Extraction from Radiology Reports},
  author={Delbrouck, Jean-Benoit and Chambon, Pierre and Chen, Zhihong and Varma, Maya and Johnston, Andrew and Blankemeier, Louis and Van Veen, Dave and Bui, Tan and Truong, Steven and Langlotz, Curtis},
  booktitle={Findings of the Association for Computational Linguistics: ACL 2024},
  year={2024}
}"""


class RexrankRadgraphXl(evaluate_module.ScorerMetric):
    """``evaluate.load(...).compute(predictions=[...], references=[...], **options)``."""

    metric_name = "radgraph_xl"
    metric_description = _DESCRIPTION
    metric_citation = _CITATION
