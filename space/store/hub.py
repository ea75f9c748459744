"""`HubDatasetStore`: the store as JSON files in a Hub dataset repo.

Each write is one ``create_commit`` with ``parent_commit=<the sha we read>``. If another writer
committed in between, the Hub answers 412 and we re-read, re-apply and retry with jittered
exponential backoff, so concurrent workers and Space replicas never lose each other's update.
Requests, their results and their artifacts live in one repo so that finishing a request
(write the result, mark FINISHED) is a single atomic commit.

The token comes from the environment (``HF_TOKEN``, read by ``huggingface_hub``) or the
``token`` argument; it is never logged or stored.
"""

from __future__ import annotations

import io
import logging
import os
import random
import threading
import time
from typing import Callable

from rexrank.files import owned_temp_dir
from rexrank.space.store.base import Snapshot, Store, StoreError, T, Writes

logger = logging.getLogger(__name__)


class _CommitSnapshot:
    """The repo at one commit; file contents fetched with ``hf_hub_download`` and memoised by blob id."""

    def __init__(self, store: "HubDatasetStore", sha: str, blobs: dict[str, str | None]):
        self.store, self.sha, self.blobs = store, sha, blobs

    def read(self, path: str) -> bytes | None:
        if path not in self.blobs:
            return None
        return self.store._blob(path, self.sha, self.blobs[path])

    def list(self, prefix: str) -> list[str]:
        return sorted(p for p in self.blobs if p.startswith(prefix))


class HubDatasetStore(Store):
    def __init__(self, repo_id: str, *, endpoint: str | None = None, token: str | None = None,
                 create: bool = True, private: bool = True, max_retries: int = 30,
                 cache_dir: str | os.PathLike | None = None, read_cache_seconds: float = 0.0):
        from huggingface_hub import HfApi

        self.repo_id = repo_id
        self.endpoint = endpoint
        self._token = token  # None: huggingface_hub reads HF_TOKEN from the environment
        self.api = HfApi(endpoint=endpoint, token=token)
        self.max_retries = max_retries
        self._cache_dir = str(cache_dir or owned_temp_dir(self, "rexrank-hubstore-")[0])
        self._blob_cache: dict[str, bytes] = {}
        self._blob_lock = threading.Lock()
        # Reads (not transactions) may reuse a snapshot this young: a Space whose every open page
        # polls the queue would otherwise ask the Hub for the repo state several times a second.
        self.read_cache_seconds = read_cache_seconds
        self._read_snapshot: tuple[float, _CommitSnapshot] | None = None
        if create:
            self._ensure_repo(private)

    def _ensure_repo(self, private: bool) -> None:
        """Create the dataset repo if needed; a token that may write but not create is fine if it exists."""
        from huggingface_hub.errors import HfHubHTTPError

        try:
            self.api.create_repo(self.repo_id, repo_type="dataset", private=private, exist_ok=True)
        except HfHubHTTPError as err:
            try:
                self.api.dataset_info(self.repo_id)
            except HfHubHTTPError:
                raise StoreError(f"cannot create or read the dataset repo {self.repo_id} on "
                                 f"{self.endpoint or 'the Hub'} ({err.response.status_code if err.response is not None else err}); "
                                 "check that HF_TOKEN has write access to it") from None

    @property
    def location(self) -> str:
        return f"hub:{self.repo_id}"

    @property
    def public_location(self) -> str:
        return f"the Hub dataset {self.repo_id}"

    def __repr__(self) -> str:
        return f"HubDatasetStore({self.repo_id!r})"

    # --- reading --------------------------------------------------------------------------
    def _head(self) -> tuple[str, dict[str, str | None]]:
        info = self.api.dataset_info(self.repo_id, revision="main", files_metadata=True)
        blobs = {s.rfilename: getattr(s, "blob_id", None) for s in (info.siblings or [])}
        return info.sha, blobs

    def _blob(self, path: str, sha: str, blob_id: str | None) -> bytes:
        if blob_id is not None:
            with self._blob_lock:
                cached = self._blob_cache.get(blob_id)
            if cached is not None:
                return cached
        from huggingface_hub import hf_hub_download

        local = hf_hub_download(self.repo_id, path, repo_type="dataset", revision=sha, endpoint=self.endpoint,
                                token=self._token, cache_dir=self._cache_dir)
        with open(local, "rb") as handle:
            data = handle.read()
        if blob_id is not None:
            with self._blob_lock:
                self._blob_cache[blob_id] = data
        return data

    def _fresh_snapshot(self) -> _CommitSnapshot:
        sha, blobs = self._head()
        return _CommitSnapshot(self, sha, blobs)

    def snapshot(self) -> Snapshot:
        cached = self._read_snapshot
        if cached is not None and time.monotonic() - cached[0] < self.read_cache_seconds:
            return cached[1]
        snap = self._fresh_snapshot()
        if self.read_cache_seconds > 0:
            self._read_snapshot = (time.monotonic(), snap)
        return snap

    # --- writing --------------------------------------------------------------------------
    def transact(self, fn: Callable[[Snapshot], tuple[Writes, T]], message: str) -> T:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete
        from huggingface_hub.errors import HfHubHTTPError

        for attempt in range(self.max_retries):
            snap = self._fresh_snapshot()
            writes, value = fn(snap)
            operations = []
            for path, data in writes.items():
                if data is not None:
                    operations.append(CommitOperationAdd(path_in_repo=path, path_or_fileobj=io.BytesIO(data)))
                elif path in snap.blobs:
                    operations.append(CommitOperationDelete(path_in_repo=path))
            if not operations:
                return value
            try:
                self.api.create_commit(self.repo_id, operations, commit_message=message, repo_type="dataset",
                                       parent_commit=snap.sha)
                self._read_snapshot = None  # our own write is visible to our next read
                return value
            except HfHubHTTPError as err:
                status = getattr(getattr(err, "response", None), "status_code", None)
                if status not in (409, 412):
                    raise
                delay = min(2.0, 0.05 * 2 ** attempt) * (0.5 + random.random())
                logger.debug("commit %r conflicted (HTTP %s, attempt %d); retrying in %.2fs",
                             message, status, attempt + 1, delay)
                time.sleep(delay)
        raise StoreError(f"could not commit {message!r} to {self.repo_id} after {self.max_retries} conflicting "
                         "attempts; too many concurrent writers")
