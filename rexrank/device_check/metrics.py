"""The metrics on the device: per-study parity with the CPU, half precision's drift, throughput.

Parity: every metric's per-study values on the device in fp32 against the CPU in fp32, on the
same studies, against the bounds the parity tests hold the scorers to (DESIGN §7, ``tests/``).
Half precision (``half=True``: bf16, or fp16 where bf16 is missing) is never a default; its drift
from fp32 on the device is reported, not judged. Throughput: many distinct pairs at the batch
sizes the scorers choose for the device, per metric and for the default suite, model loading
apart.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Sequence

from rexrank.device_check.report import Check

logger = logging.getLogger(__name__)

# metric -> largest |device - CPU| per study that parity allows (the tolerances of tests/test_<metric>.py)
BOUNDS = {"bleu2": 1e-12, "bertscore": 1e-6, "semb_score": 1e-6, "radgraph": 1e-6, "ratescore": 1e-6}
ENCODER_METRICS = ("bertscore", "semb_score", "radgraph", "ratescore")  # the ones with a `half` option


def radcliq_bound() -> float:
    """RadCliQ-v1 is linear in its components: the components' bounds, carried through its weights."""
    from rexrank.metrics.scorers.radcliq import COMPONENTS, V1_COEF, V1_SCALE

    return sum(abs(c / s) * BOUNDS[name] for name, c, s in zip(COMPONENTS, V1_COEF, V1_SCALE))


def _load(name: str, **options: Any):
    """The scorer with its models loaded (so that timings leave loading out)."""
    from rexrank.metrics.registry import load_scorer

    scorer = load_scorer(name, **options)
    for method in ("_load", "_models"):
        if hasattr(scorer, method):
            getattr(scorer, method)()
    return scorer


def per_study(preds: Sequence[str], refs: Sequence[str], device: str, half: bool = False) -> dict[str, list[float]]:
    """Per-study values of BLEU-2, the four encoder metrics and RadCliQ-v1 from them."""
    from rexrank.metrics.registry import load_scorer

    values = {"bleu2": load_scorer("bleu2")(preds, refs).values["bleu2"]}
    for name in ENCODER_METRICS:
        values[name] = _load(name, device=device, half=half, progress=False)(preds, refs).values[name]
    components = {c: values[c] for c in ("radgraph", "bertscore", "semb_score", "bleu2")}
    values["radcliq"] = load_scorer("radcliq").from_components(components).values["radcliq"]
    return values


def _diff(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    gaps = [abs(x - y) for x, y in zip(a, b)]
    return {"max_abs_diff": max(gaps, default=0.0), "mean_abs_diff": sum(gaps) / len(gaps) if gaps else 0.0,
            "studies_differing": sum(g > 0 for g in gaps), "studies": len(gaps)}


def parity_checks(preds: list[str], refs: list[str], device: str, cpu: dict[str, list[float]] | None = None
                  ) -> tuple[list[Check], dict[str, list[float]]]:
    """``parity/<metric>``: device fp32 against CPU fp32 (``cpu`` computed here unless given)."""
    start = time.perf_counter()
    cpu = cpu or per_study(preds, refs, "cpu")
    cpu_seconds = time.perf_counter() - start
    start = time.perf_counter()
    on_device = per_study(preds, refs, device)
    device_seconds = time.perf_counter() - start
    checks = []
    bounds = {**BOUNDS, "radcliq": radcliq_bound()}
    for name, values in on_device.items():
        diff = _diff(values, cpu[name])
        ok = diff["max_abs_diff"] <= bounds[name]
        checks.append(Check(f"parity/{name}", "PASS" if ok else "FAIL",
                            f"{device} fp32 vs cpu fp32 on {len(preds)} studies: max |diff| {diff['max_abs_diff']:.2e} "
                            f"(bound {bounds[name]:.0e}), {diff['studies_differing']} studies differ at all",
                            {**diff, "bound": bounds[name], "device_seconds_all_metrics": round(device_seconds, 1),
                             "cpu_seconds_all_metrics": round(cpu_seconds, 1)}))
    return checks, on_device


def half_checks(preds: list[str], refs: list[str], device: str, fp32: dict[str, list[float]]) -> list[Check]:
    """``half/<metric>``: the drift of half precision from fp32, on the device (CUDA only)."""
    if not device.startswith("cuda"):
        return [Check(f"half/{name}", "SKIP", "half precision runs on CUDA only (fp32 on a CPU)")
                for name in (*ENCODER_METRICS, "radcliq")]
    start = time.perf_counter()
    half = per_study(preds, refs, device, half=True)
    seconds = time.perf_counter() - start
    checks = []
    for name in (*ENCODER_METRICS, "radcliq"):
        diff = _diff(half[name], fp32[name])
        checks.append(Check(f"half/{name}", "INFO",
                            f"drift of half precision from fp32 on {len(preds)} studies: max |diff| "
                            f"{diff['max_abs_diff']:.2e}, mean {diff['mean_abs_diff']:.2e} (not a default)",
                            {**diff, "seconds_all_metrics": round(seconds, 1)}))
    return checks


def _batching(scorer: Any) -> dict[str, Any]:
    annotator = getattr(scorer, "annotator", None)
    source = annotator if annotator is not None else scorer
    return {k: getattr(source, k) for k in ("batch_size", "max_tokens", "word_budget", "embed_rows") if hasattr(source, k)}


def throughput_checks(preds: list[str], refs: list[str], device: str, metrics: Sequence[str],
                      cache_dir: str, clear: Callable[[], None]) -> list[Check]:
    """``throughput/<metric>`` and ``throughput/suite``: the suite's metrics one after the other, as
    ``run_metrics`` runs them (requirements first, RadCliQ from the cached components), fresh
    per-text caches, models loaded before the clock starts."""
    from rexrank.metrics.suite.run import execution_order, run_metrics

    clear()
    checks, total = [], 0.0
    for name in execution_order(list(metrics)):
        load_start = time.perf_counter()
        scorer = _load(name, device=device) if name not in ("bleu2", "radcliq") else None
        load = time.perf_counter() - load_start
        start = time.perf_counter()
        quiet = {"metric_options": {name: {"progress": False}}} if name == "ratescore" else {}  # its bars default on
        run = run_metrics(preds, refs, [name], device=device, cache_dir=cache_dir, progress=False, **quiet)[name]
        seconds = time.perf_counter() - start
        total += seconds
        checks.append(Check(f"throughput/{name}", "INFO",
                            f"{len(preds):,} studies in {seconds:.1f} s = {len(preds) / seconds:,.0f} studies/s on {device}",
                            {"studies": len(preds), "computed": run.computed, "seconds": round(seconds, 2),
                             "studies_per_s": round(len(preds) / seconds, 1), "load_seconds": round(load, 1),
                             "batching": _batching(scorer) if scorer is not None else {}}, seconds))
    checks.append(Check("throughput/suite", "INFO",
                        f"{', '.join(execution_order(list(metrics)))}: {len(preds):,} studies in {total:.1f} s = "
                        f"{len(preds) / total:,.0f} studies/s", {"metrics": list(metrics), "seconds": round(total, 2),
                                                                 "studies_per_s": round(len(preds) / total, 1)}, total))
    return checks
