"""BLEU-2 as ReXrank computes it (CXR-Report-Metric ``run_eval.py`` with fast-bleu 0.0.90).

Pure Python: sentence-level BLEU with one reference, weights (1/2, 1/2), smoothing "method1"
(a zero bigram numerator becomes 0.1 / denominator), the brevity penalty of fast-bleu, and the
official tokenisation (lower-case, only ``.`` split off, split on the space character).
DESIGN §7.2; checked per study against fast-bleu in ``tests/test_bleu2.py``.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

from rexrank.metrics.scorers.base import check_pairs
from rexrank.metrics.scorers.base import ScoreResult

EPSILON = 0.1  # fast-bleu's smoothing "method1" numerator for a zero n-gram count


def tokenize(text: str) -> list[str]:
    """CXR-Report-Metric's ``prep_reports``: only ``.`` is split off, spaces only (newlines stay in tokens)."""
    return [tok for tok in text.lower().replace(".", " .").split(" ") if tok != ""]


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def sentence_bleu2(hypothesis: list[str], reference: list[str]) -> float:
    """BLEU with weights (1/2, 1/2) of one tokenised hypothesis against one tokenised reference."""
    c, r = len(hypothesis), len(reference)
    log_sum = 0.0
    for n in (1, 2):
        hyp_counts, ref_counts = _ngrams(hypothesis, n), _ngrams(reference, n)
        numerator = sum(min(count, ref_counts[gram]) for gram, count in hyp_counts.items())
        denominator = max(1, c - n + 1)
        if numerator == 0:
            if n == 1:
                return 0.0
            numerator = EPSILON
        log_sum += 0.5 * math.log(numerator / denominator)
    brevity = 1.0 if c > r else (0.0 if c == 0 else math.exp(1.0 - r / c))
    return brevity * math.exp(log_sum)


class Bleu2Scorer:
    """``Bleu2Scorer()(predictions, references)`` -> per-study BLEU-2 (no model, no options that change it)."""

    name = "bleu2"

    def __init__(self, **options: object):
        self.options = options  # device/batch_size accepted for a uniform interface; unused

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> ScoreResult:
        predictions, references = check_pairs(predictions, references, self.name)
        cache: dict[tuple[str, str], float] = {}
        values = []
        for pred, ref in zip(predictions, references):
            key = (pred, ref)
            if key not in cache:
                cache[key] = sentence_bleu2(tokenize(pred), tokenize(ref))
            values.append(cache[key])
        return ScoreResult(self.name, {self.name: values},
                           provenance={"implementation": "rexrank.metrics.scorers.bleu2 (pure Python)",
                                       "official": "CXR-Report-Metric run_eval.py + fast-bleu 0.0.90",
                                       "tokenisation": "lower(), '.' -> ' .', split(' ')"})
