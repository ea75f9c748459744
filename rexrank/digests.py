"""sha256 digests: of bytes, and of JSON-able objects in one canonical rendering.

Every cache key, duplicate check and fingerprint in the project uses these, so two parts that
digest the same object always agree.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text as is; objects JSON does not know as ``str(obj)``."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))


def sha256_json(obj: Any) -> str:
    """sha256 of :func:`canonical_json` of ``obj``."""
    return sha256_bytes(canonical_json(obj).encode("utf-8"))
