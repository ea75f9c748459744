"""Random-weight stand-ins of every model the suite loads, and a temporary HF cache to hold them.

Shared by the tests, the benchmarks (``scripts/bench_*.py``) and the device check: each stand-in
has the real architecture, file names and tokenizer of its model and is stored under the real
repo id (:mod:`rexrank.testing.hubcache`), so the real loading code runs against it offline.
"""
