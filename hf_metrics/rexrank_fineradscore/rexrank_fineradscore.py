"""ReXrank FineRadScore (an `evaluate` module; the scorer is the registry's ``fineradscore``, see README.md)."""

from rexrank.metrics.evaluate_glue import module as evaluate_module

_DESCRIPTION = """FineRadScore of generated chest X-ray reports as the ReXrank leaderboard reports it: an LLM (any OpenAI-compatible chat endpoint) corrects the candidate line by line against the reference with the official few-shot prompt and grades each error 0-4; per study the worst line severity; the leaderboard shows 1 / mean."""

_CITATION = """@article{huang2024fineradscore,
  title={FineRadScore: A Radiology Report Line-by-Line Evaluation Technique Generating Corrections with Severity Scores},
  author={Huang, Alyssa and Banerjee, Oishi and Wu, Kay and Pontes Reis, Eduardo and Rajpurkar, Pranav},
  journal={arXiv preprint arXiv:2405.20613},
  year={2024}
}"""


class RexrankFineradscore(evaluate_module.ScorerMetric):
    """``evaluate.load(...).compute(predictions=[...], references=[...], **options)``."""

    metric_name = "fineradscore"
    metric_description = _DESCRIPTION
    metric_citation = _CITATION
