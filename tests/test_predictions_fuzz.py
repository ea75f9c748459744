"""Property tests: 11,000 generated prediction files (4 strategies x 2,500, plus 1,000 arbitrary JSON shapes).

Every file either reads to exactly the valid content it was written from, or raises
PredictionFileError naming the studies at fault; no other exception ever escapes.
"""

from __future__ import annotations

import csv
import io
import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rexrank.datasets.predictions import PredictionFileError, read_predictions

FUZZ = settings(max_examples=2_500, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

FORMATS = ("rexrank", "mapping", "records", "csv", "jsonl")
EXTENSIONS = {"rexrank": ".json", "mapping": ".json", "records": ".json", "csv": ".csv", "jsonl": ".jsonl"}


def is_valid_report(text: str) -> bool:
    return bool(text.strip()) and text.strip().lower() != "nan"


def _id(text: str) -> str:  # the two record keys are kept out of the ids (see _sniff)
    return text + "#" if text in ("study_id", "report") else text


def _report(text: str) -> str:
    return text if is_valid_report(text) else text + "x"


# .map, not .filter: Hypothesis re-analyses a filter's source on every draw, which is slow.
study_ids = st.text(min_size=1, max_size=10).map(_id)
reports = st.text(min_size=1, max_size=24).map(_report)
contents = st.dictionaries(study_ids, reports, min_size=1, max_size=5)


def json_object(pairs, ensure_ascii: bool) -> str:
    """A JSON object from (key, value) pairs, repeats kept (json.dumps of a dict cannot repeat keys)."""
    return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=ensure_ascii)}: {json.dumps(v, ensure_ascii=ensure_ascii)}"
                           for k, v in pairs) + "}"


def serialise(fmt: str, pairs: list, *, ensure_ascii: bool = False, newline: str = "\n", quote_all: bool = False) -> bytes:
    """Write (study id, value) pairs in ``fmt``; values may be non-strings (JSON formats)."""
    if fmt == "rexrank":
        text = json_object([(i, {"section_findings": "ref", "model_prediction": v}) for i, v in pairs], ensure_ascii)
    elif fmt == "mapping":
        text = json_object(pairs, ensure_ascii)
    elif fmt == "records":
        text = json.dumps([{"study_id": i, "report": v} for i, v in pairs], ensure_ascii=ensure_ascii)
    elif fmt == "jsonl":
        text = "".join(json.dumps({"study_id": i, "report": v}, ensure_ascii=ensure_ascii) + newline for i, v in pairs)
    else:
        out = io.StringIO()
        # Python's writer leaves a bare "\r" unquoted under QUOTE_MINIMAL with "\n" rows (the file
        # is then genuinely broken), so valid CSV uses CRLF rows or quotes everything.
        writer = csv.writer(out, lineterminator="\r\n" if not quote_all else newline,
                            quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
        writer.writerow(["study_id", "report"])
        writer.writerows(pairs)
        text = out.getvalue()
    return text.encode("utf-8")


def read(data: bytes, expected, fmt: str, naming: str):
    """Read with the file named (by extension), unnamed (sniffed) or with format= given."""
    if naming == "extension":
        return read_predictions(data, expected, filename="predictions" + EXTENSIONS[fmt])
    if naming == "format":
        return read_predictions(data, expected, format={"csv": "csv", "jsonl": "jsonl"}.get(fmt, "json"))
    return read_predictions(data, expected)


namings = st.sampled_from(["extension", "format", "sniffed"])


@FUZZ
@given(content=contents, fmt=st.sampled_from(FORMATS), naming=namings, ensure_ascii=st.booleans(),
       newline=st.sampled_from(["\n", "\r\n"]), quote_all=st.booleans(), shuffle=st.randoms(use_true_random=False))
def test_valid_files_read_to_exactly_their_content(content, fmt, naming, ensure_ascii, newline, quote_all, shuffle):
    pairs = list(content.items())
    data = serialise(fmt, pairs, ensure_ascii=ensure_ascii, newline=newline, quote_all=quote_all)
    expected = list(content)
    shuffle.shuffle(expected)
    got = read(data, expected, fmt, naming)
    assert got == content and list(got) == expected


# Bad values per fault kind; CSV can only carry text. (No filters built per draw: Hypothesis
# analyses each new lambda's source, which would dominate the run time.)
BAD_TEXT = {
    "empty": st.sampled_from(["", " ", "\n", "\t \r\n", "\u3000"]),
    "nan": st.sampled_from(["nan", "NaN", " nan\n"]),
}
BAD_VALUES = {
    "empty": BAD_TEXT["empty"],
    "nan": st.sampled_from([float("nan"), "nan", "NaN", " nan\n"]),
    "not_string": st.one_of(st.integers(), st.booleans(), st.none(), st.lists(st.text(max_size=3), max_size=2),
                            st.floats(allow_nan=False), st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=1)),
}


@st.composite
def corrupted(draw):
    """A valid content, then one study-level fault of a known kind at known studies."""
    content = draw(contents)
    fmt = draw(st.sampled_from(FORMATS))
    kinds = ["missing", "unknown", "duplicate", "empty", "nan"] + ([] if fmt == "csv" else ["not_string"])
    kind = draw(st.sampled_from(kinds))
    pairs = list(content.items())
    expected = list(content)
    ids = list(content)
    victims = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=len(ids), unique=True))
    if kind == "missing":
        pairs = [(i, v) for i, v in pairs if i not in victims]
    elif kind == "unknown":
        victims = []
        for candidate in draw(st.lists(study_ids, min_size=1, max_size=3, unique=True)):
            while candidate in content or candidate in victims:
                candidate += "+"
            victims.append(candidate)
        pairs += [(i, "some report") for i in victims]
    elif kind == "duplicate":
        pairs += [(i, content[i]) for i in victims]
    else:
        values = BAD_TEXT[kind] if fmt == "csv" else BAD_VALUES[kind]
        bad = {i: draw(values) for i in victims}
        pairs = [(i, bad.get(i, v)) for i, v in pairs]
    if kind == "missing" and not pairs:
        pairs = [("an unknown study", "report")]
    order = draw(st.permutations(pairs))
    return fmt, order, expected, kind, victims


@FUZZ
@given(case=corrupted(), naming=namings, ensure_ascii=st.booleans())
def test_each_fault_raises_naming_its_studies(case, naming, ensure_ascii):
    fmt, pairs, expected, kind, victims = case
    data = serialise(fmt, pairs, ensure_ascii=ensure_ascii)
    try:
        read(data, expected, fmt, naming)
    except PredictionFileError as err:
        named = set(err.problems.get(kind, []))
        if kind == "not_string":  # {id: {...}} for every study reads as ReXrank JSON without predictions
            named |= {i for i in victims for entry in err.problems.get("malformed", []) if entry.startswith(f"study {i!r}:")}
        assert set(victims) <= named, (kind, victims, err.problems)
        assert repr(victims[0]) in str(err) or len(victims) > 5
    else:
        raise AssertionError(f"{kind} at {victims} in {fmt} was accepted")


def check_outcome(call, expected: list[str]) -> None:
    """Either a result holding exactly the expected studies with usable text, or our own error."""
    try:
        got = call()
    except PredictionFileError as err:
        assert err.problems and str(err).startswith("predictions file")
        return
    assert list(got) == expected
    assert all(isinstance(v, str) and is_valid_report(v) for v in got.values())


@FUZZ
@given(content=contents, fmt=st.sampled_from(FORMATS), naming=namings, cut=st.floats(0, 1),
       encoding=st.sampled_from(["utf-8", "latin-1", "utf-16", "cp1252", "utf-8-sig"]))
def test_truncated_and_re_encoded_files(content, fmt, naming, cut, encoding):
    data = serialise(fmt, list(content.items())).decode("utf-8").encode(encoding, errors="replace")
    data = data[: math.floor(len(data) * cut)] if cut < 1 else data
    check_outcome(lambda: read(data, list(content), fmt, naming), list(content))


@FUZZ
@given(content=contents, fmt=st.sampled_from(FORMATS), naming=namings,
       noise=st.binary(min_size=1, max_size=12), where=st.floats(0, 1), replace=st.booleans())
def test_random_bytes_spliced_in(content, fmt, naming, noise, where, replace):
    data = serialise(fmt, list(content.items()))
    at = math.floor(len(data) * where)
    data = data[:at] + noise + data[at + (len(noise) if replace else 0):]
    check_outcome(lambda: read(data, list(content), fmt, naming), list(content))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(
        ["study_id", "report", "model_prediction", "a", "0"]) | st.text(max_size=4), children, max_size=4),
    max_leaves=12)


@settings(max_examples=1_000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=json_values, as_lines=st.booleans(), naming=st.sampled_from([None, "p.json", "p.jsonl", "p.csv"]))
def test_arbitrary_json_shapes(document, as_lines, naming):
    """Any JSON document (or a JSON Lines file of its items): our error, or text reports only."""
    if as_lines and isinstance(document, list):
        data = "\n".join(json.dumps(item) for item in document).encode()
    else:
        data = json.dumps(document).encode()
    try:
        got = read_predictions(data, filename=naming)
    except PredictionFileError as err:
        assert err.problems
        return
    assert got and all(isinstance(k, str) and isinstance(v, str) and is_valid_report(v) for k, v in got.items())
