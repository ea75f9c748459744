"""A stand-in for ``rexrank.space.generation.run.generate_reports`` used by the worker tests.

Same signature and the same contract that matters to the worker: after every study it saves
its progress atomically in ``<out>.progress.json`` (``rexrank.space.generation.run.progress_path``), resumes
from that file, and writes ReXrank's predictions JSON at ``out`` when done. Its reports are a
deterministic function of the model name and the reference, so an interrupted-and-resumed
run must give exactly the result of an uninterrupted one. The delay per study
(``REXRANK_FAKE_GEN_DELAY`` seconds) gives kills somewhere to land.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from rexrank.files import atomic_write_json


def fake_report(model: str, reference: str) -> str:
    words = reference.split()
    step = 2 + int(hashlib.sha1(model.encode()).hexdigest(), 16) % 4
    kept = [w for i, w in enumerate(words) if i % step != 1]
    return " ".join(kept) or "no acute cardiopulmonary process."


def _save(path: Path, payload: dict) -> None:
    atomic_write_json(path, payload, indent=None)


def slow_generate(model: str, dataset: str, out, *, split: str = "test", section: str = "findings",
                  manifest=None, data_dir=None, adapter=None, **_options) -> dict:
    from rexrank.datasets.predictions import write_predictions
    from rexrank.datasets.tracks import load_track
    from rexrank.space.generation.run import progress_path

    delay = float(os.environ.get("REXRANK_FAKE_GEN_DELAY", "0.02"))
    data = load_track(dataset, section, split=split, manifest=manifest)
    sidecar = progress_path(out)
    done = json.loads(sidecar.read_text())["done"] if sidecar.is_file() else {}
    resumed = len(done)
    for study_id, reference in zip(data.study_ids, data.references):
        if study_id in done:
            continue
        time.sleep(delay)
        done[study_id] = fake_report(model, reference)
        _save(sidecar, {"run": {"model": model}, "done": done})
    write_predictions(out, {i: done[i] for i in data.study_ids})
    return {"model": model, "generated": len(done) - resumed, "resumed": resumed}
