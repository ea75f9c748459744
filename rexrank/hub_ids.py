"""Hub repo ids and revisions, validated as the Hub validates them, never resolved as local paths.

A web visitor's "model id" must name a Hub repository: treating it as a folder would let the
Space load weights from (and reveal the layout of) the server's own disk. The repo-id rules are
``huggingface_hub.utils.validate_repo_id``'s (1-96 characters per part, ``name`` or
``namespace/name``, letters, digits, ``-_.``, no leading/trailing ``-``/``.``, no ``--``/``..``,
no ``.git`` ending), restricted to ASCII as on the Hub (the library's regex accepts any Unicode
word character). They are written out here rather than imported, so a worker does not pay for
importing ``huggingface_hub`` to check a string; ``tests/test_hub_ids.py`` checks that both agree.
Revisions are git refs (``git check-ref-format`` rules) or commit shas.
"""

from __future__ import annotations

import re

from rexrank.errors import InputError, quote

__all__ = ["HubRef", "parse_hub_ref", "validate_repo_id", "validate_revision", "is_commit_sha"]

_ASCII_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.\-]{0,94}[A-Za-z0-9_])?"  # 1-96 characters, word characters at both ends
_REPO_ID = re.compile(rf"^(?:{_PART}/)?{_PART}$")
_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")
_SHA = re.compile(r"^[0-9a-f]{40}$")
MAX_REVISION = 255
EXAMPLE = "IAMJB/chexpert-mimic-cxr-findings-baseline"


class HubRef(tuple):
    """``(repo_id, revision or None)``, as a named pair."""

    __slots__ = ()

    def __new__(cls, repo_id: str, revision: str | None):
        return super().__new__(cls, (repo_id, revision))

    @property
    def repo_id(self) -> str:
        return self[0]

    @property
    def revision(self) -> str | None:
        return self[1]


def validate_repo_id(repo_id: str, *, what: str = "model id") -> str:
    """``repo_id`` stripped, or an :class:`InputError` that says how to write one."""
    if not isinstance(repo_id, str):
        raise InputError(f"{what}: expected text, got {type(repo_id).__name__}")
    text = repo_id.strip()
    todo = f"write it as ORG/NAME, e.g. {EXAMPLE}"
    if not text:
        raise InputError(f"{what} is empty; {todo}")
    if not _ASCII_NAME.match(text.replace("/", "")):
        raise InputError(f"{what} {quote(text)} is not a Hub repo id (letters, digits, '-', '_', '.' and one "
                         f"'/' only); {todo}")
    if not _REPO_ID.match(text) or "--" in text or ".." in text or text.endswith(".git"):
        raise InputError(f"{what} {quote(text)} is not a Hub repo id (at most 96 characters per part, one '/', "
                         f"no leading or trailing '-' or '.', no '--' or '..', no '.git' ending); {todo}")
    return text


def validate_revision(revision: str | None, *, what: str = "revision") -> str | None:
    """A branch, tag, ``refs/pr/N`` or commit sha (git ref rules), or None for the default branch."""
    if revision is None:
        return None
    if not isinstance(revision, str):
        raise InputError(f"{what}: expected text, got {type(revision).__name__}")
    text = revision.strip()
    if not text:
        return None
    if (len(text) > MAX_REVISION or _BAD_REF.search(text) or text.startswith(("/", "-", "."))
            or text.endswith(("/", ".", ".lock")) or "/." in text or text == "@"):
        raise InputError(f"{what} {quote(text)} is not a valid git revision: give a branch, a tag or a "
                         "commit sha (e.g. main, v1.0, or 40 hexadecimal characters)")
    return text


def is_commit_sha(revision: str | None) -> bool:
    """A full 40-hex commit (pinned), as opposed to a branch or tag that can move."""
    return bool(revision and _SHA.match(revision))


def parse_hub_ref(text: str, revision: str | None = None, *, what: str = "model id") -> HubRef:
    """``ORG/NAME`` or ``ORG/NAME@REV`` (or ``revision=``) -> :class:`HubRef`, both parts validated.

    Nothing here looks at the file system: a string that happens to name a local folder is
    still only a Hub repo id (local folders are for the CLI, and only when passed explicitly).
    """
    if not isinstance(text, str):
        raise InputError(f"{what}: expected text, got {type(text).__name__}")
    text = text.strip()
    if "@" in text:
        text, _, inline = text.partition("@")
        if revision and revision.strip() and revision.strip() != inline.strip():
            raise InputError(f"{what} gives revision {quote(inline)} and the revision field gives "
                             f"{quote(revision)}: give one")
        revision = inline
        if not inline.strip():
            raise InputError(f"{what} ends with '@' but names no revision; write ORG/NAME@REVISION or leave out '@'")
    return HubRef(validate_repo_id(text, what=what), validate_revision(revision))
