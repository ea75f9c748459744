"""Writing files so that a crash never leaves a half-written one behind."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a uniquely named temporary file in the same folder,
    flushed to disk (fsync), then renamed over the target. Readers see the old or the new file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp",
                                     delete=False) as tmp:
        try:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        except BaseException:
            tmp.close()
            os.unlink(tmp.name)
            raise
    os.replace(tmp.name, target)
    return target


def is_partial_write(name: str) -> bool:
    """A temporary file of :func:`atomic_write_bytes` (left behind if the writer was killed)."""
    return name.startswith(".") and name.endswith(".tmp")


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, payload: Any, *, indent: int | None = 2) -> Path:
    """:func:`atomic_write_bytes` of JSON (UTF-8, not ASCII-escaped; NaN refused: JSON has none)."""
    return atomic_write_text(path, json.dumps(payload, ensure_ascii=False, indent=indent, allow_nan=False))


def owned_temp_dir(owner: object, prefix: str) -> Path:
    """A fresh temporary folder removed when ``owner`` is garbage-collected or the process exits
    normally (``weakref.finalize``), so long-lived workers leave nothing behind in ``/tmp``.
    A process killed with SIGKILL cannot clean up; the ``rexrank-`` prefix makes such leftovers findable."""
    import shutil
    import weakref

    path = Path(tempfile.mkdtemp(prefix=prefix))
    weakref.finalize(owner, shutil.rmtree, str(path), ignore_errors=True)
    return path
