"""RadGraph parity: ours vs radgraph 0.1.18 (``model_type="radgraph"``) on the same tiny weights.

Per report: the same words, the same entity spans and labels, the same relations, hence the
same DESIGN §7.5 sets; per pair, F1 within 1e-6 of F1 computed from the official annotations.
Texts: real IU-Xray findings and impressions, and nasty ones (newlines, >512 wordpieces,
unicode, zero-width characters, punctuation only, hyphens and slashes).
"""

from __future__ import annotations

import json

import pytest

from rexrank.metrics.scorers.radgraph.scorer import set_f1

pytestmark = pytest.mark.oracle

NASTY = [
    "No pleural effusion.\n\n\nMild   cardiomegaly.\n",
    "\n\nHeart size normal.\nLungs are clear.\n\n",
    "Ödème — naïve 肺 effusion; size 2.5cm → stable ✓ (café-au-lait)",
    "no \u200b effusion \u200b",  # a word with no wordpieces at all
    "... ,,, () / : ! ?",
    "left-sided/right-sided effusion(s): 3/4, stable.No change!Really?",
    "Effusion /. and /? odd tokens",
    "\tTabs\tand\u00a0non-breaking spaces.",
    "XXXX",
    "a",
]


@pytest.fixture(scope="module")
def findings(iu_manifests) -> list[str]:
    studies = json.loads(iu_manifests["test"].read_text())
    return [row["section_findings"] for row in studies.values() if row.get("section_findings")]


@pytest.fixture(scope="module")
def long_report(findings) -> str:
    """600+ words of real findings: far over 512 wordpieces, so the official code folds it."""
    text = ""
    for finding in findings[100:]:
        text = f"{text} {finding}".strip()
        if len(text.split()) > 620:
            return text
    raise AssertionError("not enough findings")


@pytest.fixture(scope="module")
def texts(iu_manifests, findings, long_report) -> list[str]:
    studies = json.loads(iu_manifests["test"].read_text())
    impressions = [row["section_impression"] for row in studies.values() if row.get("section_impression")]
    return findings[:24] + impressions[:6] + NASTY + [long_report]


@pytest.fixture(scope="module")
def both(tiny_radgraph_models, oracle, texts):
    from rexrank.metrics.scorers.radgraph import load_annotator

    ours = load_annotator(device="cpu")(texts)
    official = oracle("radgraph", action="annotate", model_cache_dir=str(tiny_radgraph_models["model_cache_dir"]),
                      texts=texts)
    return ours, official


def _sets(ann):
    return ([list(x) for x in sorted(ann.entity_set())],
            [[list(a), list(b), k] for a, b, k in sorted(ann.relation_set())])


def test_the_tiny_model_emits_a_mix(both):
    ours, _ = both
    assert sum(len(a.entities) for a in ours) > 500
    assert sum(len(a.relations) for a in ours) > 50
    assert len({lab for a in ours for _, _, lab in a.entities}) == 4
    assert len({kind for a in ours for *_, kind in a.relations}) == 3


def test_identical_annotations_per_report(both, texts):
    ours, official = both
    for text, mine, theirs in zip(texts, ours, official):
        assert "error" not in theirs, (text, theirs)
        assert list(mine.words) == theirs["words"], text
        assert sorted(map(list, mine.entities)) == theirs["entities"], text
        assert sorted(map(list, mine.relations)) == theirs["relations"], text
        entity_set, relation_set = _sets(mine)
        assert entity_set == theirs["entity_set"], text
        assert relation_set == theirs["relation_set"], text


def test_long_report_is_folded_not_truncated(both, texts, long_report):
    ours, official = both
    i = texts.index(long_report)
    assert len(ours[i].words) > 600
    assert max(e for _, e, _ in ours[i].entities) > 550  # entities beyond the first 512 wordpieces


def test_f1_matches_official_annotations(tiny_radgraph_models, oracle, texts, both):
    from rexrank.metrics.registry import load_scorer

    texts = texts[:-1]  # the long report is covered above; here it would only slow the official code
    preds = texts[7:] + texts[:7]
    refs = list(texts)
    preds += texts[:5]  # identical pairs
    refs += texts[:5]
    result = load_scorer("radgraph", device="cpu")(preds, refs)
    _, official = both
    by_text = {t: o for t, o in zip(texts, official)}

    def as_sets(o):
        return ({tuple(e) for e in o["entity_set"]},
                {(tuple(a), tuple(b), k) for a, b, k in o["relation_set"]})

    worst = 0.0
    for i, (p, r) in enumerate(zip(preds, refs)):
        pe, pr = as_sets(by_text[p])
        re_, rr = as_sets(by_text[r])
        entity, relation = set_f1(frozenset(re_), frozenset(pe)), set_f1(frozenset(rr), frozenset(pr))
        worst = max(worst, abs(result.values["radgraph_entity_f1"][i] - entity),
                    abs(result.values["radgraph_relation_f1"][i] - relation),
                    abs(result.values["radgraph"][i] - (entity + relation) / 2))
    assert worst <= 1e-6
    n = len(texts)
    assert all(v == 1.0 for v in result.values["radgraph_entity_f1"][n:] if v)  # identical pairs
    # the official package's own reward: "simple" is the entity F1 (F1RadGraph, reward_level="all")
    few = slice(0, 12)  # the official pipeline is slow (about 0.4 s per report even on a tiny model)
    official_rewards = oracle("radgraph", action="score", model_cache_dir=str(tiny_radgraph_models["model_cache_dir"]),
                              predictions=preds[few], references=refs[few])
    assert max(abs(a - b) for a, b in zip(official_rewards["simple"], result.values["radgraph_entity_f1"][few])) <= 1e-6


def test_whitespace_only_crashes_the_official_code_and_scores_zero_here(tiny_radgraph_models, oracle):
    from rexrank.metrics.registry import load_scorer

    official = oracle("radgraph", action="annotate", model_cache_dir=str(tiny_radgraph_models["model_cache_dir"]),
                      texts=["   \n "])
    assert "error" in official[0]
    result = load_scorer("radgraph", device="cpu")(["   \n ", ""], ["No pleural effusion.", "No pleural effusion."])
    assert result.values["radgraph"] == [0.0, 0.0]
    assert result.details[0]["prediction_entities"] == []
