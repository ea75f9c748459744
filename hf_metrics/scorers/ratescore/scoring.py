"""RaTEScore's entity matching score (DESIGN.md §7.8), computed as RaTEScore 0.6.0 computes it.

Kept from the official ``compute``: cosine similarity of L2-normalised vectors, the best match
chosen with ``torch.topk`` (so ties between identical entity vectors resolve as there), and the
weighted sum accumulated in Python floats.
"""

from __future__ import annotations

from typing import Mapping, Sequence

NEGATION_MISMATCHES = frozenset({
    ("NON-DISEASE", "DISEASE"), ("NON-ABNORMALITY", "ABNORMALITY"),
    ("DISEASE", "NON-DISEASE"), ("ABNORMALITY", "NON-ABNORMALITY"),
    ("NON-DISEASE", "ABNORMALITY"), ("NON-ABNORMALITY", "DISEASE"),
    ("DISEASE", "NON-ABNORMALITY"), ("ABNORMALITY", "NON-DISEASE"),
})
NO_ENTITIES_SCORE = 0.5  # the official value when either report has no entity


def affinity_from_json(matrix: Mapping[str, float]) -> dict[tuple[str, str], float]:
    """``{"disease_anatomy": w, ..., "neg_weight": p}`` -> ``{("DISEASE", "ANATOMY"): w, ..., ("NEG", "WEIGHT"): p}``."""
    return {(key.split("_")[0].upper(), key.split("_")[1].upper()): value for key, value in matrix.items()}


def directional_score(embeds_a, embeds_b, types_a: Sequence[str], types_b: Sequence[str],
                      affinity: Mapping[tuple[str, str], float]) -> float:
    """s(A -> B): each entity of A matched to its most similar entity of B, weighted by type affinity."""
    import torch
    import torch.nn.functional as F

    a = F.normalize(embeds_a, p=2, dim=1)
    b = F.normalize(embeds_b, p=2, dim=1)
    neg_weight = affinity[("NEG", "WEIGHT")]
    total = weights = 0.0
    for row, type_a in zip(a, types_a):
        value, index = torch.topk(torch.matmul(b, row), 1, largest=True)
        type_b = types_b[int(index[0])]
        weight = affinity[(type_a, type_b)]
        total += float(value[0]) * weight * (neg_weight if (type_a, type_b) in NEGATION_MISMATCHES else 1)
        weights += weight
    return total / weights if weights != 0 else 0.0


def report_score(ref_embeds, pred_embeds, ref_types: Sequence[str], pred_types: Sequence[str],
                 affinity: Mapping[tuple[str, str], float]) -> float:
    """F1 of s(ref -> pred) and s(pred -> ref); 0.5 when either side has no entity."""
    if len(ref_types) == 0 or len(pred_types) == 0:
        return NO_ENTITIES_SCORE
    precision = directional_score(ref_embeds, pred_embeds, ref_types, pred_types, affinity)
    recall = directional_score(pred_embeds, ref_embeds, pred_types, ref_types, affinity)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)
