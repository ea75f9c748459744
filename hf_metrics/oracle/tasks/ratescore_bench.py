"""Timing of the official RaTEScore 0.6.0 for scripts/bench_ratescore.py: a fresh scorer (load) and
one ``compute_score`` call (score), wall and CPU seconds, with its defaults (CPU, batch size 1, "long" matrix)."""

import time


def run(candidates, references):
    t, c = time.perf_counter(), time.process_time()
    from RaTEScore import RaTEScore

    scorer = RaTEScore(use_gpu=False)
    loaded, loaded_cpu = time.perf_counter(), time.process_time()
    values = scorer.compute_score(list(candidates), list(references))
    done, done_cpu = time.perf_counter(), time.process_time()
    return {"load": loaded - t, "score": done - loaded, "load_cpu": loaded_cpu - c, "score_cpu": done_cpu - loaded_cpu,
            "values": [float(v) for v in values]}
