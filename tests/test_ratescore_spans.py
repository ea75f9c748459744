"""RaTEScore's span decoding: the official ``post_process`` quirks, by hand and against the official code."""

from __future__ import annotations

import random

import pytest

from rexrank.metrics.scorers.ratescore.spans import decode_spans

TYPES = ("ABNORMALITY", "NON-ABNORMALITY", "DISEASE", "NON-DISEASE", "ANATOMY")
LABELS = ("O",) + tuple(f"{p}-{t}" for t in TYPES for p in ("B", "I"))


def entities(tokens, labels):
    return [("|".join(tokens[s:e + 1]), kind) for s, e, kind in decode_spans(tokens, labels)]


def test_a_plain_b_i_o_entity():
    tokens = ["[CLS]", "▁pleural", "▁effusion", "▁seen", "[SEP]"]
    labels = ["O", "B-DISEASE", "I-DISEASE", "O", "O"]
    assert entities(tokens, labels) == [("▁pleural|▁effusion", "DISEASE")]


def test_i_after_i_continues_and_the_sep_label_closes_the_last_word():
    tokens = ["[CLS]", "▁a", "▁b", "▁c", "[SEP]"]
    # I followed by I has no branch; the label at [SEP] is the "next" of the last word
    assert entities(tokens, ["O", "B-ANATOMY", "I-ANATOMY", "I-ANATOMY", "O"]) == [("▁a|▁b|▁c", "ANATOMY")]
    # [SEP] labelled I-: nothing closes the span, so the end-of-sentence rule closes it at len-2
    assert entities(tokens, ["O", "B-ANATOMY", "I-ANATOMY", "I-ANATOMY", "I-ANATOMY"]) == [("▁a|▁b|▁c", "ANATOMY")]


def test_i_then_b_reopens_at_the_i_token_with_its_type():
    tokens = ["[CLS]", "▁a", "▁b", "▁c", "▁d", "[SEP]"]
    labels = ["O", "B-DISEASE", "I-ANATOMY", "B-ABNORMALITY", "O", "O"]
    # (a b) is closed as DISEASE and a span reopens at b (ANATOMY); c, a B before an O, is a
    # one-token span and resets the state, so the span reopened at b is lost
    assert entities(tokens, labels) == [("▁a|▁b", "DISEASE"), ("▁c", "ABNORMALITY")]


def test_b_then_b_leaves_end_set_so_a_trailing_open_span_is_dropped():
    tokens = ["[CLS]", "▁a", "▁b", "▁c", "[SEP]"]
    labels = ["O", "B-DISEASE", "B-ANATOMY", "I-ANATOMY", "I-ANATOMY"]
    # a: one-token span (B then B); b opens a span, but end was set by a, so it is never closed
    assert entities(tokens, labels) == [("▁a", "DISEASE")]


def test_lone_i_without_start_is_ignored_and_cls_sep_are_skipped():
    tokens = ["[CLS]", "▁a", "[SEP]", "▁b", "[SEP]"]
    labels = ["B-DISEASE", "I-DISEASE", "O", "B-ANATOMY", "O"]
    assert entities(tokens, labels) == [("▁b", "ANATOMY")]


@pytest.mark.oracle
def test_decoding_equals_the_official_post_process_on_random_label_sequences(oracle):
    rng = random.Random(5)
    cases = []
    for n in range(2000):
        length = rng.randint(2, 14)
        tokens = ["[CLS]"] + [f"t{i}" for i in range(length - 2)] + ["[SEP]"]
        if rng.random() < 0.1:  # a literal [SEP]/[CLS] inside, as text can produce
            tokens[rng.randrange(1, length)] = rng.choice(["[SEP]", "[CLS]"])
        # mostly B/I to reach every branch; labels may run past the tokens (padding positions)
        labels = [rng.choice(LABELS[:3] + LABELS[3:5] + ("O",)) if rng.random() < 0.5 else rng.choice(LABELS)
                  for _ in range(length + rng.choice([0, 0, 1, 3]))]
        cases.append({"tokens": tokens, "labels": labels})
    official = oracle("ratescore_post_process", cases=cases)
    ours = [[list(e) for e in entities(c["tokens"], c["labels"])] for c in cases]
    assert ours == official
    assert sum(map(len, official)) > 2000  # the cases do produce entities
