"""What every scorer shares: the result it returns, the call it answers, and the input check
it runs first (so bad input fails clearly before any model runs)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from rexrank.errors import InputError


@dataclass
class ScoreResult:
    """What a scorer returns.

    ``values``: per-study numeric columns, each as long as the inputs; the column named like
    the metric is the one the leaderboard averages. ``details``: optional per-study records
    (labels, explanations, entity sets). ``corpus``: corpus-level figures that are not a mean
    of per-study values (e.g. CheXbert F1). ``provenance``: models with resolved revisions,
    options, assets.
    """

    metric: str
    values: dict[str, list[float]]
    details: list[dict[str, Any]] | None = None
    corpus: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.values[self.metric])


class Scorer(Protocol):
    name: str

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> ScoreResult: ...


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def check_pairs(predictions: Sequence[Any], references: Sequence[Any], metric: str) -> tuple[list[str], list[str]]:
    """Return both sides as lists of ``str`` or raise :class:`InputError` naming the positions.

    Lengths must match; every item must be a string (``None`` and NaN are refused: a missing
    report must be replaced by ``""`` deliberately, which each metric scores with its defined
    value for an empty text).
    """
    if isinstance(predictions, str) or isinstance(references, str):
        raise InputError(f"{metric}: predictions and references must be lists of strings, not one string")
    predictions, references = list(predictions), list(references)
    if len(predictions) != len(references):
        raise InputError(f"{metric}: {len(predictions)} predictions but {len(references)} references; "
                         "they must pair up one to one (same order, same studies)")
    for side, texts in (("prediction", predictions), ("reference", references)):
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            first = texts[bad[0]]
            kind = "missing (None/NaN)" if first is None or _is_nan(first) else f"of type {type(first).__name__}"
            shown = ", ".join(map(str, bad[:5])) + (f" ... ({len(bad)} in all)" if len(bad) > 5 else "")
            raise InputError(f"{metric}: {side} at position(s) {shown} is {kind}, not a string. "
                             "Replace a missing report with '' deliberately (scored with the metric's value "
                             "for an empty text) or drop the study.")
    return predictions, references
