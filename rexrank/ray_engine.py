"""Run model work on Ray: each stage one Ray Data ``map_batches`` over an actor pool.

The driver plans a :class:`~rexrank.metrics.runtime.work.Work` (one Ray Data row per job, each
job one forward batch exactly as one process would run it); each actor builds the stage's
model once (``Runner.load``) and runs jobs; every output comes back to the driver, which puts
it into the Work. Same jobs, same code, so the same numbers as one process (on CPU fp32, bit for bit).

Faults: Ray Data restarts an actor that dies (SIGKILL, out of memory) and retries its jobs. A
job whose actor died ``max_attempts`` times, or that raised, is cut into one-item jobs and run
once more, and an item that still fails is handed to ``Work.fail`` (its studies are recorded as
failed, never retried forever). A model that cannot be loaded stops the run with its error.

Imported only when ``--ray`` / ``engine="ray"`` is asked for: nothing else imports Ray.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from rexrank.errors import RexrankError

logger = logging.getLogger(__name__)


class RayUnavailableError(RexrankError):
    """Ray is not installed, or the cluster cannot be reached."""


@dataclass
class RayOptions:
    """How work goes onto the cluster.

    ``address``: ``"auto"`` (Ray's own lookup: ``RAY_ADDRESS``, else a running local instance,
    else a new local one with Ray's defaults) or a cluster address. ``actors``: at most this
    many per stage (default: as many as the cluster holds). ``cpus_per_actor``: CPUs (and torch
    threads) per actor when it has no GPU. ``gpus_per_actor``: default 1 on a cluster with GPUs,
    else 0. ``max_attempts``: tries of a job whose actor keeps dying before its items are cut apart.
    """

    address: str | None = "auto"
    actors: int | None = None
    cpus_per_actor: float = 1.0
    gpus_per_actor: float | None = None
    max_attempts: int = 2


@dataclass
class StageReport:
    """What one stage did on the cluster (for the provenance)."""

    name: str
    jobs: int
    actors: int
    actor_pids: set[int] = field(default_factory=set)
    crashed_jobs: int = 0  # jobs an actor died on at least once (SIGKILL, OOM) and that were retried
    failed_items: int = 0
    seconds: float = 0.0
    actor_cpu_seconds: float = 0.0  # CPU time the actors spent building models and running jobs

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.name, "jobs": self.jobs, "actors": self.actors,
                "actor_processes": len(self.actor_pids), "retried_jobs": self.crashed_jobs,
                "failed_items": self.failed_items, "seconds": round(self.seconds, 3),
                "actor_cpu_seconds": round(self.actor_cpu_seconds, 3)}


def add_cli_arguments(parser: Any, what: str) -> None:
    """``--ray [auto|ADDRESS]`` and the pool sizes, for ``rexrank score``, ``generate`` and ``worker``."""
    parser.add_argument("--ray", nargs="?", const="auto", default=None, metavar="auto|ADDRESS",
                        help=f"{what} on Ray: 'auto' (the default when --ray is given alone) joins RAY_ADDRESS or a "
                             "running local instance, else starts one; ADDRESS (host:port) joins that cluster. "
                             "Needs pip install 'rexrank[ray]'")
    parser.add_argument("--ray-actors", type=int, default=None, metavar="N",
                        help="with --ray: at most N actors per model (default: one per GPU, else one per CPU)")
    parser.add_argument("--ray-cpus-per-actor", type=float, default=None, metavar="N",
                        help="with --ray on CPUs: CPUs (and torch threads) per actor (default: 1)")


def cli_options(args: Any) -> dict[str, Any]:
    """The ``engine`` / ``ray_*`` keyword arguments those options ask for (none without --ray)."""
    if args.ray is None:
        if args.ray_actors is not None or args.ray_cpus_per_actor is not None:
            from rexrank.errors import InputError

            raise InputError("--ray-actors / --ray-cpus-per-actor need --ray")
        return {}
    return {k: v for k, v in {"engine": "ray", "ray_address": args.ray, "ray_actors": args.ray_actors,
                              "ray_cpus_per_actor": args.ray_cpus_per_actor}.items() if v is not None}


def _import_ray():
    import sys

    if "ray" not in sys.modules:  # Ray's C++ core logs (a warning per actor pool) off the console
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as err:
        raise RayUnavailableError("--ray needs Ray: pip install 'rexrank[ray]' (ray[data]==2.60.0)") from err
    return ray


def _quiet_driver_logs() -> None:
    """Ray's console output through our logging: no Ray Data plans or progress bars (ours are
    tqdm), and the "(raylet) A worker died" lines Ray prints to stdout become debug records."""
    for handler in logging.getLogger("ray.data").handlers:
        # only Ray's own console handlers: others (the application's, pytest's) may be shared with the root
        if type(handler).__module__.startswith("ray.") and "File" not in type(handler).__name__:
            handler.setLevel(logging.ERROR)
    try:  # private API (ray 2.60): the GCS error messages, printed to stdout whatever log_to_driver says
        import ray._private.worker as ray_worker

        original = ray_worker.print_to_stdstream
        if getattr(original, "_rexrank", False):
            return

        def to_logger(data, *args, **kwargs):
            if data.get("pid") == "raylet":
                for line in data.get("lines", []):
                    logger.debug("ray: %s", line)
                return None
            return original(data, *args, **kwargs)

        to_logger._rexrank = True
        ray_worker.print_to_stdstream = to_logger
    except (ImportError, AttributeError):  # another Ray: its messages stay as they are
        pass


def connect(address: str | None = "auto") -> dict[str, Any]:
    """Join (or, for ``auto`` with nothing to join, start) Ray once per process; what we joined."""
    ray = _import_ray()
    if not ray.is_initialized():
        kwargs = {"log_to_driver": False, "logging_level": logging.WARNING}
        target = None if address in (None, "", "auto") else address
        try:
            ray.init(address=target, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise RayUnavailableError(f"cannot reach the Ray cluster at {address!r}: {err}. Start one with "
                                      "`ray start --head` (see README, 'On a GPU node or a cluster'), or use "
                                      "--ray auto for a local instance.") from err
        logger.info("Ray %s: %s", ray.__version__, "joined " + address if target else "local instance (auto)")
    _quiet_driver_logs()
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.execution_options.preserve_order = False  # outputs stream back as jobs finish
    ctx.max_consecutive_actor_init_deaths = 3  # an actor killed while loading its model is replaced
    return cluster_info()


def cluster_info() -> dict[str, Any]:
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    resources = ray.cluster_resources()
    return {"ray_version": ray.__version__, "nodes": len(nodes), "cpus": resources.get("CPU", 0.0),
            "gpus": resources.get("GPU", 0.0)}


def actor_device(options: RayOptions, device: str | None) -> str:
    """The torch device the actors use: their own GPU on a GPU cluster (unless ``cpu`` is asked)."""
    if device not in (None, "", "auto", "cpu", "cuda"):
        raise RexrankError(f"device {device!r} with Ray: Ray gives each actor its own GPU; use device 'cuda' "
                           "(or 'cpu', or leave it out)")
    return "cuda" if _gpus_per_actor(options, device) > 0 else "cpu"


def _gpus_per_actor(options: RayOptions, device: str | None = None) -> float:
    if device == "cpu":
        return 0.0
    if options.gpus_per_actor is not None:
        return float(options.gpus_per_actor)
    import ray

    return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


def pool_size(options: RayOptions, n_jobs: int, gpus: float) -> int:
    import ray

    resources = ray.cluster_resources()
    fits = int(resources.get("GPU", 0) // gpus) if gpus else int(resources.get("CPU", 1) // options.cpus_per_actor)
    return max(1, min(options.actors or fits or 1, fits or 1, n_jobs))


class _Attempts:
    """How many times each job was started (an actor that dies mid-job never says so itself)."""

    def __init__(self) -> None:
        self.n: dict[int, int] = {}

    def bump(self, index: int) -> int:
        self.n[index] = self.n.get(index, 0) + 1
        return self.n[index]


class _StageActor:
    """A Ray Data actor: builds the stage's model once, then runs one job per row."""

    def __init__(self, runner: bytes, attempts: Any, threads: int, max_attempts: int):
        self.pid = os.getpid()
        self.attempts, self.max_attempts = attempts, max_attempts
        self.error: str | None = None
        started = time.process_time()
        try:
            import torch

            torch.set_num_threads(max(1, threads))
            self.runner = pickle.loads(runner)
            self.model = self.runner.load()
        except Exception as err:  # noqa: BLE001 - reported to the driver, which stops the run
            self.error = f"{type(err).__name__}: {err}"
        self.unreported_cpu = time.process_time() - started  # the model build, told with the first job

    def __call__(self, batch):
        import pyarrow as pa
        import ray

        rows = batch.to_pylist()
        index, output, error, kind, cpu = [], [], [], [], []
        for row in rows:
            started = time.process_time()
            i = int(row["index"])
            out, err, what = b"", "", ""
            if self.error is not None:
                err, what = self.error, "load"
            else:
                attempt = ray.get(self.attempts.bump.remote(i))
                if attempt > self.max_attempts:
                    err, what = f"the actor running this batch died {attempt - 1} times on it", "crash"
                else:
                    try:
                        out = pickle.dumps(self.runner.run(self.model, pickle.loads(row["job"])),
                                           protocol=pickle.HIGHEST_PROTOCOL)
                        what = "retried" if attempt > 1 else ""
                    except Exception as exc:  # noqa: BLE001 - a job error is the study's, not the run's
                        err, what = f"{type(exc).__name__}: {exc}", "job"
            index.append(i)
            output.append(out)
            error.append(err)
            kind.append(what)
            cpu.append(time.process_time() - started + self.unreported_cpu)
            self.unreported_cpu = 0.0
        return pa.table({"index": pa.array(index, pa.int64()), "output": pa.array(output, pa.large_binary()),
                         "error": pa.array(error, pa.string()), "kind": pa.array(kind, pa.string()),
                         "pid": pa.array([self.pid] * len(index), pa.int64()),
                         "cpu": pa.array(cpu, pa.float64())})


def _run_jobs(runner: Any, jobs: list, options: RayOptions, report: StageReport
              ) -> Iterator[tuple[int, Any, str | None]]:
    """``(job index, outputs, None)`` or ``(job index, None, error)`` for every job, as they finish."""
    import ray
    from ray.data import ActorPoolStrategy

    gpus = _gpus_per_actor(options, getattr(runner, "device", None))
    size = pool_size(options, len(jobs), gpus)
    report.actors = size
    attempts = ray.remote(num_cpus=0)(_Attempts).options(name=f"rexrank-attempts-{uuid.uuid4().hex}").remote()
    rows = [{"index": i, "job": pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)} for i, job in enumerate(jobs)]
    threads = 1 if gpus else max(1, int(options.cpus_per_actor))
    ds = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
        _StageActor, batch_size=1, batch_format="pyarrow", compute=ActorPoolStrategy(size=size),
        num_cpus=options.cpus_per_actor if not gpus else 1, num_gpus=gpus,
        fn_constructor_kwargs={"runner": pickle.dumps(runner), "attempts": attempts, "threads": threads,
                               "max_attempts": options.max_attempts})
    try:
        for table in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            for row in table.to_pylist():
                report.actor_pids.add(int(row["pid"]))
                report.actor_cpu_seconds += row["cpu"]
                if row["kind"] == "load":
                    raise RexrankError(f"{report.name}: the model could not be loaded on a Ray actor: {row['error']}")
                if row["kind"] in ("retried", "crash"):
                    report.crashed_jobs += 1
                logger.debug("%s: job %d done by actor %d %s", report.name, row["index"], row["pid"], row["kind"])
                if row["error"]:
                    yield int(row["index"]), None, row["error"]
                else:
                    yield int(row["index"]), pickle.loads(row["output"]), None
    finally:
        ray.kill(attempts)


def run_stage(stage: Any, options: RayOptions, absorb: Callable[[Any, Any], None],
              fail: Callable[[Any, str], None], tick: Callable[[], None] | None = None,
              progress: bool = True) -> StageReport:
    """Every job of ``stage`` on an actor pool; outputs to ``absorb``, lost items to ``fail``."""
    from tqdm.auto import tqdm

    started = time.monotonic()
    report = StageReport(stage.name, len(stage.jobs), 0)
    bar = tqdm(total=stage.n_items, desc=f"{stage.name} (Ray)", unit="item", leave=False,
               disable=not progress or len(stage.jobs) < 2)
    failed: list[tuple[Any, str]] = []
    last_tick = time.monotonic()
    try:
        for index, outputs, error in _run_jobs(stage.runner, stage.jobs, options, report):
            job = stage.jobs[index]
            if error is None:
                absorb(job, outputs)
            else:
                failed.append((job, error))
            bar.update(len(job.items))
            if tick is not None and time.monotonic() - last_tick > 5:
                tick()
                last_tick = time.monotonic()
        parts = [part for job, _ in failed for part in (stage.split(job) if stage.split else [])]
        lost = [(job, error) for job, error in failed if not stage.split]
        if parts:
            logger.warning("%s: %d batch(es) failed (e.g. %s); running their items one by one", stage.name,
                           len(failed), failed[0][1])
            for index, outputs, error in _run_jobs(stage.runner, parts, options, report):
                if error is None:
                    absorb(parts[index], outputs)
                else:
                    lost.append((parts[index], error))
        for job, error in lost:
            report.failed_items += len(job.items)
            fail(job, error)
    finally:
        bar.close()
        report.seconds = time.monotonic() - started
    return report
