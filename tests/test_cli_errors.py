"""Class 5 of issue 14: the command line ends every error in one clear line (never a traceback),
checks what it can before the work starts, refuses what it used to ignore, and passes its errors
and logs through the Space's secret redaction."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rexrank.cli import main
from rexrank.datasets.tracks import load_track

HF_SECRET = "hf_PlantedCliSecretToken0123456789"
OPENAI_SECRET = "sk-PlantedCliOpenAIKey0123456789ab"


@pytest.fixture
def track(small_iu_manifest):
    return load_track("iu_xray", "findings", manifest=small_iu_manifest)


@pytest.fixture
def preds(track, tmp_path) -> Path:
    path = tmp_path / "preds.json"
    path.write_text(json.dumps(dict(zip(track.study_ids, track.references))))
    return path


def score(tmp_path, small_iu_manifest, predictions, *extra, out=None) -> int:
    return main(["score", "--dataset", "iu_xray", "--manifest", str(small_iu_manifest), "--metrics", "bleu2",
                 "--predictions", str(predictions), "--out", str(out or tmp_path / "out"),
                 "--cache-dir", str(tmp_path / "cache"), "--no-plots", *extra])


def one_clean_error(caplog) -> str:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "Traceback" not in caplog.text
    return errors[0].getMessage()


# ------------------------------------------------------------------ rexrank generate --model DIR


@pytest.mark.parametrize("content, why", [
    ("{not json", "not valid JSON (line 1, column 2)"),
    ("", "not valid JSON"),
    ("[1, 2, 3]", "holds a JSON list, not an object"),
    ('"a string"', "holds a JSON str, not an object"),
    ("\xff\xfe{}", "not valid JSON"),
    (json.dumps({"model_type": "vision-encoder-decoder", "architectures": ["VisionEncoderDecoderModel"],
                 "encoder": {"model_type": "vit"}, "decoder": {"model_type": "cxr_mystery_lm"}}),
     "the decoder's model_type 'cxr_mystery_lm' is not one transformers knows"),
    (json.dumps({"model_type": "vision-encoder-decoder", "encoder": "vit", "decoder": {"model_type": "bert"}}),
     "no 'encoder' section"),
])
def test_generate_refuses_a_bad_local_config_up_front(tmp_path, caplog, small_iu_manifest, content, why):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_bytes(content.encode("latin-1") if content.startswith("\xff") else content.encode())
    out = tmp_path / "preds.json"
    with caplog.at_level(logging.ERROR):
        code = main(["generate", "--model", str(model), "--dataset", "iu_xray", "--manifest", str(small_iu_manifest),
                     "--data-dir", str(tmp_path), "--out", str(out)])
    assert code == 2 and why in one_clean_error(caplog)
    assert not out.exists() and not list(tmp_path.glob("*.progress.json"))  # refused before the run


@pytest.mark.parametrize("model, why", [
    ("./no-such-folder", "does not exist"),
    ("./a-file", "is a file"),
    ("./empty-folder", "has no config.json"),
    ("empty-folder", "pass ./empty-folder"),  # a bare name is a Hub id; the folder is pointed out
])
def test_generate_tells_missing_file_and_folder_apart(tmp_path, caplog, monkeypatch, model, why):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "empty-folder").mkdir()
    with caplog.at_level(logging.ERROR):
        code = main(["generate", "--model", model, "--dataset", "iu_xray", "--data-dir", str(tmp_path),
                     "--out", str(tmp_path / "p.json")])
    assert code == 2 and why in one_clean_error(caplog)


def test_generate_refuses_an_out_that_is_a_folder_before_loading_anything(tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        code = main(["generate", "--model", "org/model", "--dataset", "iu_xray", "--data-dir", str(tmp_path),
                     "--out", str(tmp_path)])
    assert code == 2 and "is a folder; give a file name" in one_clean_error(caplog)


# ------------------------------------------------------------------ rexrank score: checks before scoring


def test_score_refuses_an_out_that_is_a_file_before_scoring(tmp_path, caplog, small_iu_manifest, preds):
    out = tmp_path / "taken"
    out.write_text("my notes")
    with caplog.at_level(logging.ERROR):
        assert score(tmp_path, small_iu_manifest, preds, out=out) == 2
    assert "is a file; it must be a folder" in one_clean_error(caplog)
    assert out.read_text() == "my notes" and not (tmp_path / "cache").exists()  # nothing scored, nothing lost


@pytest.mark.parametrize("rows, why", [
    ("study_id,normal\nNOPE-1,1\n{first},0\n", "'NOPE-1'"),
    ("study_id,normal\n{first},maybe\n", "'maybe'"),
    ("study_id,normal\n{first},\n", "neither normal nor abnormal"),
    ("study_id,normal\n{first},1\n{first},0\n", "appear more than once"),
    ("id,normal\n{first},1\n", "needs a header with study_id"),
    ("study_id,normal,extra\n{first},1,2\n", "one label column"),
])
def test_labels_with_unknown_studies_or_values_are_refused_naming_them(tmp_path, caplog, small_iu_manifest, preds,
                                                                       track, rows, why):
    labels = tmp_path / "labels.csv"
    labels.write_text(rows.format(first=track.study_ids[0]))
    with caplog.at_level(logging.ERROR):
        assert score(tmp_path, small_iu_manifest, preds, "--labels", str(labels)) == 2
    assert why in one_clean_error(caplog)
    assert not (tmp_path / "out" / "results.json").exists()


def test_labels_of_every_study_are_used(tmp_path, small_iu_manifest, preds, track):
    labels = tmp_path / "labels.csv"
    labels.write_text("study_id,normal\n" + "".join(f"{s},{'normal' if i % 2 else 'abnormal'}\n"
                                                    for i, s in enumerate(track.study_ids)))
    assert score(tmp_path, small_iu_manifest, preds, "--labels", str(labels)) == 0
    analyses = json.loads((tmp_path / "out" / "results.json").read_text())["analyses"]["normal_abnormal"]
    assert analyses["source"] == "user labels" and analyses["n_unlabelled"] == 0


@pytest.mark.parametrize("option", ["--predictions", "--labels", "--manifest"])
def test_a_missing_path_and_a_folder_get_different_messages(tmp_path, caplog, small_iu_manifest, preds, option):
    messages = []
    for path in (tmp_path / "absent.json", tmp_path):
        args = {"--predictions": str(preds), "--manifest": str(small_iu_manifest)}
        args[option] = str(path)
        extra = ["--labels", args["--labels"]] if "--labels" in args else []
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            code = main(["score", "--dataset", "iu_xray", "--manifest", args["--manifest"], "--metrics", "bleu2",
                         "--predictions", args["--predictions"], "--out", str(tmp_path / "o"), *extra])
        assert code == 2
        messages.append(one_clean_error(caplog))
    assert "does not exist" in messages[0] and "is a folder, not a file" in messages[1]


def test_compare_tells_missing_and_folder_apart(tmp_path, caplog):
    (tmp_path / "empty").mkdir()
    for target, why in ((tmp_path / "absent", "no results file"), (tmp_path / "empty", "no results file")):
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            assert main(["compare", str(target), str(target)]) == 2
        assert why in one_clean_error(caplog)
    (tmp_path / "bad.json").write_text("{oops")
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert main(["compare", str(tmp_path / "bad.json"), str(tmp_path / "bad.json")]) == 2
    assert "is not valid JSON" in one_clean_error(caplog)


# ------------------------------------------------------------------ one limit for every format


@pytest.mark.parametrize("fmt", ["json", "csv", "jsonl"])
@pytest.mark.parametrize("length, ok", [(99_000, True), (140_000, False)])
def test_one_report_length_limit_for_every_format(tmp_path, track, fmt, length, ok):
    from rexrank.datasets.predictions import MAX_REPORT_CHARS, PredictionFileError, read_predictions

    reports = dict(zip(track.study_ids, track.references))
    long_id = track.study_ids[0]
    reports[long_id] = "Heart normal. " * (length // 14)
    path = tmp_path / f"p.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(reports))
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps({"study_id": k, "report": v}) + "\n" for k, v in reports.items()))
    else:
        import csv

        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["study_id", "report"])
            writer.writerows(reports.items())
    if ok:
        assert read_predictions(path, track.study_ids)[long_id] == reports[long_id]
    else:
        with pytest.raises(PredictionFileError, match=f"longer than {MAX_REPORT_CHARS:,} characters.*{long_id}"):
            read_predictions(path, track.study_ids)


# ------------------------------------------------------------------ secrets and tracebacks


def test_a_file_full_of_secrets_is_never_echoed(tmp_path, caplog, small_iu_manifest, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", HF_SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_SECRET)
    environ = tmp_path / "environ"
    environ.write_bytes(f"HF_TOKEN={HF_SECRET}\0OPENAI_API_KEY={OPENAI_SECRET}\0HOME=/root\0".encode())
    with caplog.at_level(logging.ERROR):
        assert score(tmp_path, small_iu_manifest, environ) == 2
    assert "not the format it claims" in one_clean_error(caplog)
    for secret in (HF_SECRET, OPENAI_SECRET):
        assert secret not in caplog.text and secret[:14] not in caplog.text


def test_proc_self_environ_in_a_real_process_leaks_nothing(tmp_path, small_iu_manifest):
    env = {**os.environ, "HF_TOKEN": HF_SECRET, "OPENAI_API_KEY": OPENAI_SECRET, "MY_DB_PASSWORD": "pw-0123456789-x"}
    done = subprocess.run([sys.executable, "-m", "rexrank.cli", "score", "--dataset", "iu_xray", "--manifest",
                           str(small_iu_manifest), "--metrics", "bleu2", "--predictions", "/proc/self/environ",
                           "--out", str(tmp_path / "o")], capture_output=True, text=True, env=env, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 2 and "not the format it claims" in output and "Traceback" not in output
    for secret in (HF_SECRET, OPENAI_SECRET, "pw-0123456789-x"):
        assert secret not in output and secret[:12] not in output


@pytest.mark.parametrize("error, code, shown", [
    (ValueError("bad things"), 1, "unexpected ValueError: bad things"),
    (AttributeError("'NoneType' object has no attribute 'x'"), 1, "unexpected AttributeError"),
    (PermissionError(13, "Permission denied", "/data/x.json"), 2, "Permission denied (/data/x.json)"),
    (RuntimeError(f"token {HF_SECRET} refused"), 1, "token *** refused"),
])
def test_an_unexpected_error_is_one_line_and_the_traceback_needs_vv(monkeypatch, caplog, error, code, shown):
    import rexrank.metrics.cli.metrics as metrics_cli

    monkeypatch.setenv("HF_TOKEN", HF_SECRET)

    def boom(args):
        raise error

    monkeypatch.setattr(metrics_cli, "run", boom)
    with caplog.at_level(logging.INFO):
        assert main(["metrics"]) == code
    assert shown in one_clean_error(caplog) and HF_SECRET not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        assert main(["-vv", "metrics"]) == code
    assert "Traceback" in caplog.text and HF_SECRET not in caplog.text
