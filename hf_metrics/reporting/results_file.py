"""``results.json`` and ``per_study.csv``: writing them, and reading them back.

JSON has no NaN or infinity: how they are stored and read back is
:mod:`rexrank.metrics.reporting.values` (null, with ``"infinite"`` naming the infinities).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from rexrank.errors import InputError
from rexrank.files import atomic_write_text
from rexrank.metrics.reporting.values import from_json, to_json

RESULTS_SCHEMA = "rexrank-results/1"


def write_outputs(results: Mapping[str, Any], out_dir: str | os.PathLike, *, plots: bool = True) -> list[Path]:
    """``results.json`` (atomic), ``per_study.csv`` and the plots into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.json", results_json(results))
    written = [out / "results.json", write_per_study_csv(results, out / "per_study.csv")]
    if plots:
        from rexrank.metrics.reporting import plots as plotting

        written += plotting.plots_for_result(results, out)
    return written


def results_json(results: Mapping[str, Any]) -> str:
    """Indented JSON, with the bulky per-study lists and details one line each (a third of the size)."""
    bulky = ("per_study", "per_study_columns", "details", "texts", "strata")
    results = to_json(results)
    head = {k: v for k, v in results.items() if k not in bulky}
    text = json.dumps(head, indent=2, ensure_ascii=False, allow_nan=False)
    parts = []
    for key in bulky:
        if key in results:
            inner = ",\n".join(f"    {json.dumps(k, ensure_ascii=False)}: "
                               f"{json.dumps(v, ensure_ascii=False, allow_nan=False, separators=(',', ':'))}"
                               for k, v in results[key].items())
            parts.append(f'  "{key}": {{\n{inner}\n  }}' if inner else f'  "{key}": {{}}')
    if not parts:
        return text + "\n"
    return text[:-2] + ",\n" + ",\n".join(parts) + "\n}\n"


def write_per_study_csv(results: Mapping[str, Any], path: Path) -> Path:
    import csv

    per = results["per_study"]
    extra = {f"{m}.{c}": v for m, cols in results.get("per_study_columns", {}).items() for c, v in cols.items()}
    columns = {**per, **extra}
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(list(columns))
        for row in zip(*columns.values()):
            writer.writerow(["" if v is None else v for v in row])
    return path


def load_results(path: str | os.PathLike) -> dict[str, Any]:
    """A ``results.json`` (or its folder) with its numbers as floats (±inf, NaN: :func:`from_json`)."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    if not p.exists():
        raise InputError(f"no results file at {path}: pass a results.json written by `rexrank score` (or its folder)")
    if not p.is_file():
        raise InputError(f"{p} is not a regular file: pass a results.json written by `rexrank score` (or its folder)")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"{p} is not valid JSON ({type(err).__name__.replace('Error', '').lower() or 'error'} "
                         f"at {getattr(err, 'lineno', '?')}:{getattr(err, 'colno', '?')}): pass a results.json "
                         "written by `rexrank score`") from None
    if not isinstance(data, dict) or not isinstance(data.get("per_study"), dict) or not isinstance(data.get("metrics"), dict):
        raise InputError(f"{p} is not a `rexrank score` results.json (no per_study/metrics objects)")
    data = from_json(data)
    data.setdefault("system", p.parent.name)
    return data
