"""Benchmark: scoring on Ray against one process, on this machine (issue 15, item 7).

Workload: real-size random-weight stand-ins of RadGraph and CheXbert (one CheXbert pass gives
SembScore and the CheXbert labels) over the IU-Xray test findings, replicated to at least
``--pairs`` distinct pairs: replica k predicts every study with the findings of the study k+7
places further on, with a replica-specific last sentence, so deduplication leaves the work in.

Runs, interleaved and ``--repeats`` times (the order rotates): one process with 1 torch thread;
Ray with 1 actor; Ray with 2 actors (1 CPU, 1 torch thread each), on a one-node Ray instance
on a loopback address with 2 CPUs, this process being the driver. Every run starts with no model
loaded and no score cache, so model loading is in every figure (RadGraph's archive is unpacked
once before the runs, as it is after a user's first load).

Wall-clock: the scoring call. CPU seconds: this process's own (driver) + what the actors report
(their model builds and jobs) + Ray's daemons on the node (raylet, GCS, ...). Also checked: the
per-study values of every run are bit-identical.

    .venv/bin/python scripts/bench_ray.py --pairs 2000 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
METRICS = ["semb_score", "chexbert", "radgraph"]
logger = logging.getLogger("bench_ray")


def _workload(manifest: Path, pairs: int) -> tuple[list[str], list[str]]:
    from rexrank.datasets.tracks import load_track

    refs = load_track("iu_xray", "findings", manifest=str(manifest)).references
    distinct: dict[tuple[str, str], None] = {}  # IU-Xray repeats some findings: count distinct pairs only
    k = 0
    while len(distinct) < pairs:
        shift = 7 + k
        rotated = refs[shift % len(refs):] + refs[:shift % len(refs)]
        for pred, ref in zip(rotated, refs):
            distinct.setdefault((f"{pred} Replica {k} of the benchmark.", ref))
        k += 1
    chosen = list(distinct)[:pairs]
    return [p for p, _ in chosen], [r for _, r in chosen]


def _daemon_cpu(cluster) -> dict[int, float]:
    out = {}
    for proc in cluster.processes():
        try:
            times = proc.cpu_times()
            out[proc.pid] = times.user + times.system
        except Exception:  # noqa: BLE001 - gone meanwhile
            pass
    return out


def _run(mode: str, preds: list[str], refs: list[str], cluster) -> dict:
    from rexrank.metrics.runtime import models
    from rexrank.metrics.suite.engines import make_engine
    from rexrank.metrics.suite.run import run_metrics

    models.clear_loaded()
    engine = make_engine("ray", ray_address=cluster.address, ray_actors=int(mode[-1])) if mode != "single" else None
    load_before = os.getloadavg()[0]
    daemons = _daemon_cpu(cluster)
    wall, cpu = time.perf_counter(), time.process_time()
    runs = run_metrics(preds, refs, METRICS, use_cache=False, progress=False, engine=engine)
    wall, driver_cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = _daemon_cpu(cluster)
    daemon_cpu = sum(after[p] - daemons[p] for p in after if p in daemons)  # the processes alive all along
    stages = engine.stages if engine else []
    actor_cpu = sum(s["actor_cpu_seconds"] for s in stages)
    models.clear_loaded()
    return {"mode": mode, "wall": wall, "driver_cpu": driver_cpu, "actor_cpu": actor_cpu, "daemon_cpu": daemon_cpu,
            "cpu": driver_cpu + actor_cpu + daemon_cpu, "load_before": load_before, "load_after": os.getloadavg()[0],
            "stages": stages, "values": {n: runs[n].values for n in METRICS}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2000, help="distinct prediction/reference pairs (default 2000)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--size", choices=("tiny", "real"), default="real", help="stand-in size (default real)")
    parser.add_argument("--manifest", type=Path,
                        default=ROOT.parent / "shared" / "data" / "manifests" / "ReXRank_IUXray_test.json")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for name in ("rexrank", "transformers", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.WARNING)

    from bench_metrics_core import _build_models, _setup_cache

    home = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    _setup_cache(home)  # before the Ray node starts: the actors find the stand-ins in this cache
    logger.info("building %s stand-ins in %s", args.size, home)
    radgraph_archive = _build_models(home, args.size)["archive"]
    from rexrank.metrics.scorers.radgraph.checkpoint import read_checkpoint

    read_checkpoint(radgraph_archive)  # unpacked once per machine, as after a user's first load: not in any run
    preds, refs = _workload(args.manifest, args.pairs)
    logger.info("%d pairs (%d distinct), %d distinct texts", len(preds), len(set(zip(preds, refs))),
                len(set(preds) | set(refs)))

    import torch

    torch.set_num_threads(1)
    from rexrank.testing.ray_cluster import LocalCluster, ray_environment

    os.environ.update({k: v for k, v in ray_environment().items() if k.startswith("RAY_")})
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    cluster = LocalCluster(worker_ips=(), cpus=2, object_store_mb=4000).start()
    results = []
    try:
        modes = ["single", "ray1", "ray2"]
        for rep in range(args.repeats):
            for mode in modes[rep % 3:] + modes[:rep % 3]:
                logger.info("repeat %d: %s ...", rep + 1, mode)
                result = _run(mode, preds, refs, cluster)
                logger.info("%s: %.1f s wall, %.1f s CPU (load %.1f -> %.1f)", mode, result["wall"], result["cpu"],
                            result["load_before"], result["load_after"])
                results.append(result)
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        cluster.stop()
        import shutil

        shutil.rmtree(home, ignore_errors=True)

    reference = results[0]["values"]
    identical = all(r["values"] == reference for r in results)
    by_mode = {m: [r for r in results if r["mode"] == m] for m in ("single", "ray1", "ray2")}

    def mean(mode: str, key: str) -> float:
        return sum(r[key] for r in by_mode[mode]) / len(by_mode[mode])

    print(f"\n{len(preds)} distinct pairs ({len(set(preds) | set(refs))} distinct texts), {args.size}-size "
          f"RadGraph + CheXbert (SembScore, CheXbert labels), {os.cpu_count()} CPUs, {args.repeats} repeats "
          f"interleaved; load average {min(r['load_before'] for r in results):.1f}-"
          f"{max(r['load_after'] for r in results):.1f} during the runs\n")
    print("| run | wall-clock s (each run) | mean wall s | speed-up (wall) | CPU s (driver + actors + Ray daemons) "
          "| CPU / single |")
    print("| --- | --- | ---: | ---: | --- | ---: |")
    single_wall, single_cpu = mean("single", "wall"), mean("single", "cpu")
    names = {"single": "one process, 1 thread", "ray1": "Ray, 1 actor", "ray2": "Ray, 2 actors"}
    for mode, runs in by_mode.items():
        walls = ", ".join(f"{r['wall']:.0f}" for r in runs)
        cpus = ", ".join(f"{r['cpu']:.0f} ({r['driver_cpu']:.0f} + {r['actor_cpu']:.0f} + {r['daemon_cpu']:.0f})"
                         for r in runs)
        print(f"| {names[mode]} | {walls} | {mean(mode, 'wall'):.1f} | {single_wall / mean(mode, 'wall'):.2f}x | "
              f"{cpus} | {mean(mode, 'cpu') / single_cpu:.2f} |")
    print(f"\nper-study values bit-identical across all {len(results)} runs: {'yes' if identical else 'NO'}")
    if args.json:
        args.json.write_text(json.dumps([{k: v for k, v in r.items() if k != "values"} for r in results], indent=1))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
