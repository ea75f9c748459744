"""Read values out of an official Python source file without running it (DESIGN §8).

The prompt assets (GREEN's template, FineRadScore's few-shot messages) live in the official
repositories as Python code. These helpers walk its :mod:`ast`: top-level functions, literal
assignments (``ast.literal_eval`` only) and the literal parts of an f-string.
"""

from __future__ import annotations

import ast
from typing import Any

from rexrank.errors import AssetError


def top_level_function(tree: ast.Module, name: str, what: str) -> ast.FunctionDef:
    """The module-level ``def name``, or an :class:`AssetError` naming ``what``."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise AssetError(f"{what}: no top-level function {name!r}")


def fstring_template(node: ast.JoinedStr, placeholders: dict[str, str], what: str) -> str:
    """The literal parts of an f-string, each ``{name}`` replaced by ``placeholders[name]``."""
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            parts.append(value.value)
        elif (isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name)
              and value.value.id in placeholders and value.conversion == -1 and value.format_spec is None):
            parts.append(placeholders[value.value.id])
        else:
            raise AssetError(f"{what}: unexpected expression in the template f-string: {ast.dump(value)[:120]}")
    return "".join(parts)


def literal_assignments(tree: ast.Module) -> dict[str, Any]:
    """``NAME = <literal>`` at module level, evaluated with ``ast.literal_eval`` only."""
    found: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue  # not a literal: not something we need
    return found
