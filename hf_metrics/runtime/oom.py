"""Out of device memory: recognise it, free the allocator's cache, and go on with half the batch.

Both GPU loops that batch studies (GREEN's completions, report generation) use
:class:`HalvingBatches`: when a batch does not fit, the batch size is halved and stays halved
for the rest of the run, and a single study that does not fit even alone is handed back to the
caller, which decides (GREEN refuses the run, generation records that study as failed).
"""

from __future__ import annotations

import logging
import sys
from typing import Callable, Generic, Iterator, Sequence, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")
O = TypeVar("O")


def is_out_of_memory(err: BaseException) -> bool:
    """A device allocation failure: torch's ``OutOfMemoryError`` (``torch.cuda.OutOfMemoryError``
    is the same class), recognised by class name so that no caller has to import torch for it."""
    return names_out_of_memory([cls.__name__ for cls in type(err).__mro__])


def names_out_of_memory(class_names: Sequence[str]) -> bool:
    """The same judgement from an error's class names (the remote-code worker sends those)."""
    return "OutOfMemoryError" in class_names


def free_device_memory() -> None:
    """Give the CUDA allocator's cached blocks back, so that a smaller batch can fit."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


class HalvingBatches(Generic[T, O]):
    """Batches of at most ``size`` items, in order; halved on out-of-memory and kept smaller."""

    def __init__(self, size: int, what: str = "batch") -> None:
        if size < 1:
            raise ValueError(f"batch size must be at least 1, got {size}")
        self.size = size
        self.what = what
        self.halvings = 0

    def run(self, items: Sequence[T], call: Callable[[Sequence[T]], Sequence[O]]
            ) -> Iterator[tuple[Sequence[T], Sequence[O] | None, BaseException | None]]:
        """Yield ``(batch, outputs, None)`` for every batch that ran, in order, and ``([item], None,
        error)`` for an item that does not fit even alone. Errors other than out-of-memory propagate."""
        start = 0
        while start < len(items):
            batch = items[start:start + self.size]
            try:
                outputs = call(batch)
            except Exception as err:
                if not is_out_of_memory(err):
                    raise
                free_device_memory()
                if len(batch) == 1:
                    start += 1
                    yield batch, None, err
                    continue
                self.size = max(1, self.size // 2)
                self.halvings += 1
                logger.warning("%s: out of device memory on %d items; going on with batches of %d",
                               self.what, len(batch), self.size)
                continue
            start += len(batch)
            yield batch, outputs, None
