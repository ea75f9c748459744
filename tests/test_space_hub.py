"""The Hub-backed deployment end to end, against the local fake Hub: seed script, submission,
a `rexrank worker --store hub:ORG/REPO` process that finds the Hub through HF_ENDPOINT and its
token in HF_TOKEN, and the result committed to the dataset repo without the token in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rexrank.space.store import FINISHED
from rexrank.space.submit import SubmitPolicy, enqueue, file_requests

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_PLANTEDhubWORKERtoken000111"


def test_seed_submit_and_evaluate_through_a_hub_dataset_repo(fake_hub, tmp_path, small_iu_manifest,
                                                             small_iu_predictions):
    from rexrank.space import leaderboard as lb
    from rexrank.space.store.hub import HubDatasetStore

    endpoint, hub = fake_hub
    env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0", "HF_TOKEN": TOKEN}
    seed = subprocess.run([sys.executable, "scripts/seed_leaderboard.py", "--store", "hub:rexrank/space-queue"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert seed.returncode == 0, seed.stderr

    store = HubDatasetStore("rexrank/space-queue", endpoint=endpoint, token=TOKEN)
    assert len(lb.leaderboard(store, "iu_xray", "findings")) == 25
    policy = SubmitPolicy(manifests={"iu_xray": str(small_iu_manifest)})
    requests, artifacts = file_requests(small_iu_predictions.read_bytes(), "preds.json", ["iu_xray"], "findings",
                                        display_name="HubSystem", policy=policy)
    assert enqueue(store, requests, artifacts)[0].startswith("queued")

    scratch = tmp_path / "worker-tmp"  # the worker's TMPDIR: its scratch and the store's cache go here
    scratch.mkdir()
    worker = subprocess.run([sys.executable, "-m", "rexrank.cli", "worker", "--store", "hub:rexrank/space-queue",
                             "--manifest", f"iu_xray={small_iu_manifest}", "--metrics", "bleu2", "--exit-when-idle"],
                            cwd=ROOT, env={**env, "TMPDIR": str(scratch)}, capture_output=True, text=True, timeout=180)
    assert worker.returncode == 0, worker.stderr
    assert [p.name for p in scratch.iterdir() if p.name.startswith("rexrank-")] == []  # removed when it exited
    [request] = store.requests()
    assert request.state == FINISHED and request.attempts == 1
    [result] = store.results()
    assert result["system"]["name"] == "HubSystem" and result["results"]["metrics"]["bleu2"]["n"] == 12
    assert any(p == "published/SOURCES.json" for p in store.snapshot().list("published/"))
    assert f"Bearer {TOKEN}" in hub.authorizations  # the token from the environment was used...
    repo_files = b"".join(data for _, files in hub.repos[("dataset", "rexrank/space-queue")] for data in files.values())
    assert TOKEN.encode() not in repo_files  # ...and never written to the repo
    assert TOKEN not in seed.stderr + seed.stdout + worker.stderr + worker.stdout  # nor logged
    # every change was one commit on top of the head it read (parent_commit), none lost
    assert hub.stats["commits"] >= 4 and json.loads(store.snapshot().read("published/SOURCES.json"))
