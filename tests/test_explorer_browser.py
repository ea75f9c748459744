"""`rexrank explore` on the stand-in results, for real: in headless Chromium (sort by a metric, open
the worst study, read the diff, a highlighted label, an unmatched entity, the analyses, the images,
the other system) with screenshots in test-artifacts/, and through gradio_client for the API; the
Space's Explore tab through gradio_client on a system the Space evaluated."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rexrank.space.explorer import data
from tests.fixtures.space import start_server, stop_server
from tests.test_space_browser import CHROMIUM, FLAGS

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def explorer_url(standin_results, tmp_path_factory):
    """`rexrank explore A B --data-dir IMAGES` in a subprocess on a free loopback port."""
    import os

    log = tmp_path_factory.mktemp("explore") / "explore.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    proc, url = start_server([str(standin_results.a), str(standin_results.b), "--data-dir", str(standin_results.images)],
                             env=env, log=log, command="explore")
    try:
        yield url
    finally:
        stop_server(proc)


def _choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


@pytest.mark.browser
def test_browser_sorts_opens_the_worst_study_and_shows_why(explorer_url, standin_results):
    from playwright.sync_api import expect, sync_playwright

    a = data.load_system_file(standin_results.a)
    worst = data.page(a, sort_metric="chexbert", order=data.WORST).study_ids[0]
    view = data.study(a, worst)
    missing = next(t for t, tag in view["diff"][0] if tag == "missing" and t.isalpha())
    disagree = [r["condition"] for r in view["chexbert"] if not r["agree"]]
    unmatched = next(x["item"][0] for x in view["radgraph"]["reference_entities"] if not x["matched"])
    with_images = standin_results.study_ids[0]
    top_gap = data.disagreements(a, data.load_system_file(standin_results.b), "bleu2")[2][0]
    SHOTS.mkdir(exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(explorer_url)
            expect(page.locator("#explore-caption")).to_contain_text("30 studies", timeout=30_000)
            _choose(page, "explore-sort", "CheXbert F1")
            table = page.locator("#explore-table")
            first_row = table.get_by_role("row").nth(1)
            expect(first_row).to_contain_text(worst, timeout=30_000)
            page.screenshot(path=str(SHOTS / "explorer-table.png"), full_page=True)

            table.get_by_role("gridcell", name=worst).first.click()
            expect(page.locator("#explore-scores")).to_contain_text(worst, timeout=30_000)
            diff = page.locator("#study-diff")
            expect(diff.locator(".diff-reference")).to_contain_text(view["reference"].split()[0])
            expect(diff.locator(".diff-reference .diff-missing").filter(has_text=missing).first).to_be_visible()
            labels = page.locator("#chexbert-labels .label-disagree")
            assert disagree, "the worst CheXbert F1 study disagrees on some label"
            expect(labels).to_have_count(len(disagree))
            expect(labels.first).to_contain_text(disagree[0])
            page.screenshot(path=str(SHOTS / "explorer-study.png"), full_page=True)

            page.get_by_role("tab", name="RadGraph").click()
            expect(page.locator("#radgraph-view .ent-unmatched").filter(has_text=unmatched).first).to_be_visible()
            page.screenshot(path=str(SHOTS / "explorer-radgraph.png"), full_page=True)
            page.get_by_role("tab", name="GREEN").click()
            expect(page.locator("#green-view")).to_contain_text("matched findings")
            page.get_by_role("tab", name="FineRadScore").click()
            expect(page.locator("#fineradscore-lines")).to_contain_text("Urgent error")
            page.get_by_role("tab", name="Across systems").click()
            expect(page.locator("#explore-across")).to_contain_text("system_b")

            page.locator("#explore-study-id textarea, #explore-study-id input").first.fill(with_images)
            page.locator("#explore-open").click()
            expect(page.locator("#explore-scores")).to_contain_text(with_images, timeout=30_000)
            page.get_by_role("tab", name="Images").click()
            expect(page.locator("#explore-images img").first).to_be_visible(timeout=30_000)

            page.locator("#explore-compare").get_by_text("Where two systems disagree most").click()
            page.locator("#explore-compare-button").click()
            gaps = page.locator("#explore-disagreements")
            expect(gaps.get_by_role("row").nth(1)).to_contain_text(top_gap, timeout=30_000)
            page.screenshot(path=str(SHOTS / "explorer-compare.png"), full_page=True)
        finally:
            browser.close()
    assert (SHOTS / "explorer-study.png").stat().st_size > 10_000


def test_gradio_client_pages_and_opens_studies(explorer_url, standin_results):
    from gradio_client import Client

    client = Client(explorer_url, verbose=False)
    assert {"/explore_page", "/explore_study", "/explore_disagreements"} <= set(
        client.view_api(return_format="dict")["named_endpoints"])
    table, caption, number = client.predict("system_a", "bleu2", data.WORST, data.ALL, data.ALL, None, "", "", "", 2,
                                            api_name="/explore_page")
    assert caption == "page 2 of 2 · 30 studies" and number == 2 and len(table["data"]) == 5
    bleu = table["headers"].index("BLEU-2")
    values = [r[bleu] for r in table["data"]]
    assert values == sorted(values)
    study = standin_results.study_ids[2]
    scores, diff, labels, graph, green, fine, images, across = client.predict("system_a", study,
                                                                             api_name="/explore_study")
    assert study in scores and "diff-reference" in diff and "chexbert-labels" in labels and "radgraph-view" in graph
    assert [r[0] for r in across["data"]] == ["system_a", "system_b"]
    _, caption, _ = client.predict("system_a", "bleu2", data.WORST, data.ABNORMAL, data.ALL, "bertscore", "0.5", "",
                                   "", 1, api_name="/explore_page")
    assert caption.endswith("studies")
    gaps = client.predict("system_a", "system_b", "bleu2", api_name="/explore_disagreements")
    assert len(gaps["data"]) == 25 and gaps["headers"][0] == "Study"
    with pytest.raises(Exception, match="not a number"):
        client.predict("system_a", "bleu2", data.WORST, data.ALL, data.ALL, "bleu2", "low", "", "", 1,
                       api_name="/explore_page")


def test_the_space_explores_a_system_it_evaluated(space_server, small_iu_predictions, tmp_path):
    import json

    from gradio_client import Client, handle_file

    preds = json.loads(small_iu_predictions.read_text())
    for entry in preds.values():
        entry["model_prediction"] = "No acute findings. " + entry["model_prediction"]
    upload = tmp_path / "explore_predictions.json"
    upload.write_text(json.dumps(preds))
    client = Client(space_server.url, verbose=False)
    assert client.predict("", "", handle_file(str(upload)), "ExploreBot", ["iu_xray"], "findings",
                          api_name="/submit").startswith("queued")
    deadline = time.time() + 120
    while time.time() < deadline:
        queue = client.predict(api_name="/queue")
        rows = [dict(zip(queue["headers"], r)) for r in queue["data"] if "ExploreBot" in r]
        if rows and rows[0]["State"] in ("FINISHED", "FAILED"):
            break
        time.sleep(1)
    assert rows and rows[0]["State"] == "FINISHED", rows
    name = "ExploreBot (iu_xray, findings)"
    table, caption, _ = client.predict(name, "bleu2", data.WORST, data.ALL, data.ALL, None, "", "", "", 1,
                                       api_name="/explore_page")
    assert caption == "page 1 of 1 · 12 studies" and table["headers"][:4] == ["#", "Study", "Group", "BLEU-2"]
    study = table["data"][0][1]
    scores, diff, *_ = client.predict(name, study, api_name="/explore_study")
    assert study in scores and '<span class="diff-added" title="only in the prediction">acute</span>' in diff
