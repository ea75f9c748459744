"""The metric-core `evaluate` modules load from a checkout folder and return mean + per-study values."""

from pathlib import Path

import evaluate
import pytest

ROOT = Path(__file__).resolve().parents[1]
PREDS = ["No acute cardiopulmonary process. Heart size is normal.", "Small left pleural effusion."]
REFS = ["Heart size is normal. No acute cardiopulmonary process.", "No pleural effusion."]
FOLDERS = ["rexrank_bleu2", "rexrank_bertscore", "rexrank_sembscore", "rexrank_chexbert", "rexrank_radgraph",
           "rexrank_radcliq"]


def _load(name):
    return evaluate.load(str(ROOT / "hf_metrics" / name))


def test_bleu2_module_returns_mean_and_per_study():
    out = _load("rexrank_bleu2").compute(predictions=PREDS, references=REFS)
    assert out["bleu2_per_study"] == pytest.approx([0.9428090415820634, 0.5477225575051662], abs=1e-12)
    assert out["bleu2"] == pytest.approx(sum(out["bleu2_per_study"]) / 2)


def test_bertscore_module_on_tiny_weights(tiny_bertscore_models):
    from rexrank.metrics.registry import load_scorer

    out = _load("rexrank_bertscore").compute(predictions=PREDS, references=REFS, batch_size=4)
    direct = load_scorer("bertscore")(PREDS, REFS).values["bertscore"]
    assert out["bertscore_per_study"] == pytest.approx(direct, abs=1e-9)
    assert out["bertscore"] == pytest.approx(sum(direct) / 2, abs=1e-9)
    assert out["provenance"]["models"][0]["repo_id"] == "distilbert/distilroberta-base"


def test_radcliq_module_reports_the_reciprocal_mean():
    comps = {"radgraph": [0.5, 0.2], "bertscore": [0.6, 0.3], "semb_score": [0.8, 0.4], "bleu2": [0.4, 0.1]}
    out = _load("rexrank_radcliq").compute(predictions=PREDS, references=REFS, components=comps)
    assert out["radcliq_per_study"] == pytest.approx([0.04121035522655971, 1.307937535786318], abs=1e-12)
    assert out["1/radcliq"] == pytest.approx(1 / out["radcliq"])


@pytest.mark.parametrize("folder", FOLDERS)
def test_module_folders_are_complete(folder):
    path = ROOT / "hf_metrics" / folder
    card = (path / "README.md").read_text()
    assert card.startswith("---\ntitle:") and "app_file: app.py" in card
    for section in ("## Metric Description", "## Intended Uses", "## How to Use", "### Inputs", "### Output Values",
                    "#### Values from Popular Papers", "## Limitations and Bias", "## Citation", "## Further References"):
        assert section in card, section
    assert "launch_gradio_widget" in (path / "app.py").read_text()
    assert "rexrank" in (path / "requirements.txt").read_text()
    module = _load(folder)
    assert module.name and module.description
