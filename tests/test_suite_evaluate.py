"""The `rexrank` evaluate module: from a checkout, by bare name after `rexrank install-evaluate`
(offline, fresh HF_MODULES_CACHE, fresh process), add_batch, and evaluate.combine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import evaluate
import pytest

from rexrank.metrics.scorers.bleu2 import Bleu2Scorer
from rexrank.metrics.evaluate_glue.install import module_folders

ROOT = Path(__file__).resolve().parents[1]
PREDS = ["No pleural effusion. Heart size normal.", "Mild cardiomegaly.", "", "Lungs are clear."]
REFS = ["Heart size normal. No effusion.", "Cardiomegaly, mild.", "No acute disease.", "Lungs are clear."]

# A stock-style module, shaped like huggingface/evaluate's metrics/exact_match (which cannot be
# downloaded offline; the evaluate package ships no module scripts).
EXACT_MATCH = '''
import datasets
import evaluate


class ExactMatch(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(description="exact match", citation="", inputs_description="",
                                   features=datasets.Features({"predictions": datasets.Value("string"),
                                                               "references": datasets.Value("string")}))

    def _compute(self, predictions, references):
        return {"exact_match": sum(p == r for p, r in zip(predictions, references)) / len(predictions)}
'''


def test_installed_module_loads_by_bare_name_offline_in_fresh_modules_cache(tmp_path):
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1",
           "REXRANK_SCORE_CACHE": str(tmp_path / "scores")}
    subprocess.run([sys.executable, "-m", "rexrank", "-q", "install-evaluate"], env=env, check=True,
                   capture_output=True, text=True, cwd=tmp_path)
    installed = list((tmp_path / "modules" / "evaluate_modules" / "metrics").glob("evaluate-metric--*/*/*.py"))
    names = {p.stem for p in installed if p.stem != "__init__"}
    assert "rexrank" in names and names == set(module_folders())
    script = (
        "import json, evaluate\n"
        "m = evaluate.load('rexrank')\n"
        f"out = m.compute(predictions={PREDS!r}, references={REFS!r}, metrics=['bleu2'], per_study=True)\n"
        "one = evaluate.load('rexrank_bleu2')\n"
        f"alone = one.compute(predictions={PREDS!r}, references={REFS!r})\n"
        "print(json.dumps({'module': type(m).__module__, 'out': out, 'alone': alone['bleu2_per_study']}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True,
                          cwd=tmp_path)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["module"].startswith("evaluate_modules.metrics.evaluate-metric--rexrank.")
    expected = Bleu2Scorer()(PREDS, REFS).values["bleu2"]
    assert answer["out"]["bleu2"]["per_study"] == pytest.approx(expected, abs=0)
    assert answer["out"]["bleu2"]["value"] == pytest.approx(sum(expected) / len(expected))
    assert answer["out"]["bleu2"]["n"] == len(PREDS)
    assert answer["alone"] == pytest.approx(expected, abs=0)  # one metric's module, also by bare name


@pytest.fixture(scope="module")
def suite_module():
    return evaluate.load(str(ROOT / "hf_metrics" / "rexrank"))


def test_compute_from_checkout_returns_value_ci_n(suite_module, tmp_path):
    out = suite_module.compute(predictions=PREDS, references=REFS, metrics=["bleu2"], cache_dir=str(tmp_path))
    entry = out["bleu2"]
    assert set(entry) >= {"value", "ci", "n", "mean", "higher_is_better"} and "per_study" not in entry
    assert entry["ci"][0] < entry["value"] < entry["ci"][1]
    with_ids = suite_module.compute(predictions=PREDS, references=REFS, study_ids=["a", "b", "c", "d"],
                                    metrics=["bleu2"], per_study=True, cache_dir=str(tmp_path))
    assert with_ids["bleu2"]["study_ids"] == ["a", "b", "c", "d"] and len(with_ids["bleu2"]["per_study"]) == 4


def test_add_batch_equals_one_call(suite_module, tmp_path):
    for i in range(0, len(PREDS), 2):
        suite_module.add_batch(predictions=PREDS[i:i + 2], references=REFS[i:i + 2])
    batched = suite_module.compute(metrics=["bleu2"], per_study=True, cache_dir=str(tmp_path))
    whole = suite_module.compute(predictions=PREDS, references=REFS, metrics=["bleu2"], per_study=True,
                                 cache_dir=str(tmp_path))
    assert batched["bleu2"]["per_study"] == whole["bleu2"]["per_study"]


def test_unknown_metric_is_a_clear_error(suite_module):
    with pytest.raises(ValueError, match="unknown metric 'bleu4'.*bleu2"):
        suite_module.compute(predictions=PREDS, references=REFS, metrics=["bleu4"])


def test_combine_with_a_stock_style_module(suite_module, tmp_path, monkeypatch):
    folder = tmp_path / "exact_match"
    folder.mkdir()
    (folder / "exact_match.py").write_text(EXACT_MATCH)
    monkeypatch.setenv("REXRANK_SCORE_CACHE", str(tmp_path / "scores"))
    ours = evaluate.load(str(ROOT / "hf_metrics" / "rexrank"), metrics=["bleu2"])  # load-time options
    combined = evaluate.combine([ours, evaluate.load(str(folder))])
    out = combined.compute(predictions=PREDS, references=REFS)
    assert out["exact_match"] == 0.25
    assert list(out) == ["bleu2", "exact_match"] and out["bleu2"]["n"] == len(PREDS)
    for i in range(len(PREDS)):
        combined.add(prediction=PREDS[i], reference=REFS[i])
    assert combined.compute()["exact_match"] == 0.25


def test_suite_module_folder_is_a_publishable_space(tmp_path):
    import yaml

    from rexrank import __version__
    from rexrank.metrics.evaluate_glue.publish import build_module_spaces

    folder = ROOT / "hf_metrics" / "rexrank"
    card = (folder / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py" and {"evaluate", "metric"} <= set(header["tags"])
    for section in ("## Metric Description", "## Intended Uses", "## How to Use", "## Inputs", "## Output Values",
                    "### Values from Popular Papers", "## Examples", "## Limitations and Bias", "## Citation",
                    "## Further References"):
        assert section in card
    assert 'evaluate.load("rexrank")' in (folder / "app.py").read_text()
    [space] = build_module_spaces("some-org", tmp_path, only=["rexrank"], rexrank_spec=f"rexrank=={__version__}")
    assert sorted(p.name for p in space.folder.iterdir()) == ["README.md", "app.py", "requirements.txt", "rexrank.py"]
    assert 'evaluate.load("rexrank.py")' in (space.folder / "app.py").read_text()  # its own file, not the Hub's
    assert f"\n{space.requirement}\n" in (space.folder / "requirements.txt").read_text()
    assert f'# From: "{space.requirement}"' in (space.folder / "rexrank.py").read_text()
