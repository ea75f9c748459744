"""``rexrank verify``: re-score a sample of a result's studies with the official packages.

A user's own check that the numbers in a ``results.json`` are what the official implementations
give: a stratified sample (:mod:`.sample`), the official code in its own venv
(:mod:`rexrank.metrics.oracle`) on the very weights the result's provenance records
(:mod:`.stage`), per-metric differences against DESIGN's parity bounds (:mod:`.bounds`), and
``verify.json`` next to the result (:mod:`.run`).
"""
