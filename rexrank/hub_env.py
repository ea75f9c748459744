"""The Hub token and endpoint, read from the environment at the moment of each call.

Secrets come from the environment only: ``token()`` is ``HF_TOKEN`` or ``False`` (which tells
``huggingface_hub`` not to fall back on a saved login), so what is sent is always what the user
set. ``endpoint()`` is ``HF_ENDPOINT`` read now, not when ``huggingface_hub`` was imported.
"""

from __future__ import annotations

import os


def token() -> str | bool:
    return os.environ.get("HF_TOKEN") or False


def endpoint() -> str | None:
    return os.environ.get("HF_ENDPOINT") or None
