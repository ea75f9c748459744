"""`space/app.py` started the way a Hub Space starts it (`python app.py`, SPACE_ID and the OAuth
variables set by the Hub): the login button is there, submitting needs a login, and the
configuration comes from the environment (store, metrics, worker switch)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_running_as_a_space_shows_login_and_refuses_anonymous_submissions(tmp_path, small_iu_predictions):
    from gradio_client import Client, handle_file

    from tests.fixtures.space import _free_port, stop_server

    port = _free_port()
    env = {**os.environ, "SYSTEM": "spaces", "SPACE_ID": "rexrank/leaderboard", "OAUTH_CLIENT_ID": "client-id",
           "OAUTH_CLIENT_SECRET": "client-secret", "OAUTH_SCOPES": "openid profile",
           "OPENID_PROVIDER_URL": "http://127.0.0.1:9", "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), "REXRANK_STORE": str(tmp_path / "store"), "REXRANK_WORKER": "0",
           "REXRANK_METRICS": "bleu2", "GRADIO_ANALYTICS_ENABLED": "False"}
    log = tmp_path / "space.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT / "space", env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    response.read()
                    break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(f"the Space did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        config = urllib.request.urlopen(url + "config", timeout=10).read().decode()
        assert "Sign in with Hugging Face" in config  # gr.LoginButton is rendered
        client = Client(url, verbose=False)
        message = client.predict("", "", handle_file(str(small_iu_predictions)), "Anonymous", ["iu_xray"],
                                 "findings", api_name="/submit")
        assert "log in" in message.lower()
        assert not list((tmp_path / "store").glob("requests/*.json"))  # nothing was queued
        assert (tmp_path / "store" / "published" / "SOURCES.json").is_file()  # seeded at start
        assert "polling" not in log.read_text()  # REXRANK_WORKER=0: no worker thread in the Space
    finally:
        stop_server(proc)
