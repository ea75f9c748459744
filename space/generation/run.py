"""Turn a Hub model into a ReXrank predictions file for a test set, resumably.

``generate_reports`` picks an adapter from the model's config (refusing before any download
what we cannot run safely), checks on two studies that the model writes text at all (the
canary), then generates in length-sorted batches. After every batch the progress sidecar
``<out>.progress.json`` is rewritten atomically; a killed run, restarted with the same
arguments, skips what is done and ends with the same predictions file as an uninterrupted run.
The sidecar also records the model, resolved revision, adapter and why, prompt, image choice
and every failed study with its error; failed studies are retried by the next run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from rexrank.errors import InputError, ModelUnavailableError, describe_ids
from rexrank.files import atomic_write_json

logger = logging.getLogger(__name__)
FORMAT_VERSION = 1
# What must match for a rerun to continue a run: anything that changes a report.
IDENTITY_KEYS = ("dataset", "split", "section", "manifest_sha256", "repo_id", "revision", "adapter",
                 "prompt", "images", "max_new_tokens", "dtype")


@dataclass
class GenerationSummary:
    """What a run produced; the Space shows it and the CLI prints it."""

    out: Path
    progress_file: Path
    model: str
    revision: str
    adapter: str
    reason: str
    dataset: str
    split: str
    section: str
    n_studies: int
    n_generated: int
    failures: dict[str, str] = field(default_factory=dict)
    resumed: int = 0  # studies already done when this run started
    seconds: float = 0.0
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def n_failed(self) -> int:
        return len(self.failures)

    @property
    def complete(self) -> bool:
        return not self.failures and self.n_generated == self.n_studies

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "out": str(self.out), "progress_file": str(self.progress_file),
                "n_failed": self.n_failed, "complete": self.complete}


def progress_path(out: str | os.PathLike) -> Path:
    return Path(f"{out}.progress.json")


def load_progress(path: Path, identity: dict[str, Any], keys: Sequence[str] = IDENTITY_KEYS) -> dict[str, Any]:
    """The saved state of an earlier run with the same identity (``keys`` of it; empty if none)."""
    if not path.exists():
        return {"done": {}, "failed": {}, "runs": []}
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"progress file {path} is unreadable ({err}); delete it to start over") from err
    before = saved.get("run", {})
    changed = [k for k in keys if before.get(k) != identity.get(k)]
    if changed:
        details = "; ".join(f"{k}: {before.get(k)!r} -> {identity.get(k)!r}" for k in changed)
        raise InputError(f"{path} belongs to a different run ({details}). Use another --out, or delete "
                         "that file (and the predictions next to it) to start over.")
    return {"done": dict(saved.get("done", {})), "failed": dict(saved.get("failed", {})),
            "runs": list(saved.get("runs", []))}


def garbage_reason(text: str) -> str | None:
    """Why ``text`` cannot be a report (None if it could be one)."""
    if not text.strip():
        return "empty output"
    if "\ufffd" in text:
        return "undecodable bytes"
    visible = [c for c in text if not c.isspace()]
    if sum(c.isalpha() for c in visible) < 0.5 * len(visible):
        return "mostly non-letters"
    words = text.lower().split()
    if len(words) >= 8 and len(set(words)) == 1:
        return f"one word repeated ({words[0]!r})"
    return None


def canary_check(adapter, requests: Sequence) -> None:
    """Generate two studies first: a model that writes nothing or garbage stops here, not after hours.

    One bad study (a corrupt image) does not stop the run; only when no canary study yields a
    report does the run stop.
    """
    if not requests:
        return
    from rexrank.space.generation.batching import BatchRunner

    outcomes = BatchRunner(adapter.generate_batch, len(requests)).run(list(requests))
    _canary_outcomes(adapter.choice, adapter.name, [(r, text, error) for r, (text, error) in zip(requests, outcomes)])


def generate_reports(model: str, dataset: str, out: str | os.PathLike, *, split: str = "test",
                     section: str = "findings", data_dir: str | os.PathLike | None = None,
                     manifest: str | os.PathLike | None = None, batch_size: int = 8, device: str | None = None,
                     max_new_tokens: int = 256, adapter: str | None = None, limit: int | None = None,
                     prompt: str | None = None, canary: bool = True, progress: bool = True,
                     allowlist: Mapping[str, Any] | None = None,
                     adapter_options: dict[str, Any] | None = None, engine: str = "local",
                     ray_address: str | None = None, ray_actors: int | None = None,
                     ray_cpus_per_actor: float | None = None) -> GenerationSummary:
    """Generate ``section`` reports for the ``dataset``/``split`` test set with ``model``; resumable.

    ``model`` is ``repo``, ``repo@revision`` or a local folder. Writes the ReXrank predictions
    JSON to ``out`` when every study is done (failed studies are left out and listed), and the
    progress/record sidecar ``<out>.progress.json`` after every batch. ``allowlist`` replaces
    the reviewed remote-code allowlist (tests, private deployments). ``engine="ray"``: the same
    batches on Ray actors, one model replica each (``ray_address``: ``"auto"`` or a cluster);
    the images must be at ``data_dir`` on every node.
    """
    from rexrank.datasets.tracks import load_track
    from rexrank.space.generation.adapters import choose_adapter, load_adapter

    from rexrank.files import check_output_file

    started = time.monotonic()
    out = check_output_file(out, "--out")  # a folder in its place fails now, not after the generation
    choice = choose_adapter(model, adapter=adapter, allowlist=allowlist)  # refuses before any weight download
    track = load_track(dataset, section, split=split, manifest=manifest)
    studies = track.studies[:limit] if limit else track.studies
    if data_dir is None:
        raise InputError(f"generating reports needs the {dataset} images: pass data_dir= / --data-dir, the "
                         "folder the manifest's image paths are relative to")
    if not Path(data_dir).is_dir():
        why = "is a file, not a folder" if Path(data_dir).exists() else "does not exist"
        raise InputError(f"the image folder (--data-dir) {data_dir} {why}: pass the folder the manifest's image "
                         "paths are relative to")

    from rexrank.metrics.runtime import models
    from rexrank.metrics.suite.engines import make_engine

    ray = make_engine(engine, ray_address=ray_address, ray_actors=ray_actors, ray_cpus_per_actor=ray_cpus_per_actor) \
        if engine != "local" else None
    if ray is not None:
        from rexrank.ray_engine import actor_device

        planning = models.remote_device(actor_device(ray.options, device))  # the model runs on the actors
    else:
        planning = contextlib.nullcontext()
    with planning:
        device = models.pick_device(device)
        options = dict(adapter_options or {})
        if choice.name == "remote-code" and allowlist is not None:
            options["allowlist"] = allowlist
        adapter_kwargs = dict(section=section, device=device, dtype=models.default_dtype(device, half=True),
                              max_new_tokens=max_new_tokens, prompt=prompt, **options)
        runner_adapter = load_adapter(choice, **adapter_kwargs)
    described = runner_adapter.describe()
    identity = {"dataset": dataset, "split": split, "section": section, "manifest_sha256": track.manifest_sha256,
                "repo_id": choice.repo_id, "revision": choice.revision, "adapter": choice.name,
                "prompt": described["prompt"], "images": described["images"], "max_new_tokens": max_new_tokens,
                "dtype": described["dtype"]}
    sidecar = progress_path(out)
    state = load_progress(sidecar, identity)
    done: dict[str, str] = state["done"]
    failed: dict[str, str] = {}  # this run's failures; earlier ones are retried
    resumed = sum(1 for s in studies if s["study_id"] in done)

    requests, bad_input = [], {}
    for study in studies:
        if study["study_id"] in done:
            continue
        try:
            requests.append(runner_adapter.request(study, data_dir))
        except InputError as err:
            bad_input[study["study_id"]] = str(err)
    failed.update(bad_input)
    requests.sort(key=lambda r: r.sort_key, reverse=True)  # stable: manifest order within a length

    record = {"run": identity, "reason": choice.reason, "model": f"{choice.repo_id}@{choice.revision}",
              "adapter": described, "device": device, "batch_size": batch_size, "n_studies": len(studies),
              "test_set": {"config": track.config, "split": track.split, "track": track.track,
                           "manifest_sha256": track.manifest_sha256},
              "engine": {"name": "local", "processes": 1} if ray is None else ray.provenance()}

    def save(complete: bool) -> None:
        atomic_write_json(sidecar, {"format_version": FORMAT_VERSION, **record, "complete": complete,
                                     "done": done, "failed": failed})

    if requests and ray is not None:
        logger.info("%s: %d studies to generate (%d already done) on Ray, adapter %s, device %s",
                    choice.spec, len(requests), resumed, choice.name, device)
        _run_on_ray(ray, choice, adapter_kwargs, requests, batch_size, done, failed, save, record, canary, progress)
    elif requests:
        logger.info("%s: %d studies to generate (%d already done), adapter %s, device %s",
                    choice.spec, len(requests), resumed, choice.name, device)
        runner_adapter.load()
        record["adapter"] = runner_adapter.describe()  # now with the checkpoint's decoding settings
        try:
            if canary:
                canary_check(runner_adapter, requests[:2])
            _run_all(runner_adapter, requests, batch_size, done, failed, save, progress, len(studies), resumed)
        finally:
            runner_adapter.close()
    order = [s["study_id"] for s in studies if s["study_id"] in done]
    from rexrank.datasets.predictions import write_predictions

    write_predictions(out, {i: done[i] for i in order}, studies=studies)
    save(complete=not failed)
    if failed:
        logger.warning("%d of %d studies failed (%s); they are listed in %s and a rerun retries them",
                       len(failed), len(studies), describe_ids(list(failed)), sidecar)
    return GenerationSummary(out=out, progress_file=sidecar, model=choice.repo_id, revision=choice.revision,
                             adapter=choice.name, reason=choice.reason, dataset=dataset, split=split,
                             section=section, n_studies=len(studies), n_generated=len(order), failures=dict(failed),
                             resumed=resumed, seconds=round(time.monotonic() - started, 3), record=record)


def _record(request, text: str | None, error: str | None, done: dict[str, str], failed: dict[str, str]) -> None:
    if error is None and garbage_reason(text or "") == "empty output":
        error = "the model wrote an empty report"
    if error is None:
        done[request.study_id] = text
        failed.pop(request.study_id, None)
    else:
        failed[request.study_id] = error


def _canary_outcomes(choice, name: str, outcomes: list) -> None:
    """The canary rule on outcomes that are in: stop when none of them is a report."""
    problems = [error or garbage_reason(text or "") for _, text, error in outcomes]
    if all(problems):
        shown = "; ".join(f"{r.study_id}: {why} {(text or '')[:80]!r}" for (r, text, _), why in zip(outcomes, problems))
        raise ModelUnavailableError(
            f"canary: {choice.spec} ({name}) does not write reports ({shown}). Check the "
            "adapter (--adapter), the prompt (--prompt) and --max-new-tokens before a full run.")
    logger.info("canary passed on %s", describe_ids([r.study_id for r, _, _ in outcomes]))


def _run_on_ray(ray, choice, adapter_kwargs: dict, requests: list, batch_size: int, done: dict[str, str],
                failed: dict[str, str], save, record: dict, canary: bool, progress: bool) -> None:
    """The same batches on Ray actors (:mod:`rexrank.space.generation.on_ray`); the first two
    studies to finish are the canary."""
    from rexrank.space.generation.on_ray import generate_on_ray

    def on_adapter(described: dict) -> None:
        record["adapter"] = described  # with the checkpoint's decoding settings, as the actors loaded it

    stage = generate_on_ray(choice, adapter_kwargs, requests, batch_size,
                            lambda request, text, error: _record(request, text, error, done, failed),
                            lambda: save(complete=False), ray.options, on_adapter,
                            (lambda outcomes: _canary_outcomes(choice, choice.name, outcomes)) if canary else None,
                            progress)
    ray.stages.append(stage)
    record["engine"] = ray.provenance()


def _run_all(adapter, requests: list, batch_size: int, done: dict[str, str], failed: dict[str, str],
             save, progress: bool, total: int, already: int) -> None:
    """Length-sorted batches; each batch's results saved before the next starts."""
    from tqdm.auto import tqdm

    from rexrank.space.generation.batching import BatchRunner

    runner = BatchRunner(adapter.generate_batch, batch_size)
    bar = tqdm(total=total, initial=already, unit="study", desc="generating", disable=not progress)
    start = 0
    try:
        while start < len(requests):
            batch = requests[start:start + runner.batch_size]
            start += len(batch)
            for request, (text, error) in zip(batch, runner.run(batch)):
                _record(request, text, error, done, failed)
            save(complete=False)
            bar.update(len(batch))
    finally:
        bar.close()
