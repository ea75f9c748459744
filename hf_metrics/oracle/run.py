"""The parity oracle: runs the *official* metric packages in their own virtual environment.

Started once per test session by ``tests/fixtures/oracle.py`` with ``.oracle/bin/python``.
Protocol: one JSON request per line on stdin, ``{"task": NAME, "args": {...}}``; one JSON
answer per line on the original stdout, ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": "..."}``. Everything the packages print goes to stderr.
Each task is ``hf_metrics/oracle/tasks/<NAME>.py`` with a ``run(**args)`` function; task modules
keep their loaded models in module globals, so each package is imported once.
"""

import importlib.util
import json
import os
import sys
import traceback

TASKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tasks")


def load_task(name):
    """Task module ``name`` (imported once, by path: never on sys.path, where radgraph.py would
    shadow the radgraph package). Tasks reach it as ``sys.modules["oracle_run"].load_task``."""
    module = sys.modules.get("oracle_task_" + name)
    if module is None:
        spec = importlib.util.spec_from_file_location("oracle_task_" + name, os.path.join(TASKS, name + ".py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


def main():
    sys.modules["oracle_run"] = sys.modules[__name__]
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr
    os.dup2(sys.stderr.fileno(), 1)  # C-level prints too
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            result = load_task(request["task"]).run(**request.get("args", {}))
            answer = {"ok": True, "result": result}
        except BaseException:  # report everything to the test, keep serving
            answer = {"ok": False, "error": traceback.format_exc()}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
