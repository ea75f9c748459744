"""Containment: a path a user or a manifest names is read only if it stays inside its root.

Manifests, predictions and submissions name files *relative* to a root the operator chose
(``--data-dir``, a store folder). :func:`resolve_inside` is the one check every reader uses
before opening such a path: no absolute path, no ``..`` segment, no NUL, and, after following
every symlink, the file must still be inside the (also resolved) root. Its errors name the
study/field (``what``) and the path *as given*, relative to the root, never the server's
absolute path. :func:`check_image` makes sure an embedded "image" really decodes as one.
"""

from __future__ import annotations

import io
import os
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Literal

from rexrank.errors import InputError, quote

__all__ = ["resolve_inside", "check_image", "check_image_bytes"]

Kind = Literal["file", "dir", "any"]


def _refuse(what: str, relative: str, why: str, todo: str) -> InputError:
    return InputError(f"{what}: {quote(relative)} {why}. {todo}")


def resolve_inside(root: str | os.PathLike, relative: str | os.PathLike, *, what: str,
                   kind: Kind = "file", must_exist: bool = True, root_name: str = "the root folder") -> Path:
    """The resolved path of ``relative`` under ``root``, refused unless it stays inside ``root``.

    ``what`` names the study and field for the message (e.g. ``"study 's1' image_path"``),
    ``root_name`` how the user knows the root (e.g. ``"--data-dir"``).
    ``kind`` says what must be there when ``must_exist``: a regular ``"file"``, a ``"dir"`` or
    ``"any"``. Symlinks are followed, and a link whose target leaves ``root`` is refused just
    like ``..``: a manifest could otherwise embed ``/etc/passwd`` as an "image".
    """
    text = os.fspath(relative)
    if not isinstance(text, str):
        raise InputError(f"{what}: expected a path as text, got {type(text).__name__}")
    todo = f"Paths must be relative to {root_name} and stay inside it"
    if not text.strip():
        raise _refuse(what, text, "is empty", todo)
    if "\x00" in text:
        raise _refuse(what, text, "contains a NUL character", todo)
    posix, windows = PurePosixPath(text.replace("\\", "/")), PureWindowsPath(text)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or text.startswith("~"):
        raise _refuse(what, text, "is an absolute path", todo + " (write it relative to the root)")
    if ".." in posix.parts:
        raise _refuse(what, text, "has a '..' segment", todo)
    try:
        base = Path(root).resolve(strict=True)
    except (OSError, RuntimeError):
        raise InputError(f"{what}: {root_name} (the folder {quote(text)} is relative to) does not exist") from None
    try:
        target = (base / posix).resolve(strict=False)
    except (OSError, RuntimeError):  # a symlink loop
        raise _refuse(what, text, "is a symlink loop", todo) from None
    if not target.is_relative_to(base):
        raise _refuse(what, text, f"is a symlink that points outside {root_name}", todo)
    if must_exist:
        if not target.exists():
            raise _refuse(what, text, f"does not exist under {root_name}",
                          f"Check that {root_name} is the folder the paths are relative to and that the download is complete")
        if kind == "file" and not target.is_file():
            raise _refuse(what, text, "is a directory or special file, not a regular file", "Name a file")
        if kind == "dir" and not target.is_dir():
            raise _refuse(what, text, "is not a directory", "Name a directory")
    return target


def check_image_bytes(data: bytes, *, what: str, shown_path: str = "") -> None:
    """Refuse bytes that do not decode as an image (PIL ``verify``), before they are embedded or sent to a model."""
    from PIL import Image, UnidentifiedImageError

    label = f"{what}: {quote(shown_path)}" if shown_path else what
    if not data:
        raise InputError(f"{label} is an empty file, not an image. Replace it with the study's image file")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        reason = "not an image PIL can read" if isinstance(err, UnidentifiedImageError) else "a damaged or unreadable image"
        raise InputError(f"{label} is {reason}. Replace it with the study's image file "
                         "(PNG or JPEG as distributed)") from None


def check_image(path: str | os.PathLike, *, what: str, shown_path: str = "") -> bytes:
    """The file's bytes after :func:`check_image_bytes`; ``shown_path`` is what the message shows."""
    data = Path(path).read_bytes()
    check_image_bytes(data, what=what, shown_path=shown_path)
    return data
