"""Runs inside a remote-code model's own virtual environment; talks JSON lines on stdin/stdout.

Started by :class:`rexrank.space.generation.adapters.remote.RemoteCodeRunner` as ``<venv>/bin/python remote_worker.py``.
It imports nothing from this project (the venv holds only what the model needs) and loads the
model's recipe file by path. Requests, one JSON object per line:

  {"op": "load", "recipe": "/path/recipe.py:load", "repo_id", "revision", "device", "dtype",
   "max_new_tokens", "trust_remote_code"}           -> {"ok": true, "info": {...}}
  {"op": "generate", "requests": [{"study_id", "images": [paths], "prompt", "context"}]}
                                                    -> {"ok": true, "texts": [...]}
  {"op": "close"}                                   -> exit 0
Errors answer {"ok": false, "error": "...", "error_types": [class names, most derived first]}
(the parent decides what is out-of-memory). Anything a library prints goes to
stderr, so stdout carries only the protocol.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback


def _load_recipe(spec: str):
    path, _, func = spec.rpartition(":")
    module_spec = importlib.util.spec_from_file_location("rexrank_recipe", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return getattr(module, func)


def main() -> int:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints from libraries go to stderr
    sys.stdout = sys.stderr
    generate = None
    for line in sys.stdin:
        message = json.loads(line)
        op = message.get("op")
        try:
            if op == "close":
                return 0
            if op == "load":
                factory = _load_recipe(message["recipe"])
                generate, info = factory(message)
                answer = {"ok": True, "info": info}
            elif op == "generate":
                if generate is None:
                    raise RuntimeError("generate before load")
                texts = generate(message["requests"])
                answer = {"ok": True, "texts": [str(t) for t in texts]}
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as err:  # reported to the parent, which decides
            traceback.print_exc(file=sys.stderr)
            answer = {"ok": False, "error": f"{type(err).__name__}: {err}",
                      "error_types": [cls.__name__ for cls in type(err).__mro__]}
        protocol.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
