"""ReXrank scorers: each metric as plain Python over lists of reports, importable without
`evaluate`. The `evaluate` modules in the sub-folders and the Space are thin layers on top.

Start from :mod:`rexrank.metrics.registry`, which names every metric once.
"""
