"""``scripts/device_check.py``: check and measure the CUDA paths in one run (see the package docstring).

    python scripts/device_check.py                      # on a CUDA machine: real-size stand-ins, cuda
    python scripts/device_check.py --device cpu --quick # anywhere: tiny stand-ins, a few minutes (CI runs this)

Everything happens offline in a temporary HF home (deleted at the end unless ``--keep``); the
official assets it needs (IU-Xray test manifest, GREEN's prompt, RaTEScore's rules and
matrices) come from the asset cache of this environment or from ``--assets DIR`` (the folder
``scripts/device_wheels.sh`` fills). Exit status 0 when no check failed, 1 when one did, 2 when
something it needs is not installed.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from rexrank.device_check.report import Check, Report

logger = logging.getLogger("rexrank.device_check")


@dataclass(frozen=True)
class Plan:
    """How much of everything: ``--quick`` is tiny stand-ins and few studies, for a CPU in CI."""

    size: str
    green_size: str
    generation_size: str
    parity_studies: int
    throughput_studies: int
    green_parity_studies: int
    green_parity_new_tokens: int
    green_studies: int
    green_new_tokens: int
    generation_studies: int
    generation_new_tokens: int
    image_size: int
    generation_batch: dict

    @staticmethod
    def make(device: str, quick: bool) -> "Plan":
        cuda = device.startswith("cuda")
        if quick:
            return Plan("tiny", "tiny", "tiny", 40, 300, 6, 4, 4, 8, 12, 8, 40, {"ved": 8, "chat-vlm": 8})
        if cuda:
            return Plan("real", "real", "real", 200, 10_000, 200, 16, 64, 128, 500, 64, 512, {"ved": 64, "chat-vlm": 16})
        # real-size scorers on a CPU, but not 10,000 studies of them, nor 7B models
        return Plan("real", "small", "small", 200, 1_000, 50, 16, 8, 32, 50, 32, 512, {"ved": 16, "chat-vlm": 4})


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="device_check.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="cuda, cuda:N or cpu (default: cuda when present)")
    parser.add_argument("--quick", action="store_true", help="tiny stand-ins and few studies (a CPU, CI)")
    parser.add_argument("--out", type=Path, default=Path("."), help="where device_check.json and .md go")
    parser.add_argument("--assets", type=Path, action="append", default=[],
                        help="a folder holding the official assets (repeatable); the current asset cache is used too")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (stand-ins, outputs)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO) to stderr")
    return parser.parse_args(argv)


def _isolate(work: Path, assets_dirs: list[Path]) -> list[str]:
    """An offline HF home, score and asset caches of our own; seed the assets. Must run before
    ``huggingface_hub`` is imported (it reads these at import)."""
    from rexrank import assets

    sources = [assets.cache_root(), *assets_dirs]
    os.environ.update({"HF_HOME": str(work / "hf"), "HF_HUB_CACHE": str(work / "hf" / "hub"), "HF_HUB_OFFLINE": "1",
                       "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false",
                       "REXRANK_SCORE_CACHE": str(work / "scores"), "REXRANK_ASSETS_CACHE": str(work / "assets")})
    seeded: set[str] = set()
    for source in sources:
        if Path(source).is_dir():
            seeded.update(assets.seed_directory(source))
    return sorted(seeded)


NEEDED_ASSETS = ("manifest/iu_xray/test", "green/prompt", "ratescore/long_weight", "ratescore/rush_rules")


def _environment(device: str) -> dict:
    import torch
    import transformers

    from rexrank import __version__
    from rexrank.device_check.requirements import optional

    env = {"rexrank": __version__, "python": platform.python_version(), "torch": torch.__version__,
           "transformers": transformers.__version__, "cuda": str(torch.version.cuda), "cpus": str(os.cpu_count()),
           "device": device, "vllm": optional().get("vllm")}
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        env.update(gpu=props.name, gpu_memory_gb=f"{props.total_memory / 2**30:.0f}",
                   bf16=str(torch.cuda.is_bf16_supported()))
    return env


def _phase(report: Report, name: str, run: Callable[[], list[Check]]) -> None:
    """Run one phase; a crash becomes a FAIL check with the traceback, and the next phase runs."""
    start = time.perf_counter()
    try:
        checks = run()
    except Exception as err:  # report it and go on: every phase's result is worth having
        logger.debug("phase %s failed", name, exc_info=True)
        checks = [Check(name, "FAIL", f"{type(err).__name__}: {str(err)[:300]}", {"traceback": traceback.format_exc()})]
    elapsed = round(time.perf_counter() - start, 1)
    for check in checks:
        check.seconds = check.seconds or (elapsed if len(checks) == 1 else 0.0)
        check.details.setdefault("phase_seconds", elapsed)
        report.add(check)


def _clear_models() -> None:
    """Drop every loaded model and its per-text caches, and give CUDA its memory back."""
    import gc

    from rexrank.metrics.runtime import models
    from rexrank.metrics.runtime.oom import free_device_memory

    models.clear_loaded()
    gc.collect()
    free_device_memory()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(message)s")
    if not args.verbose:  # one line per check, not progress bars (tqdm reads this when imported)
        os.environ.setdefault("TQDM_DISABLE", "1")
    from rexrank.device_check import requirements

    found, problems = requirements.check()
    if problems:
        print(requirements.missing_message(problems), file=sys.stderr)
        report = Report({"device": args.device, "quick": args.quick})
        report.add(Check("requirements", "FAIL", f"missing: {'; '.join(problems)}", {"installed": found}))
        report.write(args.out)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="rexrank-device-check-"))
    work.mkdir(parents=True, exist_ok=True)
    seeded = _isolate(work, args.assets)
    import torch

    from rexrank.errors import RexrankError
    from rexrank.metrics.runtime.models import pick_device

    try:
        device = pick_device(args.device)
    except RexrankError as err:
        print(f"device check: {err}", file=sys.stderr)
        return 2
    plan = Plan.make(device, args.quick)
    report = Report({"device": device, "quick": args.quick, "plan": asdict(plan)}, _environment(device))
    print(f"device check on {device} ({'quick' if args.quick else 'full'}), torch {torch.__version__}; "
          f"working in {work}", flush=True)
    try:
        missing_assets = [a for a in NEEDED_ASSETS if a not in seeded]
        report.add(Check("requirements", "FAIL" if missing_assets else "PASS",
                         f"{len(found)} packages found" + (f"; assets missing: {', '.join(missing_assets)} "
                                                           "(pass --assets DIR)" if missing_assets else "; assets seeded"),
                         {"installed": found, "optional": requirements.optional(), "assets": seeded}))
        if not missing_assets:
            _phase(report, "run", lambda: _run_checks(report, plan, device, work) or [])
    finally:
        blocked = sorted(m for m in requirements.NEVER_NEEDED if m in sys.modules)
        report.add(Check("imports", "FAIL" if blocked else "PASS",
                         f"imported {', '.join(blocked)}" if blocked else
                         f"none of {', '.join(requirements.NEVER_NEEDED)} was imported"))
        report.add(Check("total", "INFO", f"{time.time() - report.started:.0f} s in all"))
        data, table = report.write(args.out)
        print(f"{'PASSED' if report.ok else 'FAILED'}: wrote {data} and {table}", flush=True)
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if report.ok else 1


def _run_checks(report: Report, plan: Plan, device: str, work: Path) -> None:
    from rexrank.device_check import generation, green, metrics, standins, workload
    from rexrank.metrics.registry import default_metrics
    from rexrank.testing.standins.generation import write_testset

    if not logger.isEnabledFor(logging.INFO):
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # e.g. "requires torchvision, falling back to the PIL processor"
    # the generated test set is not the pinned manifest, which generate_reports rightly warns about
    logging.getLogger("rexrank.datasets.manifests").setLevel(logging.ERROR)
    reports = workload.iu_findings()
    built: list[standins.Built] = []

    def build() -> list[Check]:
        built.append(standins.build_all(work / "standins", size=plan.size, green_size=plan.green_size,
                                        generation_size=plan.generation_size, device=device, corpus=reports))
        return [Check("standins", "INFO", f"{plan.size}-size scorer models, GREEN {plan.green_size}, generators "
                      f"{plan.generation_size}, built in {sum(built[0].seconds.values()):.0f} s",
                      {"seconds": built[0].seconds, "sizes": built[0].sizes})]

    _phase(report, "standins", build)
    if not built:
        return
    models = built[0]
    preds, refs = workload.parity_pairs(reports, plan.parity_studies)
    fp32: dict = {}

    def parity() -> list[Check]:
        checks, on_device = metrics.parity_checks(preds, refs, device)
        fp32.update(on_device)
        return checks

    _phase(report, "parity", parity)
    _phase(report, "half", lambda: metrics.half_checks(preds, refs, device, fp32) if fp32 else
           [Check("half", "SKIP", "no fp32 values to compare with: the parity phase failed")])
    _clear_models()
    g_preds, g_refs = workload.parity_pairs(reports, plan.green_parity_studies)
    _phase(report, "parity/green", lambda: green.parity_checks(models.green_parity, g_preds, g_refs, device,
                                                               plan.green_parity_new_tokens))
    _clear_models()
    t_preds, t_refs = workload.varied_pairs(reports, plan.throughput_studies)
    suite = [m for m in default_metrics() if m not in ("green", "fineradscore")]
    _phase(report, "throughput", lambda: metrics.throughput_checks(t_preds, t_refs, device, suite,
                                                                    str(work / "scores"), _clear_models))
    _clear_models()
    g_preds, g_refs = workload.varied_pairs(reports, plan.green_studies)
    _phase(report, "green", lambda: green.throughput_checks(models.green, g_preds, g_refs, device, plan.green_new_tokens))
    _clear_models()
    testset = work / "testset"
    manifest = write_testset(testset, plan.generation_studies, plan.image_size)
    generators = {"ved": models.ved, "chat-vlm": models.chat}
    _phase(report, "generation", lambda: generation.throughput_checks(
        generators, manifest, testset / "images", work / "generated", device, plan.generation_batch,
        plan.generation_new_tokens, plan.generation_studies))
    _clear_models()
    _phase(report, "generation/oom", lambda: [generation.oom_check(models.ved, manifest, testset / "images",
                                                                   work / "generated", device, plan.generation_new_tokens)])
