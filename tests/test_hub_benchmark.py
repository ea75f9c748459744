"""The test sets as a Hub benchmark: `rexrank data build` writes the dataset repo's eval.yaml as the
Hub documents it (hub-docs eval-results.md), pushes it in a commit of its own, and the
`.eval_results` export of `rexrank score --hub-model-id` names exactly those tasks, round-tripping
through huggingface_hub's own parsers and its model_info(expand=["evalResults"]) call."""

from __future__ import annotations

import json

import pytest
import yaml

from rexrank.cli import main as rexrank_main


@pytest.fixture
def hub_env(fake_hub, monkeypatch):
    import huggingface_hub.constants

    endpoint, hub = fake_hub
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
    monkeypatch.setenv("HF_TOKEN", "hf_benchmark_token_value")
    return endpoint, hub


def test_eval_yaml_declares_one_task_per_test_set_track_and_metric_and_is_pushed_on_its_own(
        tmp_path, hub_env, caplog):
    from rexrank.datasets.benchmark import leaderboard_metrics
    from rexrank.metrics.registry import METRICS

    endpoint, hub = hub_env
    out = tmp_path / "rexrank"
    assert rexrank_main(["-q", "data", "build", "iu_xray", "--out", str(out), "--push-to-hub", "someone/rexrank"]) == 0
    spec = yaml.safe_load((out / "eval.yaml").read_text())
    assert set(spec) == {"name", "description", "evaluation_framework", "tasks"}  # the documented fields only
    assert isinstance(spec["evaluation_framework"], str)  # exactly one framework
    ids = [t["id"] for t in spec["tasks"]]
    assert len(ids) == len(set(ids)) == 2 * 8  # test split only (validation is no leaderboard), 2 tracks x 8
    assert ids[0] == "iu_xray_test_findings_radcliq"  # the first task is the Hub's default leaderboard
    assert all(t["config"] == "iu_xray" and t["split"] == "test" and set(t) == {"id", "config", "split"}
               for t in spec["tasks"])
    assert all(METRICS[m].higher_is_better for m in leaderboard_metrics())  # the Hub has no direction flag
    # pushed: the data first, then eval.yaml alone (the Hub validates it at push time)
    commits = hub.repos[("dataset", "someone/rexrank")]
    assert "eval.yaml" not in commits[1][1] and "README.md" in commits[1][1]
    assert set(commits[2][1]) - set(commits[1][1]) == {"eval.yaml"}
    assert hub.check_eval_yaml(commits[2][1]["eval.yaml"]) == []
    assert "configs:" in commits[2][1]["README.md"].decode()  # plain load_dataset(...) keeps working

    # a Hub that does not know the framework yet refuses eval.yaml: the data push still stands, with a warning
    hub.eval_frameworks = {"inspect-ai", "mteb"}
    assert rexrank_main(["-q", "data", "build", "iu_xray", "--split", "test", "--out", str(tmp_path / "b"),
                         "--push-to-hub", "someone/other"]) == 0
    files = hub.commit_at("dataset", "someone/other", "main")[1]
    assert "iu_xray/test-00000-of-00001.parquet" in files and "eval.yaml" not in files
    assert "refused eval.yaml" in caplog.text and "unknown evaluation_framework 'rexrank'" in caplog.text


def test_eval_results_name_the_declared_tasks_and_round_trip_through_the_hub(tmp_path, request, iu_manifests,
                                                                             tiny_chexbert_models):
    from huggingface_hub import HfApi, parse_eval_result_entries

    from rexrank import __version__
    from rexrank.datasets import benchmark

    raw = json.loads(iu_manifests["test"].read_text())
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps({k: str(v["section_findings"]).split(".")[0] + "." for k, v in raw.items()}))
    out = tmp_path / "scored"
    assert rexrank_main(["-q", "score", "--dataset", "iu_xray", "--track", "findings", "--predictions", str(preds),
                         "--metrics", "bleu2", "chexbert", "--out", str(out), "--no-plots", "--hub-model-id",
                         "org/model", "--hub-dataset-id", "someone/rexrank"]) == 0  # offline, on the stand-ins
    results = json.loads((out / "results.json").read_text())
    assert results["provenance"]["package"]["version"] == __version__
    path = out / ".eval_results" / "rexrank_iu_xray_test_findings.yaml"
    data = yaml.safe_load(path.read_text())
    entries = parse_eval_result_entries(data)
    declared = {t["id"] for t in benchmark.tasks(["iu_xray"])}
    # CheXbert F1 is an extra metric with no task: left out, since the Hub would reject an unknown task id
    assert [e.task_id for e in entries] == ["iu_xray_test_findings_bleu2"] and entries[0].task_id in declared
    assert entries[0].dataset_id == "someone/rexrank" and entries[0].value == round(
        results["metrics"]["bleu2"]["value"], 6)
    assert isinstance(data[0]["date"], str)  # quoted: an unquoted date would load as datetime.date
    assert f"rexrank {__version__}" in entries[0].notes and "95% CI" in entries[0].notes

    endpoint, _ = request.getfixturevalue("hub_env")  # the fake Hub only now: scoring stays offline
    api = HfApi(endpoint=endpoint)
    api.create_repo("org/model", exist_ok=True)
    api.upload_folder(repo_id="org/model", folder_path=str(out), allow_patterns=[".eval_results/*"])
    assert api.model_info("org/model", expand=["evalResults"]).eval_results == entries
