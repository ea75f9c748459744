"""RadGraph F1: our torch implementation of RadGraph (DyGIE++) inference, no allennlp.

``RadGraphScorer`` is the registry's ``radgraph`` (the leaderboard's model); ``RadGraphXLScorer``
and ``ModernRadGraphXLScorer`` run radgraph 0.1.18's other chest X-ray model types; ``load_annotator`` gives the entity/relation
graphs themselves. Importing this package loads no model and no torch.
"""

from rexrank.metrics.scorers.radgraph.scorer import (ModernRadGraphXLScorer, RadGraphScorer, RadGraphXLScorer,
                                                     set_f1)

__all__ = ["RadGraphScorer", "RadGraphXLScorer", "ModernRadGraphXLScorer", "set_f1", "load_annotator"]


def load_annotator(*args, **kwargs):
    from rexrank.metrics.scorers.radgraph.annotate import load_annotator as _load

    return _load(*args, **kwargs)
