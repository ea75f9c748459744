"""rexrank.redaction, the one home of secret redaction (CLI, Space, workers) and of what a web
visitor may see (public_message): secrets by value and by shape, cut-off secrets, server paths,
endpoints and exception classes, with what must survive (repo ids, metric names, Hub links)."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings, strategies as st

from rexrank.redaction import RedactingFilter, public_message, redact

SECRET = "s3cr3t-Value-0123456789-abcdef"


@settings(max_examples=200)
@given(before=st.text(max_size=40), after=st.text(max_size=40), cut=st.integers(12, len(SECRET)))
def test_a_secret_from_the_environment_never_survives(before, after, cut) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SERVICE_API_KEY", SECRET)
        for text in (before + SECRET + after, before + SECRET[:cut] + after):
            cleaned = redact(text)
            assert SECRET not in cleaned and SECRET[:12] not in cleaned


@pytest.mark.parametrize("text", [
    "token hf_abcdefghijklmnopqrstuvwxyz0123 refused",              # a Hub token not in our environment
    "Incorrect API key provided: sk-proj-abcdefghijklmnop1234",     # an OpenAI-style key
    "header Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def",   # a bearer token
    "HF_TOKEN=hf_x1y2z3w4v5u6t7s8r9q0\x00OPENAI_API_KEY=anything-at-all\x00DB_PASSWORD=hunter2hunter2",
])
def test_secret_shapes_are_redacted_even_when_not_in_our_environment(text) -> None:
    cleaned = redact(text)
    assert "***" in cleaned
    for piece in ("abcdefghijklmnopqrstuvwxyz0123", "abcdefghijklmnop1234", "eyJhbGciOiJIUzI1NiJ9",
                  "x1y2z3w4v5u6t7s8r9q0", "anything-at-all", "hunter2hunter2"):
        assert piece not in cleaned


@pytest.mark.parametrize("text, gone, kept", [
    ("cannot reach http://10.0.0.7:8000/v1 (ConnectionError)", ["10.0.0.7", "http://", "ConnectionError"], ["cannot reach"]),
    ("requests.exceptions.ReadTimeout: read timed out", ["ReadTimeout", "requests.exceptions"], ["read timed out"]),
    ("no config.json in /srv/rexrank/models/x (FileNotFoundError)", ["/srv/rexrank", "FileNotFoundError"], ["config.json"]),
    ("weights at ~/.cache/huggingface/hub/models--a--b", ["~/.cache"], ["weights at"]),
    ("C:\\Users\\admin\\rexrank\\store failed", ["C:\\Users"], ["failed"]),
    ("server localhost:7860 and [::1]:80", ["localhost:7860", "[::1]:80"], ["server"]),
    ("org/model@refs/pr/3 and 1/RadCliQ-v1, 1/FineRadScore", [], ["org/model@refs/pr/3", "1/RadCliQ-v1", "1/FineRadScore"]),
    ("see https://huggingface.co/org/model/tree/main", [], ["https://huggingface.co/org/model/tree/main"]),
])
def test_public_messages_hide_server_details_and_keep_what_helps(text, gone, kept) -> None:
    shown = public_message(text)
    for piece in gone:
        assert piece not in shown, shown
    for piece in kept:
        assert piece in shown, shown


def test_public_messages_are_capped_and_never_empty() -> None:
    assert len(public_message("x" * 10_000)) <= 610
    assert public_message("ValueError: ") == "failed (see the server log)"


def test_the_log_filter_redacts_messages_arguments_and_tracebacks(monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_filterTestToken0123456789")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "bad %s", ("hf_filterTestToken0123456789",), None)
    try:
        raise RuntimeError("boom hf_filterTestToken0123456789")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    assert "hf_filterTestToken" not in record.getMessage() and "hf_filterTestToken" not in record.exc_text
