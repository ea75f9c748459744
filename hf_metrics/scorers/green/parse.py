"""GREEN's response cleaning, parsing and score, exactly as the official ``green_score`` does it.

Official: github Stanford-AIMI/GREEN @ d72c195, ``green_score/utils.py::clean_responses`` and
``green_score/green.py::GREEN.parse_error_counts`` / ``compute_green``. Every regular
expression here is the official one; the quirks are kept on purpose (they decide scores):

* a section is ``[<Category>]:`` followed by anything up to the first blank line or the end;
  ``\\s*`` after the colon swallows leading blank lines;
* a missing section or one whose text starts with "No" counts 0;
* matched findings: an integer at the very start of the section text, followed by ".";
* errors: lines holding "(a) " … "(f) " (or "(1) " … "(6) " when no lettered line exists),
  sorted as strings; each count is an integer after ": " and before "."; for a letter seen on
  several lines the last one (in sorted order) that has a count wins;
* score = matched / (matched + the six clinically significant counts), and 0 when matched is 0.
"""

from __future__ import annotations

import re
from typing import Any

CATEGORIES = ("Clinically Significant Errors", "Clinically Insignificant Errors", "Matched Findings")
SUB_CATEGORIES = (
    "(a) False report of a finding in the candidate",
    "(b) Missing a finding present in the reference",
    "(c) Misidentification of a finding's anatomic location/position",
    "(d) Misassessment of the severity of a finding",
    "(e) Mentioning a comparison that isn't in the reference",
    "(f) Omitting a comparison detailing a change from a prior study",
)


def clean_response(response: str) -> str:
    """``clean_responses``: the text after the last ``<|assistant|>`` and after ``[Explanation]:``.

    The official test ``("[Explanation]:\\n    <Explanation>\\n" or "...") in response`` is
    Python's ``or`` of two non-empty strings, i.e. only the first string is looked for; kept.
    """
    if "[Explanation]:" in response:
        if "<|assistant|>" in response:
            response = response.split("<|assistant|>")[-1]
        if "[Explanation]:\n    <Explanation>\n" in response:
            response = response.split("[Explanation]:")[1]
        else:
            response = response.split("[Explanation]:")[-1]
    if "<|assistant|>" in response:
        response = response.split("<|assistant|>")[-1]
    return response.replace("</s>", "").replace("<unk>", "")


def section_text(response: str, category: str) -> str | None:
    """The text of ``[category]:`` up to the first blank line, or None when absent."""
    found = re.search(rf"\[{category}\]:\s*(.*?)(?:\n\s*\n|\Z)", response, re.DOTALL)
    return found.group(1) if found else None


def parse_counts(response: str, category: str) -> tuple[int, list[int]]:
    """``parse_error_counts(text, category)``: (total, six sub-counts) of one section."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown GREEN category {category!r}; one of {CATEGORIES}")
    sub_counts = [0] * 6
    text = section_text(response, category)
    if text is None or text.startswith("No"):
        return 0, sub_counts
    if category == "Matched Findings":
        counts = re.findall(r"^\b\d+\b(?=\.)", text)
        return (int(counts[0]) if counts else 0), sub_counts
    prefixes = [s.split(" ", 1)[0] + " " for s in SUB_CATEGORIES]
    matches = sorted(re.findall(r"\([a-f]\) .*", text))
    if not matches:
        matches = sorted(re.findall(r"\([1-6]\) .*", text))
        prefixes = [f"({i}) " for i in range(1, 7)]
    for position, prefix in enumerate(prefixes):
        for line in matches:
            if line.startswith(prefix):
                count = re.findall(r"(?<=: )\b\d+\b(?=\.)", line)
                if count:
                    sub_counts[position] = int(count[0])
    return sum(sub_counts), sub_counts


def green_from_counts(matched: int, significant: list[int]) -> float:
    """``compute_green``: 0 when nothing matched, else matched / (matched + significant errors)."""
    if matched == 0:
        return 0.0
    return matched / (matched + sum(significant))


def analyse(response: str) -> dict[str, Any]:
    """Score and per-category counts of one cleaned response (what users read per study)."""
    _, significant = parse_counts(response, CATEGORIES[0])
    _, insignificant = parse_counts(response, CATEGORIES[1])
    matched, _ = parse_counts(response, CATEGORIES[2])
    return {
        "green": green_from_counts(matched, significant),
        "matched_findings": matched,
        "clinically_significant_errors": dict(zip(SUB_CATEGORIES, significant)),
        "clinically_insignificant_errors": dict(zip(SUB_CATEGORIES, insignificant)),
        "explanation": response.split("[Clinically Significant Errors]")[0].strip(),
        "analysis": response,
    }
