"""GREEN (Stanford-AIMI/GREEN@d72c195): an LLM judges a report against its reference.

``tokens`` renders the official prompt and chat template as token ids, ``scorer`` runs the
model (transformers ``generate`` or vLLM), ``parse`` reads the counts out of its answer,
``prompt`` extracts the official template from the GREEN sources.
"""

from rexrank.metrics.scorers.green.scorer import GreenScorer

__all__ = ["GreenScorer"]
