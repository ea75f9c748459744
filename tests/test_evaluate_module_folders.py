"""Every `evaluate` module folder has the shape of huggingface/evaluate's metrics/<name>/ and loads."""

from pathlib import Path

import evaluate
import pytest

from rexrank.metrics.registry import METRICS

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = sorted(p for p in (ROOT / "hf_metrics").glob("rexrank_*") if p.is_dir())


def test_every_registry_metric_has_a_module_folder():
    names = {p.name for p in FOLDERS}
    # SembScore's module is named after the metric's display name, the others after the registry name.
    expected = {f"rexrank_{'sembscore' if n == 'semb_score' else n}" for n in METRICS}
    assert expected <= names


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_module_folder_loads_with_its_card_and_cites_its_paper_and_rexrank(folder):
    for file in (f"{folder.name}.py", "README.md", "requirements.txt", "app.py"):
        assert (folder / file).is_file(), f"{folder.name} lacks {file}"
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n") and "tags:" in card and "- evaluate" in card
    module = evaluate.load(str(folder))
    assert module.name == folder.name
    assert module.description.strip()
    assert module.citation.count("@") >= 2, "the metric's own paper and ReXrank"
    assert "zhang2024rexrank" in module.citation
    assert set(module.features) == {"predictions", "references"}
