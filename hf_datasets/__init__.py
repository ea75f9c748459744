"""The ReXrank test sets: manifests, tracks, prediction files and the `datasets` builder.

``manifests``, ``tracks`` and ``predictions`` are pure Python (no ``datasets`` import), so
scoring never pays for it; ``export`` and ``rexrank/rexrank.py`` use ``datasets``.
"""
