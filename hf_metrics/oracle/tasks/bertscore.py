"""BERTScore as CXR-Report-Metric's run_eval.py computes it, with bert-score 0.3.11.

On transformers 4.x bert-score takes its non-GPT2 branch (no prefix space). ``prefix_space=True``
reproduces the pinned stack (transformers 3.0.1, where RobertaTokenizer subclassed
GPT2Tokenizer): bert-score's own GPT2 branch, i.e. ``encode(..., add_prefix_space=True)``.
``model_max_length`` is set to 512, distilroberta-base's ``max_len`` in the pinned stack (the
Hub repo has no tokenizer_config.json, so transformers 4 would not truncate at all).
"""

import re

_SCORER = None


def _scorer():
    global _SCORER
    if _SCORER is None:
        from bert_score import BERTScorer

        _SCORER = BERTScorer(model_type="distilroberta-base", lang="en", rescale_with_baseline=True, idf=False,
                             device="cpu")
        _SCORER._tokenizer.model_max_length = 512
    return _SCORER


def _prefix_sent_encode(tokenizer, sent):
    # bert_score.utils.sent_encode, GPT2Tokenizer branch (taken on the pinned transformers 3.0.1)
    sent = sent.strip()
    if sent == "":
        return tokenizer.build_inputs_with_special_tokens([])
    return tokenizer.encode(sent, add_special_tokens=True, add_prefix_space=True,
                            max_length=tokenizer.model_max_length, truncation=True)


def run(predictions, references, prefix_space=True, token_ids_of=None):
    import bert_score.utils as utils

    scorer = _scorer()
    original = utils.sent_encode
    if prefix_space:
        utils.sent_encode = _prefix_sent_encode
    try:
        if token_ids_of is not None:
            return [utils.sent_encode(scorer._tokenizer, t) for t in token_ids_of]
        # verbatim from CXR-Report-Metric run_eval.py add_bertscore_col
        test_reports = [re.sub(r" +", " ", test) for test in references]
        method_reports = [re.sub(r" +", " ", report) for report in predictions]
        _, _, f1 = scorer.score(method_reports, test_reports)
        return [float(x) for x in f1]
    finally:
        utils.sent_encode = original
