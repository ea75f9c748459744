"""ReXrank test-set manifests: load (pinned asset or a user's file), validate, normalise.

A manifest is ReXrank's JSON object keyed by study id (DESIGN.md §3). The published files carry
quirks that must never reach a report, a prompt or a metric: JSON ``NaN`` and the string
``"nan"`` for missing sections, blank strings, MIMIC-CXR paths with a leading ``/``,
``frontal_lateral`` lists whose length differs from ``image_path`` (IU-Xray), free view words
(``antero-posterior``, ``left lateral``, ``Erect``, ``NaN``), and a packed ``context`` string
(``Age:50-60.Gender:M.Indication: ... Comparison: ...``). This module turns every study into one
normalised row where a missing value is ``None``; text sections are kept verbatim.

Pure Python: no ``datasets`` import, so scoring and the Space can use it cheaply.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

from rexrank.digests import sha256_bytes
from rexrank.datasets.registry import get_test_set
from rexrank.errors import InputError
from rexrank.files import check_input_file

logger = logging.getLogger(__name__)

# Fields every normalised row has, in this order.
COMMON_FIELDS = ("study_id", "image_paths", "views", "key_image", "indication", "comparison",
                 "age", "sex", "findings", "impression", "report")
REQUIRED_KEYS = ("image_path", "section_findings", "section_impression", "report")


@dataclass
class Manifest:
    """One parsed test-set manifest.

    ``sha256`` is of the raw file; ``source`` says where it came from (the pinned
    ``repo@commit:path``, ``hub:repo@commit:path`` for a Hub dataset, or the user's file);
    ``matches_pinned`` is True/False when a pinned version exists to compare with, None for
    ``rexgradient`` (private) and ``rexgradient_160k`` (read from the Hub). ``entries`` are the
    studies in ReXrank's own JSON shape (what an inference script is given), by study id.
    """

    config: str
    split: str
    sha256: str
    source: str
    studies: list[dict]
    matches_pinned: bool | None = field(default=None)
    entries: dict[str, dict] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.studies)

    @property
    def study_ids(self) -> list[str]:
        return [s["study_id"] for s in self.studies]


# --------------------------------------------------------------------------- loading

def asset_name(config: str, split: str) -> str:
    return f"manifest/{config}/{split}"


def check_config(config: str, split: str) -> None:
    splits = get_test_set(config).splits
    if split not in splits:
        raise InputError(f"test set {config!r} has no split {split!r}; it has: {', '.join(splits)}")


def pinned_sha256(config: str, split: str) -> str | None:
    """sha256 of the official manifest at the pinned ReXrank commit, None where there is none."""
    from rexrank import assets

    asset = assets.ASSETS.get(asset_name(config, split))
    return asset.sources[0].sha256 if asset else None


def load_manifest(config: str, split: str = "test", manifest: str | os.PathLike | None = None, *,
                  site_field: str | None = None) -> Manifest:
    """Load and normalise the ``config``/``split`` manifest.

    Without ``manifest`` the official file is fetched at the pinned ReXrank commit and checked
    against its sha256 (``rexrank.assets``). With ``manifest`` (a local file) that file is used;
    for a public test set its sha256 is compared with the pinned one and the outcome logged.
    ReXGradient-160K (``rexgradient_160k``) is read from its gated Hub dataset, or ``manifest``
    (a local copy of its metadata); ``site_field`` names the record field read as ``site``.
    """
    check_config(config, split)
    if site_field and get_test_set(config).hub_dataset is None:
        raise InputError(f"site_field applies to rexgradient_160k only; {config!r} manifests carry 'site' themselves")
    if get_test_set(config).hub_dataset is not None:  # ReXGradient-160K: its own layout, on the Hub
        from rexrank.datasets import rexgradient

        data, source = rexgradient.read_metadata(split, manifest)
        entries = rexgradient.to_rexrank(data, split, where=source, site_field=site_field)
        studies = normalise_entries(entries, config)
        sha = sha256_bytes(data)
        logger.info("%s/%s: %d studies from %s", config, split, len(studies), source)
        return Manifest(config=config, split=split, sha256=sha, source=source, studies=studies, entries=entries)
    if manifest is None:
        if pinned_sha256(config, split) is None:
            raise InputError(
                f"{config!r} has no public manifest (ReXGradient's 10,000-study test set is private). "
                f"Pass the manifest you were given: manifest='path/to/file.json' in Python, "
                f"--manifest FILE on the command line.")
        from rexrank import assets

        name = asset_name(config, split)
        path = assets.fetch(name)
        source_info = assets.get_asset(name).sources[0]
        data = path.read_bytes()
        source = f"{source_info.repo}@{source_info.commit}:{source_info.path}"
    else:
        path = check_input_file(manifest, f"manifest file (config {config!r}, split {split!r})")
        data = path.read_bytes()
        source = str(path)
    sha = sha256_bytes(data)
    pinned = pinned_sha256(config, split)
    matches = None if pinned is None else sha == pinned
    if manifest is not None and pinned is not None:
        if matches:
            logger.info("manifest %s matches the pinned official %s/%s manifest (sha256 %s)", source, config, split, sha)
        else:
            logger.warning("manifest %s (sha256 %s) is not the pinned official %s/%s manifest (sha256 %s); "
                           "scores on it are not comparable with the ReXrank leaderboard",
                           source, sha, config, split, pinned)
    entries = decode_manifest(data, where=source)
    studies = normalise_entries(entries, config)
    logger.info("%s/%s: %d studies from %s", config, split, len(studies), source)
    return Manifest(config=config, split=split, sha256=sha, source=source, studies=studies, matches_pinned=matches,
                    entries=entries)


# --------------------------------------------------------------------------- parsing

def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    dups = []
    for key, value in pairs:
        if key in out:
            dups.append(key)
        out[key] = value
    if dups:
        shown = ", ".join(repr(k) for k in sorted(set(dups))[:5])
        raise InputError(f"the manifest repeats the key(s) {shown}; each study id, and each field "
                         "within a study, must appear once")
    return out


def parse_manifest(data: bytes | str, config: str, where: str = "manifest") -> list[dict]:
    """Parse raw manifest JSON into normalised rows (manifest order). Raises InputError."""
    return normalise_entries(decode_manifest(data, where), config)


def decode_json_object(data: bytes | str, where: str, what: str = "a ReXrank manifest") -> Any:
    """UTF-8 JSON (NaN literals allowed, as the published files have them) with every key once."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise InputError(f"{where} is not UTF-8 text ({err}); {what} is a UTF-8 JSON file") from None
    else:
        text = data
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates)
    except json.JSONDecodeError as err:
        raise InputError(f"{where} is not valid JSON ({err}); {what} is a JSON object "
                         "keyed by study id") from None


def decode_manifest(data: bytes | str, where: str = "manifest", what: str = "a ReXrank manifest") -> dict[str, Any]:
    """The manifest's JSON object, keyed by study id (entries as they are in the file)."""
    raw = decode_json_object(data, where, what)
    if not isinstance(raw, dict):
        raise InputError(f"{where} holds a JSON {type(raw).__name__}, not an object keyed by study id")
    if not raw:
        raise InputError(f"{where} has no studies")
    return raw


def normalise_entries(raw: dict[str, Any], config: str) -> list[dict]:
    """Every entry of a decoded ReXrank manifest as a normalised row (manifest order)."""
    rows = [normalise_study(study_id, entry, config) for study_id, entry in raw.items()]
    _log_quirks(rows, raw, config)
    return rows


def normalise_study(study_id: str, entry: Any, config: str) -> dict:
    """One manifest entry -> one row with COMMON_FIELDS + the test set's extra fields."""
    if not isinstance(entry, dict):
        raise InputError(f"study {study_id!r}: expected an object of fields, got {type(entry).__name__}")
    for key in REQUIRED_KEYS:
        if key not in entry:
            raise InputError(f"study {study_id!r} has no {key!r} field (required: {', '.join(REQUIRED_KEYS)})")
    f = _Fields(study_id, entry)
    image_paths = [image_relpath(p) for p in f.str_list("image_path")]
    key = f.text("key_image_path")
    context = parse_context(f.text("context"))
    row = {
        "study_id": study_id,
        "image_paths": image_paths,
        "views": align_views(f.optional_list("frontal_lateral"), len(image_paths)),
        "key_image": image_relpath(key) if key is not None else None,
        "indication": context["indication"],
        "comparison": context["comparison"],
        "age": _age(f.scalar("age"), context["age"]),
        "sex": _sex(f.text("sex"), context["sex"]),
        "findings": f.text("section_findings", verbatim=True),
        "impression": f.text("section_impression", verbatim=True),
        "report": f.required_text("report"),
    }
    extras = {
        "subject_id": lambda: f.identifier("subject_id"),
        "site": lambda: f.text("site"),
        "clinical_history": lambda: f.text("section_clinical_history"),
        "ap_pa": lambda: _nullable_list(f.optional_list("ap_pa"), len(image_paths)),
        "race": lambda: f.text("race"),
        "ethnicity": lambda: f.text("ethnicity"),
    }
    for name in get_test_set(config).extra_fields:
        row[name] = extras[name]()
    return row


def is_missing(value: Any) -> bool:
    """NaN, None, the string "nan" (any case) and blank strings all mean 'missing'."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and (not value.strip() or value.strip().lower() == "nan")


class _Fields:
    """Typed access to one study's raw fields; wrong types raise InputError naming study and field."""

    def __init__(self, study_id: str, entry: dict):
        self.study_id, self.entry = study_id, entry

    def _error(self, key: str, expected: str) -> InputError:
        value = self.entry.get(key)
        return InputError(f"study {self.study_id!r}, field {key!r}: expected {expected}, "
                          f"got {type(value).__name__} {str(value)[:60]!r}. Fix the manifest entry.")

    def text(self, key: str, verbatim: bool = False) -> str | None:
        value = self.entry.get(key)
        if is_missing(value):
            return None
        if not isinstance(value, str):
            raise self._error(key, "a string, null or NaN")
        return value if verbatim else value.strip()

    def required_text(self, key: str) -> str:
        value = self.text(key, verbatim=True)
        if value is None:
            raise self._error(key, "a non-empty string")
        return value

    def scalar(self, key: str) -> str | float | None:
        value = self.entry.get(key)
        if is_missing(value):
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self._error(key, "a number or a string")
        return value.strip() if isinstance(value, str) else value

    def identifier(self, key: str) -> str | None:
        value = self.entry.get(key)
        if is_missing(value):
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self._error(key, "an integer or a string")
        return str(value).strip()

    def str_list(self, key: str) -> list[str]:
        value = self.entry.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self._error(key, "a list of non-empty path strings")
        return value

    def optional_list(self, key: str) -> list[str | None] | None:
        value = self.entry.get(key)
        if is_missing(value):
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) or is_missing(v) for v in value):
            raise self._error(key, "a list of strings (NaN/null allowed)")
        return [None if is_missing(v) else v.strip() for v in value]


def image_relpath(path: str) -> str:
    """Paths relative to the image root: MIMIC-CXR's leading '/' (and any './') is dropped."""
    path = path.strip().replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


# --------------------------------------------------------------------------- views

_LATERAL = re.compile(r"\blat(eral)?\b|\b(ll|rl|lld|rld)\b")
_FRONTAL = re.compile(r"\bfrontal\b|\b(ap|pa)\b|antero-?\s?posterior|postero-?\s?anterior")


def normalise_view(word: str | None) -> str:
    """Free view words -> 'frontal' | 'lateral' | 'unknown' (``Erect``, ``NaN``, obliques: unknown)."""
    if word is None:
        return "unknown"
    w = word.strip().lower().replace("_", " ")
    if _LATERAL.search(w):
        return "lateral"
    if _FRONTAL.search(w):
        return "frontal"
    return "unknown"


def align_views(words: list[str | None] | None, n_images: int) -> list[str]:
    """One normalised view per image. A list of another length cannot be aligned with the
    images (which entry is which image is unknowable), so every view is then 'unknown'."""
    if words is None or len(words) != n_images:
        return ["unknown"] * n_images
    return [normalise_view(w) for w in words]


def _nullable_list(values: list[str | None] | None, n_images: int) -> list[str | None] | None:
    if values is None:
        return None
    return values if len(values) == n_images else None


# --------------------------------------------------------------------------- context

def parse_context(context: str | None) -> dict[str, str | None]:
    """Split ReXrank's packed context into indication, comparison, age and sex.

    ``Age:50-60.Gender:M.Indication: ... Comparison: ...`` (every part optional, ``nan`` or
    ``None`` where missing; CheXpert Plus writes ``Age:77.0.``). Each key is taken at its first
    occurrence, in this order, so a later ``Comparison: ... 23: 56`` stays inside the comparison.
    """
    out: dict[str, str | None] = {"indication": None, "comparison": None, "age": None, "sex": None}
    if context is None:
        return out
    text = context.strip()
    text = re.sub(r"^<context>|</context>$", "", text).strip()
    spans = []  # (key, start of marker, start of value), first occurrence of each key in order
    position = 0
    for key in ("Age", "Gender", "Indication", "Comparison"):
        match = re.compile(rf"{key}\s*:").search(text, position)
        if match:
            spans.append((key, match.start(), match.end()))
            position = match.end()
    for i, (key, _, start) in enumerate(spans):
        end = spans[i + 1][1] if i + 1 < len(spans) else len(text)
        value = text[start:end].strip()
        if key in ("Age", "Gender"):
            value = value[:-1] if value.endswith(".") else value  # the '.' that separates parts
            value = None if _placeholder(value) else value
        else:
            value = None if is_missing(value) else value
        out[{"Age": "age", "Gender": "sex", "Indication": "indication", "Comparison": "comparison"}[key]] = value
    return out


def _placeholder(value: str) -> bool:
    return is_missing(value) or value.strip().lower() in {"none", "unknown", "u"}


def _age(field_value: str | float | None, context_age: str | None) -> str | None:
    """Age as text: the study's own ``age`` field when present (CheXpert Plus, 77.0 -> '77'),
    else the context's (MIMIC-CXR gives ranges such as '50-60')."""
    value: Any = field_value if field_value is not None else context_age
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value):
        value = float(value)
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    return None if _placeholder(value) else value


def _sex(field_value: str | None, context_sex: str | None) -> str | None:
    """'M' or 'F' (from CheXpert's ``sex`` field or the context's ``Gender``); unknown -> None."""
    value = field_value if field_value is not None else context_sex
    if value is None:
        return None
    v = value.strip().lower()
    if v in {"m", "male", "man"}:
        return "M"
    if v in {"f", "female", "woman"}:
        return "F"
    return None


# --------------------------------------------------------------------------- reporting

def _log_quirks(rows: list[dict], raw: dict, config: str) -> None:
    mismatched = [sid for sid, e in raw.items()
                  if isinstance(e.get("frontal_lateral"), list) and len(e["frontal_lateral"]) != len(e["image_path"])]
    if mismatched:
        from rexrank.errors import describe_ids

        logger.info("%s: frontal_lateral and image_path differ in length for %s; their views are 'unknown'",
                    config, describe_ids(mismatched))
    no_findings = sum(r["findings"] is None for r in rows)
    no_impression = sum(r["impression"] is None for r in rows)
    logger.debug("%s: %d studies without findings, %d without impression", config, no_findings, no_impression)
