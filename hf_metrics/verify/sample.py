"""Which studies to re-score: a seeded random sample that always includes the hard cases.

The official implementations differ from naive ports mostly at the edges (empty texts, reports
longer than a model's 512-token window), which a uniform sample of 50 out of 2,000 studies
would rarely hit: a tenth of the sample each goes to empty and to the longest reports, when the
result has them.
"""

from __future__ import annotations

import math
import random
from typing import Sequence

EMPTY, LONG, RANDOM = "empty", "long", "random"


def stratified_sample(predictions: Sequence[str], references: Sequence[str], n: int,
                      seed: int = 0) -> dict[int, str]:
    """``{row index: stratum}`` of at most ``n`` studies, in row order; every study when n >= all.

    Strata: ``empty`` (prediction or reference blank; randomly chosen among them), ``long`` (the
    longest reports, by the longer side's word count), ``random`` (uniform over the rest).
    """
    total = len(predictions)
    if n <= 0:
        raise ValueError("the sample size must be positive")
    words = [max(len(p.split()), len(r.split())) for p, r in zip(predictions, references)]
    empty = [i for i in range(total) if not predictions[i].strip() or not references[i].strip()]
    if n >= total:
        return {i: EMPTY if i in set(empty) else RANDOM for i in range(total)}
    rng = random.Random(seed)
    share = max(1, math.ceil(n / 10))
    chosen: dict[int, str] = {i: EMPTY for i in rng.sample(empty, min(share, len(empty)))}
    longest = sorted((i for i in range(total) if i not in chosen and words[i] > 0), key=lambda i: (-words[i], i))
    chosen.update({i: LONG for i in longest[:share]})
    rest = [i for i in range(total) if i not in chosen]
    chosen.update({i: RANDOM for i in rng.sample(rest, min(n - len(chosen), len(rest)))})
    return dict(sorted(chosen.items()))
