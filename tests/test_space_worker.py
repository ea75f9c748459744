"""The queue worker across real processes: exactly-once evaluation, kills and resumption, failures.

Workers are real `rexrank worker` processes on one LocalDirStore; they score with BLEU-2
only (pure Python) on a 12-study IU-Xray manifest, with short leases. Every test runs twice:
with plain workers, and with Ray-backed ones (`rexrank worker --ray ADDRESS` on the two-node
test cluster), whose guarantees must be the same.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from rexrank.space.store import FAILED, FINISHED, RUNNING, LocalDirStore, Request, new_request_id
from rexrank.space.submit import SubmitPolicy, enqueue, file_requests
from rexrank.space.worker import Worker, WorkerSettings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.ray)])
def engine(request) -> dict:
    """``cli``: the worker command's extra arguments; ``options``: the same for an in-process Worker."""
    if request.param == "local":
        return {"cli": [], "options": {}}
    address = request.getfixturevalue("ray_address")
    return {"cli": ["--ray", address], "options": {"engine": "ray", "ray_address": address}}


def _worker(store_dir: Path, manifest: Path, log: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "rexrank.cli", "worker", "--store", str(store_dir), "--manifest",
           f"iu_xray={manifest}", "--metrics", "bleu2", "--poll", "0.1", *extra]
    handle = open(log, "ab")
    return subprocess.Popen(cmd, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _stop(procs) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _references(manifest: Path) -> tuple[list[str], list[str]]:
    from rexrank.datasets.tracks import load_track

    data = load_track("iu_xray", "findings", manifest=manifest)
    return data.study_ids, data.references


def test_fifty_concurrent_submissions_across_four_workers_are_each_evaluated_exactly_once(tmp_path, small_iu_manifest,
                                                                                          engine):
    store_dir, logs = tmp_path / "store", tmp_path / "logs"
    logs.mkdir()
    store = LocalDirStore(store_dir)
    policy = SubmitPolicy(manifests={"iu_xray": str(small_iu_manifest)})
    ids, refs = _references(small_iu_manifest)
    workers = [_worker(store_dir, small_iu_manifest, logs / f"w{i}.log", "--lease", "30", *engine["cli"])
               for i in range(4)]
    try:
        def submit(batch: range) -> None:
            for n in batch:  # each submission a different system: its own predictions file
                preds = {sid: f"{ref} variant {n}" for sid, ref in zip(ids, refs)}
                requests, artifacts = file_requests(json.dumps(preds).encode(), f"system{n}.json", ["iu_xray"],
                                                    "findings", display_name=f"system {n}", policy=policy)
                assert enqueue(LocalDirStore(store_dir), requests, artifacts)[0].startswith("queued")

        threads = [threading.Thread(target=submit, args=(range(k, 50, 5),)) for k in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _wait(lambda: [r.state for r in store.requests()].count(FINISHED) == 50, 240, "50 FINISHED requests")
    finally:
        _stop(workers)
    requests = store.requests()
    assert len(requests) == 50 and all(r.state == FINISHED and r.attempts == 1 for r in requests)
    scored = Counter(re.findall(r"request (\S+): scoring", "".join(p.read_text() for p in logs.iterdir())))
    assert scored == Counter({r.id: 1 for r in requests})  # each evaluated exactly once, by some worker
    per_worker = Counter(result["evaluation"]["worker"] for result in store.results())
    assert len(store.results()) == 50 and len(per_worker) >= 2  # the work was actually shared
    print(f"exactly-once: 50 requests, 4 workers, evaluations per request = 1, per worker {sorted(per_worker.values())}")


def _model_request(model: str) -> Request:
    return Request(new_request_id(), "model", "iu_xray", "findings", model=model)


def _comparable(result: dict) -> dict:
    res = result["results"]
    return {"system": result["system"]["name"], "per_study": res["per_study"],
            "metrics": {k: (v["value"], v["ci"], v["n"]) for k, v in res["metrics"].items()}}


@pytest.mark.slow
def test_twenty_random_kills_leave_nothing_stuck_and_change_no_result(tmp_path, small_iu_manifest, engine):
    env = {"REXRANK_FAKE_GEN_DELAY": "0.05"}
    generator = "tests.space_fakes:slow_generate"
    store_dir, logs = tmp_path / "store", tmp_path / "logs"
    logs.mkdir()
    store = LocalDirStore(store_dir)
    models: list[str] = []

    def submit_next() -> None:
        # New work keeps arriving until 20 kills have landed, however fast this machine drains the queue.
        models.append(f"org/model-{len(models)}")
        store.submit(_model_request(models[-1]))

    for _ in range(8):
        submit_next()
    extra = ("--lease", "1.0", "--heartbeat", "0.15", "--generator", generator, "--max-attempts", "100",
             *engine["cli"])
    procs = {}
    count = [0]

    def start() -> None:
        count[0] += 1
        p = _worker(store_dir, small_iu_manifest, logs / f"w{count[0]}.log", *extra, env=env)
        procs[p.pid] = p

    for _ in range(3):
        start()
    rng = random.Random(8)
    kills = 0
    try:
        deadline = time.time() + 240
        while kills < 20 and time.time() < deadline:
            requests = store.requests()
            if sum(r.state not in (RUNNING, FINISHED) for r in requests) < 2:
                submit_next()
            running = [r for r in requests if r.state == RUNNING and r.worker]
            victims = [int(r.worker.split("-")[-2]) for r in running]
            victims = [pid for pid in victims if pid in procs and procs[pid].poll() is None]
            if not victims:
                time.sleep(0.05)
                continue
            time.sleep(rng.uniform(0.0, 0.5))  # somewhere in generation, scoring or finishing
            pid = rng.choice(victims)
            os.kill(pid, signal.SIGKILL)
            procs.pop(pid).wait()
            kills += 1
            start()
        _wait(lambda: all(r.state == FINISHED for r in store.requests()), 240, "every request FINISHED after the kills")
    finally:
        _stop(list(procs.values()))

    # the uninterrupted reference run of the same requests, in this process
    os.environ["REXRANK_FAKE_GEN_DELAY"] = "0"
    try:
        reference_store = LocalDirStore(tmp_path / "reference")
        for model in models:
            reference_store.submit(_model_request(model))
        Worker(reference_store, WorkerSettings(metrics=["bleu2"], manifests={"iu_xray": str(small_iu_manifest)},
                                               generator=generator, scorer_options=dict(engine["options"]),
                                               generation_options=dict(engine["options"]))).run(exit_when_idle=True)
    finally:
        del os.environ["REXRANK_FAKE_GEN_DELAY"]
    expected = {r["system"]["name"]: _comparable(r) for r in reference_store.results()}
    assert len(expected) == len(models) >= 8
    requests = store.requests()
    assert kills == 20, f"only {kills} kills landed before the queue drained"
    assert not [r for r in requests if r.state in (RUNNING, FAILED)]
    got = {r["system"]["name"]: _comparable(r) for r in store.results()}
    assert got == expected  # the same values, CIs, n and per-study scores as the uninterrupted run
    attempts = sum(r.attempts for r in requests)
    assert attempts > len(requests)  # kills really interrupted evaluations, which were taken over
    logs_text = "".join(p.read_text() for p in logs.iterdir())
    resumed = len(re.findall(r"resuming from \d+ saved predictions", logs_text))
    assert resumed > 0  # and some resumed from saved partial predictions
    print(f"kill/resume: 20 SIGKILLs, {len(requests)} requests all FINISHED, {attempts} attempts in total, "
          f"{resumed} resumed from partial predictions, results identical to the uninterrupted run")


def test_a_failing_request_ends_failed_with_its_reason(tmp_path, small_iu_manifest, engine):
    store = LocalDirStore(tmp_path / "store")
    store.submit(Request(new_request_id(), "predictions", "iu_xray", "findings", display_name="lost",
                         predictions_sha256="0" * 64))  # its predictions artifact is missing
    store.submit(_model_request("org/generator-fails"))
    Worker(store, WorkerSettings(metrics=["bleu2"], manifests={"iu_xray": str(small_iu_manifest)},
                                 generator="tests.space_fakes:no_such_function",
                                 scorer_options=dict(engine["options"]))).run(exit_when_idle=True)
    lost, broken = store.requests()
    assert lost.state == FAILED and "predictions of request" in lost.reason and "missing" in lost.reason
    assert broken.state == FAILED and broken.reason.startswith("internal error:")
    assert "AttributeError" not in broken.reason and "Traceback" not in broken.reason  # no raw exception class


def test_a_hub_model_request_runs_real_generation_then_scoring(tmp_path, tiny_generation_models, generation_testset,
                                                               engine):
    """The full model path with the real code: submission picks the adapter from config.json,
    the worker runs rexrank.space.generation.run.generate_reports on the tiny VisionEncoderDecoder (stored
    under its real repo id), scores with BLEU-2 and records generation provenance."""
    from rexrank.space.submit import model_requests

    manifest, images = str(generation_testset["manifest"]), str(generation_testset["images"])
    store = LocalDirStore(tmp_path / "store")
    [request] = model_requests(tiny_generation_models["ved"], None, ["iu_xray"], "findings")
    store.submit(request)
    settings = WorkerSettings(metrics=["bleu2"], manifests={"iu_xray": manifest}, data_dirs={"iu_xray": images},
                              generation_options={"batch_size": 2, "device": "cpu", "max_new_tokens": 12,
                                                  **engine["options"]}, scorer_options=dict(engine["options"]))
    Worker(store, settings).run(exit_when_idle=True)
    [done] = store.requests()
    assert done.state == FINISHED, done.reason
    result = store.result(done.id)
    assert result["generation"]["adapter"] == "vision-encoder-decoder"
    assert result["generation"]["revision"] == done.revision  # the commit the submission was pinned to
    assert result["results"]["metrics"]["bleu2"]["n"] == len(generation_testset["ids"])
    assert result["results"]["per_study"]["study_id"] == generation_testset["ids"]
    expected_engine = "ray" if engine["options"] else "local"
    assert result["generation"]["record"]["engine"]["name"] == expected_engine
    assert result["results"]["provenance"]["engine"]["name"] == expected_engine

    # without the images the request fails with a reason the user can act on
    store.submit(Request(new_request_id(), "model", "iu_xray", "findings_impression",
                         model=tiny_generation_models["ved"], adapter="vision-encoder-decoder"))
    Worker(store, WorkerSettings(metrics=["bleu2"], manifests={"iu_xray": manifest},
                                 generation_options=dict(engine["options"]))).run(exit_when_idle=True)
    failed = [r for r in store.requests() if r.state == FAILED]
    assert len(failed) == 1 and "images" in failed[0].reason and "data_dir" in failed[0].reason


@pytest.mark.ray
def test_a_ray_backed_worker_scores_on_the_cluster_with_the_values_of_a_plain_one(tmp_path, small_iu_manifest,
                                                                                  small_iu_predictions, ray_address,
                                                                                  tiny_chexbert_models):
    """A predictions request scored with a model-based metric: its model runs on the cluster's actors."""
    import torch

    from rexrank.metrics.runtime import models

    results = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each one-CPU actor
    try:
        for name, options in (("ray", {"engine": "ray", "ray_address": ray_address}), ("local", {})):
            models.clear_loaded()
            store = LocalDirStore(tmp_path / name)
            policy = SubmitPolicy(manifests={"iu_xray": str(small_iu_manifest)})
            requests, artifacts = file_requests(small_iu_predictions.read_bytes(), "preds.json", ["iu_xray"],
                                                "findings", display_name="system", policy=policy)
            enqueue(store, requests, artifacts)
            Worker(store, WorkerSettings(metrics=["bleu2", "semb_score"], manifests={"iu_xray": str(small_iu_manifest)},
                                         scorer_options={"use_cache": False, **options})).run(exit_when_idle=True)
            [done] = store.requests()
            assert done.state == FINISHED, done.reason
            results[name] = store.result(done.id)["results"]
    finally:
        torch.set_num_threads(threads)
        models.clear_loaded()
    engine = results["ray"]["provenance"]["engine"]
    assert engine["name"] == "ray" and engine["nodes"] == 2 and engine["stages"][0]["stage"] == "CheXbert"
    assert results["ray"]["per_study"] == results["local"]["per_study"]


def test_a_worker_removes_its_temporary_folders(tmp_path, small_iu_manifest, small_iu_predictions, monkeypatch):
    """Issue 14: the per-request folder goes after each request, the worker's own scratch folder
    when it stops; a --work-dir the user named is kept (only our folders inside it go)."""
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    store = LocalDirStore(tmp_path / "store")
    policy = SubmitPolicy(manifests={"iu_xray": str(small_iu_manifest)})
    requests, artifacts = file_requests(small_iu_predictions.read_bytes(), "p.json", ["iu_xray"], "findings",
                                        display_name="Tidy", policy=policy)
    enqueue(store, requests, artifacts)
    store.submit(_model_request("org/generator-fails"))  # a failure must clean up too
    seen = []
    worker = Worker(store, WorkerSettings(metrics=["bleu2"], manifests={"iu_xray": str(small_iu_manifest)},
                                          generator="tests.space_fakes:no_such_function"))
    original = worker.process
    monkeypatch.setattr(worker, "process", lambda r: (seen.append(worker.work_root / r.id), original(r)))
    worker.run(exit_when_idle=True)
    assert [r.state for r in store.requests()] == [FINISHED, FAILED] and len(seen) == 2
    assert all(p.parent.name.startswith("rexrank-worker-") for p in seen)
    assert list(scratch.iterdir()) == []  # per-request folders and the scratch root are gone
    worker.run(exit_when_idle=True)  # a worker can run again
    named = tmp_path / "mine"
    named.mkdir()
    (named / "keep.txt").write_text("x")
    store.submit(_model_request("org/another"))
    Worker(store, WorkerSettings(metrics=["bleu2"], manifests={"iu_xray": str(small_iu_manifest)},
                                 generator="tests.space_fakes:no_such_function", work_dir=str(named))).run(
        exit_when_idle=True)
    assert [p.name for p in named.iterdir()] == ["keep.txt"] and list(scratch.iterdir()) == []
