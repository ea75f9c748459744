"""Length-sorted, padded batches for encoder forward passes (shared by the model-based scorers).

Sorting by length keeps padding small; callers encode each distinct text once and map
results back to studies themselves.
"""

from __future__ import annotations

from typing import Iterator, Sequence


def length_sorted_batches(lengths: Sequence[int], batch_size: int, min_fill: float = 0.0) -> Iterator[list[int]]:
    """Indices of ``lengths`` in batches of at most ``batch_size``, longest first.

    ``min_fill``: also start a new batch when the next item is shorter than ``min_fill`` times the
    batch's longest, so that a few long texts do not pad many short ones (a reward call's 64 texts
    of every length; attention costs the square of the padded length).
    """
    if batch_size < 1:
        from rexrank.errors import InputError

        raise InputError(f"batch_size must be at least 1, not {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batch: list[int] = []
    for i in order:
        if batch and (len(batch) == batch_size or lengths[i] < min_fill * lengths[batch[0]]):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def pad_ids(sequences: Sequence[Sequence[int]], pad_id: int, width: int | None = None):
    """``(input_ids, attention_mask)`` LongTensors, right-padded to ``width`` (default: the longest sequence)."""
    import torch

    width = max(len(s) for s in sequences) if width is None else width
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, :len(seq)] = torch.tensor(list(seq), dtype=torch.long)
        mask[row, :len(seq)] = 1
    return ids, mask


def progress(iterable, total: int, desc: str, enabled: bool):
    """A tqdm bar when ``enabled`` (long runs), else the iterable itself."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False)


def progress_bar(total: int, desc: str, enabled: bool):
    """A tqdm bar to ``update`` by hand (work whose batch size changes as it runs)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, disable=not enabled)
