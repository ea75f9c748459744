"""A slow metric saves its scores chunk by chunk: a run killed half-way resumes where it stopped.

Uses a registry entry added for the test (an API-style metric whose scorer dies on its second
call), so the suite's own chunking, caching and resumption are what is exercised."""

from __future__ import annotations

import pytest

from rexrank.metrics import suite
from rexrank.metrics.suite import run as suite_run
from rexrank.metrics.registry import METRICS, MetricSpec
from rexrank.metrics.scorers.base import ScoreResult
from rexrank.errors import RexrankError

CALLS: list[int] = []


class DyingScorer:
    """Scores = word counts; raises on its second call in a process, like a killed worker."""

    die_on_call = 2

    def __init__(self, **options):
        self.options = options

    def __call__(self, predictions, references):
        CALLS.append(len(predictions))
        if len(CALLS) == self.die_on_call:
            raise RexrankError("API went away")
        return ScoreResult("dying", {"dying": [float(len(p.split())) for p in predictions]})


@pytest.fixture
def dying_metric(monkeypatch):
    """The registry entry, small chunks, and the scorer's call log (the scorer is built by the
    suite from its import path, so the log lives on the module; each test starts it empty)."""
    monkeypatch.setitem(METRICS, "dying", MetricSpec("dying", "Dying", "tests.test_suite_resume:DyingScorer",
                                                     needs_api=True, extra=True))
    monkeypatch.setattr(suite_run, "_CHUNK", 10)
    monkeypatch.setattr(DyingScorer, "die_on_call", 2)
    CALLS.clear()
    yield
    CALLS.clear()


def test_interrupted_slow_metric_resumes_from_saved_chunks(dying_metric, tmp_path):
    preds = [f"report {' word' * i}" for i in range(35)]
    refs = ["reference"] * 35
    with pytest.raises(RexrankError, match="API went away"):
        suite.score_predictions(preds, refs, metrics=["dying"], cache_dir=tmp_path, progress=False)
    assert CALLS == [10, 10]  # first chunk saved, second died
    DyingScorer.die_on_call = 99
    out = suite.score_predictions(preds, refs, metrics=["dying"], cache_dir=tmp_path, progress=False, per_study=True)
    assert CALLS == [10, 10, 10, 10, 5]  # resumed: only the 25 unsaved studies, in chunks
    assert out["dying"]["cache"] == {"hits": 10, "computed": 25}
    assert out["dying"]["per_study"] == [float(i + 1) for i in range(35)]


class HalfFailingScorer:
    """NaN for every other study on the first call (an LLM reply that never parsed), then all fine."""

    calls = 0

    def __init__(self, **options):
        pass

    def __call__(self, predictions, references):
        HalfFailingScorer.calls += 1
        first = HalfFailingScorer.calls == 1
        values = [float("nan") if first and i % 2 else float(len(p)) for i, p in enumerate(predictions)]
        return ScoreResult("flaky", {"flaky": values})


def test_failed_studies_are_not_cached_and_are_retried(monkeypatch, tmp_path):
    monkeypatch.setattr(HalfFailingScorer, "calls", 0)
    monkeypatch.setitem(METRICS, "flaky", MetricSpec("flaky", "Flaky", "tests.test_suite_resume:HalfFailingScorer",
                                                     needs_api=True, extra=True))
    monkeypatch.setenv("FLAKY_MODEL", "judge-a")
    preds, refs = ["a", "bb", "ccc", "dddd"], ["r"] * 4
    first = suite.score_predictions(preds, refs, metrics=["flaky"], cache_dir=tmp_path, progress=False)
    assert first["flaky"]["n"] == 2 and first["flaky"]["n_missing"] == 2
    second = suite.score_predictions(preds, refs, metrics=["flaky"], cache_dir=tmp_path, progress=False)
    assert second["flaky"]["cache"] == {"hits": 2, "computed": 2} and second["flaky"]["n"] == 4
    # another judge model (chosen by environment) is another configuration: nothing reused
    monkeypatch.setenv("FLAKY_MODEL", "judge-b")
    third = suite.score_predictions(preds, refs, metrics=["flaky"], cache_dir=tmp_path, progress=False)
    assert third["flaky"]["cache"] == {"hits": 0, "computed": 4}


def test_options_reach_only_the_named_metric_and_stray_ones_are_refused(tmp_path):
    with pytest.raises(RexrankError, match="metric_options for \\['bertscore'\\]"):
        suite.score_predictions(["a"], ["a"], metrics=["bleu2"], cache_dir=tmp_path,
                                metric_options={"bertscore": {"model": "x"}})
    with pytest.raises(RexrankError, match="'model' names one checkpoint"):
        suite.score_predictions(["a"], ["a"], metrics=["bertscore", "semb_score"], cache_dir=tmp_path, model="x")
