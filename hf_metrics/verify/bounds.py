"""How far our per-study values may be from the official ones: the parity bounds of DESIGN §6/§7
and the README, which the parity tests enforce on CPU in fp32.

A bound measured CPU against CPU does not hold when our side ran on a GPU (other kernels, other
summation order) or in half precision; there the check uses a wider bound and says so. Those
wider bounds are a judgement, not a measurement (this project has no GPU to measure on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

GPU_FP32 = 1e-4
GPU_HALF = 1e-2


@dataclass(frozen=True)
class Bound:
    value: float
    source: str


BOUNDS: dict[str, Bound] = {
    "bleu2": Bound(1e-12, "parity: equals fast-bleu 0.0.90 (tests/test_bleu2.py)"),
    "bertscore": Bound(1e-6, "parity: equals bert-score 0.3.11 (tests/test_bertscore.py)"),
    "semb_score": Bound(1e-6, "parity: equals CXR-Report-Metric's CheXbert encoder (tests/test_chexbert.py)"),
    "chexbert": Bound(1e-12, "parity: the same 14 labels as f1chexbert 0.0.2, hence the same F1 (tests/test_chexbert.py)"),
    "radgraph": Bound(1e-6, "parity: equals radgraph 0.1.18 annotations (tests/test_radgraph_parity.py)"),
    "ratescore": Bound(1e-6, "parity: equals RaTEScore 0.6.0 (tests/test_ratescore.py)"),
    "green": Bound(1e-12, "parity: the official loop's completions, parsed as green_score does (tests/test_green.py)"),
}


def radcliq_bound() -> Bound:
    """RadCliQ-v1 is linear in its four components: |Δ| ≤ Σ |coef_i / scale_i| · bound_i."""
    from rexrank.metrics.scorers.radcliq import COMPONENTS, V1_COEF, V1_SCALE

    value = sum(abs(c / s) * BOUNDS[name].value for name, c, s in zip(COMPONENTS, V1_COEF, V1_SCALE))
    return Bound(value, "the component bounds carried through the RadCliQ-v1 linear model (DESIGN §7.6)")


def bound_for(metric: str, scorer_provenance: Mapping[str, Any] | None = None) -> Bound:
    """The bound for one metric, widened when our side ran on a GPU (recorded in the provenance)."""
    bound = radcliq_bound() if metric == "radcliq" else BOUNDS[metric]
    prov = scorer_provenance or {}
    device = str(prov.get("device") or (prov.get("options") or {}).get("device") or "cpu")
    if metric in ("bleu2", "radcliq") or not device.startswith("cuda"):
        return bound
    half = any(str(prov.get(k, "")).endswith(("float16", "bfloat16")) for k in ("dtype", "encoder_dtype"))
    wide = GPU_HALF if half else GPU_FP32
    return Bound(max(bound.value, wide), f"ours ran on {device}{' in half precision' if half else ''}, the official "
                                         f"code on CPU: {wide:g} allowed (a judgement; the CPU bound is {bound.value:g})")
