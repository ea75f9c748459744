"""One study as HTML: the reports side by side with a word-level diff, CheXbert labels with the
disagreements highlighted, RadGraph entities and relations marked matched / unmatched, GREEN's
analysis, FineRadScore's line severities. Every text from a result is escaped."""

from __future__ import annotations

import html
from typing import Any, Mapping, Sequence

CSS = """
.rx-pair {display: grid; grid-template-columns: 1fr 1fr; gap: 1em}
.rx-box {border: 1px solid #8884; border-radius: 6px; padding: 0.6em 0.8em; line-height: 1.6}
.rx-box h4 {margin: 0 0 0.4em 0}
.diff-missing {background: #f8d7da; color: #721c24; text-decoration: line-through; border-radius: 3px; padding: 0 2px}
.diff-added {background: #d4edda; color: #155724; border-radius: 3px; padding: 0 2px}
.rx-table {border-collapse: collapse; width: 100%}
.rx-table td, .rx-table th {border-bottom: 1px solid #8883; padding: 2px 6px; text-align: left}
.label-disagree {background: #fff3cd; color: #664d03; font-weight: 600}
.ent-matched::before {content: "✓ "; color: #198754}
.ent-unmatched {color: #b02a37}
.ent-unmatched::before {content: "✗ "}
.rx-entity {display: inline-block; margin: 2px 4px; padding: 0 4px; border: 1px solid #8884; border-radius: 4px}
.rx-scroll {max-height: 22em; overflow: auto}
.rx-note {opacity: 0.75; font-size: 0.9em}
.sev-0 {color: #198754} .sev-1 {color: #6c757d} .sev-2 {color: #b58105} .sev-3, .sev-4 {color: #b02a37; font-weight: 600}
"""

_DIFF_CLASS = {"missing": "diff-missing", "added": "diff-added"}
_NO_SPACE_BEFORE = set(".,;:!?)]}%")


def e(text: Any) -> str:
    return html.escape("" if text is None else str(text))


def _tokens(tokens: Sequence[tuple[str, str]], side: str) -> str:
    out = []
    for k, (token, tag) in enumerate(tokens):
        space = "" if k == 0 or token in _NO_SPACE_BEFORE else " "
        word = e(token)
        cls = _DIFF_CLASS.get(tag)
        out.append(space + (f'<span class="{cls}" title="only in the {side}">{word}</span>' if cls else word))
    return "".join(out) or '<span class="rx-note">(empty)</span>'


def diff_html(view: Mapping[str, Any]) -> str:
    """Reference and prediction side by side; words only in one of them highlighted."""
    if view.get("diff") is None:
        return ('<p class="rx-note">This result does not record the texts it scored (written by an older '
                'rexrank): score it again to see them.</p>')
    left, right = view["diff"]
    return ('<div class="rx-pair" id="study-diff">'
            f'<div class="rx-box diff-reference"><h4>Reference</h4>{_tokens(left, "reference")}</div>'
            f'<div class="rx-box diff-prediction"><h4>Prediction</h4>{_tokens(right, "prediction")}</div></div>'
            '<p class="rx-note"><span class="diff-missing">struck</span>: in the reference only · '
            '<span class="diff-added">green</span>: in the prediction only (word-level, case-insensitive)</p>')


def scores_html(view: Mapping[str, Any]) -> str:
    cells = "".join(f"<th>{e(name)}</th>" for name, _, _ in view["values"])
    values = "".join(f"<td>{'–' if v is None else f'{v:.4f}'}</td>" for _, v, _ in view["values"])
    where = f"group: {e(view['group'])}" + (f" · site: {e(view['site'])}" if view.get("site") else "")
    return (f'<h3>{e(view["study_id"])} <span class="rx-note">({e(view["system"])}; {where}; '
            f'↓ = lower is better)</span></h3><table class="rx-table"><tr>{cells}</tr><tr>{values}</tr></table>')


def chexbert_html(rows: list[dict[str, Any]] | None) -> str:
    if rows is None:
        return '<p class="rx-note">No CheXbert labels in this result (run the chexbert metric).</p>'
    body = []
    for r in rows:
        cls = "" if r["agree"] else ' class="label-disagree"'
        body.append(f"<tr{cls}><td>{e(r['condition'])}</td><td>{e(r['reference_class'])}</td>"
                    f"<td>{e(r['prediction_class'])}</td><td>{'' if r['agree'] else 'disagree'}</td></tr>")
    n = sum(not r["agree"] for r in rows)
    return (f'<table class="rx-table" id="chexbert-labels"><tr><th>Condition</th><th>Reference</th><th>Prediction</th>'
            f'<th></th></tr>{"".join(body)}</table><p class="rx-note">{n} of 14 labels disagree (positive/uncertain '
            'count as present, as CheXbert F1 does)</p>')


def _entity(item: Sequence[Any]) -> str:
    return f"{e(item[0])} <small>{e(item[1])}</small>"


def _relation(item: Sequence[Any]) -> str:
    (src, src_label), (dst, dst_label), kind = item
    return f"{e(src)} <small>{e(src_label)}</small> —{e(kind)}→ {e(dst)} <small>{e(dst_label)}</small>"


def radgraph_html(graph: Mapping[str, Any] | None) -> str:
    if graph is None:
        return '<p class="rx-note">No RadGraph entities in this result (run the radgraph metric).</p>'

    def side(kind: str, who: str, show) -> str:
        items = graph[f"{who}_{kind}"]
        if not items:
            return '<span class="rx-note">none</span>'
        return "".join(f'<span class="rx-entity {"ent-matched" if x["matched"] else "ent-unmatched"}">{show(x["item"])}</span>'
                       for x in items)

    parts = []
    for kind, show in (("entities", _entity), ("relations", _relation)):
        counts = {who: (sum(x["matched"] for x in graph[f"{who}_{kind}"]), len(graph[f"{who}_{kind}"]))
                  for who in ("reference", "prediction")}
        parts.append(f'<div class="rx-pair radgraph-{kind}">' + "".join(
            f'<div class="rx-box"><h4>{who.title()} {kind} ({counts[who][0]} of {counts[who][1]} matched)</h4>'
            f'<div class="rx-scroll">{side(kind, who, show)}</div></div>' for who in ("reference", "prediction")) + "</div>")
    return ('<div id="radgraph-view">' + "".join(parts) + '<p class="rx-note">✓ also in the other report · '
            '✗ unmatched (RadGraph F1 compares these sets: entity text and label; relations by both ends and type)</p></div>')


def green_html(green: Mapping[str, Any] | None) -> str:
    if green is None:
        return '<p class="rx-note">GREEN did not run for this result (it needs a GPU).</p>'
    rows = "".join(f"<tr><td>{e(r['category'])}</td><td>{e(r['significant'])}</td><td>{e(r['insignificant'])}</td></tr>"
                   for r in green["errors"])
    note = '<p class="rx-note">The prompt was cut at the 2048-token limit.</p>' if green["truncated_prompt"] else ""
    return (f'<div id="green-view"><p><b>GREEN {e(_fmt(green["score"]))}</b> · matched findings: '
            f'{e(green["matched"])}</p><table class="rx-table"><tr><th>Error</th><th>clinically significant</th>'
            f'<th>insignificant</th></tr>{rows}</table><h4>Explanation</h4><div class="rx-box">'
            f'{e(green["explanation"]) or "<span class=rx-note>(none)</span>"}</div>{note}</div>')


def fineradscore_html(view: Mapping[str, Any] | None) -> str:
    if view is None:
        return '<p class="rx-note">FineRadScore did not run for this result (it needs an LLM API).</p>'
    if view.get("error"):
        return f'<p class="rx-note">No valid reply from the judge: {e(view["error"])}</p>'
    rows = "".join(
        f'<tr><td>[{e(r["line"])}]</td><td>{e(r["text"])}</td><td class="sev-{e(r["severity"])}">'
        f'{e(r["severity_word"])} ({e(r["severity"])})</td><td>{e(r["correction"])}</td><td>{e(r["comment"])}</td></tr>'
        for r in view["lines"])
    return (f'<table class="rx-table" id="fineradscore-lines"><tr><th>line</th><th>candidate</th><th>severity</th>'
            f'<th>correction</th><th>comment</th></tr>{rows}</table><p class="rx-note">0 no error · 1 not actionable · '
            '2 actionable, not urgent · 3 urgent · 4 emergent; the study scores its worst line</p>')


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{float(v):.4f}"


def table_html(columns: Sequence[str], rows: Sequence[Sequence[Any]], elem_id: str) -> str:
    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f'<table class="rx-table" id="{elem_id}"><tr>{head}</tr>{body}</table>'
