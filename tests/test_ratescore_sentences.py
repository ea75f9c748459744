"""Our sentence splitting gives exactly the official medspacy/PyRuSH sentences, on every IU-Xray report."""

from __future__ import annotations

import json

import pytest

from rexrank.metrics.scorers.ratescore.sentences import SentenceSplitter, sentence_starts, _Span

NASTY = ["", " ", "\n\n", "ab", "a.", "...", "!!! ??? ... ;;", "x" * 40,
         "Ünïcödé façade — no effusion. 肺部正常。 Кардиомегалии нет. Pas d'épanchement pleural.",
         "No effusion.\n\n\nHeart normal.  1.5 cm nodule at T12. Dr. Smith e.g. called 3/4/2010.  ",
         "1. Stable cardiomegaly.\n2. No pneumothorax.\n- Lines: ETT 4 cm above carina", "\u00a0\u00a0Heart\u00a0normal.\u00a0",
         " ".join(["Lungs are clear"] * 300) + ". " + "word " * 2000]


def manifest_texts(iu_manifests) -> list[str]:
    texts = []
    for path in iu_manifests.values():
        for study in json.loads(path.read_text()).values():
            texts += [study[k] for k in ("section_findings", "section_impression", "report") if isinstance(study.get(k), str)]
    return texts


@pytest.fixture(scope="module")
def splitter(ratescore_rules):
    return SentenceSplitter(str(ratescore_rules))


@pytest.mark.oracle
def test_sentences_equal_the_official_pipeline_on_every_iu_xray_report(oracle, splitter, iu_manifests):
    texts = manifest_texts(iu_manifests)
    assert len(texts) > 2500  # test + validation, findings, impression and report fields
    distinct = list(dict.fromkeys(texts + NASTY))
    official = oracle("ratescore_sentences", texts=distinct)
    ours = [{"raw": splitter.raw_sentences(t), "kept": splitter(t)} for t in distinct]
    mismatched = [t[:80] for t, a, b in zip(distinct, ours, official) if a != b]
    assert not mismatched, f"{len(mismatched)} of {len(distinct)} texts split differently, e.g. {mismatched[:3]}"
    assert sum(len(o["kept"]) for o in ours) > 5000


def test_short_and_blank_sentences_are_dropped(splitter):
    assert splitter("") == [] and splitter("  \n ") == [] and splitter("ab") == []
    assert splitter("No pleural effusion. Heart size normal.") == ["No pleural effusion.", "Heart size normal."]


def test_token_starts_follow_pyrush_gap_rules():
    # tokens (offset, text) of "Aa. \nBb." with RuSH spans [0,3) and [5,8): the whitespace token in the gap
    # starts a sentence, as does the first token of each span
    tokens = [(0, "Aa"), (2, "."), (3, " \n"), (5, "Bb"), (7, ".")]
    assert sentence_starts(tokens, [_Span(0, 3), _Span(5, 8)]) == [True, False, True, True, False]
    # no span at all: only whitespace tokens start sentences
    assert sentence_starts(tokens, []) == [False, False, True, False, False]


def test_reports_split_in_child_processes_as_in_one(iu_manifests, ratescore_rules):
    """Many reports go to worker processes; each report's sentences are the ones one process gives."""
    import json

    from rexrank.metrics.scorers.ratescore.sentences import default_splitter, default_workers, split_reports

    reports = [s["report"] for s in json.loads(iu_manifests["test"].read_text()).values()][:60] + ["", "a. b", "Ok."]
    assert split_reports(reports, workers=2) == [default_splitter()(r) for r in reports]
    assert default_workers(10) == 1 and default_workers(10**6) >= 1


def test_pyfastner_info_noise_is_dropped_at_info_level(splitter, caplog):
    """PyFastNER logs "... is not a eligible syntax." on the root logger for each odd rule on every
    report; an INFO-level run must not print them, and other INFO lines still pass."""
    import logging

    with caplog.at_level(logging.INFO):
        for text in NASTY:
            splitter(text)
        logging.getLogger("rexrank.test").info("ours still logged")
    noise = [r for r in caplog.records if "eligible syntax" in r.getMessage()]
    assert not noise, f"{len(noise)} PyFastNER lines got through, e.g. {noise[0].getMessage()!r}"
    assert any(r.getMessage() == "ours still logged" for r in caplog.records)
