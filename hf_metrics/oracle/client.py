"""Drive the oracle process: one long-lived ``run.py`` in the oracle venv, JSON in and out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TASKS = HERE / "tasks"
CHECKOUT = HERE.parents[1]  # hf_metrics/oracle -> the checkout (editable install), where .oracle lives


class Oracle:
    """``stderr``: where the packages' own prints go (default: ours); a benchmark passes a log file."""

    def __init__(self, python: str, env: dict[str, str], stderr: Any = None):
        self._proc = subprocess.Popen(
            [python, str(HERE / "run.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=stderr or sys.stderr, env=env, text=True, cwd=str(CHECKOUT))
        self._lock = threading.Lock()

    def __call__(self, task: str, **args: Any) -> Any:
        with self._lock:
            assert self._proc.stdin and self._proc.stdout
            self._proc.stdin.write(json.dumps({"task": task, "args": args}) + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the oracle process died (exit {self._proc.poll()}); see stderr above")
        answer = json.loads(line)
        if not answer["ok"]:
            raise RuntimeError(f"oracle task {task!r} failed:\n{answer['error']}")
        return answer["result"]

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()


def oracle_python() -> Path:
    """``$REXRANK_ORACLE_PYTHON``, else the python of :func:`venv.default_venv` (the checkout's ``.oracle`` in a checkout)."""
    if os.environ.get("REXRANK_ORACLE_PYTHON"):
        return Path(os.environ["REXRANK_ORACLE_PYTHON"])
    from rexrank.metrics.oracle.venv import default_venv, python_of

    return python_of(default_venv())
