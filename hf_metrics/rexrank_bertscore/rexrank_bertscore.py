"""ReXrank BERTScore (an `evaluate` module; the scorer is the registry's ``bertscore``, see README.md)."""

from hf_metrics import evaluate_module

_DESCRIPTION = """BERTScore F1 (distilroberta-base, layer 5, no idf, baseline-rescaled) of generated chest X-ray reports, exactly as bert-score 0.3.11 computes it for the ReXrank leaderboard."""

_CITATION = """@inproceedings{zhang2020bertscore,
  title={BERTScore: Evaluating Text Generation with BERT},
  author={Tianyi Zhang and Varsha Kishore and Felix Wu and Kilian Q. Weinberger and Yoav Artzi},
  booktitle={International Conference on Learning Representations},
  year={2020}
}

@article{yu2023evaluating,
  title={Evaluating progress in automatic chest X-ray radiology report generation},
  author={Yu, Feiyang and Endo, Mark and Krishnan, Rayan and Pan, Ian and Tsai, Andy and Reis, Eduardo Pontes and Fonseca, Eduardo Kaiser Ururahy Nunes and Lee, Henrique Min Ho and Abad, Zahra Shakeri Hossein and Ng, Andrew Y. and Langlotz, Curtis P. and Venugopal, Vasantha Kumar and Rajpurkar, Pranav},
  journal={Patterns},
  volume={4},
  number={9},
  year={2023}
}"""


class RexrankBertscore(evaluate_module.ScorerMetric):
    """``evaluate.load(...).compute(predictions=[...], references=[...], **options)``."""

    metric_name = "bertscore"
    metric_description = _DESCRIPTION
    metric_citation = _CITATION
