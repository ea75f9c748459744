"""Benchmark: the suite's paired significance tests at scale (10,000 studies x 10,000 trials).

For each kind of leaderboard value (a mean; a reciprocal of a mean, as RadCliQ-v1 and
FineRadScore), times ``approximate_randomization_pvalue`` and ``paired_bootstrap_pvalue`` on
random per-study values, and, for comparison, the trial-by-trial loop that recomputes the corpus
metric every trial (RadEval's ``compare_systems`` way, here on per-study values, i.e. its cost
without any model), timed on ``--loop-trials`` trials and scaled to the full count.

    .venv/bin/python scripts/bench_stats.py
    .venv/bin/python scripts/bench_stats.py --studies 10000 --trials 10000 --repeats 3

Wall-clock and CPU seconds (``time.process_time``), median of the repetitions. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from rexrank.metrics.suite import stats


def _timed(fn) -> tuple[float, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, value


def _loop(x: np.ndarray, y: np.ndarray, reported_as: str, trials: int) -> None:
    """Randomisation, one trial at a time: swap, recompute both corpus values, compare."""
    rng = np.random.default_rng(0)
    observed = abs(stats.report(x.mean(), reported_as) - stats.report(y.mean(), reported_as))
    for _ in range(trials):
        swap = stats.swap_mask(stats.swap_bytes(rng, 1, len(x))[0], len(x))
        xa, yb = np.where(swap, y, x), np.where(swap, x, y)
        _ = abs(stats.report(xa.mean(), reported_as) - stats.report(yb.mean(), reported_as)) >= observed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loop-trials", type=int, default=500)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(1)
    n = args.studies
    data = {"mean": (rng.random(n), None), "reciprocal_mean": (rng.normal(0.3, 0.8, n), None)}
    data = {k: (x, x + rng.normal(0.01, 0.3, n)) for k, (x, _) in data.items()}
    rows = {}
    for _ in range(args.repeats):  # interleaved: each repetition runs every test once
        for kind, (x, y) in data.items():
            for test, fn in (("randomisation", lambda: stats.approximate_randomization_pvalue(
                                 x, y, kind, n_samples=args.trials)),
                             ("bootstrap", lambda: stats.paired_bootstrap_pvalue(x, y, kind, n_resamples=args.trials)),
                             ("randomisation, per-trial loop", lambda: _loop(x, y, kind, args.loop_trials))):
                wall, cpu, _ = _timed(fn)
                scale = args.trials / args.loop_trials if "loop" in test else 1.0
                rows.setdefault((kind, test), []).append((wall * scale, cpu * scale))
    print(f"{n} studies x {args.trials} trials, median of {args.repeats} (loop: {args.loop_trials} trials, scaled)\n")
    print("| value | test | wall s | CPU s |\n| --- | --- | ---: | ---: |")
    for (kind, test), times in rows.items():
        print(f"| {kind} | {test} | {statistics.median(t[0] for t in times):.2f} | "
              f"{statistics.median(t[1] for t in times):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
