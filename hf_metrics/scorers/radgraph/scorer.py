"""RadGraph F1 (DESIGN §7.5): mean of entity F1 and relation F1 between two reports' graphs; and
radgraph 0.1.18's reward levels, for every model type it ships (``radgraph``, ``radgraph-xl``,
``modern-radgraph-xl``)."""

from __future__ import annotations

from typing import Any, Sequence

from rexrank.metrics.runtime.work import Work, run_local
from rexrank.metrics.scorers.base import ScoreResult, check_pairs
from rexrank.metrics.scorers.radgraph.levels import LEVELS, reward_levels, set_f1

__all__ = ["RadGraphScorer", "RadGraphXLScorer", "ModernRadGraphXLScorer", "set_f1"]


def _listed(items: frozenset) -> list:
    return sorted(items)


class RadGraphScorer:
    """Per study: ``radgraph`` = (entity F1 + relation F1) / 2, plus both parts.

    Options: ``model`` (repo@revision or a local folder/archive of radgraph.tar.gz), ``encoder``
    (override of the tokenizer/config the archive names), ``device``, ``batch_size`` / ``max_tokens``
    (encoder segments and padded wordpieces per forward pass; default by device), ``half``
    (fp16/bf16 encoder on CUDA; scores are defined in fp32), ``details`` (keep the entity and
    relation sets per study), ``reward_levels`` (also radgraph 0.1.18's ``simple`` / ``partial`` /
    ``complete`` rewards, as ``<name>_simple`` ...), ``progress``.
    An empty or whitespace-only report has no entities, hence 0 against anything (radgraph
    0.1.18 gives "" 0 too, and crashes on a whitespace-only report).
    """

    name = "radgraph"
    model_type = "radgraph"
    headline = "mean"  # the ``name`` column: (entity F1 + relation F1) / 2, or a reward level
    default_levels = False

    def __init__(self, model: str | None = None, encoder: str | None = None, device: str | None = None,
                 batch_size: int | None = None, half: bool = False, details: bool = True, progress: bool = False,
                 max_tokens: int | None = None, reward_levels: bool | None = None, **_: Any):
        from rexrank.metrics.scorers.radgraph.annotate import load_annotator

        self.annotator = load_annotator(model, encoder, device, batch_size, bool(half), max_tokens, self.model_type)
        self.details = details
        self.progress = progress
        self.levels = self.default_levels if reward_levels is None else bool(reward_levels)

    def plan(self, predictions: Sequence[str], references: Sequence[str]) -> "_RadGraphWork":
        """The call as model work (see :mod:`rexrank.metrics.runtime.work`); no model is built here."""
        predictions, references = check_pairs(predictions, references, self.name)
        return _RadGraphWork(self, predictions, references)

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> ScoreResult:
        return run_local(self.plan(predictions, references), self.progress)


class _RadGraphWork(Work):
    """Every distinct report annotated once (references first), then each pair compared on its own."""

    def __init__(self, scorer: RadGraphScorer, predictions: list[str], references: list[str]):
        from rexrank.metrics.scorers.radgraph.annotate import AnnotationWork

        super().__init__(len(predictions))
        self.metric = scorer.name
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
        scorer, cache = self.scorer, self.scorer.annotator._cache
        entity, relation, levels, details = [], [], [], []
        for i in indices:
            ref, pred = cache[self.refs[i]], cache[self.preds[i]]
            ref_e, pred_e, ref_r, pred_r = ref.entity_set(), pred.entity_set(), ref.relation_set(), pred.relation_set()
            entity.append(set_f1(ref_e, pred_e))
            relation.append(set_f1(ref_r, pred_r))
            if scorer.levels:
                levels.append(reward_levels(pred, ref))
            if scorer.details:
                details.append({"reference_entities": _listed(ref_e), "prediction_entities": _listed(pred_e),
                                "reference_relations": _listed(ref_r), "prediction_relations": _listed(pred_r)})
        n = scorer.name
        values = {n: [(e + r) / 2 for e, r in zip(entity, relation)],
                  f"{n}_entity_f1": entity, f"{n}_relation_f1": relation}
        if scorer.levels:
            values.update({f"{n}_{level}": [lv[k] for lv in levels] for k, level in enumerate(LEVELS)})
        if scorer.headline != "mean":
            values = {n: values[f"{n}_{scorer.headline}"], f"{n}_mean_f1": values[n],
                      **{k: v for k, v in values.items() if k != n}}
        return values, details if scorer.details else None

    def release(self) -> None:
        self.scorer.annotator.keep(self.refs + self.preds)

    def provenance(self):
        annotator = self.scorer.annotator
        return {**annotator.provenance, "device": annotator.device, "model_type": self.scorer.model_type,
                "reward_levels": "radgraph 0.1.18 rewards.py (only 'complete' relation "
                                 "tuples lower-cased; not the package's later master)"}


class RadGraphXLScorer(RadGraphScorer):
    """radgraph 0.1.18 ``model_type="radgraph-xl"`` (the package's default model; RadEval's
    ``radgraph``). ``radgraph_xl`` is the ``partial`` reward (RG_ER, the level papers report);
    ``radgraph_xl_simple`` / ``_partial`` / ``_complete`` and the entity/relation F1 of §7.5
    (``radgraph_xl_mean_f1`` = their mean) are there too."""

    name = "radgraph_xl"
    model_type = "radgraph-xl"
    headline = "partial"
    default_levels = True

    def __init__(self, *args: Any, reward_levels: bool | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)  # the headline is a reward level: always on
        self.levels = True


class ModernRadGraphXLScorer(RadGraphXLScorer):
    """radgraph 0.1.18 ``model_type="modern-radgraph-xl"`` (a ModernBERT encoder); columns as
    :class:`RadGraphXLScorer`, named ``modern_radgraph_xl*``."""

    name = "modern_radgraph_xl"
    model_type = "modern-radgraph-xl"
