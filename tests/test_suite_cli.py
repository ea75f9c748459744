"""`rexrank score` / `compare` / `metrics` end to end on the IU-Xray test manifest (seeded asset),
with the real scorers on tiny stand-in checkpoints stored under their real repo ids."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from rexrank.metrics.scorers.bleu2 import Bleu2Scorer
from rexrank.cli import main

IU_TEST_STUDIES = 590
IU_MANIFEST_SHA = "4d30a534525e3d92acacaef329ad35a2429b8853b45ef9003e3034b9c9db8464"


@pytest.fixture(scope="module")
def iu(iu_manifests) -> dict:
    return json.loads(Path(iu_manifests["test"]).read_text())


def _findings(iu: dict) -> dict[str, str]:
    return {k: v["section_findings"] for k, v in iu.items()
            if isinstance(v["section_findings"], str) and v["section_findings"].strip().lower() not in ("", "nan")}


@pytest.fixture(scope="module")
def predictions_file(iu, tmp_path_factory) -> Path:
    """A plausible system: the first sentence of each reference, plus a fixed phrase."""
    preds = {k: text.split(".")[0] + ". No pneumothorax." for k, text in _findings(iu).items()}
    path = tmp_path_factory.mktemp("preds") / "system_a.json"
    path.write_text(json.dumps(preds))
    return path


def _score(tmp_path: Path, predictions: Path, *extra: str, out: str = "out") -> tuple[int, dict | None]:
    argv = ["-q", "score", "--dataset", "iu_xray", "--track", "findings", "--predictions", str(predictions),
            "--out", str(tmp_path / out), "--cache-dir", str(tmp_path / "cache"), *extra]
    code = main(argv)
    path = tmp_path / out / "results.json"
    return code, json.loads(path.read_text()) if code == 0 and path.exists() else None


@pytest.fixture(scope="module")
def iu_findings_references() -> dict[str, str]:
    from rexrank.datasets.tracks import load_track

    track = load_track("iu_xray", "findings")
    return dict(zip(track.study_ids, track.references))


def test_score_end_to_end_bleu2_and_bertscore(tmp_path, predictions_file, tiny_bertscore_models, capsys,
                                              iu_findings_references):
    code, results = _score(tmp_path, predictions_file, "--metrics", "bleu2", "bertscore")
    assert code == 0
    printed = capsys.readouterr().out
    assert "BLEU-2" in printed and "BERTScore" in printed and "95% CI" in printed and str(IU_TEST_STUDIES) in printed

    assert results["dataset"] == {"config": "iu_xray", "split": "test", "track": "findings",
                                  "n_studies": IU_TEST_STUDIES, "manifest_sha256": IU_MANIFEST_SHA,
                                  "reference_style": "manifest"}
    ids = results["per_study"]["study_id"]
    assert len(ids) == IU_TEST_STUDIES == len(set(ids))
    # the suite reports the scorer's own per-study values, aligned by study id
    preds = json.loads(predictions_file.read_text())
    direct = Bleu2Scorer()([preds[i] for i in ids[:25]], [iu_findings_references[i] for i in ids[:25]])
    assert results["per_study"]["bleu2"][:25] == pytest.approx(direct.values["bleu2"], abs=0)
    for metric in ("bleu2", "bertscore"):
        entry = results["metrics"][metric]
        values = results["per_study"][metric]
        mean = sum(values) / len(values)
        assert entry["value"] == pytest.approx(mean, rel=1e-12) and entry["n"] == IU_TEST_STUDIES
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        assert entry["ci"] == pytest.approx([mean - 1.96 * sd / math.sqrt(len(values)),
                                             mean + 1.96 * sd / math.sqrt(len(values))], rel=1e-9)
    prov = results["provenance"]
    assert prov["package"]["name"] == "rexrank" and prov["dataset"]["manifest_sha256"] == IU_MANIFEST_SHA
    assert prov["device"] == "cpu" and "torch" in prov["libraries"] and prov["time"]
    repos = {m["repo_id"]: m for m in prov["models"]}
    assert "distilbert/distilroberta-base" in repos
    assert len(repos["distilbert/distilroberta-base"]["resolved_revision"]) == 40  # a commit, not "main"
    with open(tmp_path / "out" / "per_study.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == IU_TEST_STUDIES and {"study_id", "bleu2", "bertscore"} <= set(rows[0])
    assert float(rows[3]["bleu2"]) == pytest.approx(results["per_study"]["bleu2"][3])
    for name in ("metrics.png", "metrics.svg", "correlation_studies.png", "correlation_studies.svg"):
        assert (tmp_path / "out" / "plots" / name).stat().st_size > 1000
    corr = results["analyses"]["correlation"]
    assert corr["metrics"] == ["bleu2", "bertscore"] and corr["pearson"][0][0] == pytest.approx(1.0)


def test_second_run_reuses_cached_scores(tmp_path, predictions_file, tiny_bertscore_models):
    code, first = _score(tmp_path, predictions_file, "--metrics", "bleu2", "bertscore", out="one")
    assert code == 0
    scored = first["provenance"]["cache"]["computed"]  # studies actually sent to each scorer
    assert scored["bleu2"] > 0 and scored["bertscore"] > 0  # unique (prediction, reference) pairs
    code, second = _score(tmp_path, predictions_file, "--metrics", "bleu2", "bertscore", out="two")
    assert code == 0
    assert second["provenance"]["cache"]["hits"] == scored  # nothing re-scored: every pair read back
    assert second["per_study"] == first["per_study"] and second["metrics"]["bertscore"]["value"] == first["metrics"]["bertscore"]["value"]
    assert second["provenance"]["cache"]["computed"] == {"bleu2": 0, "bertscore": 0}
    # one changed prediction: only that pair is scored again
    preds = json.loads(predictions_file.read_text())
    changed_id = next(iter(preds))
    preds[changed_id] = "A completely different report."
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(preds))
    code, third = _score(tmp_path, changed, "--metrics", "bleu2", out="three")
    assert code == 0 and third["provenance"]["cache"]["computed"] == {"bleu2": 1}


def test_missing_predictions_are_refused_then_allowed(tmp_path, predictions_file, iu, capsys, caplog):
    preds = json.loads(predictions_file.read_text())
    dropped = sorted(preds)[:3]
    for k in dropped:
        del preds[k]
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(preds))
    code, _ = _score(tmp_path, path, "--metrics", "bleu2")
    assert code == 2
    assert dropped[0] in caplog.text and "--allow-missing" in caplog.text
    code, results = _score(tmp_path, path, "--metrics", "bleu2", "--allow-missing")
    assert code == 0 and results["metrics"]["bleu2"]["n"] == IU_TEST_STUDIES
    assert sorted(results["empty_predictions"]) == dropped
    index = results["per_study"]["study_id"].index(dropped[0])
    assert results["per_study"]["bleu2"][index] == 0.0  # BLEU-2 of an empty prediction


def test_unknown_study_ids_are_refused(tmp_path, predictions_file, caplog):
    preds = json.loads(predictions_file.read_text())
    preds["not-a-study"] = "Heart normal."
    path = tmp_path / "extra.json"
    path.write_text(json.dumps(preds))
    code, _ = _score(tmp_path, path, "--metrics", "bleu2")
    assert code == 2 and "not-a-study" in caplog.text


def test_bootstrap_option_and_compare(tmp_path, predictions_file, capsys):
    code, a = _score(tmp_path, predictions_file, "--metrics", "bleu2", "--bootstrap", "500", "--seed", "3", out="a")
    assert code == 0
    assert a["metrics"]["bleu2"]["ci_method"] == "bootstrap(500, seed=3)"
    assert a["metrics"]["bleu2"]["ci"][0] < a["metrics"]["bleu2"]["value"] < a["metrics"]["bleu2"]["ci"][1]
    preds = json.loads(predictions_file.read_text())
    worse = tmp_path / "worse.json"
    worse.write_text(json.dumps({k: v.split(".")[0] for k, v in preds.items()}))
    code, b = _score(tmp_path, worse, "--metrics", "bleu2", out="b")
    assert code == 0
    capsys.readouterr()
    out_json = tmp_path / "cmp.json"
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b" / "results.json"), str(tmp_path / "a"),
                 "--n-resamples", "2000", "--out", str(out_json), "--plots", str(tmp_path / "cmp_plots")]) == 0
    printed = capsys.readouterr().out
    assert "p (bootstrap)" in printed and "p (AR)" in printed
    first, identical = json.loads(out_json.read_text())
    e = first["metrics"]["bleu2"]
    assert e["difference"] == pytest.approx(a["metrics"]["bleu2"]["value"] - b["metrics"]["bleu2"]["value"])
    assert e["ci"][0] < e["difference"] < e["ci"][1] and e["n"] == IU_TEST_STUDIES
    assert e["p_randomization"] < 0.01 and e["p_bootstrap"] < 0.01
    same = identical["metrics"]["bleu2"]
    assert same["difference"] == 0 and same["p_randomization"] == 1.0 and same["p_bootstrap"] == 1.0
    assert (tmp_path / "cmp_plots" / "metrics_systems.png").is_file()


def test_metrics_command_lists_the_registry(capsys):
    assert main(["metrics"]) == 0
    out = capsys.readouterr().out
    for name in ("bleu2", "radcliq", "green", "fineradscore", "1/mean", "distilbert/distilroberta-base@"):
        assert name in out


def test_default_metrics_radcliq_reuses_its_components(tmp_path, predictions_file, iu_manifests, tiny_bertscore_models,
                                                       tiny_chexbert_models, tiny_radgraph_models,
                                                       tiny_ratescore_models, capsys):
    from rexrank.metrics.scorers.radcliq import RadCliQScorer
    from rexrank.metrics.registry import default_metrics

    assert default_metrics() == ["bleu2", "bertscore", "semb_score", "radgraph", "radcliq", "ratescore"]
    # the first 60 IU-Xray test studies (a local manifest): every default metric on tiny weights, kept fast
    subset = dict(list(json.loads(Path(iu_manifests["test"]).read_text()).items())[:60])
    manifest = tmp_path / "iu_subset.json"
    manifest.write_text(json.dumps(subset))
    preds = json.loads(predictions_file.read_text())
    subset_preds = tmp_path / "subset_preds.json"
    subset_preds.write_text(json.dumps({k: preds[k] for k in subset}))
    code, results = _score(tmp_path, subset_preds, "--manifest", str(manifest))  # no --metrics: the default set
    assert code == 0 and results["dataset"]["n_studies"] == 60
    assert list(results["metrics"]) == default_metrics()
    computed = results["provenance"]["cache"]["computed"]  # studies actually sent to each scorer
    unique_pairs = computed["bleu2"]
    assert 0 < unique_pairs <= 60
    for name in default_metrics():  # each metric (RadCliQ's components included) ran once per unique pair
        assert computed[name] == unique_pairs
    per = results["per_study"]
    expected = RadCliQScorer().from_components({c: per[c] for c in ("radgraph", "bertscore", "semb_score", "bleu2")})
    assert per["radcliq"] == pytest.approx(expected.values["radcliq"], abs=1e-12)
    entry = results["metrics"]["radcliq"]
    mean = sum(per["radcliq"]) / len(per["radcliq"])
    assert entry["reported_as"] == "reciprocal_mean" and entry["value"] == pytest.approx(1 / mean)
    low, high = entry["mean_ci"]
    if low < 0 < high:  # random stand-in weights can put 0 inside the mean's CI: the reciprocal's is unbounded
        assert entry["ci"] == ["-inf", "inf"]
    else:
        assert entry["ci"] == pytest.approx([1 / high, 1 / low])
    assert entry["higher_is_better"] is True  # 1/RadCliQ-v1 is higher-better
    printed = capsys.readouterr().out
    for display in ("BLEU-2", "BERTScore", "SembScore", "RadGraph F1", "1/RadCliQ-v1", "RaTEScore"):
        assert display in printed
    repos = {m["repo_id"] for m in results["provenance"]["models"]}
    assert {"distilbert/distilroberta-base", "StanfordAIMI/RRG_scorers"} <= repos
    assert "normal_abnormal" in results["analyses"] or results["details"]["chexbert"]
