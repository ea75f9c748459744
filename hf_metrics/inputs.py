"""Checks every scorer runs on its inputs, so bad input fails clearly before any model runs."""

from __future__ import annotations

import math
from typing import Any, Sequence

from rexrank.errors import InputError


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
