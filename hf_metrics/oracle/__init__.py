"""The parity oracle: the official metric packages, run in their own virtual environment.

The official packages need the stack they were written for (transformers 4, numpy 1, ...), so
they run in a separate venv (``scripts/oracle_env.sh`` makes ``.oracle``). :class:`client.Oracle`
starts ``run.py`` there once and sends it tasks (``tasks/<name>.py``, each with ``run(**args)``)
as JSON lines; tests and benchmarks compare our scorers with those answers on the same weights.
"""
