"""RadGraph F1: our torch implementation of RadGraph (DyGIE++) inference, no allennlp.

``RadGraphScorer`` is the registry's scorer; ``load_annotator`` gives the entity/relation
graphs themselves. Importing this package loads no model and no torch.
"""

from rexrank.metrics.scorers.radgraph.scorer import RadGraphScorer, set_f1

__all__ = ["RadGraphScorer", "set_f1", "load_annotator"]


def load_annotator(*args, **kwargs):
    from rexrank.metrics.scorers.radgraph.annotate import load_annotator as _load

    return _load(*args, **kwargs)
