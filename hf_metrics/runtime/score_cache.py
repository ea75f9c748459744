"""On-disk cache of per-study scores, so a rerun on the same inputs costs nothing.

A score is stored under two keys: the *configuration* (metric, package version, the models'
resolved revisions, the scorer options that change a score) and the *pair* (sha256 of the
prediction text and the reference text). A per-study value depends only on its own pair
(no metric of the suite looks at the rest of the batch), so any run that shares pairs with an
earlier one reuses them. SQLite, written per chunk, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Mapping

from rexrank.digests import sha256_json

_LOCK = threading.Lock()


def default_dir() -> Path:
    """``$REXRANK_SCORE_CACHE``, else ``$HF_HOME/rexrank/scores`` (next to the assets cache)."""
    if os.environ.get("REXRANK_SCORE_CACHE"):
        return Path(os.environ["REXRANK_SCORE_CACHE"])
    from rexrank.assets import cache_root

    return cache_root().parent / "scores"


def pair_key(prediction: str, reference: str) -> str:
    return sha256_json([prediction, reference])


class ScoreCache:
    """``get_many`` / ``put_many`` of per-pair payloads under one configuration key."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.path = Path(directory or default_dir()) / "scores.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS scores (config TEXT, pair TEXT, payload TEXT,"
                       " PRIMARY KEY (config, pair))")
            db.execute("CREATE TABLE IF NOT EXISTS configs (config TEXT PRIMARY KEY, info TEXT)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def get_many(self, config: str, pairs: Iterable[str]) -> dict[str, dict]:
        pairs = list(dict.fromkeys(pairs))
        found: dict[str, dict] = {}
        with _LOCK, self._connect() as db:
            for start in range(0, len(pairs), 500):
                chunk = pairs[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(f"SELECT pair, payload FROM scores WHERE config=? AND pair IN ({marks})",
                                  [config, *chunk])
                found.update((pair, json.loads(payload)) for pair, payload in rows)
        return found

    def put_many(self, config: str, payloads: Mapping[str, dict]) -> None:
        rows = [(config, pair, json.dumps(p, default=str)) for pair, p in payloads.items()]
        with _LOCK, self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?)", rows)

    def get_info(self, config: str) -> dict | None:
        with _LOCK, self._connect() as db:
            row = db.execute("SELECT info FROM configs WHERE config=?", (config,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_info(self, config: str, info: dict) -> None:
        with _LOCK, self._connect() as db:
            db.execute("INSERT OR REPLACE INTO configs VALUES (?, ?)", (config, json.dumps(info, default=str)))
