"""Score a predictions file on a ReXrank test set, the way the leaderboard does.

Reads the test set (pinned manifest, or --manifest) and your predictions (ReXrank JSON,
{id: report} JSON, CSV study_id,report, or JSON Lines), validates them, runs the metrics,
prints a leaderboard-style table with 95% CIs, and writes into --out:
  results.json    values, CIs, n, per-study values, analyses, provenance
  per_study.csv   one row per study, one column per metric
  plots/          metric bars with CI whiskers, normal/abnormal, correlation heatmap (PNG + SVG)

Per-study scores are cached ($REXRANK_SCORE_CACHE, else $HF_HOME/rexrank/scores): a second
run on the same inputs reads them back and finishes in seconds.

Example:
  rexrank score --dataset iu_xray --track findings --predictions preds.json --out results/my_model
  rexrank score --dataset iu_xray --predictions preds.json --ray            # the models on Ray (local or RAY_ADDRESS)
  rexrank score --dataset iu_xray --predictions preds.json --ray head:6379  # ... on that cluster
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rexrank.datasets.registry import CONFIGS, TRACK_NAMES

logger = logging.getLogger(__name__)



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=CONFIGS, help="ReXrank test set")
    parser.add_argument("--split", default="test", help="split (default: test; iu_xray also has validation)")
    parser.add_argument("--track", default="findings", choices=TRACK_NAMES,
                        help="findings: reference = findings, studies that have one; "
                             "findings_impression: reference = the full report, all studies (default: findings)")
    parser.add_argument("--predictions", required=True, type=Path, help="predictions file (json, csv or jsonl)")
    parser.add_argument("--metrics", nargs="+", default=None, metavar="METRIC",
                        help="metrics to run, by registry name (see `rexrank metrics`; commas work too). "
                             "Default: every metric needing neither a GPU nor an API key")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: rexrank-results/<dataset>_<split>_<track>_<predictions stem>)")
    parser.add_argument("--manifest", type=Path, default=None,
                        help="a local test-set manifest instead of the pinned download (required for rexgradient)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="score studies without a prediction (or with an empty one) as empty reports, "
                             "as the official script does; default: refuse")
    parser.add_argument("--reference-style", choices=("manifest", "script"), default="manifest",
                        help="findings_impression reference: the manifest's report (default) or the "
                             "string ReXrank's evaluation script builds")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size for model-based metrics")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N",
                        help="95%% CI from a seeded percentile bootstrap with N resamples instead of mean ± 1.96·SE")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    parser.add_argument("--system", default=None, help="system name in results and plots (default: predictions file stem)")
    parser.add_argument("--labels", type=Path, default=None,
                        help="CSV study_id,normal (1/0, true/false, normal/abnormal) for the normal/abnormal "
                             "split; default: CheXbert's 'No Finding' of the reference when chexbert runs")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the per-study score cache")
    parser.add_argument("--cache-dir", type=Path, default=None, help="score cache folder")
    parser.add_argument("--no-plots", action="store_true", help="skip the figures")
    parser.add_argument("--hub-model-id", default=None,
                        help="also write model-index and .eval_results YAML for this Hub model (see hub_results)")
    parser.add_argument("--hub-dataset-id", default=None,
                        help="the Hub dataset repo of the test sets those results point at (where `rexrank data build "
                             "--push-to-hub` pushed them; default $REXRANK_DATASET_ID, else rexrank/rexrank)")
    from rexrank.ray_engine import add_cli_arguments

    add_cli_arguments(parser, "run the model-based metrics")


def read_for_track(path: Path, every: list[str], in_track: set[str], allow_missing: bool) -> dict[str, str]:
    """Predictions validated against the test set (``every`` study id); studies outside the
    track (``in_track``) may be absent.

    Unknown ids, duplicates, NaN, non-text are refused by ``read_predictions``; a missing or
    empty prediction is refused only for studies the track scores (unless ``allow_missing``).
    """
    from rexrank.datasets.predictions import PredictionFileError, read_predictions

    try:
        return read_predictions(path, every, allow_missing=allow_missing)
    except PredictionFileError as err:
        problems = {kind: [i for i in ids if kind not in ("missing", "empty") or i in in_track]
                    for kind, ids in err.problems.items()}
        problems = {k: v for k, v in problems.items() if v or k not in ("missing", "empty")}
        if problems:
            raise PredictionFileError(err.name, problems) from None
    found = read_predictions(path, every, allow_missing=True)
    return {k: v for k, v in found.items() if k in in_track}


def read_labels(path: Path, study_ids: list[str], known: list[str]) -> dict[str, bool]:
    """``--labels`` as ``{study_id: is_normal}``: a CSV with study_id and one label column; unknown
    study ids, values that are not normal/abnormal words and repeated ids are refused, naming them."""
    import csv

    from rexrank.errors import InputError, describe_ids
    from rexrank.files import check_input_file
    from rexrank.metrics.suite.analysis import check_labels

    check_input_file(path, "labels file")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = reader.fieldnames or []
    except UnicodeDecodeError:
        raise InputError(f"labels file {path} is not UTF-8 text: re-save it as UTF-8") from None
    except csv.Error as err:
        raise InputError(f"labels file {path} is not a readable CSV ({err})") from None
    columns = [c for c in header if c and c != "study_id"]
    if "study_id" not in header or len(columns) != 1:
        raise InputError(f"labels file {path} needs a header with study_id and one label column, e.g. "
                         f"'study_id,normal' (found {len(header)} columns)")
    column = columns[0]
    labels: dict[str, str] = {}
    repeated = []
    for row in rows:
        study_id = (row.get("study_id") or "").strip()
        if study_id in labels:
            repeated.append(study_id)
        labels[study_id] = row.get(column)
    if repeated:
        raise InputError(f"labels file {path}: {describe_ids(sorted(set(repeated)))} appear more than once")
    return check_labels(labels, study_ids, known=known, what=f"labels file {path}")


def run(args: argparse.Namespace) -> int:
    from rexrank.metrics import suite
    from rexrank.ray_engine import cli_options

    from rexrank.datasets.manifests import load_manifest
    from rexrank.datasets.tracks import select_track

    from rexrank.files import check_input_file, check_output_dir
    from rexrank.metrics.suite.run import resolve_metrics

    metrics = [m for item in args.metrics for m in item.split(",") if m] if args.metrics else None
    resolve_metrics(metrics)  # an unknown metric name is refused before anything is read
    check_input_file(args.predictions, "predictions file")
    out = args.out or Path("rexrank-results") / f"{args.dataset}_{args.split}_{args.track}_{args.predictions.stem}"
    check_output_dir(out, "--out")  # a file in its place fails now, not after the scoring
    manifest = load_manifest(args.dataset, args.split, args.manifest)  # read once
    data = select_track(manifest, args.track, args.reference_style)
    every = [s["study_id"] for s in manifest.studies]
    predictions = read_for_track(args.predictions, every, set(data.study_ids), args.allow_missing)
    labels = read_labels(args.labels, list(data.study_ids), every) if args.labels else None
    options = {k: v for k, v in {"device": args.device, "batch_size": args.batch_size}.items() if v is not None}
    options.update(cli_options(args))
    results = suite.score_test_set(
        args.dataset, predictions, track=args.track, split=args.split, metrics=metrics, manifest=args.manifest,
        out_dir=out, allow_missing=args.allow_missing, reference_style=args.reference_style,
        ci="bootstrap" if args.bootstrap else "normal", n_resamples=args.bootstrap or 1000, seed=args.seed,
        cache_dir=args.cache_dir, use_cache=not args.no_cache, system=args.system or args.predictions.stem,
        labels=labels, plots=not args.no_plots, track_data=data,
        **options)
    from rexrank.metrics.reporting.tables import analyses_lines, leaderboard_table

    print(leaderboard_table(results))
    for line in analyses_lines(results):
        print(line)
    if args.hub_model_id:
        from rexrank.metrics.reporting import hub_results

        hub_results.write_hub_files(results, out, args.hub_model_id, args.hub_dataset_id)
    print(f"\nWrote {out}/results.json, per_study.csv{'' if args.no_plots else ', plots/'}")
    return 0
