"""Class 1 of issue 14: an infinite or undefined reported value is stored one way (null + "infinite"
+ a note), read back as a float by every reader (results.json, compare, tables, plots, Hub eval
results, the leaderboard), displayed as ∞ / — with the reason, sorted first / last; and one bad
result row never takes a leaderboard table down."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from rexrank.metrics.reporting.values import as_float, format_number, from_json, nonfinite_note, rank_key, to_json
from tests.fixtures.llm_server import KEY


def strict_loads(text: str):
    """json.loads that refuses NaN / Infinity tokens, as JavaScript and most JSON readers do."""
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")
    return json.loads(text, parse_constant=refuse)


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([math.inf, -math.inf, math.nan]))
entries = st.fixed_dictionaries({"value": numbers, "ci": st.lists(numbers, min_size=2, max_size=2),
                                 "n": st.integers(0, 10), "reported_as": st.sampled_from(["mean", "reciprocal_mean"])})


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["bleu2", "radcliq", "fineradscore"]), entries, min_size=1))
def test_every_value_survives_a_strict_json_round_trip(metrics) -> None:
    stored = json.dumps(to_json({"metrics": metrics}), allow_nan=False)
    back = from_json(strict_loads(stored))["metrics"]
    for name, entry in metrics.items():
        assert same(back[name]["value"], float(entry["value"]))
        assert same(back[name]["ci"], [float(x) for x in entry["ci"]])
        finite = all(math.isfinite(x) for x in [entry["value"], *entry["ci"]])
        assert ("note" in back[name]) == (not finite or entry["n"] == 0), back[name]


def test_the_representation_is_null_plus_infinite_plus_a_note() -> None:
    entry = {"display": "1/FineRadScore", "value": math.inf, "ci": [-math.inf, math.inf], "n": 12,
             "reported_as": "reciprocal_mean", "mean": 0.0, "mean_ci": [0.0, 0.0]}
    stored = to_json(entry)
    assert stored["value"] is None and stored["ci"] == [None, None]
    assert stored["infinite"] == {"value": "inf", "ci": ["-inf", "inf"]}
    assert "1/mean is unbounded" in stored["note"]
    assert from_json(stored)["value"] == math.inf and from_json(from_json(stored)) == from_json(stored)  # idempotent
    half = to_json({"value": 2.0, "ci": [0.5, math.inf], "n": 3, "reported_as": "reciprocal_mean"})
    assert half["infinite"] == {"ci": [None, "inf"]} and "CI of the mean contains 0" in half["note"]
    assert "one study" in nonfinite_note({"value": 0.3, "ci": [math.nan, math.nan], "n": 1})
    assert "n = 0" in nonfinite_note({"value": math.nan, "ci": [math.nan, math.nan], "n": 0})


@pytest.mark.parametrize("legacy, expected", [("inf", math.inf), ("-inf", -math.inf), ("Infinity", math.inf),
                                              (None, math.nan), ("NaN", math.nan), ("garbage", math.nan),
                                              ([1], math.nan), (True, math.nan), ("0.25", 0.25)])
def test_one_cell_never_breaks_a_reader(legacy, expected) -> None:
    assert same(as_float(legacy), expected)


def test_results_written_before_this_format_still_read(tmp_path) -> None:
    from rexrank.metrics.reporting.results_file import load_results

    old = {"metrics": {"fineradscore": {"display": "1/FineRadScore", "value": "inf", "ci": ["-inf", "inf"],
                                        "n": 3, "reported_as": "reciprocal_mean"}},
           "per_study": {"study_id": ["a", "b", "c"], "fineradscore": [0.0, 0.0, 0.0]},
           "dataset": {"config": "iu_xray", "split": "test", "track": "findings", "n_studies": 3,
                       "manifest_sha256": "0" * 64, "reference_style": "manifest"}, "system": "old"}
    (tmp_path / "results.json").write_text(json.dumps(old))
    loaded = load_results(tmp_path)
    assert loaded["metrics"]["fineradscore"]["value"] == math.inf and loaded["system"] == "old"


def test_display_and_order() -> None:
    assert [format_number(v) for v in (math.inf, -math.inf, math.nan, None, 0.12345)] == ["∞", "-∞", "—", "—", "0.1235"]
    values = [0.5, math.nan, math.inf, -2.0, -math.inf]
    assert sorted(values, key=rank_key) == [math.inf, 0.5, -2.0, -math.inf] + [values[1]]
    assert sorted(values, key=lambda v: rank_key(v, higher_is_better=False))[:2] == [-math.inf, -2.0]


def test_comparison_of_a_zero_mean_reciprocal_does_not_divide_by_zero() -> None:
    from rexrank.metrics.reporting.tables import comparison_table
    from rexrank.metrics.suite.compare import compare

    dataset = {"config": "iu_xray", "split": "test", "track": "findings", "manifest_sha256": "0" * 64,
               "reference_style": "manifest", "n_studies": 6}

    def result(name, values):
        return {"system": name, "dataset": dataset, "per_study": {"study_id": list("abcdef"), "fineradscore": values},
                "metrics": {"fineradscore": {"display": "1/FineRadScore", "reported_as": "reciprocal_mean"}}}

    for ci in ("normal", "bootstrap"):
        for a, b in [([0.0] * 6, [1, 0, 2, 0, 1, 0]), ([1, 0, 2, 0, 1, 0], [0.0] * 6), ([0.0] * 6, [0.0] * 6)]:
            c = compare(result("A", a), result("B", b), ci=ci, n_resamples=200)
            entry = from_json(c)["metrics"]["fineradscore"]
            assert json.dumps(c, allow_nan=False)
            assert "note" in entry and "p-values are computed on the mean" in entry["note"]
            assert 0 <= entry["p_bootstrap"] <= 1 and 0 <= entry["p_randomization"] <= 1
            table = comparison_table(c)
            assert "∞" in table or "—" in table
            assert "Not finite:" in table


# ------------------------------------------------------------------ end to end: a real FineRadScore run


@pytest.fixture
def noerror_manifest(small_iu_manifest, tmp_path) -> Path:
    """The 12-study manifest, with every findings section asking the local judge for 'no error'."""
    raw = json.loads(small_iu_manifest.read_text())
    for entry in raw.values():
        if isinstance(entry.get("section_findings"), str):
            entry["section_findings"] += " SCENARIO:noerrors"
    path = tmp_path / "noerrors.json"
    path.write_text(json.dumps(raw))
    return path


@pytest.fixture
def perfect_result(api, noerror_manifest, tmp_path):
    """results.json of a system that FineRadScore finds error-free on every study: 1/mean = ∞."""
    from rexrank.datasets.tracks import load_track
    from rexrank.metrics.suite import score_test_set

    data = load_track("iu_xray", "findings", manifest=noerror_manifest)
    predictions = {s: r for s, r in zip(data.study_ids, data.references)}
    out = tmp_path / "perfect"
    results = score_test_set("iu_xray", predictions, track="findings", manifest=noerror_manifest,
                             metrics=["bleu2", "fineradscore"], out_dir=out, progress=False, system="Perfect",
                             cache_dir=tmp_path / "cache", metric_options={"fineradscore": {"backoff": 0.01}})
    return results, out


def test_a_perfect_fineradscore_is_stored_as_strict_json_and_read_back_as_infinity(perfect_result) -> None:
    from rexrank.metrics.reporting.results_file import load_results

    results, out = perfect_result
    text = (out / "results.json").read_text()
    stored = strict_loads(text)["metrics"]["fineradscore"]
    assert stored["value"] is None and stored["infinite"]["value"] == "inf" and "1/mean is unbounded" in stored["note"]
    loaded = load_results(out)
    assert loaded["metrics"]["fineradscore"]["value"] == math.inf
    assert math.isfinite(loaded["metrics"]["bleu2"]["value"])
    assert (out / "plots" / "metrics.png").stat().st_size > 1000  # the plots were drawn (∞ annotated, not a 0 bar)


def test_score_table_compare_and_hub_results_tolerate_the_infinite_value(perfect_result, tmp_path, caplog) -> None:
    from rexrank.metrics.reporting import hub_results
    from rexrank.metrics.reporting.plots import plots_for_systems
    from rexrank.metrics.reporting.results_file import load_results
    from rexrank.metrics.reporting.tables import leaderboard_table
    from rexrank.metrics.suite.compare import compare

    results, out = perfect_result
    table = leaderboard_table(results)
    assert "∞" in table and "1/FineRadScore: the mean of the per-study values is 0" in table
    loaded = load_results(out)
    c = compare(loaded, loaded, n_resamples=100)  # the ZeroDivisionError of issue 14
    assert "p-values are computed on the mean" in c["metrics"]["fineradscore"]["note"]
    assert plots_for_systems([loaded, loaded], tmp_path / "figs")
    with caplog.at_level(logging.WARNING):
        entries = hub_results.eval_result_entries(results)
    assert [e.task_id.rsplit("_", 1)[-1] for e in entries] == ["bleu2"]  # the Hub takes finite numbers only
    assert "left out of the Hub evaluation results" in caplog.text
    assert "fineradscore" not in json.dumps(hub_results.model_card_metadata(results, "m"))


@pytest.fixture
def store(tmp_path):
    from rexrank.space import leaderboard as lb
    from rexrank.space.store import LocalDirStore

    store = LocalDirStore(tmp_path / "store")
    lb.seed_published(store)
    return store


def test_the_leaderboard_shows_infinity_first_with_the_reason_and_keeps_every_row(perfect_result, store, caplog):
    from rexrank.space import leaderboard as lb
    from rexrank.space.store import Request, new_request_id
    from rexrank.space.ui.views import TRANSPORT_INF, display_table, leaderboard_view

    results, _ = perfect_result

    def put(name, payload):
        request = Request(new_request_id(), "predictions", "iu_xray", "findings", display_name=name)
        store.put_result(request, payload)
        return request

    def record(name, res):
        return {"request": {"id": name, "dataset": "iu_xray", "track": "findings"}, "system": {"name": name},
                "results": res}

    before = len(lb.leaderboard(store, "iu_xray", "findings"))
    put("Perfect", record("Perfect", results))
    legacy = json.loads(json.dumps(results))
    legacy["metrics"]["fineradscore"].update(value="inf", ci=["-inf", "inf"])
    legacy["metrics"]["fineradscore"].pop("infinite")
    put("Legacy", record("Legacy", legacy))
    # broken rows: every one must be skipped (and logged), never lose the table
    broken = json.loads(json.dumps(results))
    broken["metrics"] = ["not", "a", "mapping"]
    put("BrokenMetrics", record("BrokenMetrics", broken))
    odd = json.loads(json.dumps(results))
    odd["metrics"]["bleu2"].update(value="abc", ci="nonsense")
    put("OddCells", record("OddCells", odd))
    put("NoRequest", {"request": "x", "system": None})
    (store.root / "results" / "garbage.json").write_text("{not json")
    (store.root / "results" / "list.json").write_text("[1, 2]")
    with caplog.at_level(logging.WARNING):
        frame = lb.leaderboard(store, "iu_xray", "findings")
    names = frame["Model"].tolist()
    assert len(frame) == before + 3 and {"Perfect", "Legacy", "OddCells"} <= set(names)
    assert "BrokenMetrics" not in names and "skipped" in caplog.text and "garbage.json" in caplog.text
    odd_row = frame[frame["Model"] == "OddCells"].iloc[0]
    assert math.isnan(odd_row["BLEU-2"])  # one bad cell is — in its row, the row stays
    by_frs = frame.sort_values("1/FineRadScore", ascending=False, na_position="last")
    assert by_frs["Model"].tolist()[:2] in (["Perfect", "Legacy"], ["Legacy", "Perfect"])
    assert by_frs["1/FineRadScore"].iloc[0] == math.inf
    shown = display_table(frame)
    col = shown["headers"].index("1/FineRadScore")
    row = names.index("Perfect")
    assert shown["data"][row][col] == TRANSPORT_INF and json.dumps(shown, allow_nan=False)
    cell = shown["metadata"]["display_value"][row][col]
    assert "∞" in cell and 'title="the mean of the per-study values is 0' in cell
    blank = shown["metadata"]["display_value"][names.index("OddCells")][shown["headers"].index("BLEU-2")]
    assert blank.endswith(">—</span>") and "undefined" in blank
    table, top = leaderboard_view(store, "iu_xray", "findings", "fineradscore")
    assert "Perfect ★" not in top["system"].tolist()  # a bar cannot show ∞: table only
    import gradio as gr

    payload = gr.Dataframe(datatype="markdown", interactive=False).postprocess(table)
    assert payload.metadata["display_value"][row][col] == cell  # what Gradio sends the browser
