"""The Space in headless Chromium: load the page, submit a predictions file, see the new row.

Chromium is Debian's (`apt-get install chromium`, done by scripts/setup.sh --dev); Playwright's
own browser download does not work offline. The screenshot lands in test-artifacts/space.png.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.browser
def test_browser_loads_submits_and_sees_the_new_row(space_server, small_iu_predictions, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).is_file(), "install Debian's chromium: scripts/setup.sh --dev"
    preds = json.loads(small_iu_predictions.read_text())
    for entry in preds.values():  # a different system from the gradio_client test's
        entry["model_prediction"] = entry["model_prediction"].upper()
    upload = tmp_path / "browser_predictions.json"
    upload.write_text(json.dumps(preds))
    shot = ROOT / "test-artifacts" / "space.png"
    shot.parent.mkdir(exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(space_server.url)
            expect(page.get_by_text("A public leaderboard for AI-generated chest X-ray reports")).to_be_visible(
                timeout=30_000)
            expect(page.locator("#leaderboard-table")).to_contain_text("CheXpertPlus", timeout=30_000)

            page.get_by_role("tab", name="Submit").click()
            page.locator("#predictions-upload input[type=file]").set_input_files(str(upload))
            # the file's row, by its accessible name (the visible text splits name and extension)
            uploaded = page.locator("#predictions-upload").get_by_role("cell", name="browser_predictions.json")
            expect(uploaded).to_be_visible(timeout=30_000)
            page.locator("#system-name textarea, #system-name input").first.fill("BrowserBot")
            page.locator("#submit-button").click()
            expect(page.locator("#submit-status")).to_contain_text("queued", timeout=30_000)

            page.get_by_role("tab", name="Queue").click()
            row = page.locator("#queue-table").get_by_role("row").filter(has_text="BrowserBot")
            deadline = time.time() + 120
            while time.time() < deadline and "FINISHED" not in (row.first.inner_text(timeout=20_000)
                                                                if row.count() else ""):
                page.locator("#queue-refresh").click()  # the table also refreshes itself every few seconds
                page.wait_for_timeout(1000)
            page.screenshot(path=str(shot.with_name("space-queue.png")), full_page=True)
            expect(row).to_contain_text("FINISHED", timeout=5_000)

            page.get_by_role("tab", name="Leaderboard").click()
            page.locator("#testset-dropdown input").click()
            page.get_by_role("option", name="IU-Xray").click()
            table = page.locator("#leaderboard-table")
            expect(page.locator("#testset-dropdown input")).to_have_value("IU-Xray")
            page.locator("#plot-metric input").click()
            page.get_by_role("option", name="BLEU-2").click()
            table.get_by_role("textbox").first.fill("Bot")  # the table's search box
            expect(table.get_by_role("row").filter(has_text="BrowserBot")).to_contain_text("evaluated here", timeout=30_000)
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000


@pytest.mark.browser
def test_browser_shows_infinity_with_its_reason_and_sorts_it_first(space_server):
    """Issue 14, class 1, in the real page: a perfect 1/FineRadScore (∞) beside a broken result."""
    import math

    from playwright.sync_api import expect, sync_playwright

    from rexrank.metrics.reporting.values import to_json
    from rexrank.space.store import LocalDirStore, Request, new_request_id

    store = LocalDirStore(space_server.store_dir)
    for name, value in (("InfinityBot", math.inf), ("FiniteBot", 2.5)):
        request = Request(new_request_id(), "predictions", "iu_xray", "findings", display_name=name)
        store.put_result(request, {"request": {"id": request.id, "dataset": "iu_xray", "track": "findings"},
                                   "system": {"name": name}, "results": to_json({"dataset": {}, "metrics": {
                                       "fineradscore": {"display": "1/FineRadScore", "value": value,
                                                        "ci": [-math.inf, math.inf], "n": 12,
                                                        "reported_as": "reciprocal_mean"}}})})
    (space_server.store_dir / "results" / "broken.json").write_text("{half a result")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(space_server.url)
            page.locator("#testset-dropdown input").click()
            page.get_by_role("option", name="IU-Xray").click()
            table = page.locator("#leaderboard-table")
            expect(table).to_contain_text("MoERad-IU", timeout=30_000)  # the IU-Xray table, despite the broken file
            search = table.get_by_role("textbox").first
            search.fill("Bot")  # the table renders the rows in view; ours sort last on 1/RadCliQ-v1 (—)
            row = table.get_by_role("row").filter(has_text="InfinityBot")
            expect(row).to_be_visible(timeout=10_000)
            cell = row.locator("span[title]").filter(has_text="∞").first
            expect(cell).to_be_visible(timeout=10_000)
            assert "1/mean is unbounded" in cell.get_attribute("title")
            search.fill("")
            header = table.get_by_role("columnheader").filter(has_text="1/FineRadScore").first
            header.hover()
            header.locator("button.cell-menu-button").click(force=True)  # the column's menu (⋮)
            page.get_by_text("Sort descending").click()
            expect(table.get_by_role("row").nth(1)).to_contain_text("InfinityBot", timeout=10_000)  # ∞ ranks first
            expect(table.get_by_role("row").nth(2)).to_contain_text("FiniteBot")  # 2.5: above every published 0.x
            page.screenshot(path=str(ROOT / "test-artifacts" / "space-infinity.png"), full_page=True)
        finally:
            browser.close()
