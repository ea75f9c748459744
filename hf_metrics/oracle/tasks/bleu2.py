"""BLEU-2 exactly as CXR-Report-Metric's run_eval.py computes it with fast-bleu 0.0.90."""


def prep_reports(reports):
    # verbatim from CXR-Report-Metric run_eval.py
    return [list(filter(lambda val: val != "", str(elem).lower().replace(".", " .").split(" "))) for elem in reports]


def run(predictions, references):
    from fast_bleu import BLEU

    weights = {"bigram": (1 / 2.0, 1 / 2.0)}
    scores = []
    for pred, ref in zip(predictions, references):
        gt_report = prep_reports([ref])[0]
        predicted_report = prep_reports([pred])[0]
        bleu = BLEU([gt_report], weights)
        score = bleu.get_score([predicted_report])["bigram"]
        assert len(score) == 1
        scores.append(score[0])
    return scores
