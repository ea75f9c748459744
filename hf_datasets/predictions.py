"""Prediction files: one reader for every format users have, strict validation, one writer.

Formats (detected from ``format=``, else the file extension, else the content):

* ``json``: either ReXrank's own file (the test-set JSON with a ``model_prediction`` field added
  to each study, what ReXrank's submission tutorial asks for and what ``write_predictions`` and
  ``rexrank generate`` write), or a plain ``{"study_id": "report", ...}`` object, or a list of
  ``{"study_id": ..., "report": ...}`` records (pandas ``orient="records"``);
* ``csv``: a header with ``study_id`` and ``report`` columns (ReXrank's evaluation-script CSV);
* ``jsonl``: one ``{"study_id": ..., "report": ...}`` object per line.

Nothing is silently dropped, filled or fixed: duplicates, unknown or missing study ids, empty or
whitespace-only reports, non-strings, NaN (JSON ``NaN`` or the text ``nan``), text that is not
UTF-8 and files that are not the format they claim are all collected and raised together as one
:class:`PredictionFileError` naming the studies and what to do.

Missing predictions: ReXrank's official script would score a study without a prediction as an
empty report. Our default refuses (a forgotten study would silently lower a score);
``allow_missing=True`` (``--allow-missing``) accepts missing studies and empty reports, and a
missing study is returned as ``""`` so each metric scores it with its defined value for an
empty report.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from rexrank.errors import InputError, describe_ids, quote
from rexrank.files import atomic_write_json, check_input_file

logger = logging.getLogger(__name__)

FORMATS = ("json", "csv", "jsonl")
# One limit for every format (CSV's own default field limit, 131,072 characters, used to refuse
# what JSON accepted): a radiology report is a few thousand characters; longer is a mistake.
MAX_REPORT_CHARS = 100_000
_EXTENSIONS = {".json": "json", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

# kind -> (what is wrong, what to do). Study-level kinds list study ids; file-level kinds list
# locations (line numbers, byte offsets) or nothing.
PROBLEMS: dict[str, tuple[str, str]] = {
    "not_utf8": ("not UTF-8 text", "Re-save it as UTF-8"),
    "format": ("not the format it claims", "Fix the file or pass the right format (json, csv, jsonl)"),
    "no_predictions": ("no predictions in it", "Check that this is the right file"),
    "malformed": ("entries without the expected structure",
                  "Each entry needs a study id and a report: ReXrank JSON {id: {..., \"model_prediction\": text}}, "
                  "{id: text}, CSV with study_id,report columns, or JSON Lines {\"study_id\": id, \"report\": text}"),
    "duplicate": ("more than one prediction", "Keep exactly one prediction per study"),
    "not_string": ("a prediction that is not text", "Write each report as a string"),
    "nan": ("NaN instead of a report", "Write the report text (a NaN usually means it was lost upstream)"),
    "invalid_text": ("invalid characters (lone surrogates)", "Write the reports as valid Unicode text"),
    "too_long": (f"a report longer than {MAX_REPORT_CHARS:,} characters (the limit for every format)",
                 "Check the file: a radiology report is a few thousand characters at most"),
    "empty": ("an empty or whitespace-only report",
              "Write a report, or pass allow_missing=True / --allow-missing to score them as empty reports"),
    "unknown": ("not in the test set", "Remove them, or check that you chose the right test set, split and track"),
    "missing": ("no prediction",
                "Add them, or pass allow_missing=True / --allow-missing to score them as empty reports "
                "(what ReXrank's official script does)"),
}
_STUDY_KINDS = ("duplicate", "not_string", "nan", "invalid_text", "too_long", "empty", "unknown", "missing")


class PredictionFileError(InputError):
    """A predictions file with problems. ``problems`` maps a kind (see ``PROBLEMS``) to the
    offending study ids (or, for file-level kinds, locations such as ``line 3``)."""

    def __init__(self, name: str, problems: dict[str, list[str]]):
        self.name = name
        self.problems = problems
        lines = [f"predictions file {name} has problems:"]
        for kind, items in problems.items():
            label, todo = PROBLEMS[kind]
            if kind in _STUDY_KINDS:
                where = f": {describe_ids(items)}"
            else:
                where = f" ({'; '.join(items[:5])}{'; ...' if len(items) > 5 else ''})" if items else ""
            lines.append(f"  - {label}{where}. {todo}.")
        super().__init__("\n".join(lines))


class _Pairs(list):
    """A JSON object as its (key, value) pairs, so repeated keys are seen, not overwritten."""


def read_predictions(source: str | os.PathLike | bytes, expected_ids: Sequence[str] | None = None, *,
                     allow_missing: bool = False, format: str | None = None,
                     filename: str | None = None) -> dict[str, str]:
    """Read a predictions file and return ``{study_id: report}``.

    ``source`` is a path, or the file's bytes (``filename`` then names it in messages and gives
    its extension). With ``expected_ids`` (a track's study ids) the result follows their order
    and holds exactly them; without, the file's order. Raises :class:`PredictionFileError`.
    """
    name, entries, malformed = _read_entries(source, format, filename)
    return _validate(name, entries, malformed, expected_ids, allow_missing)


def read_usable_predictions(source: str | os.PathLike | bytes, expected_ids: Sequence[str], *,
                            format: str | None = None, filename: str | None = None
                            ) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The usable predictions of a file whose studies may be partly wrong (a submitted script's output):
    ``({study_id: report} in ``expected_ids`` order, {problem kind: study ids or locations}})``.

    The same checks as :func:`read_predictions`, but a problem of some studies is returned, not
    raised, so the good ones are kept; a file that is not readable at all (not UTF-8, not the
    format, empty) still raises :class:`PredictionFileError`.
    """
    name, entries, malformed = _read_entries(source, format, filename)
    if not entries and not malformed:
        raise PredictionFileError(name, {"no_predictions": []})
    found, problems = _problems(name, entries, malformed, expected_ids, allow_missing=False)
    return {i: found[i] for i in expected_ids if i in found}, problems


def _read_entries(source: str | os.PathLike | bytes, format: str | None,
                  filename: str | None) -> tuple[str, list["Entry"], list[str]]:
    """(name for messages, entries in file order, locations of malformed entries) of a predictions file."""
    if isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), filename or "<bytes>"
    else:
        path = check_input_file(source, "predictions file")
        data, name = path.read_bytes(), filename or str(path)
    claimed = _claimed_format(format, name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        where = f"line {line}, byte {err.start}"
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            where += "; it looks like UTF-16"
        raise PredictionFileError(name, {"not_utf8": [where]}) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    entries, malformed = _parse(text, claimed or _sniff(text), name, explicit=claimed is not None)
    return name, entries, malformed


def _claimed_format(format: str | None, name: str) -> str | None:
    if format is not None:
        if format not in FORMATS:
            raise InputError(f"unknown predictions format {format!r}; choose one of: {', '.join(FORMATS)}")
        return format
    return _EXTENSIONS.get(Path(name).suffix.lower())


def _sniff(text: str) -> str:
    """The format of an unnamed file: ``[`` JSON; ``{`` JSON, or JSON Lines when there are several
    object lines (or one line that is a ``{"study_id", "report"}`` record); else CSV."""
    head = text.lstrip()
    if head.startswith("["):
        return "json"
    if head.startswith("{"):
        lines = [line for line in head.split("\n") if line.strip()]
        try:
            first = json.loads(lines[0])
        except (ValueError, RecursionError):
            return "json"
        if len(lines) > 1:
            return "jsonl"
        return "jsonl" if isinstance(first, dict) and set(first) == {"study_id", "report"} else "json"
    return "csv"


# --------------------------------------------------------------------------- parsing

Entry = tuple[str, Any]  # (study id, raw prediction value)


def _parse(text: str, fmt: str, name: str, explicit: bool) -> tuple[list[Entry], list[str]]:
    """Entries in file order plus locations of malformed entries; raises on a wrong format."""
    how = "declares" if explicit else "looks like"
    if fmt == "json":
        try:
            value = json.loads(text, object_pairs_hook=_Pairs)
        except (ValueError, RecursionError) as err:
            raise PredictionFileError(name, {"format": [f"{how} JSON but: {_short(err)}"]}) from None
        return _json_entries(value, name)
    if fmt == "jsonl":
        return _jsonl_entries(text, name, how)
    return _csv_entries(text, name, how)


def _short(err: Exception) -> str:
    return str(err).split("\n")[0][:200]


def _json_entries(value: Any, name: str) -> tuple[list[Entry], list[str]]:
    if isinstance(value, _Pairs):
        # ReXrank's own file, {id: {..., "model_prediction": text}}: some entry has that field, or
        # every entry is an object (a test-set JSON whose predictions were never added).
        if value and (any(_field(v, "model_prediction") is not _ABSENT for _, v in value)
                      or all(isinstance(v, _Pairs) for _, v in value)):
            entries, malformed = [], []
            for study_id, entry in value:
                prediction = _field(entry, "model_prediction")
                if prediction is _ABSENT:
                    malformed.append(f"study {study_id!r}: no single 'model_prediction' field")
                else:
                    entries.append((study_id, prediction))
            return entries, malformed
        return [(study_id, v) for study_id, v in value], []
    if isinstance(value, list):
        return _records(((f"item {i}", item) for i, item in enumerate(value)))
    raise PredictionFileError(name, {"format": [f"is JSON {type(value).__name__}, not an object or a list"]})


_ABSENT = object()


def _field(entry: Any, key: str) -> Any:
    """The one value of ``key`` in a JSON object (as pairs); _ABSENT if not an object, absent or repeated."""
    if not isinstance(entry, _Pairs):
        return _ABSENT
    values = [v for k, v in entry if k == key]
    return values[0] if len(values) == 1 else _ABSENT


def _records(items) -> tuple[list[Entry], list[str]]:
    """``{"study_id": ..., "report": ...}`` objects (JSON Lines, or a JSON list)."""
    entries, malformed = [], []
    for where, item in items:
        study_id, report = _field(item, "study_id"), _field(item, "report")
        if isinstance(study_id, int) and not isinstance(study_id, bool):
            study_id = str(study_id)
        if not isinstance(study_id, str) or report is _ABSENT:
            malformed.append(f"{where}: needs one 'study_id' (text) and one 'report'")
        else:
            entries.append((study_id, report))
    return entries, malformed


def _jsonl_entries(text: str, name: str, how: str) -> tuple[list[Entry], list[str]]:
    items, bad_lines = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            items.append((f"line {number}", json.loads(line, object_pairs_hook=_Pairs)))
        except (ValueError, RecursionError):
            bad_lines.append(number)
    if bad_lines and not items:
        raise PredictionFileError(name, {"format": [f"{how} JSON Lines but no line is JSON"]})
    entries, malformed = _records(items)
    return entries, [f"line {n}: not JSON" for n in bad_lines] + malformed


def _csv_entries(text: str, name: str, how: str) -> tuple[list[Entry], list[str]]:
    # csv's field limit is process-wide; only ever raised, to above our one report limit, so a
    # long report is refused by that limit (naming the study), as in JSON, not by csv.Error
    if csv.field_size_limit() <= MAX_REPORT_CHARS * 4:
        csv.field_size_limit(MAX_REPORT_CHARS * 4 + 1)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as err:
        raise PredictionFileError(name, {"format": [f"{how} CSV but line {reader.line_num}: {err}"]}) from None
    header_index = next((i for i, row in enumerate(rows) if row), None)
    if header_index is None:
        raise PredictionFileError(name, {"no_predictions": []})
    header = [h.strip() for h in rows[header_index]]
    if "study_id" not in header or "report" not in header or len(set(header)) != len(header):
        shown = ", ".join(quote(h, 30) for h in header[:4]) + (", ..." if len(header) > 4 else "")
        raise PredictionFileError(name, {"format": [
            f"{how} CSV but its header [{shown}] does not have one 'study_id' and one 'report' column"]})
    id_col, report_col = header.index("study_id"), header.index("report")
    if len(header) > 2:
        logger.info("%s: using columns study_id and report; ignoring %s", name,
                    [h for h in header if h not in ("study_id", "report")])
    entries, malformed = [], []
    for number, row in enumerate(rows[header_index + 1:], start=header_index + 2):
        if not row:
            continue
        if len(row) != len(header):
            malformed.append(f"row {number}: {len(row)} fields, the header has {len(header)}")
        else:
            entries.append((row[id_col], row[report_col]))
    return entries, malformed


# --------------------------------------------------------------------------- validation

def _classify(value: Any) -> str | None:
    """The problem kind of one prediction value, None if it is a usable report."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if not isinstance(value, str):
        return "not_string"
    stripped = value.strip()
    if not stripped:
        return "empty"
    if stripped.lower() == "nan":
        return "nan"
    if len(value) > MAX_REPORT_CHARS:
        return "too_long"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "invalid_text"
    return None


def _validate(name: str, entries: list[Entry], malformed: list[str], expected_ids: Sequence[str] | None,
              allow_missing: bool) -> dict[str, str]:
    if not entries and not malformed:
        raise PredictionFileError(name, {"no_predictions": []})
    found, problems = _problems(name, entries, malformed, expected_ids, allow_missing)
    if problems:
        raise PredictionFileError(name, problems)
    if expected_ids is None:
        return found
    return {i: found.get(i, "") for i in expected_ids}


def _problems(name: str, entries: list[Entry], malformed: list[str], expected_ids: Sequence[str] | None,
              allow_missing: bool) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(usable predictions, {kind: study ids or locations} in PROBLEMS order) of parsed entries."""
    problems: dict[str, list[str]] = {}
    if malformed:
        problems["malformed"] = malformed
    found: dict[str, str] = {}
    seen: dict[str, None] = {}  # ids in file order
    duplicates: dict[str, None] = {}
    for study_id, value in entries:
        if study_id in seen:
            duplicates[study_id] = None
            continue
        seen[study_id] = None
        kind = _classify(value)
        if kind == "empty" and allow_missing:
            kind = None
        if kind:
            problems.setdefault(kind, []).append(study_id)
        else:
            found[study_id] = value
    if duplicates:
        problems["duplicate"] = list(duplicates)
    if expected_ids is not None:
        expected = set(expected_ids)
        unknown = [i for i in seen if i not in expected]
        if unknown:
            problems["unknown"] = unknown
        missing = [i for i in expected_ids if i not in seen]
        if missing and not allow_missing:
            problems["missing"] = missing
        elif missing:
            logger.warning("%s: no prediction for %s; scoring them as empty reports (allow_missing)",
                           name, describe_ids(missing))
    return found, {k: problems[k] for k in PROBLEMS if k in problems}


# --------------------------------------------------------------------------- writing

def write_predictions(path: str | os.PathLike, predictions: Mapping[str, str], studies: list[dict] | None = None) -> None:
    """Write ReXrank's predictions JSON atomically (a crash never leaves half a file).

    With ``studies`` (normalised manifest rows, e.g. ``TrackData.studies``) each entry carries
    the study's fields under ReXrank's names plus ``model_prediction``, in the studies' order;
    without, each entry is ``{"model_prediction": text}``. Every id must be one of ``studies``.
    """
    bad = [i for i, text in predictions.items() if not isinstance(text, str)]
    if bad:
        raise InputError(f"predictions for {describe_ids(bad)} are not text; every report must be a string")
    by_id = {s["study_id"]: s for s in studies or []}
    if studies is not None:
        unknown = [i for i in predictions if i not in by_id]
        if unknown:
            raise InputError(f"predictions for {describe_ids(unknown)} are not in the given studies")
        order = [i for i in by_id if i in predictions]
    else:
        order = list(predictions)
    payload = {i: {**_rexrank_fields(by_id[i]), "model_prediction": predictions[i]} if i in by_id
               else {"model_prediction": predictions[i]} for i in order}
    atomic_write_json(path, payload, indent=2)


def _rexrank_fields(study: dict) -> dict:
    return {
        "image_path": study.get("image_paths"),
        "key_image_path": study.get("key_image"),
        "frontal_lateral": study.get("views"),
        "section_findings": study.get("findings"),
        "section_impression": study.get("impression"),
        "report": study.get("report"),
    }
