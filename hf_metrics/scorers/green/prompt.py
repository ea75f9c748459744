"""GREEN's prompt template, extracted from the official ``green_score/utils.py`` without running it.

The official ``make_prompt(text1, text2)`` returns one f-string with ``{text1}`` (reference)
and ``{text2}`` (candidate) in it. We parse the file with :mod:`ast`, find that f-string in
``make_prompt`` and join its literal parts, writing ``<<REFERENCE>>``/``<<CANDIDATE>>`` where
the two reports go (DESIGN §8). Nothing from the file is executed.
"""

from __future__ import annotations

import ast

from rexrank.errors import AssetError
from rexrank.metrics.runtime.python_source import fstring_template, top_level_function

SOURCE_PATH = "green_score/utils.py"
FUNCTION = "make_prompt"
PLACEHOLDERS = {"text1": "<<REFERENCE>>", "text2": "<<CANDIDATE>>"}


def extract_green_prompt(raw: dict[str, bytes]) -> bytes:
    """``{"green_score/utils.py": source}`` -> the template as UTF-8 bytes."""
    what = f"GREEN {SOURCE_PATH}"
    try:
        source = raw[SOURCE_PATH]
    except KeyError:
        raise AssetError(f"{what}: not among the raw files {sorted(raw)}") from None
    func = top_level_function(ast.parse(source), FUNCTION, what)
    templates = [node.value for node in ast.walk(func)
                 if isinstance(node, ast.Assign) and isinstance(node.value, ast.JoinedStr)
                 and any(isinstance(t, ast.Name) and t.id == "prompt" for t in node.targets)]
    if len(templates) != 1:
        raise AssetError(f"{what}: expected one `prompt = f\"...\"` in {FUNCTION}, found {len(templates)}")
    template = fstring_template(templates[0], PLACEHOLDERS, what)
    for marker in PLACEHOLDERS.values():
        if template.count(marker) != 1:
            raise AssetError(f"{what}: the template should hold {marker} exactly once")
    return template.encode("utf-8")
