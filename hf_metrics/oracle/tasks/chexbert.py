"""CheXbert through f1chexbert 0.0.2: labels (``get_label``), F1 (``forward``), and the SembScore
embedding (CXR-Report-Metric's encoder: the labeler's BERT, last-layer [CLS], same tokenisation).

f1chexbert reads ``$XDG_CACHE_HOME/chexbert/chexbert.pth`` (the test fixture puts the tiny
checkpoint there) and the ``bert-base-uncased`` config/tokenizer from the HF cache.
"""

_MODEL = None


def _model():
    global _MODEL
    if _MODEL is None:
        import functools

        import torch
        from f1chexbert import F1CheXbert

        torch.set_num_threads(1)  # tiny models on a shared 2-core machine: threads only contend
        _MODEL = F1CheXbert(device="cpu")
        # The official get_label, each distinct text labelled once (it is a pure function of the text).
        _MODEL.get_label = functools.lru_cache(maxsize=None)(_MODEL.get_label)
    return _MODEL


def _cls_embedding(model, text):
    import pandas as pd
    import torch
    from f1chexbert.f1chexbert import generate_attention_masks, tokenize

    ids = tokenize(pd.Series([text]), model.tokenizer)
    batch = torch.LongTensor(ids)
    mask = generate_attention_masks(batch, [batch.shape[1]], model.device)
    with torch.no_grad():
        hidden = model.model.bert(batch, attention_mask=mask)[0]
    return hidden[0, 0, :]


def run(predictions, references, token_ids_of=None):
    import numpy as np
    import pandas as pd
    from f1chexbert.f1chexbert import tokenize

    model = _model()
    if token_ids_of is not None:
        return tokenize(pd.Series([t.strip() for t in token_ids_of]), model.tokenizer)
    pred_labels = [model.get_label(p.strip()) for p in predictions]
    ref_labels = [model.get_label(r.strip()) for r in references]
    embedding = {t: _cls_embedding(model, t.strip()).numpy() for t in set(predictions) | set(references)}
    semb = []
    for p, r in zip(predictions, references):
        # CXR-Report-Metric add_semb_col: float32 numpy cosine
        label, pred = embedding[r], embedding[p]
        semb.append(float((label * pred).sum() / (np.linalg.norm(label) * np.linalg.norm(pred))))
    accuracy, pe_accuracy, cr, cr_5 = model.forward(predictions, references)
    return {"pred_labels": pred_labels, "ref_labels": ref_labels, "semb": semb, "accuracy_5": float(accuracy),
            "micro_14": cr["micro avg"]["f1-score"], "macro_14": cr["macro avg"]["f1-score"],
            "samples_14": cr["samples avg"]["f1-score"], "micro_5": cr_5["micro avg"]["f1-score"],
            "macro_5": cr_5["macro avg"]["f1-score"], "samples_5": cr_5["samples avg"]["f1-score"]}
