"""The Hub plumbing every publishing command shares: the write token and the address of a file.

The token comes from ``HF_TOKEN`` only (never a saved login, never a command-line argument, never
logged), so a command run by a script or CI does exactly what it says and nothing leaks.
"""

from __future__ import annotations

import os
from urllib.parse import quote

from rexrank.errors import InputError


def hub_token() -> str:
    """The write token, from ``HF_TOKEN`` only (never a saved login, never logged)."""
    token = os.environ.get("HF_TOKEN")
    if not token:
        raise InputError("pushing to the Hub needs a write token in the HF_TOKEN environment variable "
                         "(create one at https://huggingface.co/settings/tokens); it is never read from elsewhere")
    return token


def endpoint() -> str:
    """The Hub in use: ``HF_ENDPOINT`` (as huggingface_hub reads it), else https://huggingface.co."""
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def repo_url(repo_id: str, repo_type: str = "model", *, hub: str | None = None) -> str:
    """``https://huggingface.co/spaces/ORG/NAME`` (``datasets/``, or nothing for a model)."""
    prefix = "" if repo_type == "model" else f"{repo_type}s/"
    return f"{(hub or endpoint()).rstrip('/')}/{prefix}{repo_id}"


def file_url(repo_id: str, filename: str, repo_type: str = "model", *, revision: str = "main",
             hub: str | None = None) -> str:
    """The download address of one file (``.../resolve/REVISION/FILE``), what pip or a browser fetches."""
    return f"{repo_url(repo_id, repo_type, hub=hub)}/resolve/{quote(revision, safe='')}/{quote(filename)}"


def check_repo_id(repo_id: str, what: str) -> str:
    """``ORG/NAME`` or a clear error naming the option."""
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts) or any(c.isspace() for c in repo_id):
        raise InputError(f"{what} must be a Hub repo id ORG/NAME, got {repo_id!r}")
    return repo_id
