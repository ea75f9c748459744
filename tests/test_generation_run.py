"""`rexrank generate` end to end on tiny models: valid output, resume after a kill, OOM halving,
failed studies recorded, canary, and the remote-code worker protocol."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rexrank.datasets.predictions import read_predictions
from rexrank.errors import InputError, ModelUnavailableError
from rexrank.space.generation.batching import BatchRunner
from rexrank.space.generation.run import garbage_reason, generate_reports, progress_path
from rexrank.space.generation.adapters.remote import RemoteCodeModel
from rexrank.testing import hubcache

ROOT = Path(__file__).resolve().parents[1]


def _run(models, testset, kind, out, **kwargs):
    options = dict(manifest=testset["manifest"], data_dir=testset["images"], batch_size=4, max_new_tokens=12,
                   progress=False)
    options.update(kwargs)
    return generate_reports(models[kind], "iu_xray", out, **options)


@pytest.mark.parametrize("kind", ["ved", "chat"])
def test_generation_end_to_end_writes_a_valid_predictions_file(tiny_generation_models, generation_testset, tmp_path, kind):
    summary = _run(tiny_generation_models, generation_testset, kind, tmp_path / "preds.json")
    ids = generation_testset["ids"]
    assert summary.complete and summary.n_generated == len(ids) == summary.n_studies
    predictions = read_predictions(tmp_path / "preds.json", ids)  # the scorer's reader accepts it
    assert list(predictions) == ids and all(p.strip() for p in predictions.values())
    saved = json.loads((tmp_path / "preds.json").read_text())
    assert list(saved) == ids  # manifest order, with the test set's fields
    assert saved[ids[0]]["section_findings"] == "The lungs are clear."
    record = json.loads(progress_path(tmp_path / "preds.json").read_text())
    repo = tiny_generation_models[kind]
    assert record["complete"] and record["failed"] == {}
    assert record["model"] == f"{repo}@{hubcache.fake_commit(repo)}"
    assert record["adapter"]["adapter"] == summary.adapter
    assert record["adapter"]["images"] == "key image"
    if kind == "chat":
        assert "FINDINGS section" in record["adapter"]["prompt"]
        # no prompt echo, no chat-template or special tokens in a report
        assert not any(w in p for p in predictions.values() for w in ("USER", "ASSISTANT", "radiologist", "<"))
    else:
        assert record["adapter"]["prompt"] is None
        assert record["adapter"]["decoding"].startswith("checkpoint generation_config")
        assert len(set(predictions.values())) == len(ids)  # each study's report comes from its own image


def test_sorted_batches_give_each_study_its_own_report(tiny_generation_models, generation_testset, tmp_path):
    """Batched (length-sorted, reordered) and one-by-one generation map the same text to the same study."""
    _run(tiny_generation_models, generation_testset, "ved", tmp_path / "one.json", batch_size=1)
    _run(tiny_generation_models, generation_testset, "ved", tmp_path / "batched.json", batch_size=4)
    one = read_predictions(tmp_path / "one.json")
    assert read_predictions(tmp_path / "batched.json") == one and len(set(one.values())) == len(one)


def test_chat_prompt_override_all_views_and_length_sorted_batches(tiny_generation_models, generation_testset,
                                                                  tmp_path, monkeypatch):
    from rexrank.space.generation.adapters import chat

    monkeypatch.setattr(chat, "images_per_study", lambda model_type: None)  # as for Gemma 3 / Qwen2.5-VL
    seen: list[list[tuple[str, int]]] = []
    original = chat.ChatVisionLanguageAdapter.generate_batch

    def spy(self, requests):
        seen.append([(r.study_id, len(r.images)) for r in requests])
        return original(self, requests)

    monkeypatch.setattr(chat.ChatVisionLanguageAdapter, "generate_batch", spy)
    prompt = "Findings for this chest x-ray. Indication: {indication}."
    summary = _run(tiny_generation_models, generation_testset, "chat", tmp_path / "p.json", prompt=prompt,
                   batch_size=2)
    assert summary.complete
    record = json.loads(progress_path(tmp_path / "p.json").read_text())
    assert record["adapter"]["prompt"] == prompt and record["adapter"]["images"] == "all views"
    batches = seen[1:]  # seen[0] is the canary
    assert [n for batch in batches for _, n in batch] == [2, 2, 2, 2, 1, 1]  # most images first
    assert seen[0] == batches[0]


def test_resume_after_kill_gives_the_same_file(tiny_generation_models, generation_testset, tmp_path):
    args = ["generate", "--model", tiny_generation_models["chat"], "--dataset", "iu_xray",
            "--manifest", str(generation_testset["manifest"]), "--data-dir", str(generation_testset["images"]),
            "--batch-size", "1", "--max-new-tokens", "60"]
    command = [sys.executable, "-m", "rexrank.cli", "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}  # tiny ops: threads only contend
    whole, killed = tmp_path / "whole.json", tmp_path / "killed.json"
    _run(tiny_generation_models, generation_testset, "chat", whole, batch_size=1, max_new_tokens=60)  # uninterrupted

    proc = subprocess.Popen(command + args + ["--out", str(killed)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sidecar = progress_path(killed)
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = len(json.loads(sidecar.read_text())["done"])
        except (FileNotFoundError, json.JSONDecodeError):
            done = 0
        if done >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not killed.exists()
    state = json.loads(sidecar.read_text())  # atomic writes: always a whole JSON document
    assert not state["complete"] and 2 <= len(state["done"]) < len(generation_testset["ids"])

    # restart (in process, to spare a second interpreter start): same arguments, continues
    rerun = _run(tiny_generation_models, generation_testset, "chat", killed, batch_size=1, max_new_tokens=60)
    assert rerun.resumed == len(state["done"]) and rerun.complete
    assert killed.read_bytes() == whole.read_bytes()


def test_oom_halves_the_batch_and_keeps_the_smaller_size():
    sizes: list[int] = []

    def generate(batch):
        sizes.append(len(batch))
        if len(batch) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [f"report {b}" for b in batch]

    runner = BatchRunner(generate, batch_size=8)
    assert runner.run(list(range(8))) == [(f"report {i}", None) for i in range(8)]
    # after 4 did not fit, the rest goes in batches of 2: no second try at a size known not to fit
    assert sizes == [8, 4, 2, 2, 2, 2] and runner.batch_size == 2 and runner.oom_halvings == 2
    assert BatchRunner(lambda b: (_ for _ in ()).throw(torch.cuda.OutOfMemoryError("oom")), 1).run([0]) == \
        [(None, "CUDA out of memory even for a single study: oom")]


def test_oom_during_a_run_is_survived(tiny_generation_models, generation_testset, tmp_path, monkeypatch):
    from rexrank.space.generation.adapters.ved import VisionEncoderDecoderAdapter

    original = VisionEncoderDecoderAdapter.generate_batch
    sizes: list[int] = []

    def small_gpu(self, requests):
        sizes.append(len(requests))
        if len(requests) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (fake)")
        return original(self, requests)

    monkeypatch.setattr(VisionEncoderDecoderAdapter, "generate_batch", small_gpu)
    summary = _run(tiny_generation_models, generation_testset, "ved", tmp_path / "p.json", batch_size=4)
    assert summary.complete and summary.n_generated == 6
    assert sizes == [2, 4, 2, 2, 2]  # canary, OOM, halves, then the smaller size for the rest


def test_a_failing_study_is_recorded_the_run_goes_on_and_a_rerun_retries_it(tiny_generation_models,
                                                                              generation_testset, tmp_path, monkeypatch):
    from rexrank.space.generation.adapters.ved import VisionEncoderDecoderAdapter

    original = VisionEncoderDecoderAdapter.generate_batch
    broken = {"CXR5_IM-0005"}

    def flaky(self, requests):
        if broken & {r.study_id for r in requests}:
            raise RuntimeError("corrupt image data")
        return original(self, requests)

    monkeypatch.setattr(VisionEncoderDecoderAdapter, "generate_batch", flaky)
    out = tmp_path / "p.json"
    summary = _run(tiny_generation_models, generation_testset, "ved", out)
    assert summary.failures == {"CXR5_IM-0005": "RuntimeError: corrupt image data"}
    assert summary.n_generated == 5 and not summary.complete
    assert "CXR5_IM-0005" not in json.loads(out.read_text())
    assert json.loads(progress_path(out).read_text())["failed"] == summary.failures
    broken.clear()
    again = _run(tiny_generation_models, generation_testset, "ved", out)
    assert again.complete and again.resumed == 5
    assert list(read_predictions(out, generation_testset["ids"])) == generation_testset["ids"]


def test_missing_image_fails_that_study_only(tiny_generation_models, generation_testset, tmp_path):
    images = tmp_path / "images"
    import shutil

    shutil.copytree(generation_testset["images"], images)
    (images / "CXR2_IM-0002" / "0.png").unlink()
    summary = _run(tiny_generation_models, generation_testset, "ved", tmp_path / "p.json", data_dir=images)
    assert list(summary.failures) == ["CXR2_IM-0002"] and "does not exist" in summary.failures["CXR2_IM-0002"]
    assert summary.n_generated == 5


@pytest.mark.parametrize("output", ["", "   ", "!!! ### 123 ...", "\ufffd\ufffd"])
def test_canary_stops_a_model_that_writes_nothing_or_garbage(tiny_generation_models, generation_testset, tmp_path,
                                                             monkeypatch, output):
    from rexrank.space.generation.adapters.ved import VisionEncoderDecoderAdapter

    monkeypatch.setattr(VisionEncoderDecoderAdapter, "generate_batch", lambda self, rs: [output] * len(rs))
    with pytest.raises(ModelUnavailableError, match="canary: .* does not write reports"):
        _run(tiny_generation_models, generation_testset, "ved", tmp_path / "p.json")
    assert not (tmp_path / "p.json").exists()


def test_canary_survives_one_broken_study_but_not_a_model_that_always_fails(tiny_generation_models,
                                                                            generation_testset, tmp_path, monkeypatch):
    from rexrank.space.generation.adapters.ved import VisionEncoderDecoderAdapter

    original = VisionEncoderDecoderAdapter.generate_batch
    broken = {"CXR1_IM-0001"}  # first in sorted order, so in the canary

    def flaky(self, requests):
        if broken & {r.study_id for r in requests}:
            raise RuntimeError("corrupt image data")
        return original(self, requests)

    monkeypatch.setattr(VisionEncoderDecoderAdapter, "generate_batch", flaky)
    summary = _run(tiny_generation_models, generation_testset, "ved", tmp_path / "p.json")
    assert list(summary.failures) == ["CXR1_IM-0001"] and summary.n_generated == 5
    broken.update(generation_testset["ids"])
    with pytest.raises(ModelUnavailableError, match="canary: .*corrupt image data"):
        _run(tiny_generation_models, generation_testset, "ved", tmp_path / "q.json")


def test_garbage_rules():
    assert garbage_reason("The lungs are clear.") is None
    assert garbage_reason("or of or of or of or of") is None  # repetitive but words
    assert garbage_reason("") == "empty output"
    assert garbage_reason("12 34 56 ...") == "mostly non-letters"
    assert garbage_reason("no " * 10).startswith("one word repeated")


def test_a_rerun_with_other_settings_refuses_the_old_progress(tiny_generation_models, generation_testset, tmp_path):
    out = tmp_path / "p.json"
    _run(tiny_generation_models, generation_testset, "chat", out, limit=2)
    with pytest.raises(InputError, match=r"different run \(prompt:"):
        _run(tiny_generation_models, generation_testset, "chat", out, prompt="Describe the x-ray.")


def test_cli_refuses_remote_code_cleanly(tiny_generation_models, generation_testset, tmp_path, caplog):
    from rexrank.cli import main

    code = main(["generate", "--model", tiny_generation_models["remote"], "--dataset", "iu_xray", "--manifest",
                 str(generation_testset["manifest"]), "--data-dir", str(generation_testset["images"]),
                 "--out", str(tmp_path / "p.json")])
    assert code == 2 and "not on our reviewed allowlist" in caplog.text


RECIPE = '''
import os, sys

class OutOfMemoryError(RuntimeError):
    pass

def load(message):
    assert message["trust_remote_code"] is True and len(message["revision"]) == 40
    print("library chatter on stdout must not break the protocol")

    def generate(requests):
        if len(requests) > 2:
            raise OutOfMemoryError("CUDA out of memory (fake)")
        texts = []
        for r in requests:
            if r["study_id"] == "CXR5_IM-0005":
                raise ValueError("cannot read this study")
            assert all(os.path.getsize(p) > 0 for p in r["images"])
            texts.append(f"Report for {r['study_id']} from {len(r['images'])} views. "
                         f"Indication {r['context']['indication']}.")
        return texts

    return generate, {"python": sys.version.split()[0], "venv": sys.prefix}
'''


def test_remote_code_runs_in_its_own_venv_over_the_json_protocol(tiny_generation_models, generation_testset, tmp_path):
    repo = tiny_generation_models["remote"]
    recipe = tmp_path / "fake_recipe.py"
    recipe.write_text(RECIPE)
    entry = RemoteCodeModel(repo_id=repo, revision=hubcache.fake_commit(repo), recipe=f"{recipe}:load",
                            requirements=())
    venvs = tmp_path / "venvs"
    summary = _run(tiny_generation_models, generation_testset, "remote", tmp_path / "p.json", batch_size=4,
                   allowlist={repo: entry}, adapter_options={"venvs": venvs})
    assert summary.adapter == "remote-code"
    assert list(summary.failures) == ["CXR5_IM-0005"] and "cannot read this study" in summary.failures["CXR5_IM-0005"]
    predictions = json.loads((tmp_path / "p.json").read_text())
    assert predictions["CXR1_IM-0001"]["model_prediction"] == "Report for CXR1_IM-0001 from 2 views. Indication Chest pain."
    assert predictions["CXR2_IM-0002"]["model_prediction"].startswith("Report for CXR2_IM-0002 from 1 views")
    record = json.loads(progress_path(tmp_path / "p.json").read_text())
    worker = record["adapter"]["worker"]
    assert Path(worker["venv"]).resolve() == (venvs / entry.env_key).resolve()  # not our interpreter
    assert record["adapter"]["images"] == "all views"
