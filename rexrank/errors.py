"""The project's own errors. Each says what went wrong, for which study or file, and what to do."""

from __future__ import annotations


class RexrankError(Exception):
    """Base class: the CLI prints these as one clear message instead of a traceback."""


class AssetError(RexrankError):
    """An official asset (manifest, prompt, matrix, table) is missing, corrupt or unreachable."""


class ModelUnavailableError(RexrankError):
    """Weights could not be resolved (offline with an empty cache, unknown repo, bad local path)."""


class CheckpointMismatchError(RexrankError):
    """A checkpoint's keys or shapes do not match the model exactly (we never run random weights)."""


class InputError(RexrankError, ValueError):
    """Bad user input (predictions, references, manifests): names the studies and what to do."""


class RemoteCodeRefused(RexrankError):
    """A repository needs `trust_remote_code` but is not on the allowlist."""


def describe_ids(ids: list[str] | tuple[str, ...], limit: int = 5) -> str:
    """'3 studies: a, b, c' or '12 studies: a, b, c, d, e, ... (7 more)' for error messages."""
    ids = list(ids)
    shown = ", ".join(quote(i, 60) for i in ids[:limit])  # ids come from user files: never echoed whole
    more = f", ... ({len(ids) - limit} more)" if len(ids) > limit else ""
    noun = "study" if len(ids) == 1 else "studies"
    return f"{len(ids)} {noun}: {shown}{more}"


ECHO_LIMIT = 80  # characters of a user's input quoted back in a message


def quote(value: object, limit: int = ECHO_LIMIT) -> str:
    """``repr`` of user input for a message, cut to ``limit`` characters: a pasted file or a
    hostile megabyte string is never echoed whole (into a log, a web page or a terminal)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        return repr(text[:limit]) + f"... ({len(text)} characters)"
    return repr(text)
