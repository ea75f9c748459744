"""RadEval 2.2.1, the peer a user would pick instead of this suite, timed for scripts/bench_peers.py.

Runs in RadEval's own venv (made by scripts/bench_peers.py), on the same stand-ins in the same HF
cache. Actions:
* ``score``: a fresh ``RadEval(metrics=..., per_sample=True)`` (load) and one call (score), wall and
  CPU seconds (this process; children, e.g. RadCliQ's BERTScore idf pool, separately), per-sample values;
* ``reward``: ``make_reward_fn(metric, key=...)`` (load), then one call per batch of completions.

One bench-side workaround, because the package cannot run on a CPU-only torch as wired: its
f1chexbert adapter builds ``F1CheXbert()`` whose device defaults to "cuda"; we default it to "cpu".
"""

import resource
import time

_PATCHED = False


def _setup():
    global _PATCHED
    if not _PATCHED:
        import torch

        torch.set_num_threads(1)
        import radeval.metrics.f1chexbert.f1chexbert as f1c

        f1c.F1CheXbert.__init__.__kwdefaults__["device"] = "cpu"
        _PATCHED = True


def _clock():
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter(), time.process_time(), children.ru_utime + children.ru_stime


def score(metrics, references, predictions):
    _setup()
    from radeval import RadEval

    t0 = _clock()
    evaluator = RadEval(metrics=list(metrics), per_sample=True, show_progress=False)
    t1 = _clock()
    values = evaluator(refs=list(references), hyps=list(predictions))
    t2 = _clock()
    return {"load": t1[0] - t0[0], "load_cpu": t1[1] - t0[1], "score": t2[0] - t1[0], "score_cpu": t2[1] - t1[1],
            "children_cpu": t2[2] - t0[2],
            "values": {k: [None if x is None else float(x) for x in v] for k, v in values.items()
                       if isinstance(v, (list, tuple))}}


def reward(metric, batches, key=None):
    """``batches``: [{"completions": [...], "ground_truth": [...]}, ...], one reward call each."""
    _setup()
    from radeval import make_reward_fn

    t0 = _clock()
    fn = make_reward_fn(metric, key=key)
    t1 = _clock()
    calls = []
    for batch in batches:
        a = _clock()
        values = fn(completions=batch["completions"], ground_truth=batch["ground_truth"], prompts=None,
                    completion_ids=None, trainer_state=None)
        b = _clock()
        calls.append({"wall": b[0] - a[0], "cpu": b[1] - a[1], "values": [None if v is None else float(v) for v in values]})
    return {"load": t1[0] - t0[0], "load_cpu": t1[1] - t0[1], "calls": calls}


def run(action, **args):
    return {"score": score, "reward": reward}[action](**args)
