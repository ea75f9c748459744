"""The release artifacts as a user gets them: `python -m build` + `twine check`, then one fresh venv
(nothing from this checkout on its path, not editable) that starts with only `evaluate`, as a
user who found our module on the Hub would:

1. `evaluate.load("<org>/rexrank_bleu2")` from the (fake) Hub names the one `pip install` line;
2. that line (plus `[space]`) installs the published wheel by its address;
3. the module then loads and computes; the `rexrank` command, `rexrank install-evaluate` +
   `evaluate.load("rexrank")` by bare name, the dataset builder and export, scoring (with the
   version in its provenance) and `rexrank serve` all run from the installed wheel.

The venv is built once (module fixture); its sizes and times go to test-artifacts/wheel-venv.json.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rexrank import __version__
from tests.fixtures.release import clean_env, dir_size_mb, run

ROOT = Path(__file__).resolve().parents[1]
ORG = "rexrank-org"
PREDS = ["No pleural effusion. Heart size is normal.", "Mild cardiomegaly. No pneumothorax."]
REFS = ["Heart size is normal. No pleural effusion or pneumothorax.", "Cardiomegaly is mild. Lungs are clear."]


def test_build_gives_a_wheel_and_sdist_that_pass_twine_check(built_dist):
    import zipfile

    done = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(built_dist.wheel),
                           str(built_dist.sdist)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert built_dist.wheel.name == f"rexrank-{__version__}-py3-none-any.whl"  # the one version source
    assert "would be ignored" not in built_dist.log  # every folder is a declared (namespace) package
    names = set(zipfile.ZipFile(built_dist.wheel).namelist())
    for path in ("rexrank/space/README.md", "rexrank/metrics/rexrank_bleu2/rexrank_bleu2.py",
                 "rexrank/datasets/rexrank/README.md", "rexrank/space/generation/adapters/recipes/maira2.py"):
        assert path in names, path
    assert not any(n.startswith(("tests/", "scripts/")) for n in names)


@pytest.fixture(scope="module")
def published(built_dist):
    """A fake Hub holding two evaluate module Spaces published from the built wheel."""
    import huggingface_hub.constants

    from rexrank.metrics.evaluate_glue.publish import publish
    from tests import fakehub

    with pytest.MonkeyPatch.context() as mp, fakehub.running() as (endpoint, hub):
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        mp.setenv("HF_TOKEN", "hf_publish_token_value_123")
        urls = publish(ORG, only=["rexrank_bleu2", "rexrank"], wheel=built_dist.wheel, hub=endpoint)
        assert urls == [f"{endpoint}/spaces/{ORG}/rexrank", f"{endpoint}/spaces/{ORG}/rexrank_bleu2"]
        yield endpoint, hub


@pytest.fixture(scope="module")
def user_venv(published, torch_constraint, tmp_path_factory):
    """A fresh venv with only `evaluate`; then what the module's install hint says, plus `[space]`."""
    endpoint, _ = published
    base = tmp_path_factory.mktemp("wheel-venv")
    home, work = base / "home", base / "work"
    work.mkdir()
    env = clean_env(home, HF_HOME=str(base / "hf"), HF_ENDPOINT=endpoint, HF_UPDATE_DOWNLOAD_COUNTS="0")
    venv = base / "venv"
    py = str(venv / "bin" / "python")
    pip = [py, "-m", "pip", "install", "-q", "-c", str(torch_constraint)]
    seconds = {}
    t0 = time.time()
    run([sys.executable, "-m", "venv", str(venv)], env=env, cwd=work)
    run(pip + ["evaluate"], env=env, cwd=work)
    seconds["evaluate only"] = round(time.time() - t0, 1)
    size_evaluate = dir_size_mb(venv)
    hint = run([py, "-c", f"import evaluate; evaluate.load('{ORG}/rexrank_bleu2')"], env=env, cwd=work, check=False)
    t0 = time.time()
    run(pip + ["torch==2.13.0"], env=env, cwd=work)  # this machine's CPU torch first, as the README says
    seconds["torch"] = round(time.time() - t0, 1)
    match = re.search(r"using 'pip install (.+)' for instance'", hint.stderr)
    assert match, hint.stderr[-2000:]
    t0 = time.time()
    run(pip + shlex.split(match.group(1)), env=env, cwd=work)
    seconds["the hint's line"] = round(time.time() - t0, 1)
    size_rexrank = dir_size_mb(venv)
    requirement = shlex.split(match.group(1))[0]
    t0 = time.time()
    run(pip + [requirement.replace("rexrank @", "rexrank[space] @", 1)], env=env, cwd=work)
    seconds["[space] extra"] = round(time.time() - t0, 1)
    stats = {"seconds": seconds, "venv_mb": {"evaluate only": round(size_evaluate, 1),
                                             "+ torch + rexrank": round(size_rexrank, 1),
                                             "+ [space]": round(dir_size_mb(venv), 1)}}
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "wheel-venv.json").write_text(json.dumps(stats, indent=2))
    return venv, work, env, hint, requirement


def _python(user_venv, code: str, **extra_env) -> str:
    venv, work, env, _, _ = user_venv
    return run([str(venv / "bin" / "python"), "-c", code], env={**env, **extra_env}, cwd=work).stdout


def test_module_from_the_hub_names_the_one_pip_line_then_loads_and_computes(user_venv, published):
    from rexrank.metrics.registry import load_scorer

    _, _, _, hint, requirement = user_venv
    endpoint, hub = published
    message = hint.stderr.strip().splitlines()[-1]
    assert message.startswith(f"ImportError: To be able to use {ORG}/rexrank_bleu2, you need to install")
    assert f"""using 'pip install "{requirement}"' for instance'""" in message  # one line, quoted for the shell
    assert requirement.startswith(f"rexrank @ {endpoint}/spaces/{ORG}/rexrank_bleu2/resolve/main/rexrank-")
    assert "#sha256=" in requirement
    published_lines = hub.files("space", f"{ORG}/rexrank_bleu2")["requirements.txt"].decode().splitlines()
    assert requirement in published_lines  # the hint is the module Space's own requirements line
    out = _python(user_venv, "import json, evaluate; m = evaluate.load('" + ORG + "/rexrank_bleu2');"
                  f"print(json.dumps(m.compute(predictions={PREDS!r}, references={REFS!r}, per_study=True)))")
    result = json.loads(out.strip().splitlines()[-1])
    assert result["bleu2_per_study"] == pytest.approx(load_scorer("bleu2")(PREDS, REFS).values["bleu2"], abs=1e-12)


def test_the_installed_wheel_is_the_package_not_the_checkout(user_venv):
    venv, work, env, _, requirement = user_venv
    info = json.loads(_python(user_venv, "import json, sys, importlib.metadata as md, rexrank;"
                              "d = md.distribution('rexrank'); print(json.dumps({'file': rexrank.__file__,"
                              "'version': d.version, 'url': json.loads(d.read_text('direct_url.json')),"
                              "'path': sys.path}))"))
    assert info["version"] == __version__ and info["file"].startswith(str(venv))
    assert info["url"]["url"] == requirement.split(" @ ")[1].split("#")[0] and "dir_info" not in info["url"]
    assert not any(str(ROOT) in p for p in info["path"])
    rexrank = str(venv / "bin" / "rexrank")
    assert run([rexrank, "--version"], env=env, cwd=work).stdout.strip() == f"rexrank {__version__}"
    helptext = run([rexrank, "--help"], env=env, cwd=work).stdout
    assert all(f"    {c}" in helptext for c in ("data", "score", "serve", "space", "install-evaluate"))


def test_install_evaluate_then_load_by_bare_name(user_venv, tmp_path):
    venv, work, env, _, _ = user_venv
    modules = tmp_path / "modules"
    offline = {"HF_MODULES_CACHE": str(modules), "HF_HUB_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1"}
    run([str(venv / "bin" / "rexrank"), "install-evaluate"], env={**env, **offline}, cwd=work)
    out = _python(user_venv, "import json, evaluate; m = evaluate.load('rexrank', metrics=['bleu2']);"
                  f"print(json.dumps(m.compute(predictions={PREDS!r}, references={REFS!r})['bleu2']['n']))", **offline)
    assert out.strip().splitlines()[-1] == "2"


def test_dataset_builder_export_and_scoring_from_the_wheel(user_venv, iu_manifests, tmp_path):
    venv, work, env, _, _ = user_venv
    rexrank = str(venv / "bin" / "rexrank")
    out = tmp_path / "data"
    offline = {"HF_HUB_OFFLINE": "1", "REXRANK_ASSETS_CACHE": str(tmp_path / "assets")}
    run([rexrank, "-q", "data", "build", "iu_xray", "--manifest", str(iu_manifests["test"]), "--out", str(out)],
        env={**env, **offline}, cwd=work)
    assert (out / "eval.yaml").is_file()
    rows = _python(user_venv, f"import datasets; d = datasets.load_dataset({str(out)!r}, 'iu_xray', split='test');"
                   "print(d.num_rows, d[0]['study_id'])", **offline).split()
    assert rows[0] == "590"
    raw = json.loads(iu_manifests["test"].read_text())
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps({k: str(v["section_findings"]).split(".")[0] + "." for k, v in raw.items()}))
    run([rexrank, "-q", "score", "--dataset", "iu_xray", "--manifest", str(iu_manifests["test"]), "--track",
         "findings", "--predictions", str(preds), "--metrics", "bleu2", "--no-plots", "--out", str(tmp_path / "r")],
        env={**env, **offline}, cwd=work)
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["provenance"]["package"] == {"name": "rexrank", "version": __version__}


def test_serve_from_the_wheel(user_venv, tmp_path, small_iu_manifest):
    from gradio_client import Client

    from tests.fixtures.space import _free_port, stop_server, wait_until_serving

    venv, work, env, _, _ = user_venv
    port = _free_port()
    cmd = [str(venv / "bin" / "rexrank"), "serve", "--port", str(port), "--store", str(tmp_path / "store"),
           "--manifest", f"iu_xray={small_iu_manifest}", "--metrics", "bleu2", "--no-worker"]
    log = tmp_path / "serve.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(cmd, cwd=work, env={**env, "HF_HUB_OFFLINE": "1",
                                                    "GRADIO_TEMP_DIR": str(tmp_path / "g")},
                                stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/", proc, log)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        queue = client.predict(api_name="/queue")
        assert "headers" in queue
    finally:
        stop_server(proc)
