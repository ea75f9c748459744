"""GREEN on the device: parity of completions with the CPU, fp16's drift, and tokens/s.

Random weights never write ``</s>``, so every completion runs to its cap (``max_new_tokens``):
the token counts, and so tokens/s, are exact. The time per real study is extrapolated from the
measured time per decoding step: a real GREEN answer is 300-400 tokens and a transformers batch
runs to its longest answer, so ``REAL_STEPS`` steps per batch (prefill included in the measured
steps, so the estimate errs high); vLLM batches continuously, so there it is the mean answer.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

from rexrank.device_check.report import Check

REAL_STEPS = {"hf": 400, "vllm": 350}  # decoding steps a real study costs (see the module docstring)
REAL_STUDIES = 10_000


def _run(folder: Path, preds: Sequence[str], refs: Sequence[str], device: str, half: bool | None,
         max_new_tokens: int, engine: str = "hf", batch_size: int | None = None):
    from rexrank.metrics.scorers.green import GreenScorer

    scorer = GreenScorer(device=device, model=str(folder), engine=engine, half=half, cache=False, progress=False,
                         max_new_tokens=max_new_tokens, batch_size=batch_size)
    scorer._load()  # loading apart from generating
    start = time.perf_counter()
    result = scorer(list(preds), list(refs))
    return result, time.perf_counter() - start, scorer


def _agreement(a, b) -> dict[str, float]:
    same = sum(x["completion_tokens"] == y["completion_tokens"] and x["analysis"] == y["analysis"]
               for x, y in zip(a.details, b.details)) if a.details and b.details else 0
    gaps = [abs(x - y) for x, y in zip(a.values["green"], b.values["green"])]
    return {"identical_completions": same, "studies": len(gaps), "max_abs_diff": max(gaps, default=0.0)}


def parity_checks(folder: Path, preds: list[str], refs: list[str], device: str, max_new_tokens: int) -> list[Check]:
    """``parity/green`` (device fp32 vs CPU fp32: identical completions) and ``half/green`` (fp16, the official GPU dtype)."""
    cpu, cpu_s, _ = _run(folder, preds, refs, "cpu", False, max_new_tokens)
    fp32, dev_s, _ = _run(folder, preds, refs, device, False, max_new_tokens)
    agree = _agreement(fp32, cpu)
    ok = agree["identical_completions"] == len(preds) and agree["max_abs_diff"] == 0.0
    checks = [Check("parity/green", "PASS" if ok else "FAIL",
                    f"{device} fp32 vs cpu fp32 on {len(preds)} studies ({max_new_tokens} new tokens): "
                    f"{agree['identical_completions']}/{len(preds)} identical completions, max |diff| {agree['max_abs_diff']:.2e}",
                    {**agree, "model": folder.name, "cpu_seconds": round(cpu_s, 1), "device_seconds": round(dev_s, 1)})]
    if not device.startswith("cuda"):
        checks.append(Check("half/green", "SKIP", "fp16 runs on CUDA only"))
        return checks
    fp16, half_s, _ = _run(folder, preds, refs, device, True, max_new_tokens)
    drift = _agreement(fp16, fp32)
    checks.append(Check("half/green", "INFO",
                        f"fp16 (the official GPU dtype) vs fp32 on {device}: {drift['identical_completions']}/{len(preds)} "
                        f"identical completions, max |diff| {drift['max_abs_diff']:.2e}", {**drift, "seconds": round(half_s, 1)}))
    return checks


def throughput_checks(folder: Path, preds: list[str], refs: list[str], device: str, max_new_tokens: int) -> list[Check]:
    """``green/hf`` and ``green/vllm``: tokens/s at the scorer's batch size, and what 10,000 real studies would take."""
    from rexrank.device_check.requirements import optional

    checks = []
    engines = ["hf"] + (["vllm"] if optional().get("vllm") and device.startswith("cuda") else [])
    for engine in engines:
        result, seconds, scorer = _run(folder, preds, refs, device, None, max_new_tokens, engine=engine)
        tokens = sum(d["completion_tokens"] for d in result.details)
        batches = -(-len(preds) // scorer.batch_size) if engine == "hf" else 1
        step = seconds / (batches * max_new_tokens)
        per_study = (step * REAL_STEPS["hf"] / scorer.batch_size if engine == "hf"
                     else seconds / len(preds) * REAL_STEPS["vllm"] / max_new_tokens)
        checks.append(Check(f"green/{engine}", "INFO",
                            f"{len(preds)} studies x {max_new_tokens} new tokens in {seconds:.1f} s: {tokens / seconds:,.0f} "
                            f"tokens/s (batch {scorer.batch_size if engine == 'hf' else 'continuous'}, {scorer._dtype()}); "
                            f"implies {per_study:.2f} s/study, {per_study * REAL_STUDIES / 3600:.1f} h for {REAL_STUDIES:,} real studies",
                            {"studies": len(preds), "max_new_tokens": max_new_tokens, "generated_tokens": tokens,
                             "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
                             "batch_size": scorer.batch_size, "dtype": scorer._dtype(), "model": folder.name,
                             "real_steps_assumed": REAL_STEPS[engine], "seconds_per_real_study": round(per_study, 3),
                             "hours_for_10000": round(per_study * REAL_STUDIES / 3600, 2)}, seconds))
    if "vllm" not in engines:
        checks.append(Check("green/vllm", "SKIP", "vLLM is not installed here" if device.startswith("cuda")
                            else "vLLM runs on CUDA only"))
    return checks
