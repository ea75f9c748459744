"""The leaderboard's data: the published ReXrank tables plus the results evaluated here.

Pure pandas, no Gradio, so the tables are testable and reusable (``scripts/seed_leaderboard.py``).
The published tables are the official CSVs (``rexrank.assets`` ``published/result_<x>`` and
``published/findings_result_<x>``, fetched at their pinned commit); a store keeps a copy under
``published/`` so a Space serves them without reaching GitHub. Metric columns and their
order come from :mod:`rexrank.metrics.registry`.

Infinite and undefined values (:mod:`rexrank.metrics.reporting.values`) stay floats here: ``inf``
sorts first (a reciprocal metric whose mean is 0 is a perfect score), NaN last; the table's
``attrs["notes"]`` says why for each such cell. A result that cannot be read is logged and left
out: one bad row never takes the table down.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from typing import Any, Iterable

from rexrank.datasets.registry import CONFIGS, TEST_SETS, TRACK_NAMES, published_stem
from rexrank.metrics.registry import METRICS, REXRANK_EIGHT
from rexrank.metrics.reporting.values import NOTE, as_float, from_json, nonfinite_note
from rexrank.space.store import Store

logger = logging.getLogger(__name__)

OURS = "evaluated here"
OURS_CUSTOM = f"{OURS} (custom test set)"
PUBLISHED = "published"


def metric_columns() -> list[tuple[str, str]]:
    """(metric name, column header) for the ReXrank eight, in registry order."""
    return [(name, METRICS[name].display) for name in REXRANK_EIGHT]


def parse_published(text: str) -> list[dict[str, Any]]:
    """Rows of a published table; a row shorter than the header (UniRG-CXR lacks the last
    column) gets NaN for what it lacks."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    rows = []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        cells = cells + [""] * (len(header) - len(cells))
        raw = dict(zip(header, cells))
        row = {"model": raw.get("Model Name", ""), "institution": raw.get("Institution", ""),
               "date": raw.get("Date", ""), "url": raw.get("Model URL", ""), "source": PUBLISHED, "values": {},
               "ci": {}}
        for name in REXRANK_EIGHT:
            column = METRICS[name].leaderboard_column
            if column in raw:
                row["values"][name] = as_float(raw[column] if raw[column] != "" else None)
        rows.append(row)
    return rows


def seed_published(store: Store, *, overwrite: bool = False) -> list[str]:
    """Copy the eight published tables (verified by sha256 in ``rexrank.assets``) into the store."""
    from rexrank import assets

    wanted = {}
    for dataset in CONFIGS:
        for track in TRACK_NAMES:
            stem = published_stem(dataset, track)
            if stem is None:  # ReXrank publishes no table for this test set
                continue
            asset = assets.get_asset(f"published/{stem}")
            wanted[f"published/{stem}.csv"] = (assets.read_bytes(f"published/{stem}"), asset)

    def fn(snap):
        writes = {}
        for path, (data, asset) in wanted.items():
            if overwrite or snap.read(path) is None:
                writes[path] = data
        if writes:
            source = {path: {"repo": a.sources[0].repo, "commit": a.sources[0].commit, "path": a.sources[0].path,
                             "sha256": a.extracted_sha256} for path, (_, a) in wanted.items()}
            writes["published/SOURCES.json"] = json.dumps(source, indent=1, sort_keys=True).encode()
        return writes, sorted(p for p in writes if p.endswith(".csv"))

    return store.transact(fn, "seed the published ReXrank tables")


def published_rows(store: Store, dataset: str, track: str) -> list[dict[str, Any]]:
    stem = published_stem(dataset, track)
    if stem is None:
        return []
    data = store.snapshot().read(f"published/{stem}.csv")
    return parse_published(data.decode("utf-8")) if data is not None else []


def our_rows(results: Iterable[dict], dataset: str, track: str) -> list[dict[str, Any]]:
    """Rows for the results evaluated by this Space's workers on ``dataset`` / ``track``.

    A record that cannot be read (not an object, fields of the wrong type) is logged and skipped."""
    rows = []
    for k, record in enumerate(results):
        try:
            row = _our_row(record, dataset, track)
        except Exception as err:  # noqa: BLE001 - one bad result must not take the table down
            request = record.get("request") if isinstance(record, dict) else None
            request_id = request.get("id") if isinstance(request, dict) else None
            logger.warning("leaderboard %s/%s: result %s skipped, it cannot be read (%s: %s)", dataset, track,
                           request_id or f"#{k}", type(err).__name__, err)
            continue
        if row is not None:
            rows.append(row)
    return rows


def _our_row(record: dict, dataset: str, track: str) -> dict[str, Any] | None:
    request = record.get("request") or {}
    if request.get("dataset") != dataset or request.get("track") != track:
        return None
    record = from_json(record)
    system = record.get("system") or {}
    metrics = (record.get("results") or {}).get("metrics") or {}
    model, revision = system.get("model"), system.get("revision")
    values, cis, notes = {}, {}, {}
    for name, entry in metrics.items():
        values[name] = as_float(entry.get("value"))
        ci = entry.get("ci")
        if isinstance(ci, list) and len(ci) == 2:
            cis[name] = [as_float(x) for x in ci]
        note = entry.get(NOTE) or nonfinite_note(entry)
        if note:
            notes[name] = str(note)
    return {
        "model": str(system.get("name") or model or "?"),
        "institution": str(request.get("submitter") or ""),
        "date": str(request.get("submitted_at") or "")[:10],
        "url": f"https://huggingface.co/{model}" + (f"/tree/{revision}" if revision else "") if model else "",
        "source": OURS if _official_manifest(record) else OURS_CUSTOM,
        "request_id": request.get("id"),
        "values": values, "ci": cis, "notes": notes,
    }


def _official_manifest(record: dict) -> bool:
    """Whether a result was scored on the pinned official test set (not a local or subset manifest)."""
    from rexrank import assets

    dataset = (record.get("results") or {}).get("dataset") or {}
    hub_dataset = TEST_SETS[dataset["config"]].hub_dataset if dataset.get("config") in TEST_SETS else None
    if hub_dataset:  # ReXGradient-160K: official when read from its Hub dataset, not from a local copy
        source = str((((record.get("results") or {}).get("provenance") or {}).get("dataset") or {}).get("manifest", ""))
        return source.startswith(f"hub:{hub_dataset}@")
    try:
        official = assets.get_asset(f"manifest/{dataset.get('config')}/{dataset.get('split')}").extracted_sha256
    except Exception:  # a private test set (rexgradient): no pinned manifest to compare with
        config = dataset.get("config")
        return config in TEST_SETS and not TEST_SETS[config].pinned_manifest
    return dataset.get("manifest_sha256") == official


def _link(name: str, url: str) -> str:
    safe = name.replace("[", "(").replace("]", ")")
    return f"[{safe}]({url})" if url.startswith(("https://", "http://")) else safe


def _half_width(ci: list[float] | None) -> float | None:
    """The ± of a CI: rounded, ``inf`` for an unbounded one, None where there is none."""
    if not ci:
        return None
    low, high = ci
    if math.isnan(low) or math.isnan(high):
        return None
    half = (high - low) / 2
    return round(half, 4) if math.isfinite(half) else math.inf


def table(rows: list[dict[str, Any]]):
    """The leaderboard DataFrame: model (linked), source (published or evaluated here),
    institution, date, each metric (and its ±CI half-width where we computed one). Sorted by
    1/RadCliQ-v1: ∞ first, NaN last. ``frame.attrs["notes"]`` maps (row, column) to why a cell is ∞ or —."""
    import pandas as pd

    columns = metric_columns()
    with_ci = [name for name, _ in columns if any(r["ci"].get(name) for r in rows)]
    records = []
    for row in rows:
        record: dict[str, Any] = {"Model": _link(row["model"], row.get("url", "")), "Source": row["source"],
                                  "Institution": row["institution"], "Date": row["date"]}
        notes = {}
        for name, header in columns:
            value = as_float(row["values"].get(name))
            record[header] = round(value, 4) if math.isfinite(value) else (value if math.isinf(value) else None)
            note = row.get("notes", {}).get(name)
            if note:
                notes[header] = note
            if name in with_ci:
                record[f"{header} ±"] = _half_width(row["ci"].get(name))
                if note and record[f"{header} ±"] in (None, math.inf):
                    notes[f"{header} ±"] = note
        record["__notes"] = notes
        records.append(record)
    order = ["Model", "Source", "Institution", "Date"]
    for name, header in columns:
        order.append(header)
        if name in with_ci:
            order.append(f"{header} ±")
    frame = pd.DataFrame.from_records(records, columns=order + ["__notes"])
    sort_key = METRICS["radcliq"].display
    if sort_key in frame:
        frame = frame.sort_values(sort_key, ascending=False, na_position="last", kind="stable")
    frame = frame.reset_index(drop=True)
    notes = {(i, column): text for i, cell in enumerate(frame.pop("__notes")) for column, text in cell.items()}
    frame.attrs["notes"] = notes
    return frame


def leaderboard(store: Store, dataset: str, track: str, results: list[dict] | None = None):
    rows = published_rows(store, dataset, track) + our_rows(store.results() if results is None else results,
                                                           dataset, track)
    return table(rows)


def top_systems(frame, metric_header: str, k: int = 10):
    """The ``k`` best systems on one metric, for the bar plot."""
    import pandas as pd

    plain = frame["Model"].str.replace(r"^\[(.*)\]\(.*\)$", r"\1", regex=True)
    ours = frame["Source"].str.startswith(OURS)
    plain = plain.where(~ours, plain + " ★")
    data = pd.DataFrame({"system": plain, "value": frame[metric_header], "source": frame["Source"]})
    # a bar cannot show ∞ or —: those systems are in the table (with the reason), not in the plot
    data = data[data["value"].map(lambda v: isinstance(v, (int, float)) and math.isfinite(v))]
    return data.sort_values("value", ascending=False).head(k).reset_index(drop=True)
