"""RadGraph F1 (DESIGN §7.5): mean of entity F1 and relation F1 between two reports' graphs."""

from __future__ import annotations

from typing import Any, Sequence

from rexrank.metrics.runtime.work import Work, run_local
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
    (override of the PubMedBERT tokenizer/config), ``device``, ``batch_size`` (encoder segments
    per forward pass; larger on a GPU), ``half`` (fp16/bf16 encoder on CUDA; scores are defined in
    fp32), ``details`` (keep the entity and relation sets per study), ``progress``.
    An empty or whitespace-only report has no entities, hence F1 0 against anything.
    """

    name = "radgraph"

    def __init__(self, model: str | None = None, encoder: str | None = None, device: str | None = None,
                 batch_size: int = 32, half: bool = False, details: bool = True, progress: bool = False,
                 **_: Any):
        from rexrank.metrics.scorers.radgraph.annotate import load_annotator

        self.annotator = load_annotator(model, encoder, device, int(batch_size), bool(half))
        self.details = details
        self.progress = progress

    def plan(self, predictions: Sequence[str], references: Sequence[str]) -> "_RadGraphWork":
        """The call as model work (see :mod:`rexrank.metrics.runtime.work`); no model is built here."""
        predictions, references = check_pairs(predictions, references, self.name)
        return _RadGraphWork(self, predictions, references)

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> ScoreResult:
        return run_local(self.plan(predictions, references), self.progress)


class _RadGraphWork(Work):
    """Every distinct report annotated once (references first), then each pair compared on its own."""

    metric = "radgraph"

    def __init__(self, scorer: RadGraphScorer, predictions: list[str], references: list[str]):
        from rexrank.metrics.scorers.radgraph.annotate import AnnotationWork

        super().__init__(len(predictions))
        self.scorer, self.preds, self.refs = scorer, predictions, references
        self.texts = AnnotationWork(scorer.annotator, references + predictions)

    def stages(self):
        yield from self.texts.stages()

    def absorb(self, job, outputs) -> None:
        self.texts.absorb(job, outputs)

    def fail(self, job, error: str) -> None:
        lost = {self.texts.new[doc] for doc in self.texts.lost_docs(job)}
        self.texts.fail(job, error)
        for i in range(self.size):
            if self.preds[i] in lost or self.refs[i] in lost:
                self.failures.setdefault(i, error)

    def available(self, index: int) -> bool:
        cache = self.scorer.annotator._cache
        return self.preds[index] in cache and self.refs[index] in cache

    def values(self, indices):
        cache = self.scorer.annotator._cache
        entity, relation, details = [], [], []
        for i in indices:
            ref, pred = cache[self.refs[i]], cache[self.preds[i]]
            ref_e, pred_e, ref_r, pred_r = ref.entity_set(), pred.entity_set(), ref.relation_set(), pred.relation_set()
            entity.append(set_f1(ref_e, pred_e))
            relation.append(set_f1(ref_r, pred_r))
            if self.scorer.details:
                details.append({"reference_entities": _listed(ref_e), "prediction_entities": _listed(pred_e),
                                "reference_relations": _listed(ref_r), "prediction_relations": _listed(pred_r)})
        values = {"radgraph": [(e + r) / 2 for e, r in zip(entity, relation)],
                  "radgraph_entity_f1": entity, "radgraph_relation_f1": relation}
        return values, details if self.scorer.details else None

    def provenance(self):
        annotator = self.scorer.annotator
        return {**annotator.provenance, "device": annotator.device,
                "model_type": "radgraph (radgraph 0.1.18 / CXR-Report-Metric)"}
