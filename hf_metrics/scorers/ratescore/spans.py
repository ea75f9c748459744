"""Entity spans from per-token IOB labels, exactly as RaTEScore 0.6.0's ``post_process`` decodes them.

The official decoder is a small state machine with quirks that change scores, so they are kept:

* a label is only looked at together with the *next* position's label; an ``I-`` followed by
  ``I-`` has no branch (the span simply continues), and the label at ``[SEP]`` (or at any
  later position) serves as the "next" label of the last word piece;
* ``I-`` followed by ``B-`` closes the open span and opens a new one *at the I- token*, with
  the I- token's type;
* ``B-`` followed by ``B-`` records a one-token span and leaves it "open" again at the same
  token with ``end`` already set, so a span still open at the end of the sentence is only
  closed (at the second-to-last token) if ``end`` was never set;
* ``[CLS]`` and ``[SEP]`` tokens are skipped wherever they are.
"""

from __future__ import annotations

from typing import Sequence

SKIPPED_TOKENS = ("[CLS]", "[SEP]")


def decode_spans(tokens: Sequence[str], labels: Sequence[str]) -> list[tuple[int, int, str]]:
    """``(start, end, type)`` token spans, ``end`` inclusive; ``labels`` may be longer than ``tokens``."""
    spans: list[tuple[int, int, str]] = []
    start: int | None = None
    end: int | None = None
    entity_type: str | None = None
    for i, (token, label) in enumerate(zip(tokens, labels[: len(tokens)])):
        if token in SKIPPED_TOKENS or label == "O" or i >= len(labels) - 1:
            continue
        nxt = labels[i + 1]
        if label.startswith("B-"):
            if nxt.startswith("I-"):
                start, entity_type = i, label[2:]
            elif nxt.startswith("B-"):
                spans.append((i, i, label[2:]))
                start, end, entity_type = i, i, label[2:]
            elif nxt.startswith("O"):
                spans.append((i, i, label[2:]))
                start = end = entity_type = None
        elif label.startswith("I-"):
            if nxt.startswith("B-"):
                if start is not None:
                    spans.append((start, i, entity_type))
                start, end, entity_type = i, i, label[2:]
            elif nxt.startswith("O"):
                if start is not None:
                    spans.append((start, i, entity_type))
                start = end = entity_type = None
    if start is not None and end is None:  # an entity still open at the end of the sentence
        spans.append((start, len(tokens) - 2, entity_type))
    return spans
