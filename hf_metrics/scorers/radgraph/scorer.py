"""RadGraph F1 (DESIGN §7.5): mean of entity F1 and relation F1 between two reports' graphs; and
radgraph 0.1.18's reward levels, for every model type it ships (``radgraph``, ``radgraph-xl``,
``modern-radgraph-xl``)."""

from __future__ import annotations

from typing import Any, Sequence

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

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> ScoreResult:
        predictions, references = check_pairs(predictions, references, self.name)
        annotations = self.annotator(list(references) + list(predictions), progress=self.progress)
        refs, preds = annotations[:len(references)], annotations[len(references):]
        entity, relation, levels, details = [], [], [], []
        for ref, pred in zip(refs, preds):
            ref_e, pred_e, ref_r, pred_r = ref.entity_set(), pred.entity_set(), ref.relation_set(), pred.relation_set()
            entity.append(set_f1(ref_e, pred_e))
            relation.append(set_f1(ref_r, pred_r))
            if self.levels:
                levels.append(reward_levels(pred, ref))
            if self.details:
                details.append({"reference_entities": _listed(ref_e), "prediction_entities": _listed(pred_e),
                                "reference_relations": _listed(ref_r), "prediction_relations": _listed(pred_r)})
        n = self.name
        values = {n: [(e + r) / 2 for e, r in zip(entity, relation)],
                  f"{n}_entity_f1": entity, f"{n}_relation_f1": relation}
        if self.levels:
            values.update({f"{n}_{level}": [lv[i] for lv in levels] for i, level in enumerate(LEVELS)})
        if self.headline != "mean":
            values = {n: values[f"{n}_{self.headline}"], f"{n}_mean_f1": values[n],
                      **{k: v for k, v in values.items() if k != n}}
        return ScoreResult(self.name, values, details if self.details else None,
                           provenance={**self.annotator.provenance, "device": self.annotator.device,
                                       "model_type": self.model_type,
                                       "reward_levels": "radgraph 0.1.18 rewards.py (only 'complete' relation "
                                                        "tuples lower-cased; not the package's later master)"})


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
