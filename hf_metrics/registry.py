"""The one place that names every ReXrank metric.

The CLI, the `evaluate` modules, the suite, the Space's columns and the docs table all read
this registry; nothing else lists metrics. Scorer classes are imported lazily (by dotted
path), so reading the registry costs nothing.

A scorer (:mod:`rexrank.metrics.scorers`) is a class whose instances are called as
``scorer(predictions, references)`` and return a :class:`~rexrank.metrics.scorers.base.ScoreResult`
with one value per study, in input order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from rexrank.importing import import_object
from rexrank.metrics.runtime.models import ModelRef
from rexrank.metrics.scorers.base import Scorer

# Hub revisions. "main" means unpinned: we could not establish the commit from here, and the
# README lists these. Pin by replacing with the 40-hex commit sha.
DISTILROBERTA = ModelRef("distilbert/distilroberta-base", "main",
                         ("config.json", "vocab.json", "merges.txt", "model.safetensors"))
BERT_BASE_UNCASED = ModelRef("google-bert/bert-base-uncased", "main",
                             ("config.json", "vocab.txt", "tokenizer_config.json"))
RRG_SCORERS_CHEXBERT = ModelRef("StanfordAIMI/RRG_scorers", "main", ("chexbert.pth",))
RRG_SCORERS_RADGRAPH = ModelRef("StanfordAIMI/RRG_scorers", "main", ("radgraph.tar.gz",))
# radgraph 0.1.18's other model types; each archive's config.json names its encoder, read at load time.
RRG_SCORERS_RADGRAPH_XL = ModelRef("StanfordAIMI/RRG_scorers", "main", ("radgraph-xl.tar.gz",))
RRG_SCORERS_MODERN_RADGRAPH_XL = ModelRef("StanfordAIMI/RRG_scorers", "main", ("modern-radgraph-xl.tar.gz",))
PUBMEDBERT = ModelRef("microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract-fulltext", "main",
                      ("config.json", "vocab.txt", "tokenizer_config.json"))
RATE_NER = ModelRef("Angelakeke/RaTE-NER-Deberta", "main")
BIOLORD = ModelRef("FremyCompany/BioLORD-2023-C", "main")
# Commit from the Hub file pages of the weights upload (6eddb21); allowlisted for remote code in scorers.green.
GREEN_MODEL = ModelRef("StanfordAIMI/GREEN-RadLlama2-7b", "c8f26d86c59d1933a60429d9e48dd5a57ee9d055",
                       trust_remote_code=True)


@dataclass(frozen=True)
class MetricSpec:
    name: str  # machine name, also the per-study column and the evaluate module suffix
    display: str  # as the leaderboard writes it
    scorer: str  # "module:Class"
    models: tuple[ModelRef, ...] = ()
    per_study_higher_is_better: bool = True  # direction of the per-study values (RadCliQ-v1: lower is better)
    reported_as: Literal["mean", "reciprocal_mean"] = "mean"
    leaderboard_column: str | None = None  # column in the published ReXrank tables
    needs_gpu: bool = False  # runs on CPU too, but far too slowly for a full test set
    needs_api: bool = False  # calls an LLM API (key from the environment)
    requires: tuple[str, ...] = ()  # metrics whose per-study values this one combines
    extra: bool = False  # not one of the ReXrank eight
    official: str = ""  # the implementation we reproduce

    @property
    def higher_is_better(self) -> bool:
        """Direction of the reported (leaderboard) value: a reciprocal of a lower-is-better mean is higher-is-better.
        This is what ``higher_is_better`` means everywhere (results, comparisons, ranks)."""
        return self.per_study_higher_is_better != (self.reported_as == "reciprocal_mean")

    def scorer_class(self) -> type:
        """The scorer class, imported now; a clear error when this installation lacks what it needs."""
        try:
            return import_object(self.scorer)
        except (ImportError, AttributeError) as err:
            from rexrank.errors import RexrankError

            raise RexrankError(f"metric {self.name!r} is not available in this installation ({self.scorer}: "
                               f"{err}). Choose others with --metrics / metrics=[...].") from err

    def load(self, **options: Any) -> Scorer:
        return self.scorer_class()(**options)

    def report(self, mean: float) -> float:
        """The leaderboard value from the mean of per-study values."""
        if self.reported_as == "reciprocal_mean":
            return 1.0 / mean if mean else math.inf
        return mean


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in [
        MetricSpec("bleu2", "BLEU-2", "rexrank.metrics.scorers.bleu2:Bleu2Scorer", leaderboard_column="BLEU",
                   official="CXR-Report-Metric run_eval.py with fast-bleu 0.0.90"),
        MetricSpec("bertscore", "BERTScore", "rexrank.metrics.scorers.bertscore:BertScoreScorer", (DISTILROBERTA,),
                   leaderboard_column="BertScore",
                   official="bert-score 0.3.11, distilroberta-base layer 5, rescaled, no idf"),
        MetricSpec("semb_score", "SembScore", "rexrank.metrics.scorers.chexbert:SembScoreScorer",
                   (RRG_SCORERS_CHEXBERT, BERT_BASE_UNCASED), leaderboard_column="SembScore",
                   official="CXR-Report-Metric CheXbert encoder"),
        MetricSpec("radgraph", "RadGraph F1", "rexrank.metrics.scorers.radgraph:RadGraphScorer",
                   (RRG_SCORERS_RADGRAPH, PUBMEDBERT), leaderboard_column="RadGraph",
                   official="CXR-Report-Metric / radgraph 0.1.18 model_type='radgraph'"),
        MetricSpec("radcliq", "1/RadCliQ-v1", "rexrank.metrics.scorers.radcliq:RadCliQScorer", per_study_higher_is_better=False,
                   reported_as="reciprocal_mean", leaderboard_column="1/RadCliQ-v1",
                   requires=("radgraph", "bertscore", "semb_score", "bleu2"),
                   official="CXR-Report-Metric RadCliQ-v1 pickles"),
        MetricSpec("ratescore", "RaTEScore", "rexrank.metrics.scorers.ratescore:RaTEScoreScorer", (RATE_NER, BIOLORD),
                   leaderboard_column="RaTEScore", official="RaTEScore 0.6.0 (MAGIC-AI4Med/RaTEScore@a970406)"),
        MetricSpec("green", "GREEN", "rexrank.metrics.scorers.green:GreenScorer", (GREEN_MODEL,), leaderboard_column="GREEN",
                   needs_gpu=True, official="Stanford-AIMI/GREEN@d72c195 (green_score 0.0.12)"),
        MetricSpec("fineradscore", "1/FineRadScore", "rexrank.metrics.scorers.fineradscore:FineRadScoreScorer",
                   per_study_higher_is_better=False, reported_as="reciprocal_mean", leaderboard_column="1/FineRadScore",
                   needs_api=True, official="rajpurkarlab/FineRadScore@3f5e1dc (GPT-4 few-shot path)"),
        MetricSpec("radgraph_xl", "RadGraph-XL RG_ER", "rexrank.metrics.scorers.radgraph:RadGraphXLScorer",
                   (RRG_SCORERS_RADGRAPH_XL,), extra=True,
                   official="radgraph 0.1.18 F1RadGraph model_type='radgraph-xl', reward level 'partial'"),
        MetricSpec("modern_radgraph_xl", "Modern RadGraph-XL RG_ER", "rexrank.metrics.scorers.radgraph:ModernRadGraphXLScorer",
                   (RRG_SCORERS_MODERN_RADGRAPH_XL,), extra=True,
                   official="radgraph 0.1.18 F1RadGraph model_type='modern-radgraph-xl', reward level 'partial'"),
        MetricSpec("chexbert", "CheXbert F1", "rexrank.metrics.scorers.chexbert:CheXbertScorer",
                   (RRG_SCORERS_CHEXBERT, BERT_BASE_UNCASED), extra=True,
                   official="f1chexbert 0.0.2 (CheXbert labeler)"),
    ]
}

def radgraph_archive(model_type: str) -> ModelRef:
    """The RRG_scorers archive of a radgraph 0.1.18 model type."""
    return {"radgraph": RRG_SCORERS_RADGRAPH, "radgraph-xl": RRG_SCORERS_RADGRAPH_XL,
            "modern-radgraph-xl": RRG_SCORERS_MODERN_RADGRAPH_XL}[model_type]


REXRANK_EIGHT: tuple[str, ...] = tuple(name for name, spec in METRICS.items() if not spec.extra)


def get_spec(name: str) -> MetricSpec:
    try:
        return METRICS[name]
    except KeyError:
        from rexrank.errors import InputError

        raise InputError(f"unknown metric {name!r}; known metrics: {', '.join(METRICS)}") from None


def load_scorer(name: str, **options: Any) -> Scorer:
    """Build the scorer of metric ``name``; models inside are shared through ``models.load_once``."""
    return get_spec(name).load(**options)


def default_metrics(env: dict[str, str] | None = None) -> list[str]:
    """The metrics run when the user names none: those needing neither a GPU nor an API key,
    plus GREEN when CUDA is present and FineRadScore when an API key is set."""
    import os

    env = dict(os.environ) if env is None else env
    chosen = []
    for name in REXRANK_EIGHT:
        spec = METRICS[name]
        if spec.needs_api and not env.get("OPENAI_API_KEY"):
            continue
        if spec.needs_gpu:
            try:
                import torch

                if not torch.cuda.is_available():
                    continue
            except ImportError:
                continue
        chosen.append(name)
    return chosen
