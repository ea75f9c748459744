"""The explorer's data functions on the stand-in results (no Gradio): the study table sorted,
filtered and paginated over all studies, one study's views, several systems, images, the Space's
systems from its store."""

from __future__ import annotations

import json
import math

import pytest

from rexrank.errors import InputError
from rexrank.metrics.scorers.green.parse import analyse
from rexrank.space.explorer import data, render


@pytest.fixture(scope="module")
def a(standin_results) -> data.System:
    return data.load_system_file(standin_results.a)


@pytest.fixture(scope="module")
def b(standin_results) -> data.System:
    return data.load_system_file(standin_results.b)


def test_a_result_loads_column_wise_with_its_texts_and_strata(a, standin_results):
    assert a.name == "system_a" and a.key == ("iu_xray", "test", "findings")
    assert a.ids == standin_results.study_ids
    assert a.metrics[:2] == ["bleu2", "bertscore"] and "green" in a.metrics and "fineradscore" in a.metrics
    assert a.predictions[a.row(standin_results.empty)] == ""
    assert a.references == [standin_results.references[i] for i in a.ids]
    assert a.normal_source == "CheXbert 'No Finding' of the reference" and len(a.normal) == 30
    assert a.sites is None


def test_the_table_sorts_worst_first_whichever_way_a_metric_points(a):
    page = data.page(a, sort_metric="bleu2", order=data.WORST, page_size=10)
    assert (page.total, page.pages, len(page.rows)) == (30, 3, 10)
    column = page.columns.index("BLEU-2")
    values = [r[column] for r in page.rows]
    assert values == sorted(values) and values[0] == 0.0  # the empty prediction scores 0
    radcliq = data.page(a, sort_metric="radcliq", order=data.WORST, page_size=30)
    col = radcliq.columns.index("RadCliQ-v1 ↓")  # per-study RadCliQ: lower is better, so worst = highest
    assert [r[col] for r in radcliq.rows] == sorted((r[col] for r in radcliq.rows), reverse=True)
    best = data.page(a, sort_metric="bleu2", order=data.BEST, page_size=5)
    assert best.rows[0][column] == round(max(a.values["bleu2"]), 4)
    last = data.page(a, sort_metric="bleu2", page=99, page_size=10)
    assert last.page == 3 and len(last.rows) == 10 and last.caption == "page 3 of 3 · 30 studies"


def test_filters_by_group_metric_range_and_text(a, standin_results):
    normal = data.page(a, group=data.NORMAL, page_size=50)
    abnormal = data.page(a, group=data.ABNORMAL, page_size=50)
    assert normal.total + abnormal.total == 30 - sum(v is None for v in a.normal)
    assert {r[2] for r in normal.rows} <= {"normal"} and {r[2] for r in abnormal.rows} <= {"abnormal"}
    ranged = data.page(a, filter_metric="bertscore", low=0.85, high=0.9, page_size=50)
    col = ranged.columns.index("BERTScore")
    assert ranged.total == sum(0.85 <= v <= 0.9 for v in a.values["bertscore"]) and \
        all(0.85 <= r[col] <= 0.9 for r in ranged.rows)
    found = data.page(a, search=standin_results.long.lower())
    assert found.study_ids == [standin_results.long]
    assert data.page(a, search="pneumothorax").total >= 25  # system A adds it to every report but two
    with pytest.raises(InputError, match="no sites"):
        data.page(a, site="A")
    with pytest.raises(InputError, match="no metric 'nope'"):
        data.page(a, sort_metric="nope")


def test_word_diff_marks_what_only_one_side_says():
    left, right = data.word_diff("Heart size is normal. No effusion.", "heart is NORMAL. Small effusion.")
    assert [t for t, tag in left if tag == "missing"] == ["size", "No"]
    assert [t for t, tag in right if tag == "added"] == ["Small"]
    assert [t for t, _ in right] == ["heart", "is", "NORMAL", ".", "Small", "effusion", "."]
    html = render.diff_html({"diff": (left, right)})
    assert '<span class="diff-missing" title="only in the reference">size</span>' in html
    assert "normal." in html  # no space before punctuation
    escaped = render.diff_html({"diff": data.word_diff("<b>x</b>", "")})  # texts are escaped
    assert "&lt;" in escaped and "<b>" not in escaped


def test_one_study_shows_every_metric_view(a, standin_results):
    view = data.study(a, standin_results.study_ids[0])
    assert view["reference"] == standin_results.references[view["study_id"]]
    assert [name for name, _, _ in view["values"]][:2] == ["BLEU-2", "BERTScore"]
    rows = view["chexbert"]
    detail = a.details("chexbert", 0)
    assert len(rows) == 14 and [r["agree"] for r in rows] == [
        detail["reference_labels"][r["condition"]] == detail["prediction_labels"][r["condition"]] for r in rows]
    graph = view["radgraph"]
    ref_entities = {tuple(e) for e in a.details("radgraph", 0)["reference_entities"]}
    pred_entities = {tuple(e) for e in a.details("radgraph", 0)["prediction_entities"]}
    assert [x["matched"] for x in graph["prediction_entities"]] == [x["item"] in ref_entities for x in graph["prediction_entities"]]
    assert {x["item"] for x in graph["reference_entities"] if x["matched"]} == ref_entities & pred_entities
    assert view["green"]["errors"][0]["category"].startswith("(a) False report")
    fine = view["fineradscore"]
    assert [r["line"] for r in fine["lines"]][:2] == ["0", "1"] and fine["lines"][0]["severity_word"] == "Urgent error"
    assert "(missing from the candidate)" in [r["text"] for r in fine["lines"] if r["line"] == "None"]
    for part in (render.scores_html(view), render.chexbert_html(rows), render.radgraph_html(graph),
                 render.green_html(view["green"]), render.fineradscore_html(fine)):
        assert part.startswith("<")
    assert ("label-disagree" in render.chexbert_html(rows)) == (not all(r["agree"] for r in rows))
    with pytest.raises(InputError, match="not in system_a"):
        data.study(a, "no-such-study")


def test_green_view_of_an_official_style_analysis():
    response = ("The candidate misses the effusion.\n\n[Clinically Significant Errors]:\n(a) False report of a "
                "finding in the candidate: 1. Nodule.\n(b) Missing a finding present in the reference: 2. Effusion; "
                "edema.\n\n[Clinically Insignificant Errors]:\n(a) False report of a finding in the candidate: 0.\n\n"
                "[Matched Findings]:\n3. Heart size; lungs; bones.")
    view = data.green_view(analyse(response))
    assert view["matched"] == 3 and view["score"] == pytest.approx(0.5)
    assert [e["significant"] for e in view["errors"]][:2] == [1, 2]
    html = render.green_html(view)
    assert "matched findings: 3" in html and "The candidate misses the effusion." in html


def test_the_same_study_across_systems_and_where_they_disagree(a, b, standin_results):
    columns, rows = data.same_study([a, b], standin_results.study_ids[1])
    assert [r[0] for r in rows] == ["system_a", "system_b"] and "GREEN" not in columns  # B did not run GREEN
    assert columns[1] == "BLEU-2" and columns[-1] == "Prediction"
    columns, rows, ids = data.disagreements(a, b, "bleu2", limit=5)
    gaps = [abs(r[3]) for r in rows]
    assert gaps == sorted(gaps, reverse=True) and len(ids) == 5
    worst = max(range(30), key=lambda i: abs(a.values["bleu2"][i] - b.values["bleu2"][b.index[a.ids[i]]]))
    assert ids[0] == a.ids[worst]
    with pytest.raises(InputError, match="system_b has no metric 'green'"):
        data.disagreements(a, b, "green")


def test_images_come_from_the_data_dir_when_it_is_known(a, standin_results):
    first = standin_results.study_ids[0]
    files = data.image_files(a, first, standin_results.images)
    assert files and all(path.endswith(".png") for path, _ in files)
    assert files[0][1].split(" · ")[0] in ("frontal", "lateral", "unknown")
    assert data.image_files(a, first, None) == []
    assert data.image_files(a, standin_results.study_ids[-1], standin_results.images) == []  # none there


def test_an_explorer_loads_systems_when_first_asked_and_tells_same_test_sets(standin_results):
    loads = []

    def source(name, path):
        return data.Source(name, ("iu_xray", "test", "findings"), lambda: loads.append(name) or data.load_system_file(path, name))

    explorer = data.Explorer([source("A", standin_results.a), source("B", standin_results.b)], cache_size=1)
    assert explorer.names() == ["A", "B"] and loads == []
    assert explorer.comparable("B") == ["B", "A"] and loads == []
    explorer.system("A")
    explorer.system("A")
    assert loads == ["A"]
    explorer.system("B")
    explorer.system("A")  # evicted by B (cache of one): read again
    assert loads == ["A", "B", "A"]
    with pytest.raises(InputError, match="no system 'C'"):
        explorer.system("C")


def test_results_without_texts_or_strata_still_open(standin_results, tmp_path):
    raw = json.loads((standin_results.a / "results.json").read_text())
    for key in ("texts", "strata"):
        raw.pop(key)
    old = data.load_system(raw, "old")
    assert old.normal is not None  # from the CheXbert details
    view = data.study(old, old.ids[0])
    assert view["diff"] is None and "does not record the texts" in render.diff_html(view)
    assert data.page(old, search="CXR").total == 30


def test_the_space_offers_every_finished_system(standin_results, tmp_path):
    from rexrank.space.store import LocalDirStore, Request, new_request_id
    from rexrank.space.ui.explorer import store_sources

    store = LocalDirStore(tmp_path / "store")
    result = json.loads((standin_results.a / "results.json").read_text())
    for name in ("Bot", "Bot"):
        request = Request(new_request_id(), "predictions", "iu_xray", "findings", display_name=name,
                          predictions_sha256=name + str(len(store.requests())))
        store.put_result(request, {"schema": "rexrank-space-result/1", "request": {"id": request.id}, "results": result})
    store.submit(Request(new_request_id(), "predictions", "iu_xray", "findings", display_name="Pending",
                         predictions_sha256="p"))
    sources = store_sources(store)
    assert len(sources) == 2 and all(s.name.startswith("Bot (iu_xray, findings) [") for s in sources)
    system = data.Explorer(lambda: store_sources(store)).system(sources[0].name)
    assert system.name == "Bot" and len(system.ids) == 30 and not math.isnan(system.values["bleu2"][0])
    assert system.metrics[:3] == ["bleu2", "bertscore", "semb_score"]  # the registry's order, though the store sorts keys
