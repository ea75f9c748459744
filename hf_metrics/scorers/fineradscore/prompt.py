"""FineRadScore's few-shot messages, extracted from the official sources without running them.

``gpt4_generations.py`` builds the request in ``generate_gpt4_response(pred_target,
gt_target)``: a ``messages=[...]`` list whose system turn is ``PROMPT_LONG``, whose worked
examples are string literals and ``json.dumps(correctionsN)``, and whose last user turn is an
f-string. ``few_shot_prompt.py`` holds ``PROMPT_LONG`` and the ``correctionsN`` dicts as
literal assignments. We read both with :mod:`ast` (``ast.literal_eval`` of the literal
assignments, the string parts of the f-string; DESIGN §8) and write the messages as JSON
(``indent=1``, UTF-8, not ASCII-escaped), the last user turn as ``content_template`` with
``{pred_target}``/``{gt_target}`` placeholders. Nothing from either file is executed.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from rexrank.metrics.runtime.python_source import fstring_template, literal_assignments, top_level_function
from rexrank.errors import AssetError

REPO = "rajpurkarlab/FineRadScore @ 3f5e1dc708d953a92aca536492d78f4e248c44f6"
PROMPT_FILE = "few_shot_prompt.py"
REQUEST_FILE = "gpt4_generations.py"
FUNCTION = "generate_gpt4_response"
PLACEHOLDERS = {"pred_target": "{pred_target}", "gt_target": "{gt_target}"}
NOTE = ("Messages of the GPT-4 few-shot request in order. The system message is PROMPT_LONG. Assistant turns "
        "are json.dumps(...) of the dicts given, with Python's default separators. The last user turn is a "
        "template: {pred_target} is the candidate split into numbered lines, {gt_target} the raw reference.")


def _messages_list(tree: ast.Module) -> ast.List:
    for call in ast.walk(top_level_function(tree, FUNCTION, f"FineRadScore {REQUEST_FILE}")):
        if isinstance(call, ast.Call):
            for kw in call.keywords:
                if kw.arg == "messages" and isinstance(kw.value, ast.List):
                    return kw.value
    raise AssetError(f"FineRadScore {REQUEST_FILE}: no `messages=[...]` call in {FUNCTION}")


def _content(node: ast.expr, names: dict[str, Any]) -> tuple[str, str]:
    """``("content", text)`` or ``("content_template", template)`` for one message's content."""
    what = f"FineRadScore {REQUEST_FILE} {FUNCTION}"
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return "content", node.value
    if isinstance(node, ast.Name) and isinstance(names.get(node.id), str):
        return "content", names[node.id]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "dumps"
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "json"
            and len(node.args) == 1 and not node.keywords and isinstance(node.args[0], ast.Name)
            and node.args[0].id in names):
        return "content", json.dumps(names[node.args[0].id])
    if isinstance(node, ast.JoinedStr):
        return "content_template", fstring_template(node, PLACEHOLDERS, what)
    raise AssetError(f"{what}: unexpected message content {ast.dump(node)[:120]}")


def extract_fineradscore_messages(raw: dict[str, bytes]) -> bytes:
    """``{"few_shot_prompt.py": ..., "gpt4_generations.py": ...}`` -> the messages JSON (bytes)."""
    missing = [p for p in (PROMPT_FILE, REQUEST_FILE) if p not in raw]
    if missing:
        raise AssetError(f"FineRadScore: raw files {missing} missing (have {sorted(raw)})")
    names = literal_assignments(ast.parse(raw[PROMPT_FILE]))
    messages = []
    for item in _messages_list(ast.parse(raw[REQUEST_FILE])).elts:
        if not isinstance(item, ast.Dict):
            raise AssetError(f"FineRadScore {REQUEST_FILE}: a message is not a dict literal")
        fields = dict(zip((ast.literal_eval(k) for k in item.keys), item.values))
        key, text = _content(fields["content"], names)
        messages.append({"role": ast.literal_eval(fields["role"]), key: text})
    templates = [m for m in messages if "content_template" in m]
    if len(templates) != 1 or messages[-1] is not templates[0]:
        raise AssetError(f"FineRadScore {REQUEST_FILE}: expected the last message, and only it, to be the f-string")
    document = {"source": f"github {REPO} ({PROMPT_FILE}, {REQUEST_FILE}: {FUNCTION})", "note": NOTE,
                "messages": messages}
    return json.dumps(document, indent=1, ensure_ascii=False).encode("utf-8")
