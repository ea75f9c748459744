"""Class 3 of issue 14: what a web visitor submits never reaches the server's file system, and
nothing shown to a visitor holds a server path, an internal endpoint URL, a raw exception class or
an untruncated echo of their input."""

from __future__ import annotations

import json
import re

import pytest

from rexrank.errors import RexrankError
from rexrank.space import leaderboard as lb
from rexrank.space.store import FAILED, LocalDirStore, Request, new_request_id
from rexrank.space.ui.views import AppSettings, about_markdown, queue_view, submit_view
from rexrank.space.submit import SubmitPolicy
from rexrank.testing import hubcache

ABSOLUTE = re.compile(r"(?<![\w.])/(?:tmp|work|root|home|srv|etc|var|usr)\b")


@pytest.fixture
def store(tmp_path) -> LocalDirStore:
    return LocalDirStore(tmp_path / "store")


@pytest.fixture
def settings(small_iu_manifest) -> AppSettings:
    return AppSettings(on_space=False, policy=SubmitPolicy(manifests={"iu_xray": str(small_iu_manifest)}))


def submit(store, settings, model, revision="") -> str:
    return submit_view(store, settings, model, revision, None, "", ["iu_xray"], "findings", None)


@pytest.fixture
def server_folders(tmp_path, monkeypatch):
    """Folders relative to the server's working directory that a visitor might name."""
    work = tmp_path / "server-cwd"
    model = work / "dir" / "sub"
    model.mkdir(parents=True)
    model.joinpath("config.json").write_text(json.dumps(
        {"model_type": "vision-encoder-decoder", "architectures": ["VisionEncoderDecoderModel"],
         "encoder": {"model_type": "vit"}, "decoder": {"model_type": "bert"}}))
    (work / "dir" / "empty").mkdir()
    monkeypatch.chdir(work)
    return work


def test_a_model_id_that_names_a_server_folder_is_looked_up_on_the_hub_only(store, settings, server_folders):
    with_config = submit(store, settings, "dir/sub")
    without = submit(store, settings, "dir/empty")
    nothing = submit(store, settings, "dir/absent")
    assert store.requests() == []  # none was queued (a worker would have loaded weights from dir/sub)
    for message in (with_config, without, nothing):
        assert message.startswith("Not submitted") and "HuggingFace cache" in message
        assert str(server_folders) not in message and "config.json is not valid" not in message
    # the three replies differ only by the id: they tell a visitor nothing about which folders exist
    assert {m.replace("dir/sub", "X").replace("dir/empty", "X").replace("dir/absent", "X")
            for m in (with_config, without, nothing)} == {with_config.replace("dir/sub", "X")}


@pytest.mark.parametrize("model", ["./dir/sub", "../dir/sub", "/etc", "~/models/x", "dir/sub/..", "dir/../dir/sub",
                                   "C:\\models\\x", "dir\\sub", "a/b/c", "file:///etc/passwd", "dir/sub\x00",
                                   ".hidden/model", "org/model.git", "org--x/model", "ｄｉｒ/sub"])
def test_paths_and_invalid_ids_are_refused_as_not_a_hub_id(store, settings, server_folders, model):
    message = submit(store, settings, model)
    assert message.startswith("Not submitted") and "Hub repo id" in message and "ORG/NAME" in message
    assert store.requests() == [] and str(server_folders) not in message


@pytest.mark.parametrize("revision", ["../../main", "main..dev", "a b", "v1~1", "-x", "x" * 300])
def test_invalid_revisions_are_refused(store, settings, revision):
    message = submit(store, settings, "IAMJB/chexpert-mimic-cxr-findings-baseline", revision)
    assert message.startswith("Not submitted") and "revision" in message and len(message) < 400


def test_echoed_input_is_truncated(store, settings):
    message = submit(store, settings, "a" * 50_000)
    assert message.startswith("Not submitted") and len(message) < 400 and "50000 characters" in message


def test_an_inline_revision_is_the_same_as_the_revision_field(store, settings):
    hubcache.put_files("rexrank-test/ved-hostile", {"config.json": json.dumps(
        {"model_type": "vision-encoder-decoder", "architectures": ["VisionEncoderDecoderModel"],
         "encoder": {"model_type": "vit"}, "decoder": {"model_type": "bert"}})})
    commit = hubcache.fake_commit("rexrank-test/ved-hostile")
    assert "queued" in submit(store, settings, f"rexrank-test/ved-hostile@{commit}")
    assert submit(store, settings, "rexrank-test/ved-hostile", commit).startswith("duplicate")
    assert "give one" in submit(store, settings, f"rexrank-test/ved-hostile@{commit}", "main")


@pytest.mark.parametrize("sub, why", [
    ({"encoder": {"model_type": "vit"}, "decoder": {"model_type": "my_secret_decoder"}}, "decoder's model_type"),
    ({"encoder": {"model_type": "nope"}, "decoder": {"model_type": "bert"}}, "encoder's model_type"),
    ({"decoder": {"model_type": "bert"}}, "no 'encoder' section"),
    ({"encoder": {}, "decoder": {"model_type": "bert"}}, "encoder has no model_type"),
])
def test_an_encoder_decoder_with_unknown_parts_is_refused_before_queueing(store, settings, sub, why):
    repo = f"rexrank-test/ved-bad-{abs(hash(why)) % 10_000}"
    hubcache.put_files(repo, {"config.json": json.dumps(
        {"model_type": "vision-encoder-decoder", "architectures": ["VisionEncoderDecoderModel"], **sub})})
    message = submit(store, settings, repo)
    assert message.startswith("Not submitted") and why in message and store.requests() == []


def test_the_about_tab_shows_no_server_path(store, settings, tmp_path):
    text = about_markdown(settings, store)
    assert str(tmp_path) not in text and not ABSOLUTE.search(text) and "a folder on this server" in text


def _failing_generator(model, dataset, out, **_):
    raise RexrankError(f"the GPU server at http://10.2.3.4:8000/v1/generate refused model {model}; "
                       f"weights in {out}; see /srv/rexrank/logs/worker.log")


def _crashing_generator(model, dataset, out, **_):
    raise ConnectionError("HTTPConnectionPool(host='10.2.3.4', port=8000): Max retries exceeded with url: /v1")


@pytest.mark.parametrize("generator", ["_failing_generator", "_crashing_generator"])
def test_queue_failure_reasons_show_no_endpoint_path_or_exception_class(tmp_path, small_iu_manifest, caplog, generator):
    from rexrank.space.worker import Worker, WorkerSettings

    store = LocalDirStore(tmp_path / "store")
    store.submit(Request(new_request_id(), "model", "iu_xray", "findings", model="org/model"))
    Worker(store, WorkerSettings(metrics=["bleu2"], manifests={"iu_xray": str(small_iu_manifest)},
                                 generator=f"tests.test_space_hostile:{generator}")).run(exit_when_idle=True)
    [request] = store.requests()
    assert request.state == FAILED
    shown = queue_view(store)["Reason"].tolist()[0]
    for text in (request.reason, shown):  # what the store keeps (a Hub dataset may be public) and the page
        assert "10.2.3.4" not in text and "http" not in text and str(tmp_path) not in text
        assert not ABSOLUTE.search(text) and "ConnectionError" not in text and "Error:" not in text
        assert "<endpoint>" in text
    assert "10.2.3.4" in caplog.text  # the operators keep the details


def test_a_hand_edited_queue_entry_naming_a_path_is_never_loaded(tmp_path, small_iu_manifest, server_folders):
    from rexrank.space.worker import Worker, WorkerSettings

    store = LocalDirStore(tmp_path / "store")
    store.submit(Request(new_request_id(), "model", "iu_xray", "findings", model="./dir/sub"))
    Worker(store, WorkerSettings(metrics=["bleu2"], manifests={"iu_xray": str(small_iu_manifest)},
                                 generator="tests.space_fakes:slow_generate")).run(exit_when_idle=True)
    [request] = store.requests()
    assert request.state == FAILED and "Hub repo id" in request.reason


def test_an_internal_error_in_submission_shows_no_exception_class(store, settings, monkeypatch):
    import rexrank.space.ui.views as views

    def boom(*args, **kwargs):
        raise KeyError("/srv/secret/path")

    monkeypatch.setattr(views, "model_requests", boom)
    message = submit(store, settings, "org/model")
    assert message.startswith("Not submitted") and "KeyError" not in message and "/srv" not in message


def test_the_leaderboard_names_are_shown_as_text(store):
    lb.seed_published(store)
    request = Request(new_request_id(), "predictions", "iu_xray", "findings", display_name="x")
    store.put_result(request, {"request": {"id": request.id, "dataset": "iu_xray", "track": "findings"},
                               "system": {"name": "[evil](javascript:alert(1))"},
                               "results": {"dataset": {}, "metrics": {}}})
    frame = lb.leaderboard(store, "iu_xray", "findings")
    [cell] = [m for m in frame["Model"] if "evil" in m]
    assert "](" not in cell and "[" not in cell  # rendered as text, never as a markdown link
