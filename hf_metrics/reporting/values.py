"""One representation of reported numbers that are infinite or undefined, for every writer and reader.

A reciprocal metric (1/RadCliQ-v1, 1/FineRadScore) is unbounded when its mean is 0 (FineRadScore
with every study error-free), and its CI is unbounded when the mean's CI contains 0; a value over
no study, or a CI over one, is undefined. JSON has no infinity or NaN, so in ``results.json``, the
Space's store, comparisons and ``evaluate`` outputs:

* every non-finite number is stored as ``null``;
* an object holding a null that stands for ±infinity names it in ``"infinite"``: ``{"value": "inf"}``,
  or for a list field one sign (or ``null``) per position, ``{"ci": ["-inf", "inf"]}``;
* a metric entry with a non-finite value or CI carries a ``"note"`` saying why (:func:`nonfinite_note`).

A null without an ``"infinite"`` entry is NaN (undefined, missing). :func:`from_json` turns all of it
back into floats (and reads the ``"inf"``/``"-inf"`` strings written before this format), so
sorting and arithmetic see ``inf``/``nan``. Displays write ``∞``/``-∞`` and ``—`` (:func:`format_number`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

INFINITE = "infinite"
NOTE = "note"
_SIGNS = {"inf": math.inf, "+inf": math.inf, "infinity": math.inf, "-inf": -math.inf, "-infinity": -math.inf}
# fields that hold numbers in results, comparisons and analyses (for strings left by older writers)
NUMERIC_FIELDS = frozenset({"value", "ci", "mean", "mean_ci", "difference", "a", "b", "share", "p_bootstrap",
                            "p_randomization", "low", "high"})
UNDEFINED = "—"


def _sign(x: float) -> str:
    return "inf" if x > 0 else "-inf"


def as_float(v: Any) -> float:
    """One stored number as a float: ``null`` -> NaN, ``"inf"``/``"-inf"`` (older files) -> ±inf,
    anything that is not a number -> NaN (a reader never fails on one bad cell)."""
    if v is None or isinstance(v, bool):
        return math.nan
    if isinstance(v, str):
        text = v.strip().lower()
        if text in _SIGNS:
            return _SIGNS[text]
        try:
            return float(text)
        except ValueError:
            return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def to_json(obj: Any) -> Any:
    """JSON-safe copy: non-finite numbers -> null, ±inf named in the parent's ``"infinite"``,
    a ``"note"`` on entries whose value or CI is not finite, tuples -> lists, numpy scalars -> Python."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "item") and callable(obj.item) and not isinstance(obj, (dict, list, tuple, str)):
        return to_json(obj.item())  # numpy scalars
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out: dict[str, Any] = {}
    infinite: dict[str, Any] = dict(obj.get(INFINITE) or {})
    for key, value in obj.items():
        key = str(key)
        if key == INFINITE:
            continue
        value = value.item() if hasattr(value, "item") and callable(value.item) and not isinstance(
            value, (dict, list, tuple, str)) else value
        if isinstance(value, float) and math.isinf(value):
            infinite[key] = _sign(value)
        elif isinstance(value, (list, tuple)) and any(isinstance(v, float) and math.isinf(v) for v in value):
            infinite[key] = [_sign(v) if isinstance(v, float) and math.isinf(v) else None for v in value]
        out[key] = to_json(value)
    if infinite:
        out[INFINITE] = infinite
    if NOTE not in out and _is_entry(obj):
        note = nonfinite_note(obj)
        if note:
            out[NOTE] = note
    return out


def from_json(obj: Any) -> Any:
    """Inverse of :func:`to_json`: floats back (±inf from ``"infinite"``, NaN for other nulls in
    numeric fields, older ``"inf"`` strings), everything else unchanged."""
    if isinstance(obj, list):
        return [from_json(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    infinite = obj.get(INFINITE) if isinstance(obj.get(INFINITE), dict) else {}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key == INFINITE:
            continue
        mark = infinite.get(key)
        if key in NUMERIC_FIELDS or mark is not None:
            if isinstance(value, list):
                marks = mark if isinstance(mark, list) else [None] * len(value)
                value = [_SIGNS.get(str(m).lower(), as_float(v)) if m else _number_or_keep(v)
                         for v, m in zip(value, marks + [None] * (len(value) - len(marks)))]
            elif mark is not None:
                value = _SIGNS.get(str(mark).lower(), math.nan)
            else:
                value = _number_or_keep(value)
        out[key] = from_json(value)
    return out


def _number_or_keep(v: Any) -> Any:
    """A null or an infinity/NaN word becomes a float; names, ints and other values stay as they are."""
    if v is None:
        return math.nan
    if isinstance(v, str) and v.strip().lower() in (*_SIGNS, "nan"):
        return as_float(v)
    return v


def _is_entry(obj: Mapping[str, Any]) -> bool:
    return "value" in obj and "ci" in obj


def nonfinite_note(entry: Mapping[str, Any]) -> str | None:
    """Why an entry's value or CI is infinite or undefined (shown as a tooltip / footnote), or None."""
    value = as_float(entry.get("value"))
    ci = entry.get("ci") or [None, None]
    low, high = (as_float(x) for x in (list(ci) + [None, None])[:2])
    n = entry.get("n")
    reciprocal = entry.get("reported_as") == "reciprocal_mean" or str(entry.get("display", "")).startswith("1/")
    if isinstance(n, int) and n == 0:
        return "no study was scored (n = 0), so the value is undefined"
    if math.isinf(value):
        if reciprocal:
            return ("the mean of the per-study values is 0 (for FineRadScore: no study has an error), so 1/mean is "
                    "unbounded: "
                    "shown as ∞ and ranked first")
        return "the value is infinite"
    if math.isnan(value):
        return "the value is undefined (no finite per-study value)"
    if math.isinf(low) or math.isinf(high):
        return ("the 95% CI of the mean contains 0, so the CI of 1/mean is unbounded" if reciprocal
                else "the confidence interval is unbounded")
    if math.isnan(low) or math.isnan(high):
        if isinstance(n, int) and n == 1:
            return "one study: no confidence interval"
        return "the confidence interval is undefined"
    return None


def format_number(v: Any, digits: int = 4) -> str:
    """``0.1234``, ``∞``/``-∞`` for infinities, ``—`` for undefined: the one way numbers are written."""
    x = as_float(v)
    if math.isnan(x):
        return UNDEFINED
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{x:.{digits}f}"


def rank_key(value: Any, higher_is_better: bool = True) -> tuple[int, float]:
    """Sort key, best first: +∞ first when higher is better (a perfect reciprocal score), NaN last."""
    x = as_float(value)
    if math.isnan(x):
        return (1, 0.0)
    return (0, -x if higher_is_better else x)
