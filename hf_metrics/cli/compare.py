"""Compare systems scored by `rexrank score`: per metric, the paired difference with its 95% CI,
a paired bootstrap p-value and an approximate-randomisation p-value (as RadEval's PairedTest),
on the studies both results share.

With more than two results, each is compared with the first (the baseline), and --plots DIR
draws all of them side by side (bars with CIs, cross-system correlation, per-site ranks).

Example:
  rexrank compare results/model_a results/model_b
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", type=Path, help="results.json files (or their folders); the first is the baseline")
    parser.add_argument("--metrics", nargs="+", default=None, help="metrics to compare (default: all they share)")
    parser.add_argument("--n-resamples", type=int, default=10000, help="bootstrap resamples / randomisation trials")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap-ci", action="store_true", help="CI of the difference by paired bootstrap (default: normal)")
    parser.add_argument("--allow-different-sets", action="store_true",
                        help="compare even if the test sets (manifest, track, references) differ")
    parser.add_argument("--out", type=Path, default=None, help="write the comparison as JSON here")
    parser.add_argument("--plots", type=Path, default=None, help="folder for side-by-side figures")


def run(args: argparse.Namespace) -> int:
    from rexrank.metrics.reporting.results_file import load_results
    from rexrank.metrics.reporting.tables import comparison_table
    from rexrank.metrics.suite.compare import compare

    if len(args.results) < 2:
        from rexrank.errors import InputError

        raise InputError("give at least two results to compare")
    results = [load_results(p) for p in args.results]
    comparisons = []
    for other in results[1:]:
        c = compare(results[0], other, args.metrics, ci="bootstrap" if args.bootstrap_ci else "normal",
                    n_resamples=args.n_resamples, seed=args.seed, allow_different_sets=args.allow_different_sets)
        comparisons.append(c)
        print(comparison_table(c))
        print()
    print(f"p-values: two-sided, {args.n_resamples} resamples (seed {args.seed}); "
          "AR = approximate randomisation (swap the systems' outputs per study)")
    from rexrank.metrics.suite.analysis import system_correlation

    corr = system_correlation(results)
    if corr:
        print(f"\nPearson r between metrics across the {corr['n']} systems (leaderboard values):")
        names = corr["metrics"]
        width = max(len(n) for n in names)
        print(" " * width + "".join(f"{n[:8]:>9}" for n in names))
        for name, row in zip(names, corr["pearson"]):
            print(f"{name:<{width}}" + "".join("        –" if r != r else f"{r:>9.2f}" for r in row))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(comparisons[0] if len(comparisons) == 1 else comparisons, indent=2) + "\n")
    if args.plots:
        from rexrank.metrics.reporting.plots import plots_for_systems

        plots_for_systems(results, args.plots)
    return 0
