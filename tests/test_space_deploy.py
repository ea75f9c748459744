"""`rexrank space build` writes a self-contained Space folder (no machine path, no secret, the exact
wheel pinned by sha256); `rexrank space deploy` publishes it to a (fake) Hub with its variables
and secrets through the Hub API. The Hub-like build of that folder is tests/test_space_hub_build.py."""

from __future__ import annotations

import hashlib
import logging
import urllib.request
from pathlib import Path

import pytest
import yaml

from rexrank import __version__
from rexrank.cli import main as rexrank_main

ROOT = Path(__file__).resolve().parents[1]

PLANTED = {"HF_TOKEN": "hf_DEPLOYsecretTOKEN0123456789", "OPENAI_API_KEY": "sk-DEPLOYopenaiKEY98765"}


def test_build_writes_a_self_contained_space_folder(tmp_path, built_dist, monkeypatch, capsys):
    import gradio

    for key, value in PLANTED.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "space"
    assert rexrank_main(["space", "build", str(out), "--space-id", "org/leaderboard", "--store", "hub:org/queue",
                         "--wheel", str(built_dist.wheel)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "app.py", "requirements.txt", built_dist.wheel.name]
    assert (out / built_dist.wheel.name).read_bytes() == built_dist.wheel.read_bytes()
    header = yaml.safe_load((out / "README.md").read_text().split("---")[1])
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py" and header["hf_oauth"] is True
    assert header["sdk_version"] == gradio.__version__  # the Gradio the tests run is the one the Hub installs
    assert header["python_version"] == "3.11"  # the torch build tested here is cp311
    requirements = (out / "requirements.txt").read_text()
    digest = hashlib.sha256(built_dist.wheel.read_bytes()).hexdigest()
    line = (f"rexrank[space] @ https://huggingface.co/spaces/org/leaderboard/resolve/main/"
            f"{built_dist.wheel.name}#sha256={digest}")
    assert line in requirements.splitlines()
    assert [r for r in requirements.splitlines() if r and not r.startswith("#")] == [
        "--extra-index-url https://download.pytorch.org/whl/cpu", "torch", line]
    app = (out / "app.py").read_text()
    compile(app, "app.py", "exec")
    assert 'os.environ.setdefault("REXRANK_STORE", "hub:org/queue")' in app and "rexrank.space.app import main" in app
    for path in out.iterdir():  # nothing of this machine, no secret
        data = path.read_bytes()
        for marker in (str(tmp_path), "/work/", "/root", *PLANTED.values()):
            assert marker.encode() not in data, (path.name, marker)
    assert __version__ in capsys.readouterr().out


def test_build_refuses_what_would_not_work_on_the_hub(tmp_path, built_dist, caplog):
    wheel = str(built_dist.wheel)
    cases = [
        (["space", "build", str(tmp_path / "a"), "--wheel", wheel], "--space-id ORG/NAME"),
        (["space", "build", str(tmp_path / "b"), "--space-id", "org/x", "--store", str(tmp_path), "--wheel", wheel],
         "a folder inside a Space is lost"),
        (["space", "build", str(tmp_path / "c"), "--rexrank-spec", "rexrank==0.0.1"], "must pin this version"),
        (["space", "build", str(tmp_path / "d"), "--rexrank-spec", "othername==1"], "must install the rexrank"),
        (["space", "build", str(tmp_path / "e"), "--space-id", "org/x", "--wheel", str(tmp_path / "x.whl")],
         "no such file"),
        (["space", "build", str(tmp_path), "--space-id", "org/x", "--wheel", wheel], "is not empty"),
        (["space", "build", str(tmp_path / "f"), "--space-id", "not-an-id", "--wheel", wheel], "ORG/NAME"),
    ]
    (tmp_path / "keep.txt").write_text("a user's file")
    for argv, message in cases:
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            assert rexrank_main(argv) == 2, argv
        assert message in caplog.text, (argv, caplog.text)
    # an index release replaces the wheel: the folder then ships none
    assert rexrank_main(["space", "build", str(tmp_path / "g"), "--rexrank-spec", f"rexrank=={__version__}"]) == 0
    assert f"rexrank[space]=={__version__}" in (tmp_path / "g" / "requirements.txt").read_text()
    assert not list((tmp_path / "g").glob("*.whl"))


def test_deploy_creates_the_space_its_variables_and_secrets(tmp_path, built_dist, fake_hub, monkeypatch, capsys,
                                                            caplog):
    import huggingface_hub.constants

    endpoint, hub = fake_hub
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    argv = ["space", "deploy", "org/leaderboard", "--store", "hub:org/queue", "--wheel", str(built_dist.wheel),
            "--secret", "OPENAI_API_KEY", "--variable", "REXRANK_WORKER=0"]
    with caplog.at_level(logging.ERROR):
        assert rexrank_main(argv) == 2
    assert "HF_TOKEN" in caplog.text and hub.repos == {}  # no token: nothing created
    monkeypatch.setenv("HF_TOKEN", PLANTED["HF_TOKEN"])
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert rexrank_main(argv) == 2
    assert "OPENAI_API_KEY (for the Space secret OPENAI_API_KEY)" in caplog.text and hub.repos == {}
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED["OPENAI_API_KEY"])
    with caplog.at_level(logging.DEBUG):
        assert rexrank_main(argv) == 0
        assert rexrank_main(argv) == 0  # a second deploy updates the same Space
    printed = capsys.readouterr().out
    assert "secrets (names only): HF_TOKEN, OPENAI_API_KEY" in printed
    for value in PLANTED.values():
        assert value not in printed and value not in caplog.text
    assert hub.space_secrets["org/leaderboard"] == {"HF_TOKEN": PLANTED["HF_TOKEN"],
                                                     "OPENAI_API_KEY": PLANTED["OPENAI_API_KEY"]}
    assert hub.space_variables["org/leaderboard"] == {"REXRANK_STORE": "hub:org/queue", "REXRANK_WORKER": "0"}
    assert hub.private[("space", "org/leaderboard")] is False  # the builder's pip fetches the wheel without a token
    assert hub.private[("dataset", "org/queue")] is True  # requests name their submitters
    files = hub.files("space", "org/leaderboard")
    assert set(files) == {".gitattributes", "README.md", "app.py", "requirements.txt", built_dist.wheel.name}
    [line] = [r for r in files["requirements.txt"].decode().splitlines() if r.startswith("rexrank")]
    url = line.split(" @ ", 1)[1]
    assert url.startswith(f"{endpoint}/spaces/org/leaderboard/resolve/main/{built_dist.wheel.name}#sha256=")
    with urllib.request.urlopen(url.split("#")[0]) as response:  # what pip downloads, and the hash it checks
        assert hashlib.sha256(response.read()).hexdigest() == url.split("#sha256=")[1]
    assert "Bearer " + PLANTED["HF_TOKEN"] in hub.authorizations


def test_deploy_refuses_a_private_space_with_a_shipped_wheel_and_public_secret_variables(
        tmp_path, built_dist, fake_hub, monkeypatch, caplog):
    monkeypatch.setenv("HF_TOKEN", PLANTED["HF_TOKEN"])
    _, hub = fake_hub
    for argv, message in [
        (["--private"], "a private Space cannot install its wheel by address"),
        (["--variable", "OPENAI_API_KEY=sk-x"], "pass it as --secret OPENAI_API_KEY"),
        (["--variable", "NOEQUALS"], "KEY=VALUE"),
    ]:
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            assert rexrank_main(["space", "deploy", "org/x", "--wheel", str(built_dist.wheel), *argv]) == 2
        assert message in caplog.text
    assert hub.repos == {}


@pytest.mark.parametrize("name", ["rexrank_bleu2"])
def test_module_space_files_carry_the_install_hint(tmp_path, built_dist, name):
    from rexrank.metrics.evaluate_glue.publish import build_module_spaces

    [space] = build_module_spaces("org", tmp_path, only=[name], wheel=built_dist.wheel)
    code = (space.folder / f"{name}.py").read_text()
    assert space.requirement.startswith(f"rexrank @ https://huggingface.co/spaces/org/{name}/resolve/main/")
    assert f'from rexrank.metrics.evaluate_glue import module as evaluate_module  # From: "{space.requirement}"' in code
    assert (space.folder / built_dist.wheel.name).is_file()
    assert f'evaluate.load("{name}.py")' in (space.folder / "app.py").read_text()


def test_build_without_a_wheel_builds_one_from_this_checkout(tmp_path):
    import zipfile

    from rexrank.release import WHEEL_NAME

    out = tmp_path / "space"
    assert rexrank_main(["-q", "space", "build", str(out), "--space-id", "org/leaderboard"]) == 0
    names = zipfile.ZipFile(out / WHEEL_NAME).namelist()
    assert "rexrank/space/deploy/folder.py" in names and "rexrank/release.py" in names
    assert not any(n.startswith("tests/") for n in names)
    assert not (ROOT / "build").exists()  # built from a clean copy, never in the tree's build/
