"""Modern RadGraph-XL RG_ER (an `evaluate` module; the scorer is the registry's ``modern_radgraph_xl``, see README.md)."""

from rexrank.metrics.evaluate_glue import module as evaluate_module

_DESCRIPTION = """Modern RadGraph-XL RG_ER: radgraph 0.1.18's F1RadGraph reward levels with model_type=\"modern-radgraph-xl\" (a ModernBERT encoder named in the archive's config.json (its repo id is read from the archive at load time; we could not confirm it without Hub access)); the headline is the 'partial' level (RG_ER), with 'simple', 'complete' and the entity/relation F1 as extra columns."""

_CITATION = """@inproceedings{delbrouck2024radgraphxl,
  title={RadGraph-XL: A Large-Scale Expert-Annotated Dataset for Entity and Relation Extraction from Radiology Reports},
  author={Delbrouck, Jean-Benoit and Chambon, Pierre and Chen, Zhihong and Varma, Maya and Johnston, Andrew and Blankemeier, Louis and Van Veen, Dave and Bui, Tan and Truong, Steven and Langlotz, Curtis},
  booktitle={Findings of the Association for Computational Linguistics: ACL 2024},
  year={2024}
}"""


class RexrankModernRadgraphXl(evaluate_module.ScorerMetric):
    """``evaluate.load(...).compute(predictions=[...], references=[...], **options)``."""

    metric_name = "modern_radgraph_xl"
    metric_description = _DESCRIPTION
    metric_citation = _CITATION
