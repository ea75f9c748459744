"""Plain-text tables for the console: a result (`rexrank score`) and a paired comparison
(`rexrank compare`), with one way of writing numbers (NaN as "–", infinity as "∞")."""

from __future__ import annotations

import math
from typing import Any, Mapping

from rexrank.metrics.reporting.results_file import as_float


def format_number(v: Any, digits: int = 4) -> str:
    x = as_float(v)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{x:.{digits}f}"


def leaderboard_table(results: Mapping[str, Any]) -> str:
    """The metrics as rows: value, 95% CI, n (what `rexrank score` prints)."""
    d = results["dataset"]
    head = (f"{results.get('system') or 'system'} on {d['config']} {d['split']}, {d['track']} track "
            f"({d['n_studies']} studies)")
    rows = [("Metric", "Value", "95% CI", "n")]
    for entry in results["metrics"].values():
        lo, hi = entry["ci"]
        rows.append((entry["display"], format_number(entry["value"]),
                     f"[{format_number(lo)}, {format_number(hi)}]", str(entry["n"])))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [head, ""]
    for k, r in enumerate(rows):
        lines.append(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}")
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def analyses_lines(results: Mapping[str, Any]) -> list[str]:
    a = results.get("analyses") or {}
    lines = []
    na = a.get("normal_abnormal")
    if na and len(na["groups"]) == 2:
        lines.append(f"\nNormal vs abnormal ({na['source']}):")
        for metric, entry in results["metrics"].items():
            g = na["groups"]
            lines.append(f"  {entry['display']:<16} normal {format_number(g['normal'][metric]['value'])} "
                         f"(n={g['normal'][metric]['n']})  abnormal {format_number(g['abnormal'][metric]['value'])} "
                         f"(n={g['abnormal'][metric]['n']})")
    for key, e in (a.get("error_rates") or {}).items():
        lines.append(f"{key.replace('_', ' ')}: {format_number(e['share'], 3)} of {e['n']} studies ({e['source']})")
    return lines


def _fmt_p(p) -> str:
    if p is None:
        return "–"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def comparison_table(result: Mapping[str, Any]) -> str:
    """A paired comparison as rows: A, B, A − B with its CI, the two p-values (what `rexrank compare` prints)."""
    head = f"{result['a']} (A) vs {result['b']} (B) on {result['n_shared']} shared studies"
    rows = [("Metric", "A", "B", "A − B", "95% CI", "p (bootstrap)", "p (AR)")]
    for e in result["metrics"].values():
        lo, hi = e["ci"]
        rows.append((e["display"], format_number(e["a"]), format_number(e["b"]), format_number(e["difference"]),
                     f"[{format_number(lo)}, {format_number(hi)}]", _fmt_p(e["p_bootstrap"]), _fmt_p(e["p_randomization"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [head, ""]
    for k, r in enumerate(rows):
        lines.append("  ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
