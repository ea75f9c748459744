"""Requests, results and artifacts of the leaderboard Space: one interface, two backends.

``open_store("DIR")`` gives a :class:`LocalDirStore` (embedded, no account);
``open_store("hub:ORG/REPO")`` a :class:`HubDatasetStore` (a Hub dataset repo, token from
``HF_TOKEN``; ``HF_ENDPOINT`` or ``endpoint=`` picks the Hub).
"""

from __future__ import annotations

import os

from rexrank.space.store.base import (AWAITING_REVIEW, FAILED, FINISHED, PENDING, RUNNING, STATES, DuplicateSubmissionError, LeaseLostError, ReviewError, utc_now as utc_now_iso, Request, Store, StoreError, new_request_id)
from rexrank.space.store.local import LocalDirStore

__all__ = ["AWAITING_REVIEW", "ReviewError", "FAILED", "FINISHED", "PENDING", "RUNNING", "STATES", "DuplicateSubmissionError", "LeaseLostError",
           "Request", "Store", "StoreError", "LocalDirStore", "HubDatasetStore", "new_request_id", "open_store",
           "default_store_dir", "utc_now_iso"]


def default_store_dir() -> str:
    """``$REXRANK_STORE`` or ``~/.cache/rexrank/space``."""
    return os.environ.get("REXRANK_STORE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "rexrank", "space")


def open_store(spec: str | None = None, *, endpoint: str | None = None, read_cache_seconds: float = 0.0) -> Store:
    """``None``/``DIR`` -> LocalDirStore, ``hub:ORG/REPO`` -> HubDatasetStore (whose plain reads may
    reuse a snapshot up to ``read_cache_seconds`` old: for a UI, not for workers)."""
    spec = spec or default_store_dir()
    if spec.startswith("hub:"):
        from rexrank.space.store.hub import HubDatasetStore

        return HubDatasetStore(spec[len("hub:"):], endpoint=endpoint, read_cache_seconds=read_cache_seconds)
    return LocalDirStore(spec)


def __getattr__(name: str):  # HubDatasetStore imports huggingface_hub: only when asked for
    if name == "HubDatasetStore":
        from rexrank.space.store.hub import HubDatasetStore

        return HubDatasetStore
    raise AttributeError(name)
