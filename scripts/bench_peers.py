"""Benchmark against the peer a user would pick instead of this suite: RadEval 2.2.1, in the same run
as ours and the official packages, on the same random-weight stand-ins (same repo ids, same files).

* Scoring: the 590 IU-Xray test findings against themselves rotated by 7, per metric and the whole
  set; load and score seconds, wall-clock and CPU, median of ``--repeats`` interleaved repetitions
  (each repetition loads every model again on every side); per-study agreement with ours where the
  definitions coincide.
* Rewards: one reward call for 64 completions (8 prompts x 8 generations, chat format) with
  ``rexrank.metrics.rewards.reward_function`` against RadEval's ``make_reward_fn``: the first call,
  and the steady state (later calls: new completions, the same references, as every epoch).

RadEval lives in its own virtual environment (``--radeval-venv``, default ``.peers/radeval``), created
here on first use from the package index (torch 2.13.0 CPU first; see ``ensure_radeval``); the
official packages run in the parity-oracle venv (``.oracle``). Every side is one process with one
torch thread; the workers time themselves (wall and ``time.process_time``).

    .venv/bin/python scripts/bench_peers.py --setting tiny
    .venv/bin/python scripts/bench_peers.py --setting real --repeats 2

Prints markdown tables (and ``--json``). Not a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RADEVAL = "radeval==2.2.1"
# RadEval 2.2.1's own resolution on Python 3.11 does not run (checked on this machine): medspacy pins
# spacy<3.8, whose thinc is built for numpy 1 (RaTEScore fails with numpy 2); numpy<2 then needs
# pandas<3, pyarrow<22, datasets<5; scikit-learn 1.9 breaks its f1chexbert (sparse .format).
RADEVAL_CONSTRAINTS = ("torch==2.13.0", "numpy<2", "pandas<3", "scikit-learn<1.9", "pyarrow<22", "datasets<5")
logger = logging.getLogger("bench_peers")

# (row, ours, RadEval, official, (our column, RadEval's key) where the definitions coincide, note)
ROWS = [
    ("BLEU", ["bleu2"], ["bleu"], ["bleu2"], None,
     "ours BLEU-2 (ReXrank's); RadEval's `bleu` is BLEU-4 (pycocoevalcap), a different number"),
    ("BERTScore", ["bertscore"], ["bertscore"], ["bertscore"], None,
     "each side's default model: ours distilroberta-base layer 5 (ReXrank's), RadEval distilbert-base-uncased layer 5"),
    ("CheXbert / SembScore", ["semb_score", "chexbert"], ["f1chexbert"], ["semb_score", "chexbert"], None,
     "ours: SembScore and CheXbert F1 from one encoder pass; RadEval's per-sample value is label accuracy, not F1"),
    ("RadGraph F1", ["radgraph"], ["radgraph_radcliq"], ["radgraph"], ("radgraph", "radgraph_radcliq"),
     "the original `radgraph` model on both sides (RadEval's `radgraph` metric is radgraph-xl)"),
    ("RaTEScore", ["ratescore"], ["ratescore"], ["ratescore"], ("ratescore", "ratescore"), ""),
    ("RadCliQ-v1", ["radcliq"], ["radcliq"], [], None,
     "RadEval's RadCliQ uses idf BERTScore over the batch's references and pycoco BLEU-2: not ReXrank's number; "
     "each side computes its four components itself"),
]
WHOLE_OURS = ["bleu2", "bertscore", "semb_score", "chexbert", "radgraph", "ratescore", "radcliq"]
WHOLE_RADEVAL = ["bleu", "bertscore", "f1chexbert", "radgraph_radcliq", "ratescore", "radcliq"]
# (row, ours: reward_function args, RadEval: make_reward_fn args)
REWARDS = [
    ("RadGraph F1 (original model)", {"metric": "radgraph"}, {"metric": "radgraph_radcliq"}),
    ("BERTScore (each side's model)", {"metric": "bertscore"}, {"metric": "bertscore"}),
    ("RadGraph-XL partial (RG_ER)", {"metric": "radgraph_xl"}, {"metric": "radgraph", "key": "radgraph_partial"}),
    ("RaTEScore", {"metric": "ratescore"}, {"metric": "ratescore"}),
]


# ------------------------------------------------------------------ environments


def ensure_radeval(venv: Path) -> Path:
    """RadEval 2.2.1's venv (created once): torch 2.13.0 CPU first and as a constraint, never in ours.

    Two repairs the package needs to import at all on Linux: it requires torchvision (never imports
    it) and the index's build is a CUDA one that breaks every transformers import, so it is removed;
    its vendored radgraph imports ``RadEval.…`` while the package is ``radeval`` (jbdel/RadEval#27),
    so ``RadEval`` is linked to ``radeval``.
    """
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import radeval, RadEval"], capture_output=True).returncode == 0:
        return python
    logger.info("creating RadEval's venv in %s (about 2 minutes)", venv)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run(pip + ["torch==2.13.0"], check=True)
    constraints = venv / "constraints.txt"
    constraints.write_text("\n".join(RADEVAL_CONSTRAINTS) + "\n")
    subprocess.run(pip + ["-c", str(constraints), RADEVAL], check=True)
    subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "torchvision"], check=False)
    site = Path(subprocess.run([str(python), "-c", "import radeval, os; print(os.path.dirname(radeval.__file__))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    link = site.parent / "RadEval"
    if not link.exists():
        link.symlink_to(site.name)
    return python


def _worker_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update({"HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub"), "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1", "XDG_CACHE_HOME": str(home / "xdg"), "CUDA_VISIBLE_DEVICES": "",
                "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
                "LOGURU_LEVEL": "WARNING"})
    return env


# ------------------------------------------------------------------ stand-ins


def build_models(home: Path, size: str, texts: list[str]) -> dict[str, Any]:
    """Every model any side loads, under its real repo id in ``home/hub``, and where the packages that
    pass ``cache_dir=`` look (``home/xdg``: f1chexbert and radgraph, official and RadEval's copies)."""
    from rexrank import assets
    from rexrank.metrics.oracle.client import oracle_python
    from rexrank.testing import hubcache
    from rexrank.testing.standins import core, radgraph, ratescore

    build, xdg = home / "build", home / "xdg"
    assets.seed_directory(ROOT.parent / "shared" / "data")  # RaTEScore's affinity matrices
    rules = sorted(oracle_python().parent.parent.glob("lib/python*/site-packages/resources/en/rush_rules.tsv"))
    if not rules:
        raise SystemExit("medspacy's rush_rules.tsv not found in the oracle venv (bash scripts/oracle_env.sh)")
    assets.seed("ratescore/rush_rules", rules[0])
    distilroberta = core.build_distilroberta(build / "distilroberta", size=size)
    # RadEval's RadCliQ encodes with max_length=tokenizer.model_max_length; without a tokenizer_config the
    # stand-in's is 1e30 (OverflowError). 512 is what the real model allows; no side's score changes.
    (distilroberta / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
    for repo in ("distilbert/distilroberta-base", "distilroberta-base"):
        hubcache.put_folder(repo, distilroberta)
    distilbert = core.build_distilbert_base_uncased(build / "distilbert", size=size)
    for repo in ("distilbert/distilbert-base-uncased", "distilbert-base-uncased"):
        hubcache.put_folder(repo, distilbert)
    chex = core.build_chexbert(build / "chexbert", size=size)
    for repo in ("google-bert/bert-base-uncased", "bert-base-uncased"):
        hubcache.put_folder(repo, chex["bert"])
    hubcache.put_files("StanfordAIMI/RRG_scorers", {"chexbert.pth": chex["chexbert"]})
    hubcache.put_files("StanfordAIMI/RRG_scorers", {"chexbert.pth": chex["chexbert"]}, cache=xdg / "chexbert")
    shutil.copyfile(chex["chexbert"], xdg / "chexbert" / "chexbert.pth")  # f1chexbert 0.0.2's own place
    hubcache.put_folder(ratescore.NER_REPO, ratescore.build_ner(build / "rate-ner", size, corpus=texts))
    hubcache.put_folder(ratescore.BIOLORD_REPO, ratescore.build_biolord(build / "biolord", size, corpus=texts))
    parts = {"radgraph": radgraph.build_all(build / "radgraph", size=size, extra_texts=texts)}
    if size == "tiny":  # the XL biases are fitted for the tiny stand-in only
        parts["radgraph-xl"] = radgraph.build_all(build / "radgraph-xl", size=size, model_type="radgraph-xl")
    for model_type, built in parts.items():
        radgraph.store_in_hub_cache(built)
        shutil.copytree(built["model_cache_dir"] / model_type, xdg / "radgraph" / "0.1.18" / model_type,
                        dirs_exist_ok=True)  # where radgraph 0.1.18 (and RadEval's copy) looks first
    return {"radgraph_cache": str(parts["radgraph"]["model_cache_dir"])}


def _texts(manifest: Path) -> tuple[list[str], list[str]]:
    from rexrank.datasets.tracks import load_track

    refs = load_track("iu_xray", "findings", manifest=str(manifest)).references
    return refs[7:] + refs[:7], refs


# ------------------------------------------------------------------ the three sides


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _forget_models() -> None:
    """Each repetition loads every model again, as a new process would."""
    import gc

    from rexrank.metrics.runtime import models

    models.clear_loaded()
    gc.collect()


def ours_score(metrics: list[str], preds: list[str], refs: list[str]) -> dict[str, Any]:
    """Load (scorers and their models) then score, in this process; the whole set through the suite."""
    from rexrank.metrics.registry import load_scorer

    _forget_models()
    if len(metrics) > 2:  # the whole set: the suite, RadCliQ from the components computed once
        from rexrank.metrics.suite.run import run_metrics

        t0 = _clock()
        runs = run_metrics(preds, refs, metrics, use_cache=False, progress=False, device="cpu")
        t1 = _clock()
        return {"load": 0.0, "load_cpu": 0.0, "score": t1[0] - t0[0], "score_cpu": t1[1] - t0[1],
                "values": {c: v for r in runs.values() for c, v in r.values.items()}}
    t0 = _clock()
    scorers = []
    for name in metrics:
        scorer = load_scorer(name, device="cpu", progress=False)
        for warm in ("_load", "_models"):  # scorers that load on first use: load now
            if hasattr(scorer, warm):
                getattr(scorer, warm)()
        if name == "ratescore":
            from rexrank.metrics.scorers.ratescore.sentences import default_splitter

            default_splitter()
        scorers.append(scorer)
    t1 = _clock()
    values: dict[str, list[float]] = {}
    for scorer in scorers:
        values.update(scorer(preds, refs).values)
    t2 = _clock()
    return {"load": t1[0] - t0[0], "load_cpu": t1[1] - t0[1], "score": t2[0] - t1[0], "score_cpu": t2[1] - t1[1],
            "values": values}


def official_score(oracle: Any, metrics: list[str], preds: list[str], refs: list[str], radgraph_cache: str) -> dict:
    out = {"load": 0.0, "score": 0.0, "cpu": 0.0}
    for name in metrics:
        if name == "ratescore":
            r = oracle("ratescore_bench", candidates=preds, references=refs)
            r["cpu"] = r["load_cpu"] + r["score_cpu"]
        else:
            args = {"model_cache_dir": radgraph_cache} if name == "radgraph" else {}
            r = oracle("bench_official", metric=name, predictions=preds, references=refs, **args)
        for k in out:
            out[k] += r[k]
    return out


def _batches(texts: list[str], refs: list[str], calls: int) -> list[dict[str, list]]:
    """``calls`` reward calls of 8 prompts x 8 generations: the same 8 references every call (they
    recur every epoch), 64 new chat completions each time (real findings of other studies)."""
    prompts = refs[:8]
    out = []
    for call in range(calls):
        pool = texts[8 + call * 64: 8 + (call + 1) * 64]
        out.append({"completions": [[{"role": "assistant", "content": t}] for t in pool],
                    "ground_truth": [r for r in prompts for _ in range(8)]})
    return out


def ours_reward(spec: dict[str, Any], batches: list[dict]) -> dict[str, Any]:
    from rexrank.metrics.rewards import reward_function

    _forget_models()
    t0 = _clock()
    fn = reward_function(spec["metric"], device="cpu", **({"level": "partial"} if spec["metric"] == "radgraph_xl" else {}))
    t1 = _clock()
    calls = []
    for batch in batches:
        a = _clock()
        values = fn(batch["completions"], ground_truth=batch["ground_truth"], prompts=None, completion_ids=None)
        b = _clock()
        calls.append({"wall": b[0] - a[0], "cpu": b[1] - a[1], "values": values})
    return {"load": t1[0] - t0[0], "load_cpu": t1[1] - t0[1], "calls": calls}


# ------------------------------------------------------------------ the run


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _agreement(ours: dict, theirs: dict, pair: tuple[str, str] | None) -> str:
    if pair is None:
        return "differs by definition"
    a, b = ours["values"].get(pair[0]), theirs["values"].get(pair[1])
    if not a or not b or len(a) != len(b):
        return "n/a"
    worst = max(abs(x - y) for x, y in zip(a, b))
    same = sum(abs(x - y) <= 1e-6 for x, y in zip(a, b))
    return f"max abs diff {worst:.1e}; {same}/{len(a)} within 1e-6"


def run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix=f"bench-peers-{args.setting}-"))
    # before anything imports huggingface_hub, which fixes its cache folder at import
    os.environ.update({k: v for k, v in _worker_env(home).items()
                       if k.startswith(("HF_", "TRANSFORMERS", "XDG", "OMP", "MKL", "TOKENIZERS", "CUDA"))})
    import torch

    from rexrank.metrics.oracle.client import Oracle, oracle_python

    torch.set_num_threads(1)
    radeval_python = ensure_radeval(args.radeval_venv)
    preds, refs = _texts(args.manifest)
    logger.info("building %s stand-ins in %s", args.setting, home)
    built = build_models(home, args.setting, refs)
    log = open(home / "workers.log", "w")
    env = _worker_env(home)
    radeval = Oracle(str(radeval_python), env, stderr=log)
    official = Oracle(str(oracle_python()), env, stderr=log)
    rows = [r for r in ROWS if r[0] in args.rows or not args.rows]
    results: dict[str, dict[str, list]] = {}
    try:
        for rep in range(args.repeats):
            for name, ours_m, radeval_m, official_m, pair, _ in rows + [("whole set", WHOLE_OURS, WHOLE_RADEVAL, [],
                                                                          None, "")]:
                if args.rows and name not in args.rows:
                    continue
                sides = ["ours", "radeval", "official"]
                sides = sides[rep % 3:] + sides[:rep % 3]  # rotate who goes first
                for side in sides:
                    logger.info("rep %d %s: %s", rep + 1, name, side)
                    if side == "ours":
                        r = ours_score(ours_m, preds, refs)
                        r["cpu"] = r["load_cpu"] + r["score_cpu"]
                    elif side == "radeval":
                        r = radeval("radeval_bench", action="score", metrics=radeval_m, references=refs,
                                    predictions=preds)
                        r["cpu"] = r["load_cpu"] + r["score_cpu"] + r["children_cpu"]
                    elif official_m:
                        r = official_score(official, official_m, preds, refs, built["radgraph_cache"])
                    elif name == "whole set":
                        continue  # summed from the rows below
                    else:
                        continue
                    results.setdefault(name, {}).setdefault(side, []).append(r)
        rewards: dict[str, dict[str, list]] = {}
        if not args.no_rewards:
            batches = _batches(preds, refs, args.reward_calls)
            for rep in range(args.repeats):
                for name, ours_spec, radeval_spec in REWARDS:
                    if name.startswith("RadGraph-XL") and args.setting != "tiny":
                        continue
                    for side in (("ours", "radeval") if rep % 2 == 0 else ("radeval", "ours")):
                        logger.info("rep %d reward %s: %s", rep + 1, name, side)
                        r = ours_reward(ours_spec, batches) if side == "ours" else \
                            radeval("radeval_bench", action="reward", batches=batches, **radeval_spec)
                        rewards.setdefault(name, {}).setdefault(side, []).append(r)
    finally:
        radeval.close()
        official.close()
        log.close()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    return {"scores": results, "rewards": rewards, "n": len(preds)}


def tables(out: dict[str, Any], setting: str, repeats: int) -> str:
    lines = [f"### Peer benchmark, setting `{setting}` ({out['n']} IU-Xray test findings vs a rotated copy; "
             f"median of {repeats} interleaved repetitions; 1 torch thread per side)", "",
             "| metric | ours load s | ours score s | ours CPU s | RadEval load s | RadEval score s | RadEval CPU s | "
             "official load+score s | official CPU s | RadEval / ours (wall, CPU) | agreement with ours |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    notes = []
    official_total = {"wall": 0.0, "cpu": 0.0, "complete": True}
    for name, *_rest in ROWS + [("whole set",)]:
        res = out["scores"].get(name)
        if not res:
            continue
        o, r = res["ours"], res["radeval"]
        med = {side: {k: _median([x[k] for x in res[side]]) for k in ("load", "score", "cpu")}
               for side in res}
        ow, rw = med["ours"]["load"] + med["ours"]["score"], med["radeval"]["load"] + med["radeval"]["score"]
        if "official" in med:
            off = f"{med['official']['load'] + med['official']['score']:.2f} | {med['official']['cpu']:.2f}"
            official_total["wall"] += med["official"]["load"] + med["official"]["score"]
            official_total["cpu"] += med["official"]["cpu"]
        elif name == "whole set":
            off = (f"{official_total['wall']:.2f} (rows above, no RadCliQ) | {official_total['cpu']:.2f}")
        else:
            off = "— | —"
        pair = next((row[4] for row in ROWS if row[0] == name), None)
        agree = _agreement(o[-1], r[-1], pair) if name != "whole set" else ""
        lines.append(f"| {name} | {med['ours']['load']:.2f} | {med['ours']['score']:.2f} | {med['ours']['cpu']:.2f} | "
                     f"{med['radeval']['load']:.2f} | {med['radeval']['score']:.2f} | {med['radeval']['cpu']:.2f} | "
                     f"{off} | {rw / ow:.1f}x, {med['radeval']['cpu'] / med['ours']['cpu']:.1f}x | {agree} |")
    notes = [f"- {row[0]}: {row[5]}" for row in ROWS if row[5] and row[0] in out["scores"]]
    lines += ["", "Ratios are of load + score (wall) and of CPU seconds. RadEval's CPU includes its child "
              "processes (RadCliQ's idf pool). Ours for the whole set is one suite run (load inside score).", *notes]
    if out["rewards"]:
        lines += ["", f"### Reward latency, setting `{setting}`: one call, 64 chat completions (8 prompts x 8), "
                  "milliseconds (median over repetitions; steady = median of calls 2+)", "",
                  "| reward | ours load s | ours first ms | ours steady ms | ours steady CPU ms | RadEval load s | "
                  "RadEval first ms | RadEval steady ms | RadEval steady CPU ms | steady RadEval / ours (wall, CPU) |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name, res in out["rewards"].items():
            med = {}
            for side, reps in res.items():
                med[side] = {"load": _median([x["load"] for x in reps]),
                             "first": _median([x["calls"][0]["wall"] for x in reps]) * 1000,
                             "steady": _median([c["wall"] for x in reps for c in x["calls"][1:]]) * 1000,
                             "steady_cpu": _median([c["cpu"] for x in reps for c in x["calls"][1:]]) * 1000}
            o, r = med["ours"], med["radeval"]
            lines.append(f"| {name} | {o['load']:.2f} | {o['first']:.0f} | {o['steady']:.1f} | {o['steady_cpu']:.1f} | "
                         f"{r['load']:.2f} | {r['first']:.0f} | {r['steady']:.1f} | {r['steady_cpu']:.1f} | "
                         f"{r['steady'] / o['steady']:.1f}x, {r['steady_cpu'] / o['steady_cpu']:.1f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # One setting per process: huggingface_hub fixes its cache folder at import.
    parser.add_argument("--setting", choices=("tiny", "real"), default="tiny")
    parser.add_argument("--manifest", type=Path, default=ROOT.parent / "shared" / "data" / "manifests" /
                        "ReXRank_IUXray_test.json", help="IU-Xray test manifest (ReXRank_IUXray_test.json)")
    parser.add_argument("--radeval-venv", type=Path, default=ROOT / ".peers" / "radeval")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reward-calls", type=int, default=6, help="reward calls per repetition (first + steady)")
    parser.add_argument("--rows", nargs="*", default=[], help="only these rows (names as in the table)")
    parser.add_argument("--no-rewards", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary HF cache with the stand-ins")
    parser.add_argument("--json", type=Path, help="also write the raw timings here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("httpx", "huggingface_hub", "urllib3", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    out = run(args)
    print(tables(out, args.setting, args.repeats))
    if args.json:
        args.json.write_text(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
