"""The texts the device check scores: IU-Xray test findings, and pairs varied from them.

Parity runs on real reports (predictions = the references rotated by 7, as the benchmarks do).
Throughput needs many *distinct* pairs, or the per-text caches would remove the work: each
reference and each prediction is a report plus one sentence of another report, chosen so no
text repeats (10,000 pairs from 590 reports), and no prediction is also a reference.
"""

from __future__ import annotations

import re


def iu_findings() -> list[str]:
    """The IU-Xray test set's findings track references (the pinned manifest, from the asset cache)."""
    from rexrank.datasets.tracks import load_track

    return list(load_track("iu_xray", "findings").references)


def parity_pairs(reports: list[str], n: int) -> tuple[list[str], list[str]]:
    """``(predictions, references)``: the first ``n`` reports (repeated if fewer), and the same rotated by 7."""
    refs = [reports[i % len(reports)] for i in range(n)]
    return refs[7:] + refs[:7], refs


def _sentences(reports: list[str]) -> list[str]:
    found = dict.fromkeys(s.strip() for r in reports for s in re.split(r"(?<=\.)\s+", r) if len(s.strip()) > 3)
    return list(found)


def varied_pairs(reports: list[str], n: int) -> tuple[list[str], list[str]]:
    """``n`` ``(predictions, references)`` pairs in which no text repeats, on either side or across them."""
    distinct = list(dict.fromkeys(reports))
    sentences = _sentences(distinct)
    refs: dict[str, None] = {}
    preds: dict[str, None] = {}
    for side, out, step, offset in (("ref", refs, 7919, 0), ("pred", preds, 104729, 31)):
        k = 0
        while len(out) < n:
            base = distinct[(k * 13 + offset) % len(distinct)]
            extra = sentences[(k * step + offset) % len(sentences)]
            text = f"{base} {extra}"
            if text in out or text in refs:  # a rare collision: one more sentence makes it new
                text = f"{text} {sentences[(k * 31 + 1) % len(sentences)]}"
            if text not in out and text not in refs:
                out[text] = None
            k += 1
            if k > 20 * n:
                raise RuntimeError(f"cannot build {n} distinct {side} texts from {len(distinct)} reports")
    return list(preds), list(refs)
