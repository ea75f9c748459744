"""Length-sorted, padded batches for encoder forward passes (shared by the model-based scorers).

Sorting by length keeps padding small; a token budget keeps it small where lengths vary most
(the longest texts go in smaller batches): on a CPU every padded position costs as much as a
real one, so a fixed count of 64 texts per batch spent a third of BERTScore's time on padding.
Callers encode each distinct text once and map results back to studies themselves.

Batch sizes depend on the device (:func:`batch_defaults`): a GPU wants many rows per forward
pass, a CPU wants little padding.
"""

from __future__ import annotations

from typing import Iterator, Sequence

# (texts per batch, padded tokens per batch) by device type, for the encoder scorers.
CPU_BATCH, CPU_TOKENS = 64, 1024
CUDA_BATCH, CUDA_TOKENS = 512, 65536


def batch_defaults(device: str, batch_size: int | None = None, max_tokens: int | None = None) -> tuple[int, int]:
    """``(batch_size, max_tokens)`` for ``device``: the values given, else the device's defaults."""
    cuda = str(device).startswith("cuda")
    return (int(batch_size or (CUDA_BATCH if cuda else CPU_BATCH)),
            int(max_tokens or (CUDA_TOKENS if cuda else CPU_TOKENS)))


def length_sorted_batches(lengths: Sequence[int], batch_size: int, max_tokens: int | None = None,
                          min_fill: float = 0.0) -> Iterator[list[int]]:
    """Indices of ``lengths`` in batches, longest first: at most ``batch_size`` items, and (when
    ``max_tokens`` is given) at most ``max_tokens`` padded positions (items × the batch's longest),
    never fewer than one item.

    ``min_fill``: also start a new batch when the next item is shorter than ``min_fill`` times the
    batch's longest, so that a few long texts do not pad many short ones (a reward call's 64 texts
    of every length; attention costs the square of the padded length).
    """
    if batch_size < 1 or (max_tokens is not None and max_tokens < 1):
        from rexrank.errors import InputError

        raise InputError(f"batch_size and max_tokens must be at least 1, not {batch_size} / {max_tokens}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batch: list[int] = []
    for i in order:
        if batch and (len(batch) == batch_size or lengths[i] < min_fill * lengths[batch[0]]
                      or (max_tokens is not None and (len(batch) + 1) * lengths[batch[0]] > max_tokens)):
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
