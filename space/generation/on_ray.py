"""Report generation on Ray: one model replica per actor (one per GPU on a GPU cluster).

The driver (``generate_reports(..., engine="ray")``) reads the test set, picks each study's
images and prompt, sorts the studies and cuts the same batches as one process; each batch is
one job. Actors build the adapter once, read the images from the data dir (a path every node
sees) and run the batch through the same :class:`BatchRunner` as one process, so a failing study
is isolated the same way and the reports are identical. Every finished batch goes back to the
driver, which saves the same resumable progress file after each one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from rexrank.metrics.runtime.work import Job, Runner, Stage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationRunner(Runner):
    """Builds the run's adapter (``load_adapter`` + ``load``) once per actor and generates batches."""

    choice: Any
    options: dict[str, Any] = field(hash=False)
    batch_size: int = 8
    run_id: str = ""

    def key(self) -> tuple:
        return ("generation-adapter", self.choice.repo_id, self.choice.revision, self.choice.name, self.run_id)

    def build(self) -> Any:
        from rexrank.space.generation.adapters import load_adapter
        from rexrank.space.generation.batching import BatchRunner

        adapter = load_adapter(self.choice, **self.options)
        adapter.load()
        adapter.batch_runner = BatchRunner(adapter.generate_batch, self.batch_size)  # halving kept per actor
        return adapter

    def run(self, adapter: Any, job: Job) -> dict[str, Any]:
        return {"outcomes": adapter.batch_runner.run(list(job.payload)), "adapter": adapter.describe()}


def generate_on_ray(choice: Any, adapter_options: dict[str, Any], requests: Sequence[Any], batch_size: int,
                    record_outcome: Callable[[Any, str | None, str | None], None], save: Callable[[], None],
                    ray_options: Any, on_adapter: Callable[[dict], None], canary: Callable[[list], None] | None,
                    progress: bool) -> dict[str, Any]:
    """Generate every request on the cluster; ``record_outcome(request, text, error)`` per study and
    ``save()`` after every batch, as one process does. ``canary`` sees the first two outcomes
    before anything is recorded (it raises to stop a model that writes no reports)."""
    import uuid

    from rexrank import ray_engine

    jobs = [Job(tuple(r.study_id for r in requests[i:i + batch_size]), list(requests[i:i + batch_size]))
            for i in range(0, len(requests), batch_size)]
    runner = GenerationRunner(choice, dict(adapter_options), batch_size, uuid.uuid4().hex)
    held: list[tuple[Any, str | None, str | None]] = []
    checked = [canary is None]

    def absorb(job: Job, output: dict[str, Any]) -> None:
        on_adapter(output["adapter"])
        outcomes = [(request, text, error) for request, (text, error) in zip(job.payload, output["outcomes"])]
        if not checked[0]:
            held.extend(outcomes)
            if len(held) < min(2, len(requests)):
                return
            canary(held[:2])  # raises when no canary study yields a report: nothing recorded
            checked[0] = True
            outcomes, held[:] = list(held), []
        for request, text, error in outcomes:
            record_outcome(request, text, error)
        save()

    def fail(job: Job, error: str) -> None:
        for request in job.payload:
            record_outcome(request, None, error)
        save()

    report = ray_engine.run_stage(Stage("generating", runner, jobs), ray_options, absorb, fail, progress=progress)
    for request, text, error in held:  # fewer outcomes than the canary wanted: record them anyway
        record_outcome(request, text, error)
    if held:
        save()
    return report.to_dict()
