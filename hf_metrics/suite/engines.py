"""Where a metric's model work runs: in this process (the default), or on a Ray cluster.

The suite does the same either way: it reads and checks the inputs, takes what the score
cache holds, deduplicates pairs, runs model-free metrics (BLEU-2, RadCliQ from its components)
and API metrics (FineRadScore) itself, and writes the cache and the results. Only the model
work of the remaining unique pairs differs: :class:`LocalEngine` calls the scorer,
:class:`RayEngine` runs the scorer's planned jobs on actor pools (:mod:`rexrank.ray_engine`)
and saves every pair to the cache as soon as its outputs are in (so Ctrl-C keeps them).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable, ContextManager, Mapping, Sequence

from rexrank.errors import InputError
from rexrank.metrics.scorers.base import ScoreResult

logger = logging.getLogger(__name__)

ENGINES = ("local", "ray")
# (indices into the pairs, their values) -> stored in the score cache
Save = Callable[[Sequence[int], ScoreResult], None]


class LocalEngine:
    """Every scorer in this process, as it always ran."""

    name = "local"

    def scorer_context(self, spec: Any, options: Mapping[str, Any]) -> ContextManager:
        return contextlib.nullcontext()

    def score(self, scorer: Any, predictions: list[str], references: list[str], save: Save,
              progress: bool) -> tuple[ScoreResult, dict[int, str]]:
        return scorer(predictions, references), {}

    def provenance(self) -> dict[str, Any]:
        return {"name": "local", "processes": 1}


class RayEngine:
    """Model work on Ray actor pools; the rest stays on this driver."""

    name = "ray"

    def __init__(self, options: Any):
        from rexrank import ray_engine

        self.options = options
        self.info = ray_engine.connect(options.address)
        self.stages: list[dict[str, Any]] = []

    def scorer_context(self, spec: Any, options: Mapping[str, Any]) -> ContextManager:
        """A scorer that plans its work is built here for models that run on the actors' device."""
        from rexrank import ray_engine
        from rexrank.metrics.runtime import models

        if not hasattr(spec.scorer_class(), "plan"):
            return contextlib.nullcontext()
        return models.remote_device(ray_engine.actor_device(self.options, options.get("device")))

    def score(self, scorer: Any, predictions: list[str], references: list[str], save: Save,
              progress: bool) -> tuple[ScoreResult, dict[int, str]]:
        from rexrank import ray_engine

        if not hasattr(scorer, "plan"):  # model-free or API-bound: this driver
            return scorer(predictions, references), {}
        work = scorer.plan(predictions, references)

        def save_ready() -> None:
            ready = work.ready()
            if ready:
                save(ready, work.finish(ready))

        try:
            for stage in work.stages():
                report = ray_engine.run_stage(stage, self.options, work.absorb, work.fail, save_ready, progress)
                self.stages.append({"metric": work.metric, **report.to_dict()})
        except KeyboardInterrupt:
            save_ready()  # everything finished so far stays in the cache; a rerun scores the rest
            logger.warning("%s: interrupted; the studies finished so far are in the score cache", work.metric)
            raise
        return work.result(), dict(work.failures)

    def provenance(self) -> dict[str, Any]:
        options = self.options
        return {"name": "ray", "ray_version": self.info["ray_version"], "address": options.address,
                "nodes": self.info["nodes"], "cluster_cpus": self.info["cpus"], "cluster_gpus": self.info["gpus"],
                "actors": max((s["actors"] for s in self.stages), default=0),
                "cpus_per_actor": options.cpus_per_actor, "gpus_per_actor": options.gpus_per_actor,
                "stages": list(self.stages)}


def make_engine(engine: str | None = "local", *, ray_address: str | None = None, ray_actors: int | None = None,
                ray_cpus_per_actor: float | None = None, ray_gpus_per_actor: float | None = None) -> Any:
    """The engine named ``engine`` (``local`` or ``ray``); the ``ray_*`` options only with ``ray``."""
    name = engine or "local"
    if name not in ENGINES:
        raise InputError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    given = {k: v for k, v in (("ray_address", ray_address), ("ray_actors", ray_actors),
                                ("ray_cpus_per_actor", ray_cpus_per_actor),
                                ("ray_gpus_per_actor", ray_gpus_per_actor)) if v is not None}
    if name == "local":
        if given:
            raise InputError(f"{', '.join(given)} given without engine='ray' (--ray)")
        return LocalEngine()
    from rexrank.ray_engine import RayOptions

    if ray_actors is not None and ray_actors < 1:
        raise InputError(f"ray_actors must be at least 1, not {ray_actors}")
    if ray_cpus_per_actor is not None and ray_cpus_per_actor <= 0:
        raise InputError(f"ray_cpus_per_actor must be positive, not {ray_cpus_per_actor}")
    return RayEngine(RayOptions(address=ray_address or "auto", actors=ray_actors,
                                cpus_per_actor=ray_cpus_per_actor or 1.0, gpus_per_actor=ray_gpus_per_actor))
