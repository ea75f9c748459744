"""Benchmark: our BLEU-2, BERTScore, SembScore, CheXbert, RadGraph and RadCliQ against the official
implementations, in the same run, on random-weight stand-ins of the real models.

Workload (issue 4): the 590 IU-Xray test findings scored against themselves rotated by 7.
Settings: ``real`` (real-size configs: distilroberta-base, bert-base-uncased for CheXbert, a
BERT-base DyGIE for RadGraph; compute-bound on CPU) and ``tiny`` (per-call overhead dominates,
as on a GPU). The official code runs in the parity-oracle venv (``.oracle``) in a subprocess,
timed inside that process; model loading is timed apart from scoring on both sides.

Also measured: the cost of a *second system* on the same test set (references already encoded
in this process) against a first one with the same kind of distinct predictions.

    .venv/bin/python scripts/bench_metrics_core.py --setting tiny
    .venv/bin/python scripts/bench_metrics_core.py --setting real --skip-official radgraph

Prints one table per setting (seconds; ratio = official / ours). Not a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("bleu2", "bertscore", "semb_score", "chexbert", "radgraph", "radcliq")
EXTRA = ("ratescore",)  # ours only here (scripts/bench_ratescore.py times the official); for the second-system figure
logger = logging.getLogger("bench_metrics_core")


def _setup_cache(home: Path) -> None:
    os.environ.update({"HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub"), "HF_HUB_OFFLINE": "1",
                       "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})


def _build_models(home: Path, size: str) -> dict:
    """Stand-ins under their real repo ids in the temporary cache (and where the official code looks)."""
    import shutil

    from rexrank.testing import hubcache
    from rexrank.testing.standins import core

    build = home / "build"
    folder = core.build_distilroberta(build / "distilroberta", size=size)
    for repo in ("distilbert/distilroberta-base", "distilroberta-base"):
        hubcache.put_folder(repo, folder)
    chex = core.build_chexbert(build / "chexbert", size=size)
    for repo in ("google-bert/bert-base-uncased", "bert-base-uncased"):
        hubcache.put_folder(repo, chex["bert"])
    hubcache.put_files("StanfordAIMI/RRG_scorers", {"chexbert.pth": chex["chexbert"]})
    (home / "oracle-xdg" / "chexbert").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(chex["chexbert"], home / "oracle-xdg" / "chexbert" / "chexbert.pth")
    from rexrank.testing.standins import radgraph

    parts = radgraph.build_all(build / "radgraph", size=size)
    radgraph.store_in_hub_cache(parts)
    return parts


def _build_ratescore(home: Path, size: str) -> None:
    """RaTEScore's stand-ins and assets (the rules from the oracle venv's medspacy, as the tests take them)."""
    from rexrank import assets
    from rexrank.metrics.oracle.client import oracle_python
    from rexrank.testing import hubcache
    from rexrank.testing.standins.ratescore import BIOLORD_REPO, NER_REPO, build_biolord, build_ner

    assets.seed_directory(ROOT.parent / "shared" / "data")
    rules = sorted(oracle_python().parent.parent.glob("lib/python*/site-packages/resources/en/rush_rules.tsv"))
    assets.seed("ratescore/rush_rules", rules[0])
    hubcache.put_folder(NER_REPO, build_ner(home / "build" / "ner", size))
    hubcache.put_folder(BIOLORD_REPO, build_biolord(home / "build" / "biolord", size))


def _texts(manifest: Path, limit: int | None) -> tuple[list[str], list[str]]:
    from rexrank.testing.workloads import rotated_pairs

    return rotated_pairs(manifest, "findings", limit)


def _clear_text_caches() -> None:
    """Forget every per-text result the loaded models keep (models stay loaded)."""
    from rexrank.metrics.runtime import models

    for obj in list(models._LOADED.values()):
        if hasattr(obj, "sentences") and hasattr(obj, "clear"):  # RaTEScore's TextCaches
            obj.clear()
            continue
        cache = getattr(obj, "_cache", getattr(obj, "cache", None))
        if isinstance(cache, dict):
            for value in cache.values():
                if isinstance(value, dict):  # BERTScore: one cache per tokenisation mode
                    value.clear()
            if not any(isinstance(v, dict) for v in cache.values()):
                cache.clear()


def _ours(preds: list[str], refs: list[str], metrics: list[str], batch_size: int | None) -> dict[str, dict]:
    """Seconds per metric (load, score wall-clock, score CPU); RadCliQ reuses the components computed before it."""
    from rexrank.metrics.registry import load_scorer

    options = {"batch_size": batch_size} if batch_size else {}
    times, results = {}, {}
    for name in metrics:
        if name == "radcliq":
            t, c = time.perf_counter(), time.process_time()
            needed = {c: results[c] for c in ("radgraph", "bertscore", "semb_score", "bleu2") if c in results}
            load_scorer("radcliq", **options)(preds, refs, components=needed)
            times[name] = {"load": 0.0, "score": time.perf_counter() - t, "cpu": time.process_time() - c}
            continue
        t = time.perf_counter()
        scorer = load_scorer(name, **options, **({"progress": False} if name == "ratescore" else {}))
        if hasattr(scorer, "_load"):
            getattr(scorer._load(), "model", None)  # the weights built now: loading timed apart from scoring
        load = time.perf_counter() - t
        t, c = time.perf_counter(), time.process_time()
        results[name] = scorer(preds, refs)
        times[name] = {"load": load, "score": time.perf_counter() - t, "cpu": time.process_time() - c}
        logger.info("ours %s: load %.1f s, score %.2f s (CPU %.2f s)", name, load, times[name]["score"],
                    times[name]["cpu"])
    return times


def _official(home: Path, preds: list[str], refs: list[str], metrics: list[str], parts: dict) -> dict[str, dict]:
    from rexrank.metrics.oracle.client import Oracle, oracle_python

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update({"XDG_CACHE_HOME": str(home / "oracle-xdg"), "CUDA_VISIBLE_DEVICES": "", "LOGURU_LEVEL": "INFO"})
    oracle = Oracle(str(oracle_python()), env)
    times = {}
    try:
        for name in metrics:
            if name == "radcliq":
                continue
            args = {"model_cache_dir": str(parts["model_cache_dir"])} if name == "radgraph" else {}
            logger.info("official %s ...", name)
            times[name] = oracle("bench_official", metric=name, predictions=preds, references=refs, **args)
            logger.info("official %s: load %.1f s, score %.2f s", name, times[name]["load"], times[name]["score"])
    finally:
        oracle.close()
    return times


def _table(setting: str, ours: dict, official: dict, second: dict) -> str:
    lines = [f"### setting: {setting}", "",
             "| metric | ours load s | ours score s | official load s | official score s | ratio (score) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    total_ours = total_official = 0.0
    for name, t in ours.items():
        o = official.get(name)
        total_ours += t["score"]
        if o:
            total_official += o["score"]
        ratio = f"{o['score'] / t['score']:.1f}x" if o and t["score"] > 0 else "—"
        off = (f"{o['load']:.1f} | {o['score']:.2f}" if o else
               ("— | included in chexbert/semb columns" if name == "radcliq" else "— | —"))
        lines.append(f"| {name} | {t['load']:.1f} | {t['score']:.2f} | {off} | {ratio} |")
    if all(n in ours and n in official for n in ("semb_score", "chexbert")):
        o2 = ours["semb_score"]["score"] + ours["chexbert"]["score"]
        f2 = official["semb_score"]["score"] + official["chexbert"]["score"]
        lines.append(f"| semb_score + chexbert (ours: one CheXbert pass; official: encode.py + f1chexbert) | | "
                     f"{o2:.2f} | | {f2:.2f} | {f2 / o2:.1f}x |")
    both = [n for n in ours if n in official]
    sub_ours = sum(ours[n]["score"] for n in both)
    sub_off = sum(official[n]["score"] for n in both)
    if both:
        lines.append(f"| **all ({', '.join(both)})** | | {sub_ours:.2f} | | {sub_off:.2f} | "
                     f"{sub_off / sub_ours:.1f}x |")
    if second:
        first, again = second["first"], second["second"]

        def total(run: dict, key: str) -> float:
            return sum(v[key] for v in run.values())

        lines += ["", "Second system on the same test set (distinct predictions; scoring seconds, all metrics):",
                  f"first system {total(first, 'score'):.2f} s (CPU {total(first, 'cpu'):.2f} s), second system "
                  f"{total(again, 'score'):.2f} s (CPU {total(again, 'cpu'):.2f} s); ratio "
                  f"{total(again, 'score') / total(first, 'score'):.2f} wall-clock, "
                  f"{total(again, 'cpu') / total(first, 'cpu'):.2f} CPU",
                  "", "| metric | first s | second s | first CPU s | second CPU s |", "| --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {n} | {first[n]['score']:.2f} | {again[n]['score']:.2f} | {first[n]['cpu']:.2f} | "
                  f"{again[n]['cpu']:.2f} |" for n in first]
    return "\n".join(lines)


def run_setting(setting: str, args: argparse.Namespace) -> str:
    home = Path(tempfile.mkdtemp(prefix=f"bench-core-{setting}-"))
    _setup_cache(home)
    from rexrank.metrics.runtime import models

    models.clear_loaded()
    logger.info("building %s stand-ins in %s", setting, home)
    parts = _build_models(home, setting)
    if "ratescore" in args.metrics:
        _build_ratescore(home, setting)
    metrics = [m for m in args.metrics if m != "radgraph" or parts]
    preds, refs = _texts(args.manifest, args.limit)
    logger.info("%d pairs; ours ...", len(preds))
    ours = _ours(preds, refs, metrics, args.batch_size)
    second = {}
    if not args.no_second_system:
        _clear_text_caches()
        first = _ours([p + " Unchanged from prior." for p in preds], refs, metrics, args.batch_size)
        again = _ours([p + " No change." for p in preds], refs, metrics, args.batch_size)
        second = {"first": first, "second": again}
    official_metrics = [m for m in metrics if m not in args.skip_official and m not in EXTRA]
    official = _official(home, preds, refs, official_metrics, parts) if official_metrics else {}
    if not args.keep:
        import shutil

        shutil.rmtree(home, ignore_errors=True)
    return (_table(setting, ours, official, second) +
            f"\n\n{len(preds)} pairs; torch threads {args.threads or 'default'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # One setting per process: huggingface_hub fixes its cache folder at import, so a second setting in
    # the same process would silently score with the first setting's models.
    parser.add_argument("--setting", choices=("tiny", "real"), default="tiny")
    parser.add_argument("--manifest", type=Path, default=ROOT.parent / "shared" / "data" / "manifests" /
                        "ReXRank_IUXray_test.json", help="IU-Xray test manifest (ReXRank_IUXray_test.json)")
    parser.add_argument("--metrics", nargs="+", default=list(METRICS), choices=METRICS + EXTRA)
    parser.add_argument("--skip-official", nargs="*", default=[], choices=METRICS, help="do not time these officially")
    parser.add_argument("--batch-size", type=int, default=None, help="default: each scorer's own (by device)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N studies (quick look)")
    parser.add_argument("--no-second-system", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary HF cache with the stand-ins")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch/OpenMP threads on both sides (default 1: on a shared 2-core machine more threads "
                             "only contend; set 0 to leave torch's default)")
    parser.add_argument("--json", type=Path, help="also write the tables here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # the oracle subprocess inherits these
            os.environ[var] = str(args.threads)
    tables = [run_setting(args.setting, args)]
    print("\n\n".join(tables))
    if args.json:
        args.json.write_text(json.dumps(tables))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
