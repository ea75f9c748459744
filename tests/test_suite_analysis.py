"""The Challenge paper's analyses and the figures: normal/abnormal (CheXbert or user labels), by
site, error rates, metric–metric correlations, Hub-native export."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import yaml

from rexrank.metrics.suite import analysis
from rexrank.metrics.reporting import hub_results
from rexrank.cli import main

SITES = ("site_a", "site_b", "site_c")


def _score(tmp_path: Path, preds: Path, *extra: str, out: str = "out", dataset: str = "iu_xray") -> dict:
    code = main(["-q", "score", "--dataset", dataset, "--predictions", str(preds), "--out", str(tmp_path / out),
                 "--cache-dir", str(tmp_path / "cache"), *extra])
    assert code == 0
    return json.loads((tmp_path / out / "results.json").read_text())


@pytest.fixture(scope="module")
def iu(iu_manifests) -> dict:
    return json.loads(Path(iu_manifests["test"]).read_text())


@pytest.fixture(scope="module")
def preds_file(iu, tmp_path_factory) -> Path:
    preds = {k: str(v["section_findings"]).split(".")[0] + ". No effusion." for k, v in iu.items()}
    path = tmp_path_factory.mktemp("preds") / "sys.json"
    path.write_text(json.dumps(preds))
    return path


def _mean(values):
    return sum(values) / len(values)


def test_normal_abnormal_from_user_labels(tmp_path, iu, preds_file, capsys):
    ids = list(iu)
    normal = {i: n % 3 == 0 for n, i in enumerate(ids)}
    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["study_id", "normal"])
        w.writerows([i, "normal" if normal[i] else "abnormal"] for i in ids)
    results = _score(tmp_path, preds_file, "--metrics", "bleu2", "--labels", str(labels))
    na = results["analyses"]["normal_abnormal"]
    assert na["source"] == "user labels" and na["n_unlabelled"] == 0
    per = dict(zip(results["per_study"]["study_id"], results["per_study"]["bleu2"]))
    for group, flag in (("normal", True), ("abnormal", False)):
        values = [per[i] for i in ids if normal[i] is flag]
        assert na["groups"][group]["bleu2"]["n"] == len(values)
        assert na["groups"][group]["bleu2"]["value"] == pytest.approx(_mean(values), rel=1e-12)
    assert "Normal vs abnormal (user labels)" in capsys.readouterr().out
    assert (tmp_path / "out" / "plots" / "normal_abnormal.png").stat().st_size > 1000


def test_normal_abnormal_from_chexbert_no_finding_of_reference(tmp_path, preds_file, tiny_chexbert_models):
    results = _score(tmp_path, preds_file, "--metrics", "bleu2", "semb_score")
    assert "chexbert" not in results["metrics"]  # the labeler ran for the split only
    no_finding = [d["reference_no_finding"] for d in results["details"]["chexbert"]]
    na = results["analyses"]["normal_abnormal"]
    assert na["source"] == "CheXbert 'No Finding' of the reference"
    for group, flag in (("normal", True), ("abnormal", False)):
        n = sum(v is flag for v in no_finding)
        assert na["groups"].get(group, {}).get("semb_score", {}).get("n", 0) == n


def _rexgradient_manifest(iu: dict, path: Path, n: int = 90) -> Path:
    rows = {}
    for k, (sid, v) in enumerate(list(iu.items())[:n]):
        rows[sid] = {**v, "site": SITES[k % 3], "subject_id": k}
    path.write_text(json.dumps(rows))
    return path


def test_by_site_and_per_site_rank_heatmap(tmp_path, iu, capsys):
    manifest = _rexgradient_manifest(iu, tmp_path / "rexgradient.json")
    studies = json.loads(manifest.read_text())
    findings = {k: v["section_findings"] for k, v in studies.items() if isinstance(v["section_findings"], str)}
    systems = {"perfect": findings, "first_sentence": {k: t.split(".")[0] + "." for k, t in findings.items()},
               "constant": {k: "Heart size normal." for k in findings}}
    for name, preds in systems.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(preds))
        _score(tmp_path, tmp_path / f"{name}.json", "--metrics", "bleu2", "--manifest", str(manifest),
               "--system", name, out=name, dataset="rexgradient")
    perfect = json.loads((tmp_path / "perfect" / "results.json").read_text())
    groups = perfect["analyses"]["by_site"]["groups"]
    assert sorted(groups) == list(SITES) and sum(g["bleu2"]["n"] for g in groups.values()) == len(findings)
    assert main(["compare", *(str(tmp_path / s) for s in systems), "--n-resamples", "500",
                 "--plots", str(tmp_path / "plots")]) == 0
    results = [json.loads((tmp_path / s / "results.json").read_text()) for s in systems]
    ranks = analysis.site_ranks(results, "bleu2")
    assert ranks["ranks"]["perfect"] == {s: 1 for s in SITES}
    assert ranks["ranks"]["constant"] == {s: 3 for s in SITES} or ranks["ranks"]["first_sentence"] == {s: 3 for s in SITES}
    assert (tmp_path / "plots" / "site_ranks_bleu2.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "site_ranks_bleu2.svg").is_file()


def _result(per_study: dict, columns: dict | None = None, details: dict | None = None) -> dict:
    n = len(next(iter(per_study.values())))
    return {"metrics": {m: {"value": _mean(v)} for m, v in per_study.items()},
            "per_study": {"study_id": [str(i) for i in range(n)], **per_study},
            "per_study_columns": columns or {}, "details": details or {}}


def test_error_rates_from_green_counts_and_fineradscore_severities():
    green = [1.0, 0.5, 0.0, 1.0]
    result = _result({"green": green, "fineradscore": [0, 1, 3, 2]},
                     details={"green": [{"significant_errors": {"a": 0, "b": 0}}, {"significant_errors": {"a": 1}},
                                        {"significant_errors": {"c": 2, "d": 1}}, {"significant_errors": {}}]})
    rates = analysis.error_rates(result)
    assert rates["no_clinically_significant_error"]["share"] == 0.5
    assert rates["no_clinically_significant_error"]["n"] == 4
    assert rates["no_actionable_error"]["share"] == 0.5  # severities 0 and 1 are not actionable
    # a per-study column of GREEN's significant-error counts is used in preference to details
    by_column = _result({"green": green}, columns={"green": {"green_significant_errors": [0, 0, 0, 2],
                                                             "green_insignificant_errors": [5, 5, 5, 5]}})
    assert analysis.error_rates(by_column)["no_clinically_significant_error"]["share"] == 0.75
    assert analysis.error_rates(_result({"bleu2": [0.1, 0.2]})) is None
    # the paper's sum aggregation: two "not actionable" lines sum to 2 but are still no actionable error
    summed = _result({"fineradscore": [2.0, 2.0, float("nan")]},
                     details={"fineradscore": [{"line_severities": {"1": 1, "2": 1}}, {"line_severities": {"1": 2}},
                                               {"reply": None}]})
    rates = analysis.error_rates(summed)["no_actionable_error"]
    assert rates["share"] == 0.5 and rates["n"] == 2  # the failed study is left out, not counted as an error


def test_correlation_across_studies_and_systems():
    r = _result({"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 4.0, 6.0, 8.1], "c": [4.0, 3.0, 2.0, 1.0]})
    corr = analysis.study_correlation(r)
    assert corr["metrics"] == ["a", "b", "c"] and corr["pearson"][0][2] == pytest.approx(-1.0)
    systems = [{"metrics": {"a": {"value": x}, "b": {"value": 2 * x + 1}}} for x in (0.1, 0.4, 0.3)]
    across = analysis.system_correlation(systems)
    assert across["over"] == "systems" and across["pearson"][0][1] == pytest.approx(1.0)
    assert analysis.system_correlation(systems[:2]) is None  # r of two points means nothing


def test_hub_native_export_round_trips_through_huggingface_hub(tmp_path, preds_file):
    from huggingface_hub import ModelCard, parse_eval_result_entries

    results = _score(tmp_path, preds_file, "--metrics", "bleu2", "--hub-model-id", "org/model")
    card_yaml = (tmp_path / "out" / "model_index.yaml").read_text()
    card = ModelCard(f"---\n{card_yaml}---\n# org/model\n")
    [entry] = card.data.eval_results
    assert entry.metric_type == "rexrank_bleu2" and entry.dataset_config == "iu_xray"
    assert entry.metric_value == pytest.approx(results["metrics"]["bleu2"]["value"], abs=1e-6)
    assert entry.metric_args["n"] == 590
    eval_file = tmp_path / "out" / ".eval_results" / "rexrank_iu_xray_test_findings.yaml"
    [parsed] = parse_eval_result_entries(yaml.safe_load(eval_file.read_text()))
    assert parsed.task_id == "iu_xray_test_findings_bleu2" and "95% CI" in parsed.notes
    assert parsed.value == pytest.approx(results["metrics"]["bleu2"]["value"], abs=1e-6)
    assert hub_results.dataset_id_default() == parsed.dataset_id


def test_reciprocal_metric_ci_in_group_summaries():
    r = _result({"radcliq": [1.0, 2.0, 3.0, 4.0, 5.0]})
    r["metrics"]["radcliq"]["value"] = 1 / 3
    out = analysis.group_summary(r, {"all": [0, 1, 2, 3, 4]})["all"]["radcliq"]
    half = 1.96 * math.sqrt(0.5)
    assert out["value"] == pytest.approx(1 / 3) and out["ci"] == pytest.approx([1 / (3 + half), 1 / (3 - half)])
