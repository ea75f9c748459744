"""`LocalDirStore`: the embedded store, a folder on disk, safe for several worker processes.

Every transaction holds an exclusive ``fcntl`` lock on ``<root>/.lock`` while it reads and
writes, and each file is replaced atomically (write to a temporary file, ``os.replace``), so
readers without the lock never see a half-written file.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from rexrank.files import atomic_write_bytes, is_partial_write
from rexrank.space.store.base import Snapshot, Store, T, Writes


class _DirSnapshot:
    def __init__(self, root: Path):
        self.root = root

    def read(self, path: str) -> bytes | None:
        try:
            return (self.root / path).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*")
                      if p.is_file() and not is_partial_write(p.name))


class LocalDirStore(Store):
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_path = self.root / ".lock"

    @property
    def location(self) -> str:
        return str(self.root)

    def __repr__(self) -> str:
        return f"LocalDirStore({str(self.root)!r})"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def snapshot(self) -> Snapshot:
        return _DirSnapshot(self.root)

    def transact(self, fn: Callable[[Snapshot], tuple[Writes, T]], message: str) -> T:
        with self._locked():
            writes, value = fn(_DirSnapshot(self.root))
            for path, data in writes.items():
                self._apply(path, data)
        return value

    def _apply(self, path: str, data: bytes | None) -> None:
        target = self.root / path
        if data is None:
            target.unlink(missing_ok=True)
            return
        atomic_write_bytes(target, data)
