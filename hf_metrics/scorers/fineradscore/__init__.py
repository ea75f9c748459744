"""FineRadScore (rajpurkarlab/FineRadScore@3f5e1dc): an LLM behind an API rates each line of a report.

``scorer`` numbers the lines, calls the LLM and aggregates severities; ``prompt`` extracts the
official few-shot messages from the FineRadScore sources.
"""

from rexrank.metrics.scorers.fineradscore.scorer import FineRadScoreScorer

__all__ = ["FineRadScoreScorer"]
