"""The store contract: both backends (a local folder, a Hub dataset repo on the fake Hub) pass it."""

from __future__ import annotations

import threading
import time

import pytest

from rexrank.space.store import (FAILED, FINISHED, PENDING, RUNNING, DuplicateSubmissionError, LeaseLostError, Request, new_request_id)


def _request(model="org/model", dataset="iu_xray", track="findings", **kw) -> Request:
    return Request(new_request_id(), "model", dataset, track, model=model, **kw)


def test_submit_then_list_and_get(store_factory):
    store = store_factory()
    req = store.submit(_request(), {"note.txt": b"hello"})
    [listed] = store.requests()
    assert listed.id == req.id and listed.state == PENDING and listed.model == "org/model"
    assert store.get(req.id) == listed
    assert store.artifact(req.id, "note.txt") == b"hello"
    assert store.get("nope") is None and store.artifact(req.id, "missing") is None


def test_duplicates_are_refused_but_failed_ones_can_be_resubmitted(store_factory):
    store = store_factory()
    first = store.submit(_request(revision="abc"))
    with pytest.raises(DuplicateSubmissionError, match=first.id) as info:
        store.submit(_request(revision="abc"))
    assert info.value.existing.id == first.id
    store.submit(_request(revision="abc", track="findings_impression"))  # another track: allowed
    store.submit(_request(revision="def"))  # another revision: allowed
    claimed = store.claim("w", 30)
    assert claimed.id == first.id
    store.fail(first.id, "w", "broken")
    store.submit(_request(revision="abc"))  # FAILED: may be submitted again
    assert len(store.requests()) == 4


def test_claim_heartbeat_finish(store_factory):
    store = store_factory()
    a, b = store.submit(_request("org/a")), store.submit(_request("org/b"))
    got = store.claim("w1", 30)
    assert (got.id, got.state, got.worker, got.attempts) == (a.id, RUNNING, "w1", 1)
    assert store.claim("w2", 30).id == b.id
    assert store.claim("w3", 30) is None
    with pytest.raises(LeaseLostError):
        store.heartbeat(a.id, "w2", 30)
    store.heartbeat(a.id, "w1", 30, {"partial_predictions.json": b"{}"})
    assert store.artifact(a.id, "partial_predictions.json") == b"{}"
    with pytest.raises(LeaseLostError):
        store.finish(a.id, "w2", {"x": 1})
    store.finish(a.id, "w1", {"x": 1})
    assert store.get(a.id).state == FINISHED and store.result(a.id) == {"x": 1}
    assert store.artifact(a.id, "partial_predictions.json") is None  # cleaned up with the result
    assert store.results() == [{"x": 1}]
    store.fail(b.id, "w2", "no GPU")
    assert (store.get(b.id).state, store.get(b.id).reason) == (FAILED, "no GPU")


def test_expired_lease_is_taken_over_and_the_old_worker_is_fenced_off(store_factory):
    store = store_factory()
    req = store.submit(_request())
    store.claim("dead", 0.2)
    time.sleep(0.3)
    again = store.claim("alive", 30)
    assert (again.id, again.worker, again.attempts) == (req.id, "alive", 2)
    with pytest.raises(LeaseLostError):
        store.finish(req.id, "dead", {"stale": True})
    store.finish(req.id, "alive", {"fresh": True})
    assert store.result(req.id) == {"fresh": True}


def test_a_request_whose_workers_keep_dying_ends_failed(store_factory):
    store = store_factory()
    store.max_attempts = 2
    req = store.submit(_request())
    for _ in range(2):
        store.claim("w", 0.05)
        time.sleep(0.1)
    assert store.claim("w", 30) is None
    assert store.get(req.id).state == FAILED and "stopped 2 times" in store.get(req.id).reason


def test_concurrent_writers_lose_nothing_and_claim_each_request_once(store_factory):
    seed = store_factory()
    ids = [seed.submit(_request(f"org/m{i}")).id for i in range(6)]
    claimed: list[str] = []
    submitted: list[str] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        store = store_factory()  # its own client, as a separate process would have
        mine = store.submit(_request(f"org/extra{n}"))
        with lock:
            submitted.append(mine.id)
        while (got := store.claim(f"w{n}", 60)) is not None:
            with lock:
                claimed.append(got.id)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = {r.id: r for r in seed.requests()}
    assert set(everything) == set(ids) | set(submitted)
    assert sorted(claimed) == sorted(everything)  # every request claimed, none twice
    assert all(r.state == RUNNING and r.attempts == 1 for r in everything.values())


def test_hub_backend_commits_with_parent_commit_and_retries_on_conflict(fake_hub):
    from rexrank.space.store.hub import HubDatasetStore

    endpoint, hub = fake_hub
    stores = [HubDatasetStore("rexrank/race", endpoint=endpoint) for _ in range(3)]
    barrier = threading.Barrier(3)

    def submit(store: HubDatasetStore, n: int) -> None:
        barrier.wait()
        for k in range(3):
            store.submit(_request(f"org/r{n}-{k}"))

    threads = [threading.Thread(target=submit, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stores[0].requests()) == 9 and hub.stats["commits"] == 9  # nothing lost, nothing doubled


def test_hub_backend_rereads_and_reapplies_after_a_412(fake_hub):
    """A writer that lost the race (its parent_commit is stale) re-reads and re-applies its change."""
    from rexrank.space.store.hub import HubDatasetStore

    endpoint, hub = fake_hub
    mine, other = (HubDatasetStore("rexrank/conflict", endpoint=endpoint) for _ in range(2))
    req = mine.submit(_request("org/a"))
    calls = []

    def change(snap):
        calls.append(snap.sha)
        if len(calls) == 1:  # someone else commits after we read and before we commit
            other.submit(_request("org/b"))
        return {"requests/extra.json": _request("org/c").to_json()}, None

    mine.transact(change, "racing change")
    assert len(calls) == 2 and calls[0] != calls[1] and hub.stats["conflicts"] == 1
    assert {r.model for r in mine.requests()} == {"org/a", "org/b", "org/c"} and mine.get(req.id)


def test_hub_reads_may_reuse_a_young_snapshot_but_never_miss_our_own_writes(fake_hub):
    from rexrank.space.store.hub import HubDatasetStore

    endpoint, _ = fake_hub
    ui = HubDatasetStore("rexrank/cached", endpoint=endpoint, read_cache_seconds=60)
    worker = HubDatasetStore("rexrank/cached", endpoint=endpoint)
    assert ui.requests() == []
    worker.submit(_request("org/elsewhere"))
    assert ui.requests() == []  # another client's write: visible once the cache expires
    mine = ui.submit(_request("org/mine"))  # our own write empties the cache
    assert {r.model for r in ui.requests()} == {"org/elsewhere", "org/mine"} and ui.get(mine.id)
    ui.read_cache_seconds = 0
    worker.claim("w", 30)
    assert {r.state for r in ui.requests()} == {"PENDING", "RUNNING"}


# ------------------------------------------------------------------ submissions that run code: review first

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _script(commit=COMMIT, **kw) -> Request:
    return Request(new_request_id(), "script", "iu_xray", "findings", model="lab/submission", revision=commit,
                   repo_type="model", **kw)


def test_a_script_submission_waits_for_review_and_is_never_claimed_before(store_factory):
    from rexrank.space.store import AWAITING_REVIEW

    store = store_factory()
    req = store.submit(_script(state=PENDING, approved_by="self", approved_commit=COMMIT))  # what it claims is ignored
    got = store.get(req.id)
    assert got.state == AWAITING_REVIEW and got.approved_by is None and got.approved_commit is None
    assert store.claim("w", 30) is None and store.get(req.id).state == AWAITING_REVIEW
    with pytest.raises(DuplicateSubmissionError):
        store.submit(_script())  # awaiting review counts as queued
    approved = store.approve(req.id, "maintainer-a", commit=COMMIT)
    assert (approved.state, approved.approved_by, approved.approved_commit) == (PENDING, "maintainer-a", COMMIT)
    assert approved.approved_at and store.get(req.id) == approved
    claimed = store.claim("w", 30)
    assert claimed.id == req.id and claimed.approved and claimed.approved_by == "maintainer-a"


def test_approval_is_for_the_submitted_commit_once_and_refusal_says_why(store_factory):
    from rexrank.space.store import ReviewError

    store = store_factory()
    a, b = store.submit(_script()), store.submit(_script(commit="f" * 40))
    with pytest.raises(ReviewError, match=f"is for commit {COMMIT}, not {'e' * 40}"):
        store.approve(a.id, "m", commit="e" * 40)
    with pytest.raises(ReviewError, match="no request nope"):
        store.approve("nope", "m")
    store.approve(a.id, "m")
    with pytest.raises(ReviewError, match="is PENDING \\(approved by m at .*\\), not awaiting review"):
        store.approve(a.id, "other")
    with pytest.raises(ReviewError, match="say why"):
        store.refuse(b.id, "m", "  ")
    refused = store.refuse(b.id, "m", "inference.py downloads weights from an unpinned URL")
    assert (refused.state, refused.refused_by) == (FAILED, "m")
    assert refused.reason == "refused by maintainer m: inference.py downloads weights from an unpinned URL"
    assert store.claim("w", 30).id == a.id and store.claim("w", 30) is None
    with pytest.raises(ReviewError, match="full commit sha"):
        store.submit(_script(commit="main"))


def test_two_maintainers_approving_at_once_approve_exactly_once(store_factory):
    from rexrank.space.store import ReviewError

    req = store_factory().submit(_script())
    outcomes: list[str] = []
    barrier = threading.Barrier(3)

    def approve(name: str) -> None:
        store = store_factory()
        barrier.wait()
        try:
            store.approve(req.id, name)
            outcomes.append(f"ok:{name}")
        except ReviewError:
            outcomes.append("refused")

    threads = [threading.Thread(target=approve, args=(f"m{n}",)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(o.startswith("ok:") for o in outcomes) == 1 and outcomes.count("refused") == 2
    assert store_factory().get(req.id).approved_by == next(o for o in outcomes if o.startswith("ok:"))[3:]


def test_a_script_request_made_pending_behind_the_stores_back_is_failed_not_run(store_factory):
    store = store_factory()
    req = _script()
    req.state = PENDING  # written directly, as a bug or a hand edit might: no approval recorded
    store.transact(lambda snap: ({f"requests/{req.id}.json": req.to_json()}, None), "hand edit")
    assert store.claim("w", 30) is None
    got = store.get(req.id)
    assert got.state == FAILED and "without a maintainer's approval" in got.reason
