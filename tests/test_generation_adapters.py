"""Adapter choice from config.json only, refusals before any download, and no trust_remote_code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from rexrank.errors import InputError, ModelUnavailableError, RemoteCodeRefused
from rexrank.space.generation.adapters import ADAPTERS, choose_adapter, load_adapter
from rexrank.space.generation.adapters.base import clean_output, choose_images, fill_prompt
from rexrank.space.generation.adapters.chat import images_per_study
from rexrank.space.generation.adapters.remote import RemoteCodeModel
from rexrank.testing import hubcache

ROOT = Path(__file__).resolve().parents[1]


def test_vision_encoder_decoder_checkpoint_gets_the_ved_adapter(tiny_generation_models):
    choice = choose_adapter(tiny_generation_models["ved"])
    assert choice.name == "vision-encoder-decoder"
    assert "VisionEncoderDecoderModel" in choice.reason
    assert choice.revision == hubcache.fake_commit(tiny_generation_models["ved"])


def test_chat_model_gets_the_chat_adapter_and_revision_is_resolved(tiny_generation_models):
    repo = tiny_generation_models["chat"]
    commit = hubcache.fake_commit(repo)
    choice = choose_adapter(f"{repo}@{commit}")
    assert (choice.name, choice.repo_id, choice.revision) == ("chat-vlm", repo, commit)
    assert "'llava'" in choice.reason and "AutoModelForImageTextToText" in choice.reason


def _no_weight_download(monkeypatch):
    """Make every weight-loading path explode: a refusal must come before any of them."""
    import huggingface_hub

    def boom(*args, **kwargs):
        raise AssertionError(f"weights were requested: {args} {kwargs}")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", boom)
    monkeypatch.setattr("rexrank.metrics.runtime.models.resolve", boom)


def test_remote_code_repo_not_on_allowlist_is_refused_before_any_download(tiny_generation_models, monkeypatch,
                                                                           tmp_path, generation_testset):
    _no_weight_download(monkeypatch)
    repo = tiny_generation_models["remote"]
    with pytest.raises(RemoteCodeRefused, match=r"trust_remote_code.*not on our reviewed allowlist.*predictions file"):
        choose_adapter(repo)
    from rexrank.space.generation.run import generate_reports

    with pytest.raises(RemoteCodeRefused):
        generate_reports(repo, "iu_xray", tmp_path / "p.json", manifest=generation_testset["manifest"],
                         data_dir=generation_testset["images"])
    assert not (tmp_path / "p.json").exists() and not (tmp_path / "p.json.progress.json").exists()
    # only config.json ever reached the cache for that repo
    snapshot = hubcache.cache_dir() / f"models--{repo.replace('/', '--')}" / "snapshots"
    assert sorted(p.name for p in snapshot.rglob("*") if p.is_file() or p.is_symlink()) == ["config.json"]


def test_text_only_model_is_refused_with_what_to_do_instead(tiny_generation_models, monkeypatch):
    _no_weight_download(monkeypatch)
    with pytest.raises(ModelUnavailableError, match=r"'llama'.*not an image-to-text.*submit a predictions file"):
        choose_adapter(tiny_generation_models["text_only"])


def test_unknown_repo_offline_is_a_clear_error():
    with pytest.raises(ModelUnavailableError, match="config.json is not in the local HuggingFace cache"):
        choose_adapter("nobody/not-a-model")


def test_explicit_adapter_wins_but_cannot_smuggle_remote_code(tiny_generation_models):
    choice = choose_adapter(tiny_generation_models["chat"], adapter="chat-vlm")
    assert choice.name == "chat-vlm" and choice.reason == "--adapter chat-vlm asked for"
    with pytest.raises(ModelUnavailableError, match="unknown adapter"):
        choose_adapter(tiny_generation_models["chat"], adapter="pipeline")
    with pytest.raises(RemoteCodeRefused, match="not on the remote-code allowlist"):
        choose_adapter(tiny_generation_models["chat"], adapter="remote-code")
    with pytest.raises(RemoteCodeRefused, match="transformers does not know"):
        choose_adapter(tiny_generation_models["remote"], adapter="chat-vlm")


def test_allowlist_is_by_repo_and_exact_revision(tiny_generation_models):
    repo = tiny_generation_models["remote"]
    commit = hubcache.fake_commit(repo)
    entry = RemoteCodeModel(repo_id=repo, revision=commit, recipe="x.py:load", requirements=())
    choice = choose_adapter(repo, allowlist={repo: entry})
    assert choice.name == "remote-code" and choice.revision == commit and "allowlist" in choice.reason
    other = RemoteCodeModel(repo_id=repo, revision="0" * 40, recipe="x.py:load", requirements=())
    with pytest.raises(RemoteCodeRefused, match="reviewed only at revision 0000"):
        choose_adapter(repo, allowlist={repo: other})


def test_builtin_allowlist_pins_full_commits():
    from rexrank.space.generation.adapters.remote import ALLOWLIST

    assert ALLOWLIST, "the allowlist names at least MAIRA-2"
    for repo, entry in ALLOWLIST.items():
        assert entry.repo_id == repo and re.fullmatch(r"[0-9a-f]{40}", entry.revision)
        assert Path(entry.recipe.rpartition(":")[0]).is_file()
        assert any(r.startswith("transformers==") for r in entry.requirements), "pin the transformers its code needs"
    with pytest.raises(TypeError):
        ALLOWLIST["evil/model"] = None  # immutable: no global registration at run time
    with pytest.raises(TypeError):
        ADAPTERS["evil"] = "os:system"


def test_trust_remote_code_is_never_true_in_process(tiny_generation_models, monkeypatch):
    """Every from_pretrained our adapters call gets trust_remote_code=False explicitly."""
    import transformers

    calls: list[tuple[str, dict]] = []
    for name in ("VisionEncoderDecoderModel", "AutoModelForImageTextToText", "AutoProcessor",
                 "AutoTokenizer", "AutoImageProcessor"):
        cls = getattr(transformers, name)
        original = cls.from_pretrained.__func__

        def recorder(klass, *args, _name=name, _original=original, **kwargs):
            calls.append((_name, kwargs))
            return _original(klass, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(recorder))
    for kind in ("ved", "chat"):
        adapter = load_adapter(choose_adapter(tiny_generation_models[kind]), device="cpu")
        adapter.load()
    assert {n for n, _ in calls} >= {"VisionEncoderDecoderModel", "AutoModelForImageTextToText", "AutoProcessor",
                                     "AutoTokenizer", "AutoImageProcessor"}
    assert all(kwargs.get("trust_remote_code") is False for _, kwargs in calls), calls


def test_no_in_process_source_passes_trust_remote_code_true():
    """Only recipes (which run in a model's own venv worker) may say trust_remote_code=True."""
    def passes_true(path: Path) -> bool:
        return any(isinstance(node, ast.keyword) and node.arg == "trust_remote_code"
                   and not (isinstance(node.value, ast.Constant) and node.value.value is False)
                   for node in ast.walk(ast.parse(path.read_text())))

    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "space").rglob("*.py")
                 if p.parent.name != "recipes" and passes_true(p)]
    assert offenders == []
    assert passes_true(ROOT / "space" / "generation" / "adapters" / "recipes" / "maira2.py")  # the check does see it


def test_image_choice_all_views_for_multi_image_models_else_key_image(generation_testset):
    assert images_per_study("gemma3") is None and images_per_study("qwen2_5_vl") is None
    assert images_per_study("llava") == 1
    study = {"study_id": "CXR1_IM-0001", "image_paths": ["CXR1_IM-0001/0.png", "CXR1_IM-0001/1.png"],
             "views": ["frontal", "lateral"], "key_image": "CXR1_IM-0001/0.png"}
    images = generation_testset["images"]
    assert [p.name for p in choose_images(study, images, None)] == ["0.png", "1.png"]
    assert [p.name for p in choose_images(study, images, 1)] == ["0.png"]
    with pytest.raises(InputError, match=r"CXR9.*does not exist under the image root \(--data-dir\)"):
        choose_images({**study, "study_id": "CXR9", "image_paths": ["CXR9/0.png"], "key_image": None}, images, None)


def test_prompt_placeholders_and_output_cleaning():
    study = {"indication": "Chest pain", "comparison": None}
    assert fill_prompt("Indication: {indication}. Prior: {comparison}.", study) == \
        "Indication: Chest pain. Prior: not given."
    with pytest.raises(InputError, match="placeholders"):
        fill_prompt("{history}", study)
    prompt = "Write the findings."
    assert clean_output("Write the findings.  ASSISTANT: The lungs\nare clear.</s><pad>", prompt,
                        ["</s>", "<pad>"]) == "The lungs are clear."
    assert clean_output("model\n No effusion.<end_of_turn>", None, ["<end_of_turn>"]) == "No effusion."


@pytest.mark.parametrize("bad", ["../outside.png", "CXR1_IM-0001/../../outside.png", "escape/outside.png"])
def test_generation_reads_images_only_inside_the_image_root(generation_testset, tmp_path, bad):
    import shutil

    images = tmp_path / "images"
    shutil.copytree(generation_testset["images"], images)
    shutil.copy(images / "CXR1_IM-0001" / "0.png", tmp_path / "outside.png")
    (images / "escape").symlink_to(tmp_path)
    study = {"study_id": "CXR1_IM-0001", "image_paths": [bad], "views": ["frontal"], "key_image": None}
    with pytest.raises(InputError, match="study 'CXR1_IM-0001' image") as err:
        choose_images(study, images, None)
    assert str(tmp_path) not in str(err.value)


def test_a_file_that_is_not_an_image_is_a_clear_error_naming_the_study(tmp_path):
    from rexrank.space.generation.adapters.base import load_images

    fake = tmp_path / "0.png"
    fake.write_text("not an image")
    with pytest.raises(InputError, match=r"study 'CXR5' image: '0.png' is not an image"):
        load_images([fake], "CXR5")
