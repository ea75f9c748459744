"""GREEN's response cleaning and parsing on hand-written model outputs, one test per branch of
the official ``clean_responses`` / ``parse_error_counts`` / ``compute_green``."""

from __future__ import annotations

import pytest

from rexrank.metrics.scorers.green.parse import CATEGORIES, SUB_CATEGORIES, analyse, clean_response, parse_counts

SIG, INSIG, MATCHED = CATEGORIES

FULL = """[Explanation]:
The candidate misses the effusion and invents cardiomegaly.

[Clinically Significant Errors]:
(a) False report of a finding in the candidate: 1. Cardiomegaly.
(b) Missing a finding present in the reference: 2. Left effusion; right effusion.
(c) Misidentification of a finding's anatomic location/position: 0.
(d) Misassessment of the severity of a finding: 0.
(e) Mentioning a comparison that isn't in the reference: 0.
(f) Omitting a comparison detailing a change from a prior study: 0.

[Clinically Insignificant Errors]:
(a) False report of a finding in the candidate: 0.
(b) Missing a finding present in the reference: 1. Degenerative spine.
(c) Misidentification of a finding's anatomic location/position: 0.
(d) Misassessment of the severity of a finding: 0.
(e) Mentioning a comparison that isn't in the reference: 0.
(f) Omitting a comparison detailing a change from a prior study: 0.

[Matched Findings]:
3. Clear lungs; no pneumothorax; normal mediastinum.
"""


def test_full_response_counts_and_score():
    record = analyse(FULL)
    assert record["matched_findings"] == 3
    assert list(record["clinically_significant_errors"].values()) == [1, 2, 0, 0, 0, 0]
    assert list(record["clinically_insignificant_errors"].values()) == [0, 1, 0, 0, 0, 0]
    assert record["green"] == pytest.approx(3 / (3 + 3))
    assert record["analysis"] == FULL
    assert record["explanation"] == "[Explanation]:\nThe candidate misses the effusion and invents cardiomegaly."
    assert list(record["clinically_significant_errors"]) == list(SUB_CATEGORIES)


def test_insignificant_errors_do_not_lower_the_score():
    only_insignificant = FULL.replace("candidate: 1. Cardiomegaly.", "candidate: 0.").replace(
        "reference: 2. Left effusion; right effusion.", "reference: 0.")
    assert analyse(only_insignificant)["green"] == 1.0


def test_missing_sections_count_zero_and_no_match_scores_zero():
    assert parse_counts("nothing useful here", SIG) == (0, [0] * 6)
    assert parse_counts("nothing useful here", MATCHED) == (0, [0] * 6)
    assert analyse("")["green"] == 0.0
    no_matched_section = FULL.split("[Matched Findings]")[0]
    assert analyse(no_matched_section)["green"] == 0.0  # matched == 0 -> 0, whatever the errors
    no_sig_section = FULL.replace("[Clinically Significant Errors]", "[Something Else]")
    assert analyse(no_sig_section)["green"] == 1.0  # 3 / (3 + 0)


def test_section_that_starts_with_no_counts_zero():
    text = "[Clinically Significant Errors]:\nNo clinically significant errors.\n(a) False report: 4.\n\n[Matched Findings]:\n2. A; B."
    assert parse_counts(text, SIG) == (0, [0] * 6)  # starts with "No": the (a) line is ignored
    assert parse_counts("[Matched Findings]: None. Nothing matched.", MATCHED) == (0, [0] * 6)
    assert analyse(text)["green"] == 1.0


def test_numbered_lines_are_used_only_when_no_lettered_line_exists():
    numbered = "[Clinically Significant Errors]:\n(1) False report: 2. x\n(2) Missing: 1. y\n(6) Omitting: 3. z\n"
    assert parse_counts(numbered, SIG) == (6, [2, 1, 0, 0, 0, 3])
    mixed = numbered + "(b) Missing: 5. w\n"
    assert parse_counts(mixed, SIG) == (5, [0, 5, 0, 0, 0, 0])  # one lettered line: numbered ones ignored


def test_counts_need_colon_space_before_and_full_stop_after():
    text = ("[Clinically Significant Errors]:\n(a) False report: 2 Cardiomegaly\n(b) Missing:3. effusion\n"
            "(c) Location: 4.\n(d) Severity: 1.5. mild\n")
    # (a) no full stop, (b) no space after the colon -> 0; (c) 4; (d) "1.5." -> "\b\d+\b(?=\.)" finds 1
    assert parse_counts(text, SIG) == (5, [0, 0, 4, 1, 0, 0])
    assert parse_counts("[Matched Findings]:\n3 findings match.", MATCHED)[0] == 0  # no full stop
    assert parse_counts("[Matched Findings]:\nThere are 3. A", MATCHED)[0] == 0  # not at the start
    assert parse_counts("[Matched Findings]: 12. A; B", MATCHED)[0] == 12


def test_several_matching_lines_last_in_sorted_order_with_a_count_wins():
    text = "[Clinically Significant Errors]:\n(a) False report: 3. x\n(a) False report: 1. y\n(a) again: no count\n"
    # sorted: "(a) False report: 1. y" < "(a) False report: 3. x" < "(a) again: ..." -> 3, then no count keeps 3
    assert parse_counts(text, SIG) == (3, [3, 0, 0, 0, 0, 0])


def test_section_runs_to_the_first_blank_line_and_leading_blank_lines_are_skipped():
    text = "[Clinically Significant Errors]:\n\n\n(a) False: 2. x\n\n(b) Missing: 7. beyond the blank line\n"
    assert parse_counts(text, SIG) == (2, [2, 0, 0, 0, 0, 0])
    assert parse_counts("[Matched Findings]:   \n \n 4. a", MATCHED)[0] == 4  # \\s* swallows spaces and blank lines


def test_lines_found_anywhere_in_a_line():
    text = "[Clinically Significant Errors]: errors: (a) False report: 2. x (b) Missing: 1. y\n"
    # one regex match "(a) ... (b) Missing: 1. y" (greedy to end of line): only (a) gets a count, the first one
    assert parse_counts(text, SIG) == (2, [2, 0, 0, 0, 0, 0])


def test_unknown_category_is_refused():
    with pytest.raises(ValueError, match="unknown GREEN category"):
        parse_counts(FULL, "Matched")


def test_clean_response_keeps_text_after_last_assistant_and_explanation():
    decoded = ("<|user|>\n... [Explanation]:\n    <Explanation>\n ... \n<|assistant|>\n \n<|assistant|>\n"
               "[Explanation]:\nGood match.</s>\n\n[Matched Findings]:\n2. A; B.<unk>")
    assert clean_response(decoded) == "\nGood match.\n\n[Matched Findings]:\n2. A; B."
    # completion without "[Explanation]:": everything after the last <|assistant|>
    assert clean_response("prompt [Explanation]: x <|assistant|>\n[Matched Findings]: 1. a") == "\n[Matched Findings]: 1. a"
    # the official `("A" or "B") in response` only looks for "A": split at the first [Explanation]: then
    twice = "<|assistant|>[Explanation]:\n    <Explanation>\n[Explanation]: second"
    assert clean_response(twice) == "\n    <Explanation>\n"
    assert clean_response("no markers at all</s>") == "no markers at all"
