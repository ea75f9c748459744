"""Oracle tasks: each runs inside the oracle venv (imported by path from ``run.py``), never in ours."""
