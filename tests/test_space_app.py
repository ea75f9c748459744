"""The Space: submission checks, leaderboard tables, secrets, and the real app through gradio_client."""

from __future__ import annotations

import json
import logging
import io
import math
import time
from pathlib import Path

import pytest

from rexrank.space import leaderboard as lb
from rexrank.space.ui.views import AppSettings, about_markdown, queue_view, submit_view
from rexrank.space.store import FINISHED, LocalDirStore, Request, new_request_id
from rexrank.space.submit import SubmitPolicy
from rexrank.testing import hubcache


@pytest.fixture
def store(tmp_path) -> LocalDirStore:
    store = LocalDirStore(tmp_path / "store")
    lb.seed_published(store)
    return store


@pytest.fixture
def settings(small_iu_manifest) -> AppSettings:
    return AppSettings(on_space=False, policy=SubmitPolicy(manifests={"iu_xray": str(small_iu_manifest)}),
                       metrics=["bleu2"])


def _submit(store, settings, model="", revision="", upload=None, name="", datasets=("iu_xray",),
            track="findings", user=None) -> str:
    return submit_view(store, settings, model, revision, str(upload) if upload else None, name, list(datasets),
                       track, user)


# ------------------------------------------------------------------ submission checks


def test_model_submissions_are_checked_from_config_before_queueing(store, settings):
    hubcache.put_files("rexrank-test/ved-baseline", {"config.json": json.dumps(
        {"model_type": "vision-encoder-decoder", "architectures": ["VisionEncoderDecoderModel"],
         "encoder": {"model_type": "vit"}, "decoder": {"model_type": "bert"}})})
    hubcache.put_files("rexrank-test/own-code", {"config.json": json.dumps(
        {"model_type": "mystery_cxr", "auto_map": {"AutoModel": "modeling.MysteryModel"}})})

    assert "either a Hub model id or a predictions file" in _submit(store, settings)
    assert "is not a Hub repo id" in _submit(store, settings, model="not a repo!")
    unknown = _submit(store, settings, model="nobody-here/no-such-model")
    assert unknown.startswith("Not submitted") and "nobody-here/no-such-model" in unknown
    refused = _submit(store, settings, model="rexrank-test/own-code")
    assert refused.startswith("Not submitted") and "allowlist" in refused
    assert store.requests() == []  # nothing refused was queued

    ok = _submit(store, settings, model="rexrank-test/ved-baseline", datasets=["iu_xray", "mimic_cxr"])
    assert ok.count("queued") == 2
    requests = store.requests()
    assert {r.dataset for r in requests} == {"iu_xray", "mimic_cxr"}
    assert all(r.adapter == "vision-encoder-decoder" and r.revision == hubcache.fake_commit("rexrank-test/ved-baseline")
               for r in requests)  # pinned to the resolved commit
    again = _submit(store, settings, model="rexrank-test/ved-baseline", revision=requests[0].revision)
    assert again.startswith("duplicate: already submitted as request") and len(store.requests()) == 2


def test_malformed_or_oversized_files_are_refused_with_the_studies_named(store, settings, tmp_path,
                                                                          small_iu_predictions):
    preds = json.loads(small_iu_predictions.read_text())
    ids = list(preds)
    bad = {k: v["model_prediction"] for k, v in preds.items() if k not in ids[:2]}
    bad["not-a-study"] = "lungs clear"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    message = _submit(store, settings, upload=path, name="Bad")
    assert message.startswith("Not submitted") and ids[0] in message and ids[1] in message
    assert "not-a-study" in message

    assert "name" in _submit(store, settings, upload=small_iu_predictions, name="  ")
    assert "exactly one" in _submit(store, settings, upload=small_iu_predictions, name="X",
                                    datasets=["iu_xray", "mimic_cxr"])
    tiny = AppSettings(on_space=False, policy=SubmitPolicy(max_upload_bytes=100, manifests=settings.policy.manifests))
    assert "the limit is" in _submit(store, tiny, upload=small_iu_predictions, name="Big")
    assert store.requests() == []

    assert "queued" in _submit(store, settings, upload=small_iu_predictions, name="Good")
    assert "duplicate" in _submit(store, settings, upload=small_iu_predictions, name="Good again")


def test_on_the_hub_submitting_needs_login_and_is_rate_limited(store, small_iu_predictions, small_iu_manifest):
    hub = AppSettings(on_space=True, policy=SubmitPolicy(rate_limit=1, manifests={"iu_xray": str(small_iu_manifest)}))
    assert "log in" in _submit(store, hub, upload=small_iu_predictions, name="A")
    assert "queued" in _submit(store, hub, upload=small_iu_predictions, name="A", user="alice")
    limited = _submit(store, hub, upload=small_iu_predictions, name="A", track="findings_impression", user="alice")
    assert "limit is 1" in limited
    assert "queued" in _submit(store, hub, upload=small_iu_predictions, name="A", track="findings_impression",
                               user="bob")


# ------------------------------------------------------------------ tables


def test_leaderboard_has_the_published_rows_and_marks_our_evaluations(store, shared_data):
    published = (shared_data / "published" / "findings_result_iu_xray.csv").read_text().strip().splitlines()
    frame = lb.leaderboard(store, "iu_xray", "findings")
    assert len(frame) == len(published) - 1 == 25
    unirg = frame[frame["Model"].str.contains("UniRG-CXR")].iloc[0]
    assert unirg["GREEN"] == 0.639 and (unirg["1/FineRadScore"] is None or math.isnan(unirg["1/FineRadScore"]))
    assert frame["Model"].str.match(r"^\[.+\]\(https?://").all()  # names link to their pages
    assert [c for c in frame.columns[4:] if not c.endswith('±')] == [s.display for s in map(lb.METRICS.get, lb.REXRANK_EIGHT)]

    request = Request(new_request_id(), "model", "iu_xray", "findings", model="org/ours", revision="abc123")
    store.put_result(request, {"request": {"id": request.id, "dataset": "iu_xray", "track": "findings"},
                               "system": {"name": "org/ours", "model": "org/ours", "revision": "abc123"},
                               "results": {"dataset": {"config": "iu_xray", "split": "test",
                                                       "manifest_sha256": "0" * 64},
                                           "metrics": {"bleu2": {"value": 0.5, "ci": [0.4, 0.6], "n": 12}}}})
    frame = lb.leaderboard(store, "iu_xray", "findings")
    ours = frame[frame["Source"].str.startswith(lb.OURS)].iloc[0]
    assert ours["Model"] == "[org/ours](https://huggingface.co/org/ours/tree/abc123)"
    assert ours["BLEU-2"] == 0.5 and ours["BLEU-2 ±"] == pytest.approx(0.1)
    assert "custom test set" in ours["Source"]  # not the pinned official test set: marked as such
    top = lb.top_systems(frame, "BLEU-2", k=3)
    assert top["system"].tolist()[0] == "org/ours ★" and len(top) == 3
    assert queue_view(store)["State"].tolist() == [FINISHED]


def test_about_lists_every_metric_from_the_registry(store, settings):
    text = about_markdown(settings, store)
    for name in lb.REXRANK_EIGHT:
        assert f"`{name}`" in text and lb.METRICS[name].official in text
    assert "rexrank score" in text and "@article" in text


# ------------------------------------------------------------------ secrets


def test_secrets_are_redacted_from_logs_and_failure_reasons(tmp_path, monkeypatch, small_iu_manifest):
    from rexrank.redaction import RedactingFilter
    from rexrank.space.worker import Worker, WorkerSettings

    token = "hf_plantedTOKENforTHEtest42"
    monkeypatch.setenv("HF_TOKEN", token)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logging.getLogger().addHandler(handler)
    try:
        store = LocalDirStore(tmp_path / "store")
        store.submit(Request(new_request_id(), "model", "iu_xray", "findings", model="org/leaky"))
        Worker(store, WorkerSettings(metrics=["bleu2"], manifests={"iu_xray": str(small_iu_manifest)},
                                     generator="tests.test_space_app:_leaky_generator")).run(exit_when_idle=True)
        logging.getLogger("space.test").warning("header was Bearer %s", token)
    finally:
        logging.getLogger().removeHandler(handler)
    [request] = store.requests()
    assert request.state == "FAILED" and "***" in request.reason and token not in request.reason
    assert "Bearer ***" in stream.getvalue() and token not in stream.getvalue()
    assert not any(token.encode() in p.read_bytes() for p in (tmp_path / "store").rglob("*") if p.is_file())


def _leaky_generator(model, dataset, out, **_):
    import os

    raise RuntimeError(f"401 Unauthorized with token {os.environ['HF_TOKEN']}")


# ------------------------------------------------------------------ the real app


def _wait_finished(client, name: str, timeout: float = 90) -> list:
    deadline = time.time() + timeout
    while time.time() < deadline:
        queue = client.predict(api_name="/queue")
        rows = [dict(zip(queue["headers"], row)) for row in queue["data"]]
        mine = [r for r in rows if r["System"] == name]
        if mine and mine[0]["State"] in ("FINISHED", "FAILED"):
            return mine
        time.sleep(0.5)
    raise AssertionError(f"{name} did not finish in {timeout}s")


def test_gradio_client_submits_a_file_watches_it_finish_and_reads_the_leaderboard(space_server, small_iu_predictions):
    from gradio_client import Client, handle_file

    import urllib.request

    assert "Sign in with Hugging Face" not in urllib.request.urlopen(space_server.url + "config").read().decode()
    client = Client(space_server.url, verbose=False)
    assert {"/submit", "/queue", "/leaderboard"} <= set(client.view_api(return_format="dict")["named_endpoints"])
    message = client.predict("", "", handle_file(str(small_iu_predictions)), "ClientSystem", ["iu_xray"],
                             "findings", api_name="/submit")
    assert message.startswith("queued"), message
    [row] = _wait_finished(client, "ClientSystem")
    assert row["State"] == "FINISHED", row
    table, plot = client.predict("iu_xray", "findings", "bleu2", api_name="/leaderboard")
    rows = [dict(zip(table["headers"], r)) for r in table["data"]]
    [ours] = [r for r in rows if r["Model"] == "ClientSystem"]
    assert ours["Source"].startswith("evaluated here") and 0 < ours["BLEU-2"] <= 1 and ours["BLEU-2 ±"] > 0
    assert sum(r["Source"] == lb.PUBLISHED for r in rows) == 25
    again = client.predict("", "", handle_file(str(small_iu_predictions)), "ClientSystem", ["iu_xray"], "findings",
                           api_name="/submit")
    assert again.startswith("duplicate")
    root = str(Path(__file__).resolve().parents[1])
    for folder in ("tests/fixtures", "space/generation", "./space", "../shared"):  # folders beside the server
        refused = client.predict(folder, "", None, "", ["iu_xray"], "findings", api_name="/submit")
        assert refused.startswith("Not submitted") and "has no config.json" not in refused and root not in refused
    # the stored result carries provenance, and no secret is in the logs or anywhere in the store
    [result] = [r for r in LocalDirStore(space_server.store_dir).results() if r["system"]["name"] == "ClientSystem"]
    assert result["results"]["provenance"]["dataset"]["manifest_sha256"] and result["evaluation"]["attempt"] == 1
    texts = [space_server.log.read_bytes()] + [p.read_bytes() for p in space_server.store_dir.rglob("*") if p.is_file()]
    for value in space_server.secrets.values():
        assert not any(value.encode() in t for t in texts), "a planted secret leaked"


def test_the_space_card_is_a_hub_space_header():  # the folder the Hub builds: tests/test_space_deploy.py
    import gradio
    import yaml

    root = Path(__file__).resolve().parents[1] / "space"
    text = (root / "README.md").read_text()
    header = yaml.safe_load(text.split("---")[1])
    assert header["sdk"] == "gradio" and header["hf_oauth"] is True
    assert (root / header["app_file"]).is_file()
    assert header["sdk_version"].split(".")[0] == gradio.__version__.split(".")[0]
