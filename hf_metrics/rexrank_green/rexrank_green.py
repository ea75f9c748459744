"""ReXrank GREEN (an `evaluate` module; the scorer is the registry's ``green``, see README.md)."""

from rexrank.metrics.evaluate_glue import module as evaluate_module

_DESCRIPTION = """GREEN of generated chest X-ray reports as the ReXrank leaderboard computes it: StanfordAIMI/GREEN-RadLlama2-7b lists the clinically significant errors and the matched findings of each candidate against its reference; GREEN = matched / (matched + significant errors), one value per study, with the model's analysis and error counts."""

_CITATION = """@inproceedings{ostmeier2024green,
  title={GREEN: Generative Radiology Report Evaluation and Error Notation},
  author={Ostmeier, Sophie and Xu, Justin and Chen, Zhihong and Varma, Maya and Blankemeier, Louis and Bluethgen, Christian and Michalson, Arne Edward and Moseley, Michael and Langlotz, Curtis and Chaudhari, Akshay S and Delbrouck, Jean-Benoit},
  booktitle={Findings of the Association for Computational Linguistics: EMNLP 2024},
  year={2024}
}"""


class RexrankGreen(evaluate_module.ScorerMetric):
    """``evaluate.load(...).compute(predictions=[...], references=[...], **options)``."""

    metric_name = "green"
    metric_description = _DESCRIPTION
    metric_citation = _CITATION
