"""Reward functions for RL fine-tuning (TRL's ``GRPOTrainer`` and the like) over the registry's scorers.

``reward_function("radgraph")`` returns a callable with TRL's reward signature:
``reward(completions, **dataset_columns) -> list[float]``, one reward per completion, where the
references come from a dataset column (``reference_column``, default ``"ground_truth"``). Any
registry metric with per-study values works (BLEU-2, BERTScore, SembScore, CheXbert F1, RadGraph F1
and its reward levels, the RadGraph-XL variants, RaTEScore, GREEN, RadCliQ, FineRadScore); a metric
where lower is better (RadCliQ-v1, FineRadScore) gives ``-value``. ``reward_function({"radgraph":
0.5, "bertscore": 0.5})`` is a weighted sum.

Why it is cheap at every step: scorers and models are loaded once per process (first call) and
shared with every other reward and the suite (``models.load_once``); a call scores all its
completions in one batch; references repeat every step (``num_generations`` completions per prompt,
and again every epoch), and their side of the work stays in the scorers' per-text caches
(RadGraph annotations, BERTScore embeddings, CheXbert encodings, RaTEScore entities); identical
(completion, reference) pairs are scored once (an in-memory memo, and optionally the suite's
on-disk score cache).

Never stops training on model output: an empty completion gets the metric's value for an empty
report; an unparsable one (not text, no assistant message) is scored as empty too, or gets
``invalid_reward``. A NaN value (e.g. an LLM reply that never parsed) becomes ``nan_reward``
(default ``None``, which TRL skips when it sums the rewards).
"""

from __future__ import annotations

import logging
import math
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from rexrank.errors import InputError

logger = logging.getLogger(__name__)

DEFAULT_REFERENCE_COLUMN = "ground_truth"  # RadEval's make_reward_fn default, so datasets carry over
MEMO_LIMIT = 200_000  # distinct (completion, reference) pairs remembered per metric configuration
_RADGRAPH_METRICS = ("radgraph", "radgraph_xl", "modern_radgraph_xl")
_LEVELS = ("simple", "partial", "complete")


def completion_text(completion: Any) -> str | None:
    """The generated text of one TRL completion: a string, or (conversational prompts) a list of
    messages, of which the last assistant message counts; its content may be a string or a list of
    ``{"type": "text", "text": ...}`` parts. ``None`` when there is no such text."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        completion = [completion]
    if isinstance(completion, Sequence):
        messages = [m for m in completion if isinstance(m, Mapping)]
        assistant = [m for m in messages if m.get("role", "assistant") == "assistant"]
        if not assistant:
            return None
        content = assistant[-1].get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, Sequence):
            texts = [p.get("text") for p in content if isinstance(p, Mapping) and p.get("type", "text") == "text"]
            if texts and all(isinstance(t, str) for t in texts):
                return "".join(texts)
    return None


@dataclass(frozen=True)
class _Part:
    metric: str
    column: str
    weight: float
    sign: float  # -1 for a metric where lower is better


class _Node:
    """One metric configuration (metric + scorer options): its scorer, loaded on first use, and the
    memo of per-pair values (every column of the scorer)."""

    def __init__(self, metric: str, options: dict[str, Any], requires: list["_Node"], cache: Any):
        from rexrank.metrics.registry import get_spec
        from rexrank.metrics.suite.run import config_key

        self.spec = get_spec(metric)
        self.options = options
        self.requires = requires
        self.key = config_key(self.spec, options, [n.key for n in requires])
        self.cache = cache
        self.scorer: Any = None
        self.memo: OrderedDict[tuple[str, str], dict[str, float]] = OrderedDict()

    def __getstate__(self) -> dict:
        """Pickled without the loaded scorer and the memo (rebuilt on first use)."""
        return {**self.__dict__, "scorer": None, "memo": OrderedDict()}

    def values(self, predictions: list[str], references: list[str]) -> list[dict[str, float]]:
        """Every column's value per pair, scoring only the pairs not seen before, in one batch."""
        pairs = list(zip(predictions, references))
        missing = [p for p in dict.fromkeys(pairs) if p not in self.memo]
        if missing and self.cache is not None:
            from rexrank.metrics.runtime.score_cache import pair_key

            keys = {p: pair_key(*p) for p in missing}
            stored = self.cache.get_many(self.key, keys.values())
            for p, k in keys.items():
                if k in stored:
                    self.memo[p] = stored[k]["v"]
            missing = [p for p in missing if p not in self.memo]
        if missing:
            fresh = self._score([p for p, _ in missing], [r for _, r in missing])
            self.memo.update(zip(missing, fresh))
            if self.cache is not None:
                from rexrank.metrics.runtime.score_cache import pair_key

                self.cache.put_many(self.key, {pair_key(*p): {"v": v, "d": None} for p, v in zip(missing, fresh)
                                               if not math.isnan(v.get(self.spec.name, math.nan))})
        for p in pairs:
            self.memo.move_to_end(p)
        while len(self.memo) > MEMO_LIMIT:
            self.memo.popitem(last=False)
        return [self.memo[p] for p in pairs]

    def _score(self, predictions: list[str], references: list[str]) -> list[dict[str, float]]:
        if self.scorer is None:
            self.scorer = self.spec.load(**self.options)
        if self.requires:  # RadCliQ: from its components' per-study values, computed (or remembered) once
            components = {n.spec.name: [v[n.spec.name] for v in n.values(predictions, references)]
                          for n in self.requires}
            result = self.scorer.from_components(components)
        else:
            result = self.scorer(predictions, references)
        columns = result.values
        return [{c: (math.nan if v[i] is None else float(v[i])) for c, v in columns.items()}
                for i in range(len(predictions))]


class RewardFunction:
    """The callable :func:`reward_function` returns. ``__name__`` is what TRL logs it under
    (``rewards/<name>/mean``). Picklable: loaded scorers are dropped and reloaded on first use."""

    def __init__(self, parts: list[_Part], nodes: dict[str, _Node], reference_column: str,
                 score_transform: Callable[[float], float] | None, invalid_reward: float | None,
                 nan_reward: float | None, name: str):
        self.parts = parts
        self.nodes = nodes
        self.reference_column = reference_column
        self.score_transform = score_transform
        self.invalid_reward = invalid_reward
        self.nan_reward = nan_reward
        self.__name__ = name
        self._warned = False

    def __repr__(self) -> str:
        terms = " + ".join(f"{p.weight:g}*{'-' if p.sign < 0 else ''}{p.column}" for p in self.parts)
        return f"<reward {self.__name__}: {terms}, references from {self.reference_column!r}>"

    def references(self, count: int, columns: Mapping[str, Any]) -> list[str]:
        if self.reference_column not in columns:
            given = sorted(k for k in columns if k not in ("prompts", "completion_ids", "trainer_state", "log_extra",
                                                            "log_metric", "environments"))
            raise InputError(f"reward {self.__name__}: no {self.reference_column!r} among the dataset columns "
                             f"{given}; pass reference_column=<the column holding the reference reports>")
        refs = list(columns[self.reference_column])
        if len(refs) != count:
            raise InputError(f"reward {self.__name__}: {count} completions but {len(refs)} references")
        bad = [i for i, r in enumerate(refs) if not isinstance(r, str)]
        if bad:
            raise InputError(f"reward {self.__name__}: reference(s) at position(s) {bad[:5]} of column "
                             f"{self.reference_column!r} are not text (e.g. {refs[bad[0]]!r}); fix the dataset")
        return refs

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        refs = self.references(len(completions), kwargs)
        texts = [completion_text(c) for c in completions]
        invalid = {i for i, t in enumerate(texts) if t is None}
        if invalid:
            (logger.debug if self._warned else logger.warning)(
                "reward %s: %d of %d completions hold no generated text (e.g. %r); %s", self.__name__, len(invalid),
                len(texts), completions[min(invalid)], "scored as empty reports" if self.invalid_reward is None
                else f"rewarded {self.invalid_reward}")
            self._warned = True
        predictions = [t if t is not None else "" for t in texts]
        per_metric = {}
        for part in self.parts:
            if part.metric not in per_metric:
                per_metric[part.metric] = self.nodes[part.metric].values(predictions, refs)
            if per_metric[part.metric] and part.column not in per_metric[part.metric][0]:
                raise InputError(f"reward {self.__name__}: metric {part.metric!r} has no column {part.column!r}; "
                                 f"it has {sorted(per_metric[part.metric][0])}")
        rewards: list[float | None] = []
        for i in range(len(predictions)):
            if i in invalid and self.invalid_reward is not None:
                rewards.append(float(self.invalid_reward))
                continue
            total = sum(p.weight * p.sign * per_metric[p.metric][i][p.column] for p in self.parts)
            if self.score_transform is not None and not math.isnan(total):
                total = float(self.score_transform(total))
            rewards.append(self.nan_reward if math.isnan(total) else float(total))
        return rewards


def _column(metric: str, column: str | None, level: str | None) -> str:
    if level is not None:
        if metric not in _RADGRAPH_METRICS or level not in _LEVELS:
            raise InputError(f"level= is for the RadGraph metrics ({', '.join(_RADGRAPH_METRICS)}), one of "
                             f"{', '.join(_LEVELS)}; got {metric!r}, {level!r}")
        return f"{metric}_{level}"
    return column or metric


def reward_function(metric: str | Mapping[str, float], *, reference_column: str = DEFAULT_REFERENCE_COLUMN,
                    column: str | Mapping[str, str] | None = None, level: str | None = None,
                    score_transform: Callable[[float], float] | None = None, invalid_reward: float | None = None,
                    nan_reward: float | None = None, score_cache: bool | str | os.PathLike = False,
                    metric_options: Mapping[str, Mapping[str, Any]] | None = None, name: str | None = None,
                    **options: Any) -> RewardFunction:
    """A TRL reward function for one registry metric, or a weighted sum (``{metric: weight}``).

    ``column``: the per-study column to reward (default the metric's own; a mapping per metric in a
    sum), e.g. ``"radgraph_partial"``; ``level``: shorthand for a RadGraph reward level
    (``"simple"``, ``"partial"``, ``"complete"``). ``score_transform``: applied to the (summed) reward.
    ``invalid_reward``: the reward of a completion holding no text (default: scored as an empty
    report). ``nan_reward``: for a NaN value (default ``None``: TRL skips it). ``score_cache``: also
    keep per-pair values in the suite's on-disk cache (``True`` for its default folder, or a folder).
    Other options (``device``, ``batch_size``, ``model``...) go to the scorers as in the suite,
    ``metric_options={"bertscore": {...}}`` to one of them. Nothing is loaded until the first call.
    """
    from rexrank.metrics.registry import get_spec
    from rexrank.metrics.suite.run import execution_order, options_for

    weights = {metric: 1.0} if isinstance(metric, str) else {str(k): float(v) for k, v in dict(metric).items()}
    if not weights:
        raise InputError("reward_function needs at least one metric")
    if level is not None and len(weights) > 1:
        raise InputError("level= applies to one RadGraph metric; in a sum use column={'radgraph': 'radgraph_partial'}")
    columns = dict(column) if isinstance(column, Mapping) else {m: column for m in weights}
    metric_options = {k: dict(v) for k, v in (metric_options or {}).items()}
    parts = []
    for name_, weight in weights.items():
        spec = get_spec(name_)  # InputError naming the known metrics
        col = _column(spec.name, columns.get(spec.name), level)
        if spec.name in _RADGRAPH_METRICS and col.rsplit("_", 1)[-1] in _LEVELS:
            metric_options.setdefault(spec.name, {})["reward_levels"] = True
        parts.append(_Part(spec.name, col, weight, 1.0 if spec.per_study_higher_is_better else -1.0))
    cache = None
    if score_cache:
        from rexrank.metrics.runtime.score_cache import ScoreCache

        cache = ScoreCache(None if score_cache is True else score_cache)
    base = {"progress": False, "details": False, **options, "metric_options": metric_options}
    nodes: dict[str, _Node] = {}
    for m in execution_order([p.metric for p in parts]):
        spec = get_spec(m)
        nodes[m] = _Node(m, options_for(spec, base), [nodes[d] for d in spec.requires], cache)
    for p in parts:
        if p.column != p.metric and not p.column.startswith(p.metric + "_"):
            raise InputError(f"column {p.column!r} is not a column of metric {p.metric!r}")
    label = name or "rexrank_" + "_".join(p.column if p.column != p.metric else p.metric for p in parts)
    return RewardFunction(parts, nodes, reference_column, score_transform, invalid_reward, nan_reward, label)
