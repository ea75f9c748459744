"""Submissions that run code in the Space: a Hub repo with a ReXrank inference script is queued as
AWAITING_REVIEW pinned to a commit, approved only by a listed maintainer (CLI: HF_TOKEN's user;
Space: the Hub login), and only then run by a worker through the protocol adapter, at the
approved commit; refusals and failures say why. End to end through `rexrank serve`, gradio_client,
`rexrank queue approve` and the fake Hub, with BLEU-2 scored at the end."""

from __future__ import annotations

import os
import time

import pytest

from rexrank.cli import main
from rexrank.space.store import AWAITING_REVIEW, FAILED, FINISHED, PENDING, LocalDirStore
from rexrank.space.submit import SubmitPolicy
from rexrank.space.ui.views import AppSettings, queue_view, review_view, submit_script_view
from rexrank.space.worker import Worker, WorkerSettings
from rexrank.testing.submissions import submission_files

REPO = "lab/tiny-rexrank-submission"
MAINTAINER = ("maintainer-a", "hf_maintainer_token_0123456789")
VISITOR = ("visitor-b", "hf_visitor_token_9876543210")


@pytest.fixture
def hub(fake_hub, monkeypatch):
    """The fake Hub with the tiny submission as a model repo and as a Space repo, two users, one a maintainer."""
    endpoint, server = fake_hub
    commit = server.put_files("model", REPO, submission_files("ok"))
    crash = server.put_files("model", "lab/crashing-submission", submission_files("first2-then-crash"))
    space = server.put_files("space", "lab/submission-space", submission_files("ok"))
    server.put_files("model", "lab/no-script", {"README.md": b"# just weights\n", "requirements.txt": b"\n"})
    for name, token in (MAINTAINER, VISITOR):
        server.add_user(name, token)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("REXRANK_MAINTAINERS", f"someone-else, {MAINTAINER[0]}")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return {"endpoint": endpoint, "server": server, "commit": commit, "crash": crash, "space": space}


@pytest.fixture
def space_settings(small_iu_manifest):
    return AppSettings(on_space=True, policy=SubmitPolicy(manifests={"iu_xray": str(small_iu_manifest)}),
                       metrics=["bleu2"])


def _submit(store, settings, repo=REPO, repo_type="model", revision="", user="submitter-c", datasets=("iu_xray",)):
    return submit_script_view(store, settings, repo, repo_type, revision, "", list(datasets), "findings", user)


def test_a_script_repo_is_checked_pinned_to_its_commit_and_waits_for_review(hub, tmp_path, space_settings):
    store = LocalDirStore(tmp_path / "store")
    message = _submit(store, space_settings)
    assert message.startswith("queued") and f"(commit {hub['commit'][:12]}); it runs once a maintainer" in message
    [request] = store.requests()
    assert (request.kind, request.state, request.revision, request.repo_type) == ("script", AWAITING_REVIEW,
                                                                                  hub["commit"], "model")
    assert request.submitter == "submitter-c" and not request.approved
    assert "awaiting a maintainer's review of commit" in queue_view(store).iloc[0]["Review"]
    assert _submit(store, space_settings).startswith("duplicate")
    assert _submit(store, space_settings, repo="lab/submission-space", repo_type="space").startswith("queued")
    assert "has no inference.py" in _submit(store, space_settings, repo="lab/no-script")
    assert "no model repo lab/nothing-here" in _submit(store, space_settings, repo="lab/nothing-here")
    assert "has no revision 'v9'" in _submit(store, space_settings, revision="v9")
    assert "not a Hub repo id" in _submit(store, space_settings, repo="../etc")
    assert "log in" in _submit(store, space_settings, user=None)
    pinned = _submit(store, space_settings, revision=hub["commit"], datasets=("iu_xray", "mimic_cxr"))
    assert pinned.count("queued") == 1 and "duplicate" in pinned  # iu_xray at that commit is already queued
    worker = Worker(store, WorkerSettings(metrics=["bleu2"]))
    assert worker.run(exit_when_idle=True) == 0  # nothing approved: nothing to run
    assert all(r.state == AWAITING_REVIEW for r in store.requests())


def test_in_the_space_only_a_logged_in_listed_maintainer_reviews(hub, tmp_path, space_settings):
    store = LocalDirStore(tmp_path / "store")
    _submit(store, space_settings)
    _submit(store, space_settings, repo="lab/submission-space", repo_type="space")
    first, second = store.requests()
    assert "log in with your Hugging Face account" in review_view(store, space_settings, first.id, "", "", "approve",
                                                                  None)
    assert "visitor-b is not a maintainer" in review_view(store, space_settings, first.id, "", "", "approve",
                                                          VISITOR[0])
    assert f"is for commit {hub['commit']}, not {'f' * 40}" in review_view(store, space_settings, first.id, "f" * 40,
                                                                           "", "approve", MAINTAINER[0])
    assert store.get(first.id).state == AWAITING_REVIEW
    done = review_view(store, space_settings, first.id, hub["commit"], "", "approve", MAINTAINER[0])
    assert done.startswith(f"Approved {first.id}") and f"by {MAINTAINER[0]}" in done
    approved = store.get(first.id)
    assert (approved.state, approved.approved_by, approved.approved_commit) == (PENDING, MAINTAINER[0], hub["commit"])
    refused = review_view(store, space_settings, second.id, "", "needs network at run time", "refuse", MAINTAINER[0])
    assert refused.startswith("Refused")
    assert store.get(second.id).reason == f"refused by maintainer {MAINTAINER[0]}: needs network at run time"
    assert "not awaiting review" in review_view(store, space_settings, first.id, "", "", "approve", MAINTAINER[0])
    local = AppSettings(on_space=False)
    assert "rexrank queue approve" in review_view(store, local, second.id, "", "", "approve", MAINTAINER[0])


def test_queue_approve_on_the_command_line_is_authenticated_by_the_token_and_the_maintainer_list(
        hub, tmp_path, space_settings, monkeypatch, caplog, capsys):
    store = LocalDirStore(tmp_path / "store")
    _submit(store, space_settings)
    [request] = store.requests()
    approve = ["-q", "queue", "--store", str(store.root), "approve", request.id]
    assert main(approve) == 2 and "needs your Hub token in HF_TOKEN" in caplog.text
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token_000000")
    assert main(approve) == 2 and "did not accept the token in HF_TOKEN (HTTP 401)" in caplog.text
    monkeypatch.setenv("HF_TOKEN", VISITOR[1])
    assert main(approve) == 2 and "visitor-b is not a maintainer" in caplog.text
    monkeypatch.setenv("HF_TOKEN", MAINTAINER[1])
    assert main([*approve, "--commit", "e" * 40]) == 2 and f"is for commit {hub['commit']}" in caplog.text
    assert store.get(request.id).state == AWAITING_REVIEW
    capsys.readouterr()
    assert main(["queue", "--store", str(store.root), "show", request.id]) == 0
    shown = capsys.readouterr().out
    assert f"https://huggingface.co/{REPO}/tree/{hub['commit']}" in shown and "rexrank queue approve" in shown
    assert main([*approve, "--commit", hub["commit"]]) == 0
    assert f"by {MAINTAINER[0]}" in capsys.readouterr().out
    got = store.get(request.id)
    assert (got.state, got.approved_by, got.approved_commit) == (PENDING, MAINTAINER[0], hub["commit"])
    assert got.approved_at and MAINTAINER[1] not in caplog.text
    assert main(["queue", "--store", str(store.root), "list", "--state", "PENDING"]) == 0
    assert request.id in capsys.readouterr().out


def test_an_approved_submission_that_fails_says_why_and_a_worker_without_a_sandbox_refuses_it(
        hub, tmp_path, space_settings, iu_images, small_iu_manifest, submission_venvs, monkeypatch):
    store = LocalDirStore(tmp_path / "store")
    _submit(store, space_settings, repo="lab/crashing-submission")
    [request] = store.requests()
    store.approve(request.id, MAINTAINER[0])
    settings = WorkerSettings(metrics=["bleu2"], manifests={"iu_xray": str(small_iu_manifest)},
                              data_dirs={"iu_xray": str(iu_images)}, work_dir=str(tmp_path / "work"))
    Worker(store, settings).run_once()
    failed = store.get(request.id)
    assert failed.state == FAILED and "generation failed for 10 studies" in failed.reason
    assert "the script exited with code 1" in failed.reason and "CUDA error: out of memory (simulated" in failed.reason
    assert str(tmp_path) not in failed.reason  # server paths are replaced in what the queue shows
    _submit(store, space_settings)
    [pending] = [r for r in store.requests() if r.state == AWAITING_REVIEW]
    store.approve(pending.id, MAINTAINER[0])
    monkeypatch.setenv("PATH", str(tmp_path))  # no unshare here: this worker cannot isolate code
    from rexrank.space.generation import sandbox

    sandbox.probe.cache_clear()
    try:
        Worker(store, settings).run_once()
    finally:
        sandbox.probe.cache_clear()
    refused = store.get(pending.id)
    assert refused.state == FAILED and "cannot isolate submitted code" in refused.reason


# ------------------------------------------------------------------ end to end: the Space, the CLI, a worker


@pytest.fixture
def review_space(hub, tmp_path, small_iu_manifest, iu_images, submission_venvs):
    """`rexrank serve` (embedded store, worker thread, BLEU-2) reading repos from the fake Hub."""
    from tests.fixtures.space import start_server, stop_server

    log = tmp_path / "serve.log"
    env = {**os.environ, "HF_ENDPOINT": hub["endpoint"], "HF_HUB_OFFLINE": "0", "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": str(tmp_path / "gradio"), "HF_TOKEN": "hf_space_own_token_555555555"}
    env.pop("SPACE_ID", None)
    proc, url = start_server(["--store", str(tmp_path / "store"), "--manifest", f"iu_xray={small_iu_manifest}",
                              "--data-dir", f"iu_xray={iu_images}", "--metrics", "bleu2", "--poll", "0.2",
                              "--lease", "20"], env=env, log=log)
    try:
        yield {"url": url, "store": tmp_path / "store", "log": log}
    finally:
        stop_server(proc)


def _queue_row(client, request_id: str) -> dict:
    table = client.predict(api_name="/queue")
    rows = [dict(zip(table["headers"], r)) for r in table["data"]]
    return next(r for r in rows if r["Request"] == request_id)


def test_space_submit_then_cli_approve_then_the_worker_runs_the_reviewed_commit_and_bleu2_scores_it(
        hub, review_space, monkeypatch, capsys):
    from gradio_client import Client

    client = Client(review_space["url"], verbose=False)
    assert {"/submit_script", "/review_approve", "/review_refuse"} <= set(
        client.view_api(return_format="dict")["named_endpoints"])
    message = client.predict(REPO, "model", "", "Tiny ReXrank script", ["iu_xray"], "findings",
                             api_name="/submit_script")
    assert message.startswith("queued"), message
    request_id = message.split()[1].rstrip(":")
    time.sleep(2)  # the worker polls every 0.2 s: it must leave an unreviewed submission alone
    row = _queue_row(client, request_id)
    assert row["State"] == AWAITING_REVIEW and hub["commit"][:12] in row["Review"]
    # after the submission, main moves on to code nobody reviewed: it must never run
    evil = submission_files("ok")
    evil["inference.py"] = b"raise SystemExit('unreviewed code ran')\n"
    later = hub["server"].put_files("model", REPO, evil)
    assert later != hub["commit"]
    # the browser's review needs the Space's Hub login; locally it points to the CLI
    assert "rexrank queue approve" in client.predict(request_id, "", "", api_name="/review_approve")
    monkeypatch.setenv("HF_TOKEN", MAINTAINER[1])
    assert main(["-q", "queue", "--store", str(review_space["store"]), "approve", request_id,
                 "--commit", hub["commit"]]) == 0
    deadline = time.time() + 180
    while (row := _queue_row(client, request_id))["State"] not in (FINISHED, FAILED):
        assert time.time() < deadline, f"not finished: {row}"
        time.sleep(0.5)
    assert row["State"] == FINISHED, row
    assert row["Review"].startswith(f"approved by {MAINTAINER[0]} at ") and hub["commit"][:12] in row["Review"]
    [result] = LocalDirStore(review_space["store"]).results()
    approval = result["system"]["approval"]
    assert approval == {"by": MAINTAINER[0], "at": approval["at"], "commit": hub["commit"]}
    generation = result["generation"]
    assert generation["revision"] == hub["commit"] and generation["adapter"] == "inference-script"
    assert generation["record"]["isolation"]["mode"] == "sandbox" and generation["n_generated"] == 12
    bleu2 = result["results"]["metrics"]["bleu2"]
    assert bleu2["n"] == 12 and 0 < bleu2["value"] < 1
    table, _ = client.predict("iu_xray", "findings", "bleu2", api_name="/leaderboard")
    rows = [dict(zip(table["headers"], r)) for r in table["data"]]
    [ours] = [r for r in rows if "Tiny ReXrank script" in r["Model"]]
    assert abs(ours["BLEU-2"] - round(bleu2["value"], 4)) < 1e-9
    assert "unreviewed code ran" not in review_space["log"].read_text()
