"""Timing of the official RaTEScore 0.6.0 for scripts/bench_ratescore.py: a fresh scorer (load) and
one ``compute_score`` call (score), with its defaults (CPU, batch size 1, "long" matrix)."""

import time


def run(candidates, references):
    t = time.perf_counter()
    from RaTEScore import RaTEScore

    scorer = RaTEScore(use_gpu=False)
    loaded = time.perf_counter()
    values = scorer.compute_score(list(candidates), list(references))
    done = time.perf_counter()
    return {"load": loaded - t, "score": done - loaded, "values": [float(v) for v in values]}
