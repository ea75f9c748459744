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


def owned_temp_dir(owner: object, prefix: str):
    """``(path, remove)``: a fresh temporary folder, removed by calling ``remove()`` (idempotent) or,
    at the latest, when ``owner`` is garbage-collected or the process exits normally
    (``weakref.finalize``), so long-lived workers leave nothing behind in ``/tmp``. A process killed
    with SIGKILL cannot clean up; the ``rexrank-`` prefix makes such leftovers findable."""
    import shutil
    import weakref

    path = Path(tempfile.mkdtemp(prefix=prefix))
    return path, weakref.finalize(owner, shutil.rmtree, str(path), ignore_errors=True)


def check_input_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` if it is a regular file; otherwise one clear error that tells a missing path, a
    folder and a device or pipe apart (``/dev/zero`` would never end; a folder is a common slip)."""
    from rexrank.errors import InputError

    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        raise InputError(f"{what} {str(p)!r} is a folder, not a file: pass the file itself")
    if p.exists():
        raise InputError(f"{what} {str(p)!r} is not a regular file (a device, pipe or socket): pass a file")
    parent = next((a for a in p.absolute().parents if a.exists()), None)
    hint = "" if parent is None or parent == p.absolute().parent else f" (nothing under {str(parent)!r} by that path)"
    raise InputError(f"{what} {str(p)!r} does not exist{hint}")


def check_output_dir(path: str | os.PathLike, what: str) -> Path:
    """Create the output folder ``path`` now, before any work, so a file in its place or a
    folder we may not write fails at once instead of after the scoring."""
    from rexrank.errors import InputError

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"{what} {str(p)!r} is a file; it must be a folder (it will hold several files): "
                         "choose another path or remove the file")
    try:
        p.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=p, prefix=".rexrank-write-check-", delete=True)
        probe.close()
    except OSError as err:
        raise InputError(f"cannot write into {what} {str(p)!r}: {err.strerror or err}") from None
    return p


def check_output_file(path: str | os.PathLike, what: str) -> Path:
    """An output *file* path that can be written: not a folder, its folder creatable."""
    from rexrank.errors import InputError

    p = Path(path)
    if p.is_dir():
        raise InputError(f"{what} {str(p)!r} is a folder; give a file name (e.g. {str(p / 'predictions.json')!r})")
    if p.exists() and not p.is_file():
        raise InputError(f"{what} {str(p)!r} is not a regular file")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create the folder of {what} {str(p)!r}: {err.strerror or err}") from None
    return p
