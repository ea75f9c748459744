"""Plain-text tables for the console: a result (`rexrank score`) and a paired comparison
(`rexrank compare`), with one way of writing numbers (:func:`values.format_number`: undefined as
"—", infinity as "∞"), and a footnote for each value that is not finite, saying why."""

from __future__ import annotations

import math
from typing import Any, Mapping

from rexrank.metrics.reporting.values import NOTE, as_float, format_number, from_json, nonfinite_note


def _footnotes(entries: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per entry whose value or CI is not finite: why (the note stored with it, or derived)."""
    notes = [(e.get("display", name), e.get(NOTE) or nonfinite_note(e)) for name, e in entries.items()]
    return [f"  {display}: {note}" for display, note in notes if note]


def leaderboard_table(results: Mapping[str, Any]) -> str:
    """The metrics as rows: value, 95% CI, n (what `rexrank score` prints); notes for ∞ and —."""
    results = from_json(results)
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
    notes = _footnotes(results["metrics"])
    return "\n".join(lines + (["", "Not finite:"] + notes if notes else []))


def analyses_lines(results: Mapping[str, Any]) -> list[str]:
    results = from_json(results)
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
    if not isinstance(p, (int, float)) or p != p:
        return format_number(None)
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def comparison_table(result: Mapping[str, Any]) -> str:
    """A paired comparison as rows: A, B, A − B with its CI, the two p-values (what `rexrank compare` prints)."""
    result = from_json(result)
    names = [n if isinstance(n, str) and n else label for n, label in ((result["a"], "A"), (result["b"], "B"))]
    head = f"{names[0]} (A) vs {names[1]} (B) on {result['n_shared']} shared studies"
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
    notes = [f"  {e['display']}: {e[NOTE]}" for e in result["metrics"].values() if e.get(NOTE)]
    return "\n".join(lines + (["", "Not finite:"] + notes if notes else []))


def _sci(v: Any) -> str:
    x = as_float(v)
    return f"{x:.1e}" if math.isfinite(x) else format_number(x)


def verify_table(report: Mapping[str, Any], max_studies: int = 5) -> str:
    """`rexrank verify`'s table: per metric, studies checked, max and mean |ours − official|, the
    tolerance and PASS/FAIL; then the studies that failed and why a metric was not verified."""
    s = report["sample"]
    d = report.get("dataset") or {}
    head = (f"{report.get('system') or 'system'} on {d.get('config')} {d.get('split')}, {d.get('track')} track: "
            f"{s['n']} of {s['of']} studies re-scored with the official code "
            f"(seed {s['seed']}; {', '.join(f'{n} {k}' for k, n in s['strata'].items())})")
    rows = [("Metric", "checked", "max |Δ|", "mean |Δ|", "tolerance", "result")]
    notes = []
    for m in report["metrics"].values():
        verified = m["status"] != "NOT VERIFIED"
        rows.append((m["display"], str(m["checked"]) if verified else "–", _sci(m["max_abs_diff"]) if verified else "–",
                     _sci(m["mean_abs_diff"]) if verified else "–", _sci(m["tolerance"]) if verified else "–", m["status"]))
        if m["status"] == "NOT VERIFIED":
            notes.append(f"{m['display']}: not verified: {m['reason']}")
        for f in m["failures"][:max_studies]:
            if "labels_differ" in f:
                notes.append(f"{m['display']}: FAIL study {f['study_id']}: CheXbert labels differ from f1chexbert's "
                             f"({', '.join(f['labels_differ'])})")
            else:
                notes.append(f"{m['display']}: FAIL study {f['study_id']}: ours {format_number(f['ours'], 6)}, official "
                             f"{format_number(f['official'], 6)} (|Δ| {_sci(f['abs_diff'])} > {_sci(m['tolerance'])})")
        if len(m["failures"]) > max_studies:
            notes.append(f"{m['display']}: ... {len(m['failures']) - max_studies} more failing studies in verify.json")
        skipped = m.get("official_could_not_score") or []
        if skipped:
            notes.append(f"{m['display']}: {len(skipped)} sampled studies not comparable, the official code cannot "
                         f"score them ({skipped[0]['reason']}), e.g. {skipped[0]['study_id']}")
        if verified and m.get("tolerance_source", "").startswith("ours ran on"):
            notes.append(f"{m['display']}: tolerance: {m['tolerance_source']}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [head, ""]
    for k, r in enumerate(rows):
        lines.append("  ".join(f"{c:<{w}}" if i in (0, 5) else f"{c:>{w}}" for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines + ([""] + notes if notes else []))
