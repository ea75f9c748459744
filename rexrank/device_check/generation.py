"""Report generation on the device: studies/s through the real ``generate_reports`` loop, and one
forced CUDA out-of-memory that the batch halving must survive.

The out-of-memory is real: a ballast tensor takes the GPU's free memory down to what a small
batch needs, then a batch of 64 is asked for; the run must halve (the log says so) and still
write every report.
"""

from __future__ import annotations

import gc
import logging
import time
from pathlib import Path

from rexrank.device_check.report import Check

logger = logging.getLogger(__name__)


def _generate(model: Path, manifest: Path, images: Path, out: Path, device: str, batch_size: int,
              max_new_tokens: int, limit: int | None = None):
    from rexrank.space.generation.run import generate_reports

    start = time.perf_counter()
    summary = generate_reports(str(model), "iu_xray", out, manifest=manifest, data_dir=images, batch_size=batch_size,
                               max_new_tokens=max_new_tokens, device=device, canary=False, progress=False, limit=limit)
    return summary, time.perf_counter() - start


def throughput_checks(models: dict[str, Path], manifest: Path, images: Path, work: Path, device: str,
                      batch_sizes: dict[str, int], max_new_tokens: int, studies: int) -> list[Check]:
    """``generation/<adapter>``: a whole ``generate_reports`` call (model loading included)."""
    checks = []
    for label, folder in models.items():
        summary, seconds = _generate(folder, manifest, images, work / f"{label}.json", device, batch_sizes[label],
                                     max_new_tokens)
        ok = summary.n_generated == studies and not summary.failures
        checks.append(Check(f"generation/{label}", "PASS" if ok else "FAIL",
                            f"{summary.n_generated}/{studies} studies in {seconds:.1f} s = {summary.n_generated / seconds:.1f} "
                            f"studies/s ({summary.adapter}, batch {batch_sizes[label]}, {max_new_tokens} new tokens, "
                            f"{summary.record['adapter'].get('dtype')}, load included)",
                            {"studies": studies, "generated": summary.n_generated, "failures": dict(list(summary.failures.items())[:5]),
                             "seconds": round(seconds, 2), "studies_per_s": round(summary.n_generated / seconds, 2),
                             "batch_size": batch_sizes[label], "max_new_tokens": max_new_tokens,
                             "adapter": summary.adapter, "dtype": summary.record["adapter"].get("dtype")}, seconds))
    return checks


class _Halvings(logging.Handler):
    """Counts the halving warnings of :class:`rexrank.metrics.runtime.oom.HalvingBatches`."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "out of device memory" in record.getMessage():
            self.messages.append(record.getMessage())


def oom_check(model: Path, manifest: Path, images: Path, work: Path, device: str, max_new_tokens: int) -> Check:
    """``generation/oom``: a real CUDA out-of-memory at batch 64, survived by halving."""
    if not device.startswith("cuda"):
        return Check("generation/oom", "SKIP", "a real out-of-memory needs CUDA (the halving logic has CPU tests)")
    import torch

    start = time.perf_counter()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    _generate(model, manifest, images, work / "oom-probe.json", device, 4, max_new_tokens, limit=4)
    need4 = torch.cuda.max_memory_allocated(device) - base  # weights + activations of a batch of 4
    gc.collect()  # the probe's model, before measuring what is free
    torch.cuda.empty_cache()
    free, total = torch.cuda.mem_get_info(device)
    keep = int(need4 * 1.5)  # room for a batch of about 4, not for 64
    ballast = torch.empty(max(0, free - keep), dtype=torch.uint8, device=device)
    handler = _Halvings()
    oom_logger = logging.getLogger("rexrank.metrics.runtime.oom")
    oom_logger.addHandler(handler)
    try:
        summary, seconds = _generate(model, manifest, images, work / "oom.json", device, 64, max_new_tokens, limit=64)
    finally:
        oom_logger.removeHandler(handler)
        del ballast
        torch.cuda.empty_cache()
    ok = bool(handler.messages) and summary.n_generated == 64 and not summary.failures
    return Check("generation/oom", "PASS" if ok else "FAIL",
                 f"{len(handler.messages)} halving(s) after a real CUDA out-of-memory at batch 64; "
                 f"{summary.n_generated}/64 studies written" + ("" if handler.messages else " (no out-of-memory happened)"),
                 {"halvings": handler.messages, "generated": summary.n_generated, "failures": dict(list(summary.failures.items())[:5]),
                  "probe_bytes_batch_4": need4, "left_free_bytes": keep, "gpu_total_bytes": total},
                 time.perf_counter() - start)
