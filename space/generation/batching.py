"""Run a batch generator robustly: halve on out-of-memory, isolate a failing study.

Kept apart from any model so it can be exercised with fakes: ``generate`` is any callable from
a list of requests to a list of texts. Out-of-memory halving is the shared
:class:`rexrank.metrics.runtime.oom.HalvingBatches`.
"""

from __future__ import annotations

import logging
from typing import Callable, Generic, Sequence, TypeVar

from rexrank.metrics.runtime.oom import HalvingBatches, is_out_of_memory

logger = logging.getLogger(__name__)
R = TypeVar("R")
Outcome = tuple[str | None, str | None]  # (text, error): exactly one is set


class BatchRunner(Generic[R]):
    """Calls ``generate`` on batches; remembers a smaller batch size once memory ran out."""

    def __init__(self, generate: Callable[[Sequence[R]], list[str]], batch_size: int) -> None:
        self.generate = generate
        self._batches: HalvingBatches[R, Outcome] = HalvingBatches(batch_size, "generation")

    @property
    def batch_size(self) -> int:
        return self._batches.size

    @property
    def oom_halvings(self) -> int:
        return self._batches.halvings

    def run(self, requests: Sequence[R]) -> list[Outcome]:
        """One outcome per request, in order; never raises for a model error."""
        outcomes: list[Outcome] = []
        for _, batch_outcomes, err in self._batches.run(list(requests), self._outcomes):
            if err is not None:
                outcomes.append((None, f"CUDA out of memory even for a single study: {err}"))
            else:
                outcomes.extend(batch_outcomes)
        return outcomes

    def _outcomes(self, requests: Sequence[R]) -> list[Outcome]:
        """Texts of one batch; a failing batch is retried study by study (out-of-memory propagates)."""
        try:
            texts = list(self.generate(requests))
            if len(texts) != len(requests):
                raise RuntimeError(f"the model returned {len(texts)} texts for {len(requests)} studies")
            return [(t, None) for t in texts]
        except Exception as err:
            if is_out_of_memory(err):
                raise
            if len(requests) == 1:
                return [(None, f"{type(err).__name__}: {err}")]
            logger.warning("a batch of %d failed (%s: %s); retrying its studies one by one",
                           len(requests), type(err).__name__, err)
            return [outcome for request in requests for outcome in self._outcomes([request])]
