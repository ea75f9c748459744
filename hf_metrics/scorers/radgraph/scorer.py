"""RadGraph F1 (DESIGN §7.5): mean of entity F1 and relation F1 between two reports' graphs."""

from __future__ import annotations

from typing import Any, Sequence

from rexrank.metrics.scorers.base import check_pairs
from rexrank.metrics.scorers.base import ScoreResult


def set_f1(reference: frozenset, prediction: frozenset) -> float:
    """F1 of a predicted set against the reference set; 0 when either is empty (so both empty → 0)."""
    true_pos = len(reference & prediction)
    precision = true_pos / len(prediction) if prediction else 0.0
    recall = true_pos / len(reference) if reference else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _listed(items: frozenset) -> list:
    return sorted(items)


class RadGraphScorer:
    """Per study: ``radgraph`` = (entity F1 + relation F1) / 2, plus both parts.

    Options: ``model`` (repo@revision or a local folder/archive of radgraph.tar.gz), ``encoder``
    (override of the PubMedBERT tokenizer/config), ``device``, ``batch_size`` / ``max_tokens``
    (encoder segments and padded wordpieces per forward pass; default by device), ``half`` (fp16/bf16 encoder on CUDA; scores are defined in
    fp32), ``details`` (keep the entity and relation sets per study), ``progress``.
    An empty or whitespace-only report has no entities, hence F1 0 against anything.
    """

    name = "radgraph"

    def __init__(self, model: str | None = None, encoder: str | None = None, device: str | None = None,
                 batch_size: int | None = None, half: bool = False, details: bool = True, progress: bool = False,
                 max_tokens: int | None = None, **_: Any):
        from rexrank.metrics.scorers.radgraph.annotate import load_annotator

        self.annotator = load_annotator(model, encoder, device, batch_size, bool(half), max_tokens)
        self.details = details
        self.progress = progress

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> ScoreResult:
        predictions, references = check_pairs(predictions, references, self.name)
        annotations = self.annotator(list(references) + list(predictions), progress=self.progress)
        refs, preds = annotations[:len(references)], annotations[len(references):]
        entity, relation, details = [], [], []
        for ref, pred in zip(refs, preds):
            ref_e, pred_e, ref_r, pred_r = ref.entity_set(), pred.entity_set(), ref.relation_set(), pred.relation_set()
            entity.append(set_f1(ref_e, pred_e))
            relation.append(set_f1(ref_r, pred_r))
            if self.details:
                details.append({"reference_entities": _listed(ref_e), "prediction_entities": _listed(pred_e),
                                "reference_relations": _listed(ref_r), "prediction_relations": _listed(pred_r)})
        values = {"radgraph": [(e + r) / 2 for e, r in zip(entity, relation)],
                  "radgraph_entity_f1": entity, "radgraph_relation_f1": relation}
        return ScoreResult(self.name, values, details if self.details else None,
                           provenance={**self.annotator.provenance, "device": self.annotator.device,
                                       "model_type": "radgraph (radgraph 0.1.18 / CXR-Report-Metric)"})
