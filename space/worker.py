"""The evaluation queue worker: claim a request, get its predictions, score them, record the result.

A worker claims one request at a time through the store's atomic ``claim`` and holds a
*lease* on it, renewed by a heartbeat thread. A worker that dies (killed, out of memory,
machine gone) stops heartbeating; once its lease expires another worker takes the request
over, and resumes from the partial predictions the heartbeat saved in the store. Results are
written and the request is marked FINISHED in one atomic store operation that succeeds only
while the worker still holds the lease, so each request gets exactly one result.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import socket
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rexrank.digests import sha256_bytes, sha256_json
from rexrank.errors import RexrankError
from rexrank.files import owned_temp_dir
from rexrank.importing import import_object
from rexrank.redaction import public_message, redact
from rexrank.space.store import LeaseLostError, Request, Store, utc_now_iso

logger = logging.getLogger(__name__)

PREDICTIONS = "predictions.json"  # artifact: an uploaded predictions file, canonical {study_id: report}
PARTIAL = "partial_predictions.json"  # artifact: generation's progress file, saved by the heartbeat


@dataclass
class WorkerSettings:
    """How a worker evaluates. ``manifests`` / ``data_dirs`` map a test-set config to a local
    manifest file / image root (the private ReXGradient set, or offline copies)."""

    lease_seconds: float = 300.0
    heartbeat_seconds: float | None = None  # default: a quarter of the lease
    poll_seconds: float = 5.0
    metrics: list[str] | None = None  # default: the registry's default set
    manifests: dict[str, str] = field(default_factory=dict)
    data_dirs: dict[str, str] = field(default_factory=dict)
    generator: str = "rexrank.space.generation.run:generate_reports"
    # submissions that run code (kind "script"): only approved ones, at the approved commit, through
    # ReXrank's protocol; isolation "sandbox" refuses to run them where code cannot be isolated
    script_runner: str = "rexrank.space.generation.inference_script:run_inference_script"
    script_isolation: str = "sandbox"
    script_time_limit: float = 12 * 3600.0
    work_dir: str | None = None
    scorer_options: dict[str, Any] = field(default_factory=dict)
    generation_options: dict[str, Any] = field(default_factory=dict)

    @property
    def heartbeat_interval(self) -> float:
        return self.heartbeat_seconds or max(0.05, self.lease_seconds / 4)


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def load_callable(path: str) -> Callable[..., Any]:
    return import_object(path)


class _Heartbeat(threading.Thread):
    """Renews the lease every interval and uploads the partial predictions when they changed."""

    def __init__(self, store: Store, request: Request, worker: str, settings: WorkerSettings,
                 partial: Path | None):
        super().__init__(name=f"heartbeat-{request.id}", daemon=True)
        self.store, self.request, self.worker, self.settings, self.partial = store, request, worker, settings, partial
        self._stop_event = threading.Event()
        self._last_digest: str | None = None
        self.lost: LeaseLostError | None = None

    def run(self) -> None:
        while not self._stop_event.wait(self.settings.heartbeat_interval):
            try:
                self.beat()
            except LeaseLostError as err:
                self.lost = err
                logger.warning("request %s: lease lost (%s); abandoning it", self.request.id, err)
                return
            except Exception as err:  # a transient store error must not kill the evaluation
                logger.warning("request %s: heartbeat failed: %s", self.request.id, redact(str(err)))

    def beat(self) -> None:
        artifacts = {}
        if self.partial is not None and self.partial.is_file():
            data = self.partial.read_bytes()
            digest = sha256_bytes(data)
            if digest != self._last_digest:
                artifacts[PARTIAL] = data
                self._last_digest = digest
        self.store.heartbeat(self.request.id, self.worker, self.settings.lease_seconds, artifacts)

    def check(self) -> None:
        if self.lost is not None:
            raise self.lost

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join()


class Worker:
    def __init__(self, store: Store, settings: WorkerSettings | None = None, worker_id: str | None = None):
        self.store = store
        self.settings = settings or WorkerSettings()
        self.worker_id = worker_id or new_worker_id()
        # Our own scratch folder goes when run() ends (or the worker does); a --work-dir the user
        # named is kept (only the per-request folders we make inside it are removed).
        self._named_root = Path(self.settings.work_dir) if self.settings.work_dir else None
        self._own_root: Path | None = None
        self._remove_root = None

    # --- the loop -----------------------------------------------------------------------
    def run_once(self) -> Request | None:
        """Claim and evaluate one request; ``None`` when the queue has nothing to do."""
        request = self.store.claim(self.worker_id, self.settings.lease_seconds)
        if request is not None:
            self.process(request)
        return request

    def run(self, stop: threading.Event | None = None, *, exit_when_idle: bool = False,
            max_requests: int | None = None) -> int:
        """Work until ``stop`` is set (or the queue is empty, with ``exit_when_idle``); returns requests handled."""
        stop = stop or threading.Event()
        handled = 0
        logger.info("worker %s polling %s", self.worker_id, self.store.location)
        try:
            while not stop.is_set() and (max_requests is None or handled < max_requests):
                try:
                    request = self.run_once()
                except Exception as err:  # the store was unreachable: wait and try again
                    logger.warning("worker %s: %s", self.worker_id, redact(str(err)))
                    request = None
                if request is None:
                    if exit_when_idle:
                        break
                    stop.wait(self.settings.poll_seconds)
                else:
                    handled += 1
        finally:
            self.close()
        return handled

    @property
    def work_root(self) -> Path:
        """Where requests are worked on: the --work-dir named, else a scratch folder of our own."""
        if self._named_root is not None:
            return self._named_root
        if self._own_root is None:
            self._own_root, self._remove_root = owned_temp_dir(self, "rexrank-worker-")
        return self._own_root

    def close(self) -> None:
        """Remove the worker's own scratch folder (a later request makes a new one)."""
        if self._remove_root is not None:
            self._remove_root()
            self._own_root = self._remove_root = None

    # --- one request --------------------------------------------------------------------
    def process(self, request: Request) -> None:
        logger.info("request %s: evaluating %s on %s/%s/%s (attempt %d)", request.id, request.name,
                    request.dataset, request.split, request.track, request.attempts)
        work = self.work_root / request.id
        work.mkdir(parents=True, exist_ok=True)
        partial = _progress_file(work / PREDICTIONS) if request.kind in ("model", "script") else None
        heartbeat = _Heartbeat(self.store, request, self.worker_id, self.settings, partial)
        heartbeat.start()
        try:
            predictions, generation = self._predictions(request, work)
            heartbeat.check()
            record = self._score(request, predictions, generation)
            heartbeat.stop()
            heartbeat.check()
            self.store.finish(request.id, self.worker_id, record)
            logger.info("request %s: FINISHED", request.id)
        except LeaseLostError as err:
            logger.warning("request %s: not recording a result, %s", request.id, err)
        except RexrankError as err:
            self._fail(request, str(err))
        except Exception as err:  # noqa: BLE001 - any failure must end as FAILED with its reason
            logger.exception("request %s: unexpected error", request.id)
            self._fail(request, f"internal error: {err} (the worker's log has the details; resubmit to try again)")
        finally:
            heartbeat.stop()
            shutil.rmtree(work, ignore_errors=True)  # partial work lives in the store, not here

    def _fail(self, request: Request, reason: str) -> None:
        """Mark FAILED: the full (redacted) reason goes to the log, the public one to the store,
        whose queue a web visitor sees (no server paths, endpoints or exception classes)."""
        logger.warning("request %s: FAILED: %s", request.id, redact(reason))
        try:
            self.store.fail(request.id, self.worker_id, public_message(reason))
        except LeaseLostError as err:
            logger.warning("request %s: could not mark FAILED, %s", request.id, err)

    def _predictions(self, request: Request, work: Path) -> tuple[dict[str, str], dict[str, Any] | None]:
        if request.kind == "predictions":
            data = self.store.artifact(request.id, PREDICTIONS)
            if data is None:
                raise RexrankError(f"the uploaded predictions of request {request.id} are missing from the store")
            return json.loads(data), None
        return self._generate(request, work)

    def _restore_partial(self, request: Request, out: Path) -> None:
        """A takeover resumes from the progress the previous worker's heartbeat saved in the store."""
        progress = _progress_file(out)
        saved = self.store.artifact(request.id, PARTIAL)
        if saved is not None and not progress.is_file():
            progress.write_bytes(saved)
            logger.info("request %s: resuming from %d saved predictions", request.id,
                        len(json.loads(saved).get("done", {})))

    def _generate(self, request: Request, work: Path) -> tuple[dict[str, str], dict[str, Any]]:
        from rexrank.hub_ids import parse_hub_ref

        out = work / PREDICTIONS
        self._restore_partial(request, out)
        if request.kind == "script":
            return self._run_submission(request, work, out)
        # a queued model is a Hub repo id, never a path on this machine (even in a hand-edited queue)
        repo_id, revision = parse_hub_ref(request.model or "", request.revision)
        generate = load_callable(self.settings.generator)
        model = f"{repo_id}@{revision}" if revision else repo_id
        summary = generate(model, request.dataset, out, split=request.split, section=request.track,
                           data_dir=self.settings.data_dirs.get(request.dataset),
                           manifest=self.settings.manifests.get(request.dataset),
                           adapter=request.adapter, **self.settings.generation_options)
        return self._generated(summary, out)

    def _run_submission(self, request: Request, work: Path, out: Path) -> tuple[dict[str, str], dict[str, Any]]:
        """An approved inference-script submission: its repo at the approved commit, run the ReXrank way."""
        from huggingface_hub import snapshot_download

        from rexrank import hub_env

        if not request.approved:  # the store never hands out an unapproved one; check again before running code
            raise RexrankError(f"request {request.id} was not approved by a maintainer at commit {request.revision}; "
                               "it is not run")
        folder = work / "submission"
        snapshot_download(request.model, repo_type=request.repo_type or "model", revision=request.approved_commit,
                          local_dir=folder, token=hub_env.token(), endpoint=hub_env.endpoint())
        logger.info("request %s: running %s@%s (approved by %s at %s)", request.id, request.model,
                    request.approved_commit, request.approved_by, request.approved_at)
        run = load_callable(self.settings.script_runner)
        summary = run(folder, request.dataset, out, split=request.split, section=request.track,
                      data_dir=self.settings.data_dirs.get(request.dataset),
                      manifest=self.settings.manifests.get(request.dataset), name=request.model,
                      revision=request.approved_commit, isolation=self.settings.script_isolation,
                      time_limit=self.settings.script_time_limit, scratch_dir=work)
        return self._generated(summary, out)

    def _generated(self, summary: Any, out: Path) -> tuple[dict[str, str], dict[str, Any]]:
        from rexrank.datasets.predictions import read_predictions
        from rexrank.errors import describe_ids

        failures = getattr(summary, "failures", None)
        if failures:
            first = next(iter(failures.items()))
            raise RexrankError(f"generation failed for {describe_ids(list(failures))} (e.g. {first[0]}: {first[1]})")
        generation = dataclasses.asdict(summary) if dataclasses.is_dataclass(summary) else {"summary": summary}
        return read_predictions(out), json.loads(json.dumps(generation, default=str))

    def _score(self, request: Request, predictions: dict[str, str], generation: dict[str, Any] | None) -> dict:
        from rexrank.metrics.suite import score_test_set

        logger.info("request %s: scoring %d predictions", request.id, len(predictions))
        results = score_test_set(request.dataset, predictions, track=request.track, split=request.split,
                                 metrics=request.metrics or self.settings.metrics,
                                 manifest=self.settings.manifests.get(request.dataset), progress=False,
                                 plots=False, system=request.name, **self.settings.scorer_options)
        submission = {k: v for k, v in dataclasses.asdict(request).items()
                      if k not in ("state", "reason", "worker", "lease_until", "finished_at")}
        system = {"name": request.name, "kind": request.kind, "model": request.model,
                  "revision": request.revision, "adapter": request.adapter,
                  "predictions_sha256": request.predictions_sha256 or sha256_json(predictions)}
        if request.kind == "script":
            system.update(adapter="inference-script", repo_type=request.repo_type, approval={
                "by": request.approved_by, "at": request.approved_at, "commit": request.approved_commit})
        return {
            "schema": "rexrank-space-result/1",
            "request": submission,
            "system": system,
            "generation": generation,
            "evaluation": {"worker": self.worker_id, "attempt": request.attempts, "scored_at": utc_now_iso()},
            "results": results,
        }


def _progress_file(out: Path) -> Path:
    """Where generation saves its progress (the file the heartbeat uploads and a takeover restores)."""
    from rexrank.space.generation.run import progress_path

    return progress_path(out)
