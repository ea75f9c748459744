"""ReXrank's submission protocol through `rexrank generate --inference-script DIR`: the environment,
the test-set JSON, the sandbox, the time limit, the output read study by study, resuming, and
BLEU-2 scored at the end. Every run is real: a venv built from the folder's requirements.txt,
the script run by that venv's Python under the sandbox this machine provides."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import pytest

from rexrank.cli import main
from rexrank.datasets.predictions import read_predictions
from rexrank.datasets.tracks import load_track
from rexrank.errors import InputError
from rexrank.space.generation import sandbox
from rexrank.space.generation.inference_script import rexrank_entry, run_inference_script


@pytest.fixture
def iu(small_iu_manifest, iu_images):
    track = load_track("iu_xray", "findings", manifest=small_iu_manifest)
    return {"manifest": small_iu_manifest, "images": iu_images, "ids": track.study_ids, "track": track}


def _run(folder, iu, out, **options):
    return run_inference_script(folder, "iu_xray", out, manifest=iu["manifest"], data_dir=iu["images"], **options)


def _generate(folder, iu, out, *extra) -> int:
    return main(["-q", "generate", "--inference-script", str(folder), "--dataset", "iu_xray", "--manifest",
                 str(iu["manifest"]), "--data-dir", str(iu["images"]), "--out", str(out), *extra])


def test_this_machine_provides_the_sandbox():
    works, why = sandbox.probe()
    assert works, f"the sandbox is not available here: {why}"


def test_cli_runs_a_submission_in_the_sandbox_and_bleu2_scores_its_predictions(make_submission, iu, tmp_path, capsys):
    folder = make_submission("ok")
    out = tmp_path / "preds.json"
    assert _generate(folder, iu, out) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["complete"] and printed["n_generated"] == len(iu["ids"]) == 12
    assert printed["isolation"] == {**printed["isolation"], "mode": "sandbox", "network": False, "read_only": True}
    predictions = read_predictions(out, iu["ids"])  # the project's reader, every study present
    assert all(text.startswith("The lungs are clear.") for text in predictions.values())
    record = json.loads(Path(f"{out}.progress.json").read_text())
    assert record["complete"] and record["submission"]["environment_file"] == "requirements.txt"
    assert record["withheld_fields"] == ["section_findings", "section_impression", "report", "reports"]
    assert record["runs"][0]["studies"] == 12 and record["runs"][0]["exit_code"] == 0
    assert main(["-q", "score", "--dataset", "iu_xray", "--track", "findings", "--manifest", str(iu["manifest"]),
                 "--predictions", str(out), "--metrics", "bleu2", "--out", str(tmp_path / "results"),
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    bleu2 = results["metrics"]["bleu2"]
    assert bleu2["n"] == 12 and 0.0 < bleu2["value"] < 1.0
    # the script opened every image through both of ReXrank's path styles (root + path, os.path.join)
    # and asserted that no reference field reached it: had any failed, the run above would have too


def test_the_environment_is_built_once_per_environment_file(make_submission, iu, tmp_path, submission_venvs):
    folder = make_submission("ok")
    first = _run(folder, iu, tmp_path / "a.json", limit=2).record["environment"]
    again = _run(folder, iu, tmp_path / "b.json", limit=2).record["environment"]
    assert again["digest"] == first["digest"] and again["created"] is False
    (folder / "requirements.txt").write_text((folder / "requirements.txt").read_text() + "# changed\n")
    changed = _run(folder, iu, tmp_path / "c.json", limit=2).record["environment"]
    assert changed["created"] is True and changed["digest"] != first["digest"]
    assert len(list(submission_venvs.glob("submission-venv-*"))) >= 2


def test_a_crash_keeps_what_was_written_names_the_rest_and_a_rerun_sends_only_the_missing(make_submission, iu,
                                                                                          tmp_path):
    folder = make_submission("first2-then-crash")
    out = tmp_path / "crash.json"
    summary = _run(folder, iu, out)
    assert summary.n_generated == 2 and len(summary.failures) == 10
    reason = summary.failures[iu["ids"][2]]
    assert reason.startswith("the script exited with code 1 before writing it; its last output:")
    assert "RuntimeError: CUDA error: out of memory (simulated" in reason
    assert "<submission>/inference.py" in reason and str(folder) not in reason  # no server paths
    sent = [r["studies"] for r in json.loads(Path(f"{out}.progress.json").read_text())["runs"]]
    for _ in range(5):
        summary = _run(folder, iu, out)
        sent = [r["studies"] for r in json.loads(Path(f"{out}.progress.json").read_text())["runs"]]
    assert sent == [12, 10, 8, 6, 4, 2] and summary.complete  # each rerun sent only the studies still missing
    ok = _run(make_submission("ok"), iu, tmp_path / "ok.json")
    assert read_predictions(out, iu["ids"]) == read_predictions(ok.out, iu["ids"])


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_the_time_limit_stops_the_whole_sandbox_and_keeps_what_was_written(make_submission, iu, tmp_path):
    folder = make_submission("first2-then-hang")
    summary = _run(folder, iu, tmp_path / "hang.json", time_limit=3, harvest_seconds=0.5)
    assert summary.n_generated == 2
    reason = summary.failures[iu["ids"][5]]
    assert reason.startswith("the script was stopped at the time limit (3 s) before writing it")
    assert f"hanging on {iu['ids'][2]}" in reason
    assert _processes_mentioning(str(folder)) == []  # nothing of it is left running


def test_malformed_output_fails_every_study_sent_with_the_readers_message(make_submission, iu, tmp_path, capsys):
    out = tmp_path / "bad.json"
    assert _generate(make_submission("malformed"), iu, out) == 1
    failures = json.loads(capsys.readouterr().out)["failures"]
    assert set(failures) == set(iu["ids"])
    assert all(f.startswith("its output file is unreadable:") and "not the format it claims" in f
               for f in failures.values())


def test_skipped_empty_and_non_text_predictions_are_named_per_study(make_submission, iu, tmp_path):
    summary = _run(make_submission("skip-and-bad"), iu, tmp_path / "skip.json")
    ids = iu["ids"]
    assert summary.failures[ids[0]] == "the script's output has an empty or whitespace-only report for this study"
    assert summary.failures[ids[1]] == "the script's output has a prediction that is not text for this study"
    skipped = [ids[i] for i in range(len(ids)) if i % 3 == 2]
    assert all(summary.failures[i] == "the script wrote no prediction for this study (it skipped it)" for i in skipped)
    assert summary.n_generated == len(ids) - 2 - len(skipped)
    assert set(read_predictions(summary.out)) == set(ids) - set(summary.failures)


class _Listener:
    """A loopback port that counts the connections it accepts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.accepted += 1
                conn.close()
            except OSError:
                continue

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener():
    server = _Listener()
    yield server
    server.close()


def test_the_host_is_out_of_reach_writes_reads_and_the_network(make_submission, iu, tmp_path, listener, hf_home):
    outside = tmp_path / "outside" / "written-by-submission.txt"
    outside.parent.mkdir()
    token = hf_home / "token"
    token.write_text("hf_a_token_on_the_workers_disk")
    reads = (str(token), str(iu["manifest"]), "/root/.bashrc", "/etc/shadow")  # secrets, references, homes
    folder = make_submission("escape", escape_paths=(str(outside), "/tmp/rexrank-escape-probe.txt"),
                             escape_reads=reads, escape_port=listener.port)
    out = tmp_path / "escape.json"
    summary = _run(folder, iu, out)
    assert summary.complete  # every attempt was refused, so the script went on and predicted
    log = Path(f"{out}.script.log").read_text()
    # the image root and the submission exist, read-only; /tmp is an empty read-only folder; the rest is absent
    assert log.count("Read-only file system") == 4 and "Network is unreachable" in log
    assert log.count("No such file or directory") == 1 + len(reads) and "READ" not in log and "WROTE" not in log
    assert not outside.exists() and not Path("/tmp/rexrank-escape-probe.txt").exists()
    assert not (folder / "written-by-submission.txt").exists() and not list(iu["images"].glob("written-by-*"))
    assert listener.accepted == 0
    # with the network left on (--allow-network) the same script reaches the port, and says so
    allowed = _run(folder, iu, tmp_path / "net.json", network=True)
    assert listener.accepted == 1 and allowed.n_generated == 0
    assert "exited with code 3" in allowed.failures[iu["ids"][0]] and "CONNECTED to port" in allowed.failures[iu["ids"][0]]
    assert not outside.exists()  # the file system stays read-only either way


def test_image_paths_leaving_the_root_are_never_sent(make_submission, iu, tmp_path):
    raw = json.loads(Path(iu["manifest"]).read_text())
    first, second = list(raw)[:2]
    raw[first]["image_path"] = ["../../etc/passwd"]
    raw[first]["key_image_path"] = "../../etc/passwd"
    raw[second]["image_path"] = ["missing/0.png"]
    raw[second]["key_image_path"] = "missing/0.png"
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(raw))
    summary = run_inference_script(make_submission("ok"), "iu_xray", tmp_path / "p.json", manifest=manifest,
                                   data_dir=iu["images"])
    assert set(summary.failures) == {first, second}
    assert "'../../etc/passwd' has a '..' segment" in summary.failures[first]
    assert "'missing/0.png' does not exist under the root folder" in summary.failures[second]
    assert str(iu["images"]) not in summary.failures[second]  # the message names the path as given, not the server's
    assert json.loads(Path(f"{summary.out}.progress.json").read_text())["runs"][0]["studies"] == 10


def test_the_json_a_script_gets_has_relative_paths_and_no_references():
    study = {"study_id": "50051329", "image_paths": ["p10/p1/s5/a.jpg"], "key_image": "p10/p1/s5/a.jpg"}
    raw = {"image_path": ["/p10/p1/s5/a.jpg"], "key_image_path": "/p10/p1/s5/a.jpg", "context": float("nan"),
           "section_findings": "secret", "section_impression": "secret", "report": "secret", "subject_id": 1,
           "frontal_lateral": ["antero-posterior"]}
    entry = rexrank_entry(raw, study)
    assert entry == {"image_path": ["p10/p1/s5/a.jpg"], "key_image_path": "p10/p1/s5/a.jpg", "context": None,
                     "subject_id": 1, "frontal_lateral": ["antero-posterior"]}
    root = "/data/mimic/files" + os.sep
    assert root + entry["image_path"][0] == os.path.join(root, entry["image_path"][0])  # both styles agree


def test_submission_folders_are_checked_before_anything_runs(tmp_path, iu, make_submission, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="has no inference.py"):
        _run(empty, iu, tmp_path / "x.json")
    (empty / "inference.py").write_text("print('hi')\n")
    with pytest.raises(InputError, match="has no environment file"):
        _run(empty, iu, tmp_path / "x.json")
    (empty / "environment.yaml").write_text("name: x\ndependencies: [python=3.11]\n")
    monkeypatch.setenv("PATH", str(tmp_path))  # no conda, mamba or micromamba here (nor anywhere on this machine)
    from rexrank.errors import ModelUnavailableError

    with pytest.raises(ModelUnavailableError, match="needs conda, mamba or micromamba, and none is on PATH"):
        _run(empty, iu, tmp_path / "x.json")
    with pytest.raises(InputError, match="needs the iu_xray images"):
        run_inference_script(make_submission("ok"), "iu_xray", tmp_path / "y.json", manifest=iu["manifest"])


def test_a_progress_file_of_another_submission_is_refused(make_submission, iu, tmp_path):
    out = tmp_path / "p.json"
    _run(make_submission("skip-and-bad"), iu, out)
    with pytest.raises(InputError, match="belongs to a different run .*submission"):
        _run(make_submission("ok"), iu, out)


def test_without_the_sandbox_auto_warns_and_records_it_and_sandbox_mode_refuses(make_submission, iu, tmp_path,
                                                                                 monkeypatch, caplog):
    monkeypatch.setenv("PATH", str(tmp_path))  # no unshare, mount or setpriv to be found
    sandbox.probe.cache_clear()
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="cannot isolate submitted code .*missing: unshare"):
            _run(make_submission("ok"), iu, tmp_path / "s.json", isolation="sandbox")
        summary = _run(make_submission("ok"), iu, tmp_path / "a.json", limit=2)
    finally:
        sandbox.probe.cache_clear()
    assert summary.complete and summary.record["isolation"]["mode"] == "none"
    assert "no sandbox here" in caplog.text
