"""Class 4 of issue 14: a dead or misconfigured LLM endpoint costs seconds, not the queue.

Against the local OpenAI-compatible server (tests/fixtures/llm_server.py, loopback only): no key
is refused up front unless the base URL is a local server the user named; the endpoint is checked
once before a run (unreachable, refused key, unknown model, broken server); a circuit breaker stops
a run after a few transport failures in a row whatever their kind, keeping what was scored; and the
suite checks the endpoint before it runs any other metric."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from rexrank.errors import InputError, RexrankError
from rexrank.metrics.runtime.llm_client import (ChatClient, CircuitBreaker, CircuitOpenError, LLMRequestError,
                                                LLMUnavailableError, is_local_url)
from rexrank.metrics.scorers.fineradscore.scorer import FineRadScoreScorer
from tests.fixtures.llm_server import GOOD, KEY, WRONG_KEY


def scorer(tmp_path, **options) -> FineRadScoreScorer:
    return FineRadScoreScorer(cache_dir=str(tmp_path / "cache"), progress=False, backoff=0.05, **options)


def dead_url() -> str:
    """A loopback URL on which nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# ------------------------------------------------------------------ the key


@pytest.mark.parametrize("base_url", [None, "https://api.openai.com/v1", "http://10.1.2.3:8000/v1",
                                      "http://llm.internal.example/v1", "http://127.0.0.1.nip.io/v1"])
def test_no_key_is_refused_before_any_request_unless_the_url_is_local(monkeypatch, base_url) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(InputError, match="OPENAI_API_KEY is not set") as err:
        FineRadScoreScorer(base_url=base_url, progress=False)
    assert "never on the command line" in str(err.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/v1", "http://localhost:{port}/v1"])
def test_a_local_server_the_user_named_runs_without_a_key(api, monkeypatch, tmp_path, url) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    port = api.url.split(":")[2].split("/")[0]
    monkeypatch.setenv("OPENAI_BASE_URL", url.format(port=port))
    result = scorer(tmp_path)(["a"], ["r SCENARIO:ok"])
    assert result.values["fineradscore"] == [3.0]
    assert all(r["auth"] is None for r in api.requests)  # nothing pretended to be a key


def test_an_explicit_placeholder_key_reaches_a_remote_keyless_server(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "EMPTY")  # vLLM's convention for a server that takes any key
    client = ChatClient.from_env(base_url="http://10.1.2.3:8000/v1", model="m")
    assert client.api_key == "EMPTY"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/v1", "127.0.0.1:8000/v1", "http:///v1", "file:///etc/passwd"])
def test_a_base_url_that_is_not_http_is_refused(monkeypatch, url) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with pytest.raises(InputError, match="base URL must be http"):
        ChatClient.from_env(base_url=url, model="m")


def test_local_urls() -> None:
    assert all(is_local_url(u) for u in ["http://127.0.0.1:1/v1", "http://localhost/v1", "http://[::1]:80/v1",
                                         "http://127.8.9.10/v1", "http://a.localhost/v1"])
    assert not any(is_local_url(u) for u in ["https://api.openai.com/v1", "http://10.0.0.1/v1", "http://0.0.0.0/v1",
                                             "http://localhost.example.com/v1", "http://127.0.0.1.nip.io/v1"])


# ------------------------------------------------------------------ the preflight


def test_preflight_refuses_an_unreachable_endpoint_at_once(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    started = time.monotonic()
    with pytest.raises(RexrankError, match=r"cannot reach .*is the server running.*0 of 3 studies were scored"):
        scorer(tmp_path, base_url=dead_url())(["a", "b", "c"], ["r1", "r2", "r3"])
    assert time.monotonic() - started < 5


def test_preflight_names_a_refused_key_without_echoing_it(api, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", WRONG_KEY)
    with pytest.raises(LLMRequestError, match="refused the API key.*OPENAI_API_KEY") as err:
        scorer(tmp_path)(["a"], ["r SCENARIO:ok"])
    assert WRONG_KEY not in str(err.value) and not api.requests  # no study was sent


def test_preflight_names_an_unknown_model_and_what_is_served(api, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FINERADSCORE_MODEL", "gpt-5-imaginary")
    with pytest.raises(LLMRequestError, match=r"does not serve the model 'gpt-5-imaginary'.*judge-model") as err:
        scorer(tmp_path)(["a"], ["r SCENARIO:ok"])
    assert "FINERADSCORE_MODEL" in str(err.value) and not api.requests


def test_without_a_model_list_preflight_asks_for_one_token(api, monkeypatch, tmp_path) -> None:
    api.models_status = 404  # an endpoint without GET /models (some gateways)
    assert scorer(tmp_path)(["a"], ["r SCENARIO:ok"]).values["fineradscore"] == [3.0]
    assert api.requests[0]["body"]["max_tokens"] == 1  # the probe came first
    monkeypatch.setenv("FINERADSCORE_MODEL", "nope")
    with pytest.raises(LLMRequestError, match="one-token request for model 'nope'"):
        scorer(tmp_path)(["b"], ["r SCENARIO:ok"])


def test_a_broken_server_fails_the_preflight(api, tmp_path) -> None:
    api.models_status = 502
    with pytest.raises(RexrankError, match="HTTP 502"):
        scorer(tmp_path)(["a"], ["r SCENARIO:ok"])


def test_no_preflight_when_everything_is_cached(api, tmp_path) -> None:
    scorer(tmp_path)(["a", "b"], ["r1", "r2"])
    api.close()  # the endpoint is gone: a fully cached rerun does not need it
    assert scorer(tmp_path)(["a", "b"], ["r1", "r2"]).values["fineradscore"] == [3.0, 3.0]


# ------------------------------------------------------------------ the circuit breaker


def _break(api, how: str, after: int) -> None:
    """After ``after`` good replies the endpoint goes bad: 503s, 200s that are not JSON, or too slow."""
    original = api.answer
    served = {"n": 0}
    lock = threading.Lock()

    def answer(body):
        if body.get("max_tokens") == 1:
            return original(body)
        with lock:
            served["n"] += 1
            n = served["n"]
        if n <= after:
            return original(body)
        if how == "503":
            return 503, "<html>down</html>", {}
        if how == "bad-200":
            return 200, "<html>a captive portal</html>", {}
        if how == "slow":
            time.sleep(0.6)
            return original(body)
        raise AssertionError(how)

    api.answer = answer


@pytest.mark.parametrize("how", ["503", "bad-200", "slow", "refused"])
def test_a_dying_endpoint_trips_the_breaker_and_keeps_what_was_scored(api, tmp_path, how) -> None:
    """40 studies, 8 at a time: the endpoint dies after a few replies. The run stops in seconds (not
    6 attempts x backoff per study), says how many were scored, and a rerun resends only the rest."""
    n = 40
    predictions, refs = [f"p{i}" for i in range(n)], [f"r{i} SCENARIO:ok" for i in range(n)]
    healthy = api.answer
    if how == "refused":
        def answer(body):
            if len(api.requests) == 6:  # after the 6th request the server goes away: connection refused
                threading.Thread(target=api.close, daemon=True).start()
            return healthy(body)

        api.answer = answer
    else:
        _break(api, how, after=5)
    started = time.monotonic()
    with pytest.raises(RexrankError, match=r"unavailable.*failed requests in a row.*studies were scored and cached") as err:
        scorer(tmp_path, max_attempts=6, timeout=0.3, max_consecutive_failures=4)(predictions, refs)
    assert time.monotonic() - started < 15
    scored = int(str(err.value).split(" of ")[0].rsplit(" ", 1)[-1])
    assert 1 <= scored < n
    assert len(api.requests) < scored + 8 * 6  # nowhere near 40 studies x 6 attempts
    if how != "refused":  # a rerun sends only what is not cached
        api.answer = healthy
        before = len(api.requests)
        assert scorer(tmp_path)(predictions, refs).values["fineradscore"] == [3.0] * n
        assert len(api.requests) - before == n - scored


def test_one_failure_then_success_does_not_trip_it(api, tmp_path) -> None:
    refs = ["SCENARIO:error500", "SCENARIO:ratelimit", "SCENARIO:ok"] * 3
    result = scorer(tmp_path, max_consecutive_failures=2)([f"p{i}" for i in range(9)], refs)
    assert result.values["fineradscore"] == [3.0] * 9


def test_the_breaker_wakes_sleeping_retries() -> None:
    breaker = CircuitBreaker(2)
    woke = []

    def sleeper():
        try:
            breaker.sleep(30)
        except CircuitOpenError:
            woke.append(time.monotonic())

    thread = threading.Thread(target=sleeper)
    thread.start()
    breaker.failure("x")
    assert not breaker.is_open
    opened = time.monotonic()
    breaker.failure("y")
    thread.join(5)
    assert breaker.is_open and woke and woke[0] - opened < 2
    with pytest.raises(CircuitOpenError, match="2 failed requests in a row"):
        breaker.check()
    breaker.success()  # an open breaker stays open for this run
    assert breaker.is_open


# ------------------------------------------------------------------ the suite and the queue


def test_the_suite_checks_the_endpoint_before_any_other_metric_runs(monkeypatch, small_iu_manifest, tmp_path) -> None:
    from rexrank.datasets.tracks import load_track
    from rexrank.metrics.runtime.score_cache import ScoreCache
    from rexrank.metrics.suite import score_test_set

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", dead_url())
    data = load_track("iu_xray", "findings", manifest=small_iu_manifest)
    preds = dict(zip(data.study_ids, data.references))
    started = time.monotonic()
    with pytest.raises(LLMUnavailableError, match="cannot reach"):
        score_test_set("iu_xray", preds, track="findings", manifest=small_iu_manifest, progress=False,
                       metrics=["bleu2", "fineradscore"], cache_dir=tmp_path / "cache", plots=False)
    assert time.monotonic() - started < 10
    db = ScoreCache(tmp_path / "cache")
    assert not db.path.exists() or not any(True for _ in _rows(db.path))  # BLEU-2 was not even started
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
    with pytest.raises(InputError, match="OPENAI_API_KEY is not set"):
        score_test_set("iu_xray", preds, track="findings", manifest=small_iu_manifest, progress=False,
                       metrics=["bleu2", "fineradscore"], cache_dir=tmp_path / "cache", plots=False)


def _rows(path):
    import sqlite3

    with sqlite3.connect(path) as db:
        yield from db.execute("SELECT pair FROM scores")


def test_a_queued_request_fails_fast_with_a_reason_a_visitor_may_see(monkeypatch, small_iu_manifest,
                                                                      small_iu_predictions, tmp_path) -> None:
    from rexrank.space.store import FAILED, PENDING, LocalDirStore
    from rexrank.space.submit import SubmitPolicy, enqueue, file_requests
    from rexrank.space.worker import Worker, WorkerSettings

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    url = dead_url()
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    store = LocalDirStore(tmp_path / "store")
    policy = SubmitPolicy(manifests={"iu_xray": str(small_iu_manifest)})
    for name in ("First", "Second"):
        data = json.loads(small_iu_predictions.read_text())
        data[next(iter(data))]["model_prediction"] += f" {name}"
        requests, artifacts = file_requests(json.dumps(data).encode(), "p.json", ["iu_xray"], "findings",
                                            display_name=name, policy=policy)
        enqueue(store, requests, artifacts)
    started = time.monotonic()
    Worker(store, WorkerSettings(metrics=["bleu2", "fineradscore"], manifests={"iu_xray": str(small_iu_manifest)},
                                 work_dir=str(tmp_path / "work"))).run(exit_when_idle=True)
    assert time.monotonic() - started < 30
    states = [(r.state, r.reason) for r in store.requests()]
    assert [s for s, _ in states] == [FAILED, FAILED] and PENDING not in [s for s, _ in states]
    for _, reason in states:
        assert "cannot reach" in reason and url not in reason and "127.0.0.1" not in reason
        assert "Error" not in reason
    assert not any((tmp_path / "work").iterdir())  # the worker removed its per-request folders
