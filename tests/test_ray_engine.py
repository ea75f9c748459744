"""Scoring on a real two-node Ray cluster (loopback addresses): the same numbers as one process,
bit for bit, and the faults a cluster has: an actor SIGKILLed mid-run, a study that fails every
time, Ctrl-C on the driver. Stand-in models as everywhere else; one CPU thread on both sides."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rexrank.metrics import suite
from rexrank.metrics.runtime import models

pytestmark = pytest.mark.ray
ROOT = Path(__file__).resolve().parents[1]
CORE = ["bleu2", "bertscore", "semb_score", "radgraph", "radcliq", "ratescore", "chexbert"]


@pytest.fixture(scope="module")
def iu_predictions(iu_manifests) -> dict[str, str]:
    """Every IU-Xray findings-track study, predicted with another study's findings (every fifth in capitals)."""
    from rexrank.datasets.tracks import load_track

    data = load_track("iu_xray", "findings", manifest=iu_manifests["test"])
    rotated = data.references[7:] + data.references[:7]
    return {sid: text.upper() if i % 5 == 0 else text for i, (sid, text) in enumerate(zip(data.study_ids, rotated))}


def _score(iu_manifests, predictions, metrics, **options):
    models.clear_loaded()  # nothing encoded in this process before: each side computes everything itself
    try:
        return suite.score_test_set("iu_xray", predictions, manifest=iu_manifests["test"], metrics=metrics,
                                    use_cache=False, progress=False, plots=False, **options)
    finally:
        models.clear_loaded()


def _same(ray_result: dict, local: dict) -> list[str]:
    """What differs in the per-study values, columns and details (empty: bit for bit the same)."""
    differ = []
    for part in ("per_study", "per_study_columns", "details"):
        for name in local[part]:
            if ray_result[part][name] != local[part][name]:
                differ.append(f"{part}/{name}")
    return differ


@pytest.mark.slow
def test_every_metric_gives_the_single_process_values_bit_for_bit(
        ray_address, iu_manifests, iu_predictions, one_thread, tiny_bertscore_models, tiny_chexbert_models,
        tiny_radgraph_models, tiny_ratescore_models):
    import ray

    on_ray = _score(iu_manifests, iu_predictions, CORE, engine="ray", ray_address=ray_address)
    local = _score(iu_manifests, iu_predictions, CORE)
    assert _same(on_ray, local) == []
    assert on_ray["metrics"] == local["metrics"]
    n = len(iu_predictions)
    assert all(len(v) == n for v in on_ray["per_study"].values()) and n == 590
    engine = on_ray["provenance"]["engine"]
    assert engine["name"] == "ray" and engine["ray_version"] == ray.__version__
    assert engine["nodes"] == 2 and engine["actors"] == 2
    stages = {s["stage"]: s for s in engine["stages"]}
    assert set(stages) == {"BERTScore", "CheXbert", "RadGraph encoder", "RadGraph spans", "RaTEScore NER",
                           "RaTEScore embeddings"}
    assert all(s["actor_processes"] == 2 and s["failed_items"] == 0 for s in stages.values())
    assert local["provenance"]["engine"] == {"name": "local", "processes": 1}
    print(f"bitwise: {n} IU-Xray studies x {len(CORE)} metrics, Ray (2 nodes, 2 actors) == one process; "
          f"stages {sorted(stages)}")


def test_green_completions_and_scores_are_the_same_on_ray(ray_address, iu_manifests, iu_predictions, one_thread,
                                                         tiny_green_models):
    from rexrank.datasets.tracks import load_track

    data = load_track("iu_xray", "findings", manifest=iu_manifests["test"])
    ids, refs = data.study_ids[:10], data.references[:10]
    preds = [iu_predictions[i] for i in ids]
    options = {"metric_options": {"green": {"max_length": 720, "cache": False, "batch_size": 4}},
               "per_study": True, "use_cache": False, "progress": False}
    models.clear_loaded()
    on_ray = suite.score_predictions(preds, refs, ids, ["green"], engine="ray", ray_address=ray_address, **options)
    models.clear_loaded()
    local = suite.score_predictions(preds, refs, ids, ["green"], **options)
    models.clear_loaded()
    assert on_ray["green"]["per_study"] == local["green"]["per_study"]
    assert on_ray["green"]["details"] == local["green"]["details"]  # the same completions, token for token
    assert sum(d["completion_tokens"] for d in local["green"]["details"]) > 200  # it did generate


def test_an_actor_killed_mid_run_is_replaced_and_the_values_do_not_change(ray_address, iu_manifests, iu_predictions,
                                                                          one_thread, tiny_chexbert_models):
    """After five batches, SIGKILL the actor that did not return the fifth one: it is likely busy."""
    killed: list[int] = []

    class KillAfterFive(logging.Handler):
        seen: list[int] = []

        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if "done by actor" not in message or killed:
                return
            pid = int(message.split("done by actor ")[1].split()[0])
            self.seen.append(pid)
            others = [p for p in self.seen if p != pid]
            if len(self.seen) >= 5 and others:
                os.kill(others[-1], signal.SIGKILL)
                killed.append(others[-1])

    engine_log = logging.getLogger("rexrank.ray_engine")
    handler, level = KillAfterFive(), engine_log.level
    engine_log.addHandler(handler)
    engine_log.setLevel(logging.DEBUG)
    try:
        on_ray = _score(iu_manifests, iu_predictions, ["semb_score"], batch_size=4, engine="ray",
                        ray_address=ray_address)
    finally:
        engine_log.removeHandler(handler)
        engine_log.setLevel(level)
    local = _score(iu_manifests, iu_predictions, ["semb_score"], batch_size=4)
    assert killed, "no actor was killed"
    [stage] = on_ray["provenance"]["engine"]["stages"]
    assert stage["actor_processes"] >= 3  # the killed actor was replaced by a new process
    assert stage["failed_items"] == 0
    assert _same(on_ray, local) == []  # every study, the retried batch too, as in one process
    print(f"fault: SIGKILL actor {killed[0]} after {len(KillAfterFive.seen)} of {stage['jobs']} batches; {stage['actor_processes']} actor "
          f"processes, {stage['retried_jobs']} batch(es) retried, all {len(iu_predictions)} values bit-identical")


def test_an_actor_sigkilled_inside_a_batch_is_replaced_and_the_batch_retried(ray_address, monkeypatch, tmp_path):
    from rexrank.metrics.registry import METRICS, MetricSpec
    from rexrank.metrics.suite.engines import make_engine
    from rexrank.metrics.suite.run import run_metrics

    monkeypatch.setitem(METRICS, "faulty", MetricSpec("faulty", "Faulty", "rexrank.testing.faults:FaultyScorer",
                                                      extra=True))
    preds = [f"report {i} " + "x" * i for i in range(16)]
    preds[6] = f"report KILL_ONCE:{tmp_path / 'killed'} six"
    engine = make_engine("ray", ray_address=ray_address)
    runs = run_metrics(preds, ["r"] * 16, ["faulty"], use_cache=False, progress=False, engine=engine)
    assert (tmp_path / "killed").exists()  # the actor did die inside that batch
    assert runs["faulty"].values["faulty"] == [float(len(p)) for p in preds] and not runs["faulty"].failures
    [stage] = engine.stages
    assert stage["retried_jobs"] == 1 and stage["actor_processes"] == 3 and stage["failed_items"] == 0


def test_a_study_that_always_fails_is_recorded_failed_and_not_retried_forever(ray_address, monkeypatch, tmp_path):
    from rexrank.metrics.registry import METRICS, MetricSpec
    from rexrank.metrics.suite.engines import make_engine
    from rexrank.metrics.suite.run import run_metrics

    monkeypatch.setitem(METRICS, "faulty", MetricSpec("faulty", "Faulty", "rexrank.testing.faults:FaultyScorer",
                                                      extra=True))
    preds = [f"report number {i} " + "x" * i for i in range(14)]
    preds[3] = "this one has CRASH in it"  # kills its actor every time it is tried
    preds[9] = "this one has RAISE in it"  # raises every time
    ids = [f"s{i}" for i in range(14)]
    started = time.monotonic()
    runs = run_metrics(preds, ["r"] * 14, ["faulty"], cache_dir=tmp_path, progress=False, study_ids=ids,
                       engine=make_engine("ray", ray_address=ray_address))
    seconds = time.monotonic() - started
    values = runs["faulty"].values["faulty"]
    assert [i for i, v in enumerate(values) if math.isnan(v)] == [3, 9]
    assert all(values[i] == float(len(p)) for i, p in enumerate(preds) if i not in (3, 9))  # batch-mates scored
    failures = runs["faulty"].failures
    assert len(failures) == 2
    assert any("died" in why for why in failures.values()) and any("ValueError" in why for why in failures.values())
    assert _cache_rows(tmp_path) == 12  # the failed studies are not cached: a rerun retries them
    print(f"poison: 2 of 14 studies fail every time (actor killed / exception), recorded as failed in {seconds:.0f} s")


def _cache_rows(cache_dir: Path) -> int:
    path = cache_dir / "scores.sqlite"
    if not path.is_file():
        return 0
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_ctrl_c_on_the_driver_keeps_finished_studies_and_the_rerun_scores_the_rest(
        ray_address, iu_manifests, iu_predictions, tiny_bertscore_models, tmp_path):
    from rexrank.datasets.predictions import write_predictions

    predictions = tmp_path / "preds.json"
    write_predictions(predictions, iu_predictions)
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "rexrank.cli", "score", "--dataset", "iu_xray", "--manifest",
           str(iu_manifests["test"]), "--predictions", str(predictions), "--metrics", "bertscore", "--no-plots",
           "--batch-size", "1", "--cache-dir", str(cache)]
    env = {**os.environ, "RAY_ADDRESS": ray_address}
    log = open(tmp_path / "interrupted.log", "wb")
    proc = subprocess.Popen(cmd + ["--out", str(tmp_path / "first"), "--ray"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 240
        while _cache_rows(cache) == 0 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, (tmp_path / "interrupted.log").read_text()[-3000:]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    saved = _cache_rows(cache)
    assert 0 < saved < len(iu_predictions), saved
    done = subprocess.run(cmd + ["--out", str(tmp_path / "second"), "--ray"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "second" / "results.json").read_text())
    unique = results["provenance"]["cache"]["hits"]["bertscore"] + results["provenance"]["cache"]["computed"]["bertscore"]
    assert results["provenance"]["engine"]["nodes"] == 2  # --ray alone (auto) joined RAY_ADDRESS's cluster
    cache_info = results["provenance"]["cache"]
    assert cache_info["hits"]["bertscore"] == saved
    assert results["metrics"]["bertscore"]["n"] == len(iu_predictions)
    assert cache_info["hits"]["bertscore"] + cache_info["computed"]["bertscore"] == unique
    print(f"Ctrl-C: {saved} of {unique} unique studies kept in the cache; the rerun computed {unique - saved}")
