"""RaTEScore (Zhao et al., EMNLP 2024), faithful to RaTEScore 0.6.0 and batched. See :mod:`.scorer`."""

from rexrank.metrics.scorers.ratescore.scorer import RaTEScoreScorer

__all__ = ["RaTEScoreScorer"]
