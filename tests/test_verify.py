"""`rexrank verify` end to end: the stand-in result re-scored by the official packages in the
oracle venv, on the weights its provenance records; a corrupted value FAILs and is named; what
cannot be re-run is listed with the reason; the sample includes the edge cases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rexrank.cli import main
from rexrank.metrics.verify.sample import EMPTY, LONG, stratified_sample


def _verify(capsys, *argv: str) -> tuple[int, str]:
    code = main(["-q", "verify", *argv])
    return code, capsys.readouterr().out


def _copy(result: Path, tmp_path: Path) -> Path:
    target = tmp_path / result.name
    shutil.copytree(result, target)
    return target


def _edit(folder: Path, change) -> None:
    path = folder / "results.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_sample_takes_empty_and_longest_reports_and_is_seeded():
    preds = ["a b"] * 100
    refs = ["c d e"] * 100
    preds[7] = preds[40] = ""
    refs[60] = "   "
    preds[3] = "w " * 900
    refs[90] = "x " * 500
    picked = stratified_sample(preds, refs, 20, seed=1)
    assert len(picked) == 20 and list(picked) == sorted(picked)
    empties = {i for i, s in picked.items() if s == EMPTY}
    assert len(empties) == 2 and empties <= {7, 40, 60}  # a tenth of the sample
    assert {i for i, s in picked.items() if s == LONG} == {3, 90}
    assert picked == stratified_sample(preds, refs, 20, seed=1)
    assert picked != stratified_sample(preds, refs, 20, seed=2)
    assert len(stratified_sample(preds, refs, 500)) == 100


@pytest.mark.oracle
def test_verify_passes_on_the_standin_result_and_lists_what_it_cannot_check(standin_results, capsys):
    code, out = _verify(capsys, str(standin_results.a), "--sample", "12")
    report = json.loads((standin_results.a / "verify.json").read_text())
    assert code == 0, out
    for display in ("BLEU-2", "BERTScore", "SembScore", "RadGraph F1", "1/RadCliQ-v1", "RaTEScore", "CheXbert F1"):
        row = next(line for line in out.splitlines() if line.startswith(display + " "))
        checked = 11 if display == "RaTEScore" else 12  # the official RaTEScore crashes on the empty report
        assert row.split()[-1] == "PASS" and row[len(display):].split()[0] == str(checked), out
    skipped = report["metrics"]["ratescore"]["official_could_not_score"]
    assert [s["study_id"] for s in skipped] == [standin_results.empty] and "IndexError" in skipped[0]["reason"]
    assert f"RaTEScore: 1 sampled studies not comparable" in out
    assert "GREEN" in out and "1/FineRadScore: not verified: an LLM judge" in out
    assert report["metrics"]["green"]["status"] == "NOT VERIFIED" and "--metrics green" in report["metrics"]["green"]["reason"]
    sampled = report["sample"]["study_ids"]
    assert standin_results.empty in sampled and standin_results.long in sampled
    assert report["sample"]["strata"] == {"empty": 1, "long": 2, "random": 9}  # the one empty report, 2 of 12 longest
    assert report["passed"] is True and report["oracle"]["bert-score"] == "0.3.11"
    # the official code ran on the recorded revisions
    recorded = json.loads((standin_results.a / "results.json").read_text())["provenance"]["metrics"]
    assert report["models"]["bertscore"][0]["revision"] == recorded["bertscore"]["scorer"]["models"][0]["resolved_revision"]
    assert report["metrics"]["bleu2"]["tolerance"] == 1e-12 and report["metrics"]["bertscore"]["tolerance"] == 1e-6


@pytest.mark.oracle
def test_a_corrupted_value_fails_and_is_named(standin_results, tmp_path, capsys):
    folder = _copy(standin_results.a, tmp_path)
    long_row = standin_results.study_ids.index(standin_results.long)

    def corrupt(data):
        data["per_study"]["bleu2"][long_row] += 0.01  # the longest report is always in the sample
    _edit(folder, corrupt)
    code, out = _verify(capsys, str(folder), "--sample", "6", "--metrics", "bleu2", "bertscore")
    assert code == 1, out
    assert next(line for line in out.splitlines() if line.startswith("BLEU-2 ")).split()[-1] == "FAIL"
    assert next(line for line in out.splitlines() if line.startswith("BERTScore ")).split()[-1] == "PASS"
    assert f"BLEU-2: FAIL study {standin_results.long}: ours" in out
    report = json.loads((folder / "verify.json").read_text())
    assert report["passed"] is False
    assert [f["study_id"] for f in report["metrics"]["bleu2"]["failures"]] == [standin_results.long]
    assert report["metrics"]["bleu2"]["failures"][0]["abs_diff"] == pytest.approx(0.01, abs=1e-9)


@pytest.mark.oracle
def test_weights_of_another_revision_are_never_used_silently(standin_results, tmp_path, capsys):
    folder = _copy(standin_results.a, tmp_path)

    def other_revision(data):
        data["provenance"]["metrics"]["bertscore"]["scorer"]["models"][0]["resolved_revision"] = "f" * 40
    _edit(folder, other_revision)
    code, out = _verify(capsys, str(folder), "--sample", "3", "--metrics", "bertscore", "bleu2")
    assert code == 0  # nothing failed, but BERTScore could not be checked
    report = json.loads((folder / "verify.json").read_text())
    entry = report["metrics"]["bertscore"]
    assert entry["status"] == "NOT VERIFIED" and "ffffffff" in entry["reason"] and "not available" in entry["reason"]
    assert report["metrics"]["bleu2"]["status"] == "PASS"


@pytest.mark.oracle
def test_green_runs_the_official_loop_when_asked(standin_results, capsys):
    code, out = _verify(capsys, str(standin_results.a), "--sample", "4", "--metrics", "green")
    assert code == 0, out
    report = json.loads((standin_results.a / "verify.json").read_text())
    assert report["metrics"]["green"]["status"] == "PASS" and report["metrics"]["green"]["checked"] == 4


@pytest.mark.oracle
def test_an_older_result_without_texts_needs_the_predictions_file(standin_results, tmp_path, capsys):
    folder = _copy(standin_results.a, tmp_path)
    _edit(folder, lambda data: data.pop("texts"))
    assert main(["-q", "verify", str(folder), "--metrics", "bleu2"]) == 2
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps(standin_results.predictions_a))
    capsys.readouterr()
    code, out = _verify(capsys, str(folder), "--metrics", "bleu2", "--predictions", str(predictions),
                        "--manifest", str(standin_results.manifest))
    assert code == 0 and "BLEU-2" in out and "30 of 30 studies" in out


def test_without_the_official_packages_the_error_says_how_to_set_them_up(standin_results, tmp_path, caplog):
    code = main(["verify", str(standin_results.a), "--oracle-venv", str(tmp_path / "none"), "--metrics", "bleu2"])
    assert code == 2
    assert "rexrank verify --setup" in caplog.text and "GB" in caplog.text


def test_one_recipe_for_users_and_for_the_tests(monkeypatch, tmp_path):
    from rexrank.metrics.oracle import venv

    script = (Path(__file__).resolve().parents[1] / "scripts" / "oracle_env.sh").read_text()
    assert "hf_metrics/oracle/venv.py --venv .oracle --test-extras" in script and "pip install" not in script
    monkeypatch.setenv("REXRANK_ORACLE_VENV", str(tmp_path / "v"))
    assert venv.default_venv() == tmp_path / "v"
    monkeypatch.delenv("REXRANK_ORACLE_VENV")
    monkeypatch.setattr(venv, "CHECKOUT", tmp_path / "not-a-checkout")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert venv.default_venv() == tmp_path / "hf" / "rexrank" / "oracle-venv"
    assert not venv.is_ready(tmp_path / "hf" / "rexrank" / "oracle-venv")


def test_bounds_are_the_parity_tests_and_widen_when_ours_ran_on_a_gpu():
    from rexrank.metrics.scorers.radcliq import V1_COEF, V1_SCALE
    from rexrank.metrics.verify.bounds import bound_for

    assert bound_for("bleu2").value == 1e-12 and bound_for("ratescore").value == 1e-6
    expected = sum(abs(c / s) * b for c, s, b in zip(V1_COEF, V1_SCALE, (1e-6, 1e-6, 1e-6, 1e-12)))
    assert bound_for("radcliq").value == pytest.approx(expected) and 3.8e-6 < expected < 4e-6
    assert bound_for("bertscore", {"device": "cpu", "dtype": "float32"}).value == 1e-6
    gpu = bound_for("bertscore", {"device": "cuda:0", "dtype": "float32"})
    assert gpu.value == 1e-4 and "cuda:0" in gpu.source
    assert bound_for("radgraph", {"device": "cuda", "encoder_dtype": "bfloat16"}).value == 1e-2
    assert bound_for("ratescore", {"options": {"device": "cuda"}}).value == 1e-4
    assert bound_for("bleu2", {"device": "cuda"}).value == 1e-12  # no model, no kernel differences
