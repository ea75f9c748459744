"""The leaderboard Space built and run the way the Hub builds a Gradio Space, from what
`rexrank space deploy` published to a (fake) Hub, with nothing from this checkout.

The Hub's builder (Spaces build logs, 2026; research in the issue): a fresh Python image, then
``pip install pip -U``, ``pip install datasets "huggingface-hub>=0.30" "hf-transfer>=0.1.4"
"protobuf<4" "click<8.1"``, then — with only ``requirements.txt`` mounted and the working
folder still empty — ``pip install -r requirements.txt "gradio[oauth,mcp]==<sdk_version>"
"uvicorn>=0.14.0" "websockets>=10.4" spaces``; only then the repo's files are copied in and
``python app.py`` runs inside them with ``SYSTEM=spaces``, ``SPACE_ID``, ``SPACE_HOST``, the
OAuth variables, and the Space's variables and secrets as environment variables.

Here the same steps run with this machine's package index and its CPU torch (constrained to
``torch==2.13.0``; the CPU index the requirements name is unreachable here, ``PIP_RETRIES=0``
skips it at once) and pip's cache (the Hub passes ``--no-cache-dir``; a cache changes no
resolution). The `spaces` package the Hub installs starts Gradio's hot-reload server on
0.0.0.0:7887; a ``sitecustomize`` shim given to the Space process only (``LOOPBACK_SHIM``) moves
it to a free loopback port, since servers started here listen on loopback only. The Hub's TLS
proxy and OAuth provider are played by tests/fakeoidc.py, the
published tables' download from GitHub by the session's asset cache. Then gradio_client and
headless Chromium see the seeded leaderboard, log in, submit a predictions file, see it
evaluated by a `rexrank worker` on the same Hub store (the README's third command, the GPU
machine's part; the Space runs with ``REXRANK_WORKER=0``), and the result lands in the Hub
dataset store. Sizes and times go to
test-artifacts/space-hub-build.json, screenshots to test-artifacts/space-hub-*.png.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.release import clean_env, dir_size_mb, run

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
SPACE_ID = "rexrank-org/leaderboard"
STORE = "hub:rexrank-org/queue"
PLANTED_TOKEN = "hf_SPACEsecretTOKEN0123456789"
CLIENT_ID, CLIENT_SECRET = "space-oauth-client", "space-oauth-secret-value"
CHROMIUM = "/usr/bin/chromium"
LOOPBACK_SHIM = '''"""Test only: servers of the Space process (the `spaces` hot-reload server binds 0.0.0.0:7887) on loopback."""
import os
import uvicorn

_init = uvicorn.Config.__init__


def _loopback(self, *args, **kwargs):
    if kwargs.get("host") == "0.0.0.0":
        kwargs["host"] = "127.0.0.1"
        if kwargs.get("port") == 7887:
            kwargs["port"] = int(os.environ["TEST_RELOAD_PORT"])
    _init(self, *args, **kwargs)


uvicorn.Config.__init__ = _loopback
'''
# Gradio + Authlib + `spaces` in Space mode print this at start-up whatever the app (checked with a
# three-line Blocks app with a LoginButton): an event loop garbage-collected after its selector closed.
LIBRARY_NOISE = "Exception ignored in: <function BaseEventLoop.__del__"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def hub():
    """The fake Hub for the whole module, online for this process (the session is offline)."""
    import huggingface_hub.constants

    from tests import fakehub

    with pytest.MonkeyPatch.context() as mp, fakehub.running() as (endpoint, fake):
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        mp.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
        yield endpoint, fake


@pytest.fixture(scope="module")
def deployed(hub, built_dist):
    """`rexrank space deploy` of the built wheel, as a maintainer runs it (token in the environment)."""
    from rexrank.space.deploy.hub import deploy

    endpoint, fake = hub
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_TOKEN", PLANTED_TOKEN)
        done = deploy(SPACE_ID, store=STORE, wheel=built_dist.wheel, variables=["REXRANK_METRICS=bleu2", "REXRANK_WORKER=0"],
                      hub=endpoint)
    return done


@pytest.fixture(scope="module")
def space_venv(deployed, hub, torch_constraint, tmp_path_factory):
    """The builder's three pip steps into a fresh venv, from an empty folder, with only requirements.txt."""
    import yaml

    endpoint, fake = hub
    base = tmp_path_factory.mktemp("hub-build")
    files = fake.files("space", SPACE_ID)
    context = base / "mount"  # what the builder mounts: requirements.txt alone
    context.mkdir()
    (context / "requirements.txt").write_bytes(files["requirements.txt"])
    sdk = yaml.safe_load(files["README.md"].decode().split("---")[1])["sdk_version"]
    workdir = base / "app"  # WORKDIR /app: empty while pip runs
    workdir.mkdir()
    env = clean_env(base / "home", PIP_RETRIES="0")
    venv = base / "venv"
    timings = {}
    start = time.time()
    run([sys.executable, "-m", "venv", str(venv)], env=env, cwd=workdir)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(torch_constraint)]
    steps = {
        "pip -U": pip + ["pip", "-U"],
        "base": pip + ["datasets", "huggingface-hub>=0.30", "hf-transfer>=0.1.4", "protobuf<4", "click<8.1"],
        "requirements": pip + ["-r", str(context / "requirements.txt"), f"gradio[oauth,mcp]=={sdk}", "uvicorn>=0.14.0",
                               "websockets>=10.4", "spaces"],
    }
    for name, cmd in steps.items():
        t0 = time.time()
        run(cmd, env=env, cwd=workdir, timeout=1500)
        timings[name] = round(time.time() - t0, 1)
    assert not any(workdir.iterdir()), "pip wrote into the app folder"
    for path, data in files.items():  # COPY --link ./ /app
        (workdir / path).parent.mkdir(parents=True, exist_ok=True)
        (workdir / path).write_bytes(data)
    stats = {"seconds": timings, "total_seconds": round(time.time() - start, 1),
             "venv_mb": round(dir_size_mb(venv), 1), "sdk_version": sdk,
             "packages": len(run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"], env=env,
                                 cwd=workdir).stdout.splitlines())}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "space-hub-build.json").write_text(json.dumps(stats, indent=2))
    return venv, workdir, env, stats


def _free_port() -> int:
    from tests.fixtures.space import _free_port as free

    return free()


def test_the_hub_build_installs_exactly_the_deployed_wheel(space_venv, deployed, built_dist, hub):
    venv, workdir, env, stats = space_venv
    py = str(venv / "bin" / "python")
    probe = run([py, "-c", "import json, sys, importlib.metadata as md, rexrank, gradio; d = md.distribution('rexrank');"
                 "print(json.dumps({'file': rexrank.__file__, 'version': rexrank.__version__, 'dist': d.version,"
                 "'direct_url': json.loads(d.read_text('direct_url.json')), 'gradio': gradio.__version__,"
                 "'path': sys.path}))"], env=env, cwd=workdir)
    info = json.loads(probe.stdout)
    from rexrank import __version__

    assert info["version"] == info["dist"] == __version__
    assert info["file"].startswith(str(venv)) and not any(str(ROOT) in p for p in info["path"])
    assert info["direct_url"]["url"] == deployed.requirement.split(" @ ", 1)[1].split("#")[0]
    assert info["direct_url"]["archive_info"]["hashes"]["sha256"] == deployed.requirement.rsplit("=", 1)[1]
    assert "editable" not in json.dumps(info["direct_url"])
    assert info["gradio"] == stats["sdk_version"]
    torch = run([py, "-c", "import torch; print(torch.__version__)"], env=env, cwd=workdir).stdout.strip()
    assert torch.endswith("+cpu")


@pytest.mark.browser
def test_the_hub_built_space_serves_logs_in_evaluates_and_posts_to_the_hub(space_venv, hub, tmp_path,
                                                                        iu_manifests):
    from gradio_client import Client
    from playwright.sync_api import expect, sync_playwright

    from rexrank.assets import cache_root
    from rexrank.datasets.predictions import write_predictions
    from rexrank.datasets.tracks import load_track
    from tests import fakeoidc
    from tests.fixtures.space import stop_server, wait_until_serving

    venv, workdir, env, _ = space_venv
    endpoint, fake = hub
    data = load_track("iu_xray", "findings")
    preds = tmp_path / "hub_built_predictions.json"
    write_predictions(preds, {s: " ".join(r.split()[:10]) for s, r in zip(data.study_ids, data.references)},
                      studies=data.studies)
    port = _free_port()
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(LOOPBACK_SHIM)
    with fakeoidc.running(CLIENT_ID) as oidc:
        space_env = {**env, **fake.space_variables[SPACE_ID], **fake.space_secrets[SPACE_ID],
                     "SYSTEM": "spaces", "SPACE_ID": SPACE_ID, "SPACE_AUTHOR_NAME": SPACE_ID.split("/")[0],
                     "SPACE_REPO_NAME": SPACE_ID.split("/")[1], "SPACE_HOST": f"localhost:{port}",
                     "OAUTH_CLIENT_ID": CLIENT_ID, "OAUTH_CLIENT_SECRET": CLIENT_SECRET,
                     "OAUTH_SCOPES": "openid profile", "OPENID_PROVIDER_URL": oidc.issuer,
                     "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "PYTHONUNBUFFERED": "1",
                     "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "space-hf"),
                     "GRADIO_TEMP_DIR": str(tmp_path / "gradio"), "REXRANK_ASSETS_CACHE": str(cache_root()),
                     "PYTHONPATH": str(shim), "TEST_RELOAD_PORT": str(_free_port())}
        log = tmp_path / "space.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([str(venv / "bin" / "python"), "app.py"], cwd=workdir, env=space_env, stdout=out,
                                    stderr=subprocess.STDOUT)
        worker_log = tmp_path / "worker.log"
        with open(worker_log, "wb") as out:  # the GPU machine: the same wheel, the store, a token
            worker = subprocess.Popen([str(venv / "bin" / "rexrank"), "worker", "--store", STORE, "--metrics", "bleu2",
                                       "--poll", "1"], cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                      env={**env, "HF_TOKEN": PLANTED_TOKEN, "HF_ENDPOINT": endpoint,
                                           "HF_HOME": str(tmp_path / "worker-hf"),
                                           "REXRANK_ASSETS_CACHE": str(cache_root())})
        url = f"http://localhost:{port}/"
        try:
            wait_until_serving(f"http://127.0.0.1:{port}/", proc, log, timeout=180)
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            table, _ = client.predict("mimic_cxr", "findings", "radcliq", api_name="/leaderboard")
            assert len(table["data"]) >= 5, table  # the published ReXrank rows, seeded into the Hub store
            assert any(p.startswith("published/") for p in fake.files("dataset", STORE[4:]))

            shots = ARTIFACTS
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
                try:
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    page.goto(url)
                    expect(page.locator("#leaderboard-table")).to_contain_text("CheXpertPlus", timeout=60_000)
                    page.screenshot(path=str(shots / "space-hub-leaderboard.png"), full_page=True)
                    page.get_by_role("button", name="Sign in with Hugging Face").click()
                    expect(page.get_by_role("button", name="Logout (rexrank-tester)")).to_be_visible(timeout=30_000)
                    assert oidc.logins == 1
                    page.get_by_role("tab", name="Submit").click()
                    page.locator("#predictions-upload input[type=file]").set_input_files(str(preds))
                    expect(page.locator("#predictions-upload").get_by_role(
                        "cell", name=preds.name)).to_be_visible(timeout=30_000)
                    page.locator("#system-name textarea, #system-name input").first.fill("HubBuiltBot")
                    page.locator("#submit-button").click()
                    expect(page.locator("#submit-status")).to_contain_text("queued", timeout=30_000)
                    page.screenshot(path=str(shots / "space-hub-submitted.png"), full_page=True)
                    page.get_by_role("tab", name="Queue").click()
                    row = page.locator("#queue-table").get_by_role("row").filter(has_text="HubBuiltBot")
                    deadline = time.time() + 240
                    while time.time() < deadline and "FINISHED" not in (row.first.inner_text(timeout=20_000)
                                                                        if row.count() else ""):
                        assert "FAILED" not in (row.first.inner_text() if row.count() else ""), log.read_text()[-3000:]
                        page.locator("#queue-refresh").click()
                        page.wait_for_timeout(2000)
                    expect(row).to_contain_text("FINISHED", timeout=5_000)
                    page.get_by_role("tab", name="Leaderboard").click()
                    page.locator("#testset-dropdown input").click()
                    page.get_by_role("option", name="IU-Xray").click()
                    table_el = page.locator("#leaderboard-table")
                    table_el.get_by_role("textbox").first.fill("HubBuilt")
                    expect(table_el.get_by_role("row").filter(has_text="HubBuiltBot")).to_contain_text(
                        "evaluated here", timeout=30_000)
                    page.screenshot(path=str(shots / "space-hub-evaluated.png"), full_page=True)
                finally:
                    browser.close()
            table, _ = client.predict("iu_xray", "findings", "bleu2", api_name="/leaderboard")
            assert any("HubBuiltBot" in json.dumps(r) for r in table["data"])
        finally:
            stop_server(proc)
            stop_server(worker)
    assert "polling" not in log.read_text() and "FINISHED" in worker_log.read_text()  # the worker did it
    # the row was posted to the Hub dataset store, by the Space's token, with this version's provenance
    from rexrank import __version__

    stored = fake.files("dataset", STORE[4:])
    results = [json.loads(d) for p, d in stored.items() if p.startswith("results/")]
    [mine] = [r for r in results if r["system"]["name"] == "HubBuiltBot"]
    assert mine["results"]["provenance"]["package"] == {"name": "rexrank", "version": __version__}
    assert mine["results"]["metrics"]["bleu2"]["n"] == len(data.study_ids)
    requests = [json.loads(d) for p, d in stored.items() if p.startswith("requests/")]
    assert any(r.get("submitter") == "rexrank-tester" for r in requests), requests[:1]
    assert "Bearer " + PLANTED_TOKEN in fake.authorizations
    text = log.read_text()
    assert PLANTED_TOKEN not in text + worker_log.read_text() and CLIENT_SECRET not in text
    lines = text.splitlines()
    ours = [i for i, line in enumerate(lines) if line.startswith("Traceback") and not lines[i - 1].startswith(LIBRARY_NOISE)]
    context = "\n---\n".join("\n".join(lines[max(0, i - 3):i + 30]) for i in ours)
    assert not ours and " ERROR " not in text, context or text[-4000:]
