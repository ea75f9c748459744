"""radgraph 0.1.18's reward levels (``radgraph/rewards.py``, ``compute_reward``) from our annotations.

Per pair, 0 for every level when either report has no entity; else the set F1 (precision over the
hypothesis set, recall over the reference set) of:

* ``simple``: {(entity tokens, label)} (= DESIGN §7.5's entity F1);
* ``partial`` ("RG_ER", the one papers report): (tokens, label) for an entity without relations,
  (tokens, label, True) for one with at least one;
* ``complete``: (tokens, label) for an entity without relations; for each relation of an entity,
  (tokens.lower(), label, relation type, target tokens.lower()); the target's label is not part of it.

Case rules are 0.1.18's: only the ``complete`` relation tuples are lower-cased (the package's
unreleased master lower-cases every level, which changes scores). A relation counts only when
both ends are entities, as ``get_entity`` keeps it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rexrank.metrics.scorers.radgraph.annotate import Annotation

LEVELS = ("simple", "partial", "complete")


def set_f1(reference: frozenset, prediction: frozenset) -> float:
    """F1 of a predicted set against the reference set; 0 when either is empty (so both empty → 0)."""
    true_pos = len(reference & prediction)
    precision = true_pos / len(prediction) if prediction else 0.0
    recall = true_pos / len(reference) if reference else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _sets(ann: "Annotation") -> tuple[frozenset, frozenset, frozenset]:
    targets: dict[tuple[int, int], list[tuple[str, tuple[int, int]]]] = {}
    for s1, e1, s2, e2, kind in ann.relations:
        targets.setdefault((s1, e1), []).append((kind, (s2, e2)))
    simple, partial, complete = set(), set(), set()
    for start, end, label in ann.entities:
        tokens = ann.text(start, end)
        simple.add((tokens, label))
        related = targets.get((start, end))
        if not related:
            partial.add((tokens, label))
            complete.add((tokens, label))
            continue
        partial.add((tokens, label, True))
        complete.update((tokens.lower(), label, kind, ann.text(*span).lower()) for kind, span in related)
    return frozenset(simple), frozenset(partial), frozenset(complete)


def reward_levels(hypothesis: "Annotation", reference: "Annotation") -> tuple[float, float, float]:
    """(simple, partial, complete) of one pair, as ``F1RadGraph(reward_level="all")`` gives them."""
    if not hypothesis.entities or not reference.entities:
        return 0.0, 0.0, 0.0
    hyp, ref = _sets(hypothesis), _sets(reference)
    return tuple(set_f1(r, h) for r, h in zip(ref, hyp))  # type: ignore[return-value]
