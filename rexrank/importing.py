"""Objects named as ``"package.module:attribute"`` (registries name scorers, adapters, extractors
and generators this way, so that reading a registry imports nothing)."""

from __future__ import annotations

import importlib
from typing import Any


def import_object(spec: str) -> Any:
    """The attribute ``attr`` of module ``module`` for ``"module:attr"`` (dots in ``attr`` follow attributes)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{spec!r} is not of the form 'package.module:attribute'")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
