"""Timing of the official implementations as their pipelines run them (for scripts/bench_metrics_core.py and
scripts/bench_peers.py).

Each action returns ``{"load": seconds, "score": seconds, "cpu": CPU seconds of both}`` (bertscore adds ``"score_cpu"``); nothing is memoised beyond what the
official code itself does:
* bleu2: CXR-Report-Metric's per-study fast-bleu loop;
* bertscore: ``BERTScorer(...).score(cands, refs)`` (pinned prefix-space tokenisation);
* chexbert: a fresh ``F1CheXbert(device="cpu")`` and its ``forward(hyps, refs)`` (one report per
  forward pass, references and hypotheses);
* semb_score: CheXbert ``encode.py`` as CXR-Report-Metric runs it (batches of 18 in file order,
  padded, once for the predictions and once for the references) and ``add_semb_col``;
* radgraph: ``F1RadGraph(reward_level="all", model_type="radgraph")`` on (hyps, refs).
"""

import sys
import time


def _task(name):
    """A sibling task module, loaded as run.py loads tasks."""
    return sys.modules["oracle_run"].load_task(name)


def _bleu2(predictions, references):
    bleu2 = _task("bleu2")

    t = time.perf_counter()
    bleu2.run(predictions, references)
    return {"load": 0.0, "score": time.perf_counter() - t}


def _bertscore(predictions, references):
    bertscore = _task("bertscore")

    bertscore._SCORER = None  # a fresh BERTScorer every time: load is timed, as on the other sides
    t = time.perf_counter()
    bertscore._scorer()
    load = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    bertscore.run(predictions, references, prefix_space=True)
    return {"load": load, "score": time.perf_counter() - t, "score_cpu": time.process_time() - c}


def _chexbert(predictions, references):
    from f1chexbert import F1CheXbert

    t = time.perf_counter()
    model = F1CheXbert(device="cpu")
    load = time.perf_counter() - t
    t = time.perf_counter()
    model.forward(predictions, references)
    return {"load": load, "score": time.perf_counter() - t}


def _encode_py(model, reports, batch_size=18):
    """CheXbert encode.py: tokenize all, batches of 18 in order, padded, [CLS] of the last layer."""
    import pandas as pd
    import torch
    from f1chexbert.f1chexbert import generate_attention_masks, tokenize

    ids = tokenize(pd.Series(reports), model.tokenizer)
    out = []
    with torch.no_grad():
        for start in range(0, len(ids), batch_size):
            chunk = ids[start:start + batch_size]
            lens = [len(c) for c in chunk]
            batch = torch.zeros(len(chunk), max(lens), dtype=torch.long)
            for i, c in enumerate(chunk):
                batch[i, :len(c)] = torch.tensor(c)
            mask = generate_attention_masks(batch, lens, "cpu")
            out.append(model.model.bert(batch, attention_mask=mask)[0][:, 0, :])
    return torch.cat(out).numpy()


def _semb_score(predictions, references):
    import numpy as np
    from f1chexbert import F1CheXbert

    t = time.perf_counter()
    model = F1CheXbert(device="cpu")
    load = time.perf_counter() - t
    t = time.perf_counter()
    label, pred = _encode_py(model, list(references)), _encode_py(model, list(predictions))
    [(a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b)) for a, b in zip(label, pred)]
    return {"load": load, "score": time.perf_counter() - t}


def _radgraph(predictions, references, model_cache_dir):
    from radgraph import F1RadGraph

    t = time.perf_counter()
    scorer = F1RadGraph(reward_level="all", model_type="radgraph", model_cache_dir=model_cache_dir, cuda=-1)
    load = time.perf_counter() - t
    t = time.perf_counter()
    scorer(hyps=list(predictions), refs=list(references))
    return {"load": load, "score": time.perf_counter() - t}


def run(metric, predictions, references, **args):
    """The action's seconds, plus ``cpu``: this process's CPU seconds for load and score together."""
    start = time.process_time()
    out = {"bleu2": _bleu2, "bertscore": _bertscore, "chexbert": _chexbert, "semb_score": _semb_score,
           "radgraph": _radgraph}[metric](predictions, references, **args)
    out["cpu"] = time.process_time() - start
    return out
