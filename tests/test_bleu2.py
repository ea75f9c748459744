import pytest

from rexrank.metrics.scorers.bleu2 import Bleu2Scorer, tokenize
from rexrank.metrics.registry import load_scorer
from rexrank.errors import InputError


@pytest.mark.parametrize("ref, hyp, expected", [
    ("a b c", "a", 0.04279677428117004),
    ("a", "a", 0.31622776601683794),  # identical one-token reports do not score 1
    ("a b", "x y", 0.0),  # no unigram match
    ("a b", "", 0.0),  # empty hypothesis
])
def test_design_checks(ref, hyp, expected):
    assert Bleu2Scorer()([hyp], [ref]).values["bleu2"][0] == pytest.approx(expected, abs=1e-15)


def test_tokenisation_splits_only_periods_and_spaces():
    assert tokenize("The heart.\nThe lungs, clear.  ") == ["the", "heart", ".\nthe", "lungs,", "clear", "."]


@pytest.mark.oracle
def test_parity_with_fast_bleu(core_pairs, oracle):
    preds, refs = core_pairs
    ours = load_scorer("bleu2")(preds, refs).values["bleu2"]
    theirs = oracle("bleu2", predictions=preds, references=refs)
    assert max(abs(a - b) for a, b in zip(ours, theirs)) <= 1e-12
    assert sum(v > 0 for v in theirs) > len(theirs) // 3


def test_bad_input():
    with pytest.raises(InputError, match="must pair up"):
        Bleu2Scorer()(["a"], [])
    with pytest.raises(InputError, match="int"):
        Bleu2Scorer()([3], ["a"])
