"""Per-study values of one metric computed by the official code, for ``rexrank verify``.

Each metric is computed the way the parity tests compute it (the sibling tasks), on the weights
that ``rexrank verify`` staged where the official packages look for them. Returns
``{"values": {column: [float or None, ...]}, "missing": {index: reason}, "labels": ...}``: ``None`` and
``missing`` mark the studies the official code cannot score (it crashes, or drops the report).
"""

import sys
import warnings


def _task(name):
    """A sibling task module, loaded as run.py loads tasks."""
    return sys.modules["oracle_run"].load_task(name)


def _bleu2(predictions, references):
    return {"values": {"bleu2": _task("bleu2").run(predictions, references)}}


def _bertscore(predictions, references, prefix_space=True):
    return {"values": {"bertscore": _task("bertscore").run(predictions, references, prefix_space=prefix_space)}}


def _semb_score(predictions, references):
    return {"values": {"semb_score": _task("chexbert").run(predictions, references)["semb"]}}


def _sample_f1(y_true, y_pred):
    """f1chexbert's "samples avg" F1 for one study: sklearn's precision_recall_fscore_support, as
    classification_report calls it, on that study alone."""
    from sklearn.metrics import precision_recall_fscore_support

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(precision_recall_fscore_support([y_true], [y_pred], average="samples")[2])


def _chexbert(predictions, references):
    import numpy as np

    out = _task("chexbert").run(predictions, references)
    model = _task("chexbert")._model()
    five = model.target_names_5_index
    f14 = [_sample_f1(r, p) for p, r in zip(out["pred_labels"], out["ref_labels"])]
    f5 = [_sample_f1(list(np.array(r)[five]), list(np.array(p)[five])) for p, r in zip(out["pred_labels"], out["ref_labels"])]
    return {"values": {"chexbert": f14, "chexbert_5": f5},
            "labels": {"prediction": out["pred_labels"], "reference": out["ref_labels"],
                       "names": list(model.target_names)}}


def _radgraph(predictions, references, model_cache_dir):
    radgraph = _task("radgraph")
    texts = sorted(set(predictions) | set(references))
    annotations = dict(zip(texts, radgraph.annotate(model_cache_dir, texts)))

    def sets(a):
        return ({tuple(e) for e in a["entity_set"]}, {(tuple(x), tuple(y), k) for x, y, k in a["relation_set"]})

    entity, relation, missing = [], [], {}
    for i, (p, r) in enumerate(zip(predictions, references)):
        failed = [a["error"] for a in (annotations[p], annotations[r]) if "error" in a]
        if failed:
            missing[i] = f"radgraph 0.1.18 fails on this text ({failed[0]})"
            entity.append(None)
            relation.append(None)
            continue
        (pe, pr), (re_, rr) = sets(annotations[p]), sets(annotations[r])
        entity.append(radgraph._f1(re_, pe))  # CXR-Report-Metric compute_f1(test=reference, retrieved=prediction)
        relation.append(radgraph._f1(rr, pr))
    mean = [None if e is None else (e + r) / 2 for e, r in zip(entity, relation)]
    return {"values": {"radgraph": mean, "radgraph_entity_f1": entity, "radgraph_relation_f1": relation},
            "missing": missing}


def _ratescore(predictions, references, affinity_matrix="long"):
    score = _task("ratescore_score").run
    values, missing = [], {}
    for i, (p, r) in enumerate(zip(predictions, references)):
        # one pair per call: the official compute_score drops a report without a kept sentence and
        # shifts every later pair (RaTEScore issue #2); alone, such a pair comes back empty
        try:
            out = score([p], [r], affinity_matrix=affinity_matrix)
        except Exception as err:  # e.g. IndexError on an empty report
            missing[i] = f"RaTEScore 0.6.0 fails on this pair ({type(err).__name__}: {err})"
            values.append(None)
            continue
        if len(out) != 1:
            missing[i] = "RaTEScore 0.6.0 drops a report without a kept sentence (issue #2)"
            values.append(None)
        else:
            values.append(out[0])
    return {"values": {"ratescore": values}, "missing": missing}


def _green(predictions, references, model_dir, template, max_length=2048, batch_size=8, dtype="float16",
           tokenizer_dir=None):
    out = _task("green_official").run(model_dir, template, references, predictions, max_length=max_length,
                                      batch_size=batch_size, dtype=dtype, tokenizer_dir=tokenizer_dir)
    return {"completions": out["completions"]}


def run(metric, predictions, references, **options):
    functions = {"bleu2": _bleu2, "bertscore": _bertscore, "semb_score": _semb_score, "chexbert": _chexbert,
                 "radgraph": _radgraph, "ratescore": _ratescore, "green": _green}
    return functions[metric](list(predictions), list(references), **options)
