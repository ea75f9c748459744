"""Model work as jobs: planned where the inputs are, run wherever the model is.

A model-based scorer (and report generation) splits one call into *stages*, one per model, and
each stage into *jobs*, one per forward batch: exactly the batches one process runs, in the
same order. The jobs run here, one after another (:func:`run_local`, which is what
``scorer(predictions, references)`` does), or on a pool of Ray actors (:mod:`rexrank.ray_engine`);
either way every output goes back to the :class:`Work`, which turns outputs into per-study
values. Batch composition is what can move the last bits of a value (padding width, kernel
shapes), not the process it runs in, so the same jobs give the same numbers everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from rexrank.metrics.scorers.base import ScoreResult


@dataclass(frozen=True)
class Job:
    """One forward batch: ``items`` name what it yields one output for each (texts, segments,
    studies); ``payload`` is the model input, picklable and free of device tensors."""

    items: tuple[Any, ...]
    payload: Any


class Runner:
    """Builds one model and runs jobs on it.

    Small and picklable, because it travels to the actors, which build the model themselves
    (resolving the pinned revision in their own node's HF cache) once per actor.
    """

    uses_gpu: bool = True  # worth a whole GPU per actor on a GPU cluster

    def key(self) -> tuple:
        """What identifies the built model in a process (:func:`models.load_once`)."""
        raise NotImplementedError

    def build(self) -> Any:
        raise NotImplementedError

    def load(self) -> Any:
        """The model of this runner, built once per process."""
        from rexrank.metrics.runtime import models

        return models.load_once(self.key(), self.build)

    def run(self, model: Any, job: Job) -> list[Any]:
        """One output per item of ``job``, in order."""
        raise NotImplementedError


def split_aligned(job: Job) -> list[Job]:
    """A job whose payload is a list aligned with its items, one job per item."""
    return [Job((item,), [part]) for item, part in zip(job.items, job.payload)]


@dataclass
class Stage:
    """The jobs of one model, in the order one process runs them. ``split`` cuts a job into
    one-item jobs (to isolate the item that makes it fail); ``None`` when it cannot be cut."""

    name: str
    runner: Runner
    jobs: list[Job]
    split: Callable[[Job], list[Job]] | None = split_aligned

    @property
    def n_items(self) -> int:
        return sum(len(job.items) for job in self.jobs)


class Work:
    """One scorer call: its stages, the outputs put back, and per-pair results.

    ``stages()`` is a generator: the caller runs every job of a stage and hands each output to
    ``absorb`` (or the error of a job that failed for good to ``fail``) before it asks for the
    next stage, whose plan may depend on those outputs. ``ready()`` names the pairs whose
    outputs are all in, ``finish(indices)`` gives their values (each pair's value is its own,
    whichever others are finished with it), and ``result()`` gives everything at the end.
    """

    metric: str = ""

    def __init__(self, size: int) -> None:
        self.size = size
        self.failures: dict[int, str] = {}  # pair index -> why it has no value
        self._finished: set[int] = set()

    # -- what subclasses provide ----------------------------------------------------------
    def stages(self) -> Iterator[Stage]:
        return iter(())

    def absorb(self, job: Job, outputs: Sequence[Any]) -> None:
        raise NotImplementedError

    def failed_pairs(self, job: Job) -> Iterable[int]:
        """The pairs that cannot get a value without ``job``."""
        raise NotImplementedError

    def available(self, index: int) -> bool:
        """Whether every model output pair ``index`` needs is in."""
        raise NotImplementedError

    def values(self, indices: Sequence[int]) -> tuple[dict[str, list[float]], list[Any] | None]:
        """Per-study columns (and details) of the pairs ``indices``, all available."""
        raise NotImplementedError

    def corpus(self) -> dict[str, float]:
        return {}

    def provenance(self) -> dict[str, Any]:
        return {}

    def release(self) -> None:
        """Drop what only this call needed (called once the result is built)."""

    # -- shared ---------------------------------------------------------------------------
    def fail(self, job: Job, error: str) -> None:
        for index in self.failed_pairs(job):
            self.failures.setdefault(index, error)

    def ready(self) -> list[int]:
        return [i for i in range(self.size)
                if i not in self._finished and i not in self.failures and self.available(i)]

    def finish(self, indices: Sequence[int]) -> ScoreResult:
        indices = list(indices)
        values, details = self.values(indices)
        self._finished.update(indices)
        return ScoreResult(self.metric, values, details)

    def result(self) -> ScoreResult:
        """Every pair's values (``None`` where it failed), the corpus figures when none failed, provenance."""
        ok = [i for i in range(self.size) if i not in self.failures]
        values, details = self.values(ok)
        if self.failures:
            position = {index: k for k, index in enumerate(ok)}
            values = {c: [v[position[i]] if i in position else None for i in range(self.size)]
                      for c, v in values.items()}
            if details is not None:
                details = [details[position[i]] if i in position else None for i in range(self.size)]
        result = ScoreResult(self.metric, values, details, corpus={} if self.failures else self.corpus(),
                             provenance=self.provenance())
        self.release()
        return result


def run_local(work: Work, progress: bool = False) -> ScoreResult:
    """Run every job of ``work`` in this process, in plan order (a scorer's plain call)."""
    from rexrank.metrics.runtime.batching import progress_bar

    for stage in work.stages():
        model = stage.runner.load()
        bar = progress_bar(stage.n_items, stage.name, progress and len(stage.jobs) > 1)
        for job in stage.jobs:
            work.absorb(job, stage.runner.run(model, job))
            bar.update(len(job.items))
        bar.close()
    return work.result()
