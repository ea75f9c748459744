"""Run a batch generator robustly: halve on CUDA out-of-memory, isolate a failing study.

Kept apart from any model so it can be exercised with fakes: ``generate`` is any callable from
a list of requests to a list of texts.
"""

from __future__ import annotations

import logging
from typing import Callable, Generic, Sequence, TypeVar

logger = logging.getLogger(__name__)
R = TypeVar("R")
Outcome = tuple[str | None, str | None]  # (text, error): exactly one is set


def _is_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.cuda.OutOfMemoryError)


def _free_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class BatchRunner(Generic[R]):
    """Calls ``generate`` on batches; remembers a smaller batch size once memory ran out."""

    def __init__(self, generate: Callable[[Sequence[R]], list[str]], batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self.generate = generate
        self.batch_size = batch_size
        self.oom_halvings = 0

    def run(self, requests: Sequence[R]) -> list[Outcome]:
        """One outcome per request, in order; never raises for a model error."""
        try:
            texts = list(self.generate(requests))
            if len(texts) != len(requests):
                raise RuntimeError(f"the model returned {len(texts)} texts for {len(requests)} studies")
            return [(t, None) for t in texts]
        except Exception as err:
            if _is_oom(err):
                _free_cuda()
                if len(requests) == 1:
                    return [(None, f"CUDA out of memory even for a single study: {err}")]
                half = len(requests) // 2
                self.batch_size = max(1, min(self.batch_size, half))
                self.oom_halvings += 1
                logger.warning("CUDA out of memory on a batch of %d; retrying as batches of %d",
                               len(requests), self.batch_size)
                return self.run(requests[:half]) + self.run(requests[half:])
            if len(requests) == 1:
                return [(None, f"{type(err).__name__}: {err}")]
            logger.warning("a batch of %d failed (%s: %s); retrying its studies one by one",
                           len(requests), type(err).__name__, err)
            return [outcome for request in requests for outcome in self.run([request])]
