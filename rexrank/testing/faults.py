"""A scorer whose model work fails on purpose, for the engine fault tests.

Its per-study value is the prediction's length, computed by a :class:`Runner` (so it runs on Ray
actors like a model), except that a prediction containing ``CRASH`` kills the process running it
(as a segfault or the kernel's out-of-memory killer would, every time), one containing ``RAISE``
raises, and one containing ``KILL_ONCE:<path>`` SIGKILLs its process in the middle of the job the
first time (creating ``<path>``), and scores normally after. Importable by every node of a test cluster, which is why it lives in the package.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from typing import Any, Sequence

from rexrank.metrics.runtime.work import Job, Runner, Stage, Work, run_local
from rexrank.metrics.scorers.base import ScoreResult, check_pairs


@dataclass(frozen=True)
class FaultyRunner(Runner):
    batch_size: int = 4

    def key(self) -> tuple:
        return ("faulty",)

    def build(self) -> Any:
        return object()

    def run(self, model: Any, job: Job) -> list[float]:
        for text in job.payload:
            if "KILL_ONCE:" in text:
                marker = text.split("KILL_ONCE:", 1)[1].split()[0]
                if not os.path.exists(marker):
                    open(marker, "w").close()
                    os.kill(os.getpid(), signal.SIGKILL)
        if any("CRASH" in text for text in job.payload):
            os._exit(1)
        if any("RAISE" in text for text in job.payload):
            raise ValueError("this report cannot be scored (simulated)")
        return [float(len(text)) for text in job.payload]


class _FaultyWork(Work):
    metric = "faulty"

    def __init__(self, predictions: list[str], batch_size: int):
        super().__init__(len(predictions))
        self.preds, self.batch_size = predictions, batch_size
        self.value: dict[str, float] = {}

    def stages(self):
        texts = list(dict.fromkeys(self.preds))
        jobs = [Job(tuple(texts[i:i + self.batch_size]), texts[i:i + self.batch_size])
                for i in range(0, len(texts), self.batch_size)]
        yield Stage("faulty", FaultyRunner(self.batch_size), jobs)

    def absorb(self, job: Job, outputs) -> None:
        self.value.update(zip(job.items, outputs))

    def failed_pairs(self, job: Job):
        lost = set(job.items)
        return [i for i, p in enumerate(self.preds) if p in lost]

    def available(self, index: int) -> bool:
        return self.preds[index] in self.value

    def values(self, indices):
        return {self.metric: [self.value[self.preds[i]] for i in indices]}, None


class FaultyScorer:
    """``FaultyScorer(batch_size=4)(predictions, references)``: the length of each prediction."""

    name = "faulty"

    def __init__(self, batch_size: int = 4, **_: Any):
        self.batch_size = int(batch_size)

    def plan(self, predictions: Sequence[str], references: Sequence[str]) -> _FaultyWork:
        predictions, _ = check_pairs(predictions, references, self.name)
        return _FaultyWork(predictions, self.batch_size)

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> ScoreResult:
        return run_local(self.plan(predictions, references))
