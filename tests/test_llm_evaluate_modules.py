"""The GREEN and FineRadScore `evaluate` modules load from their checkout folders and return the
scorer's per-study values, details and (FineRadScore) the leaderboard's 1/mean."""

from __future__ import annotations

from pathlib import Path

import evaluate
import pytest

from rexrank.metrics.registry import load_scorer
from tests.fixtures.llm_server import KEY, FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
PREDS = ["No acute cardiopulmonary process. Heart size is normal.", "Small left pleural effusion."]
REFS = ["Heart size is normal. No acute cardiopulmonary process.", "No pleural effusion."]


def _load(name: str):
    return evaluate.load(str(ROOT / "hf_metrics" / name))


@pytest.mark.parametrize("folder", ["rexrank_green", "rexrank_fineradscore"])
def test_module_folders_are_complete(folder):
    path = ROOT / "hf_metrics" / folder
    card = (path / "README.md").read_text()
    assert card.startswith("---\ntitle:") and "app_file: app.py" in card
    for section in ("## Metric Description", "## Intended Uses", "## How to Use", "### Inputs", "### Output Values",
                    "#### Values from Popular Papers", "## Limitations and Bias", "## Citation", "## Further References",
                    "## Official implementation and where ours differs"):
        assert section in card, section
    assert "launch_gradio_widget" in (path / "app.py").read_text()
    assert "rexrank" in (path / "requirements.txt").read_text()
    assert _load(folder).description


def test_fineradscore_card_says_why_parity_with_published_numbers_is_impossible():
    card = (ROOT / "hf_metrics" / "rexrank_fineradscore" / "README.md").read_text()
    assert "Exact parity with ReXrank's published numbers is impossible" in card


def test_green_module_on_the_tiny_model(tiny_green_models, tmp_path):
    out = _load("rexrank_green").compute(predictions=PREDS, references=REFS, device="cpu", max_length=620,
                                         cache_dir=str(tmp_path), progress=False)
    direct = load_scorer("green", device="cpu", max_length=620, cache_dir=str(tmp_path), progress=False)(PREDS, REFS)
    assert out["green_per_study"] == direct.values["green"]
    assert [d["analysis"] for d in out["green_details"]] == [d["analysis"] for d in direct.details]
    assert out["provenance"]["max_length"] == 620


def test_fineradscore_module_reports_the_reciprocal_mean(monkeypatch, tmp_path):
    server = FakeOpenAI()
    try:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        out = _load("rexrank_fineradscore").compute(predictions=PREDS, references=[r + " SCENARIO:fence" for r in REFS],
                                                    cache_dir=str(tmp_path), progress=False)
    finally:
        server.close()
    assert out["fineradscore_per_study"] == [4.0, 4.0]
    assert out["1/fineradscore"] == pytest.approx(0.25)
    assert out["provenance"]["llm"]["model"] == "gpt-4" and KEY not in repr(out)
