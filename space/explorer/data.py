"""What the explorer shows, as plain functions of results (no Gradio).

A :class:`System` is one result held in columns (numpy arrays of per-study values, the texts,
the strata) so that a page of 10,000 studies is sorted, filtered and cut in milliseconds; the
details of one study are read only when that study is opened. An :class:`Explorer` holds the
systems it may show and loads each on first use (a Space has many; each result can be large).
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from rexrank.errors import InputError
from rexrank.metrics.registry import METRICS
from rexrank.metrics.reporting.values import as_float

ALL, NORMAL, ABNORMAL = "all", "normal", "abnormal"
WORST, BEST = "worst first", "best first"
PREVIEW = 90  # characters of the prediction shown in the table


def column_name(metric: str) -> str:
    """The per-study column header: per-study values of reciprocal metrics are the raw ones (lower is better)."""
    spec = METRICS.get(metric)
    if spec is None:
        return metric
    if spec.reported_as == "reciprocal_mean":
        return spec.display.removeprefix("1/") + " ↓"
    return spec.display


def lower_is_better(metric: str) -> bool:
    spec = METRICS.get(metric)
    return bool(spec) and not spec.per_study_higher_is_better


@dataclass
class System:
    """One result, column-wise."""

    name: str
    result: Mapping[str, Any]
    ids: list[str]
    index: dict[str, int]
    metrics: list[str]
    values: dict[str, Any]  # metric -> float64 array (NaN where missing)
    predictions: list[str] | None
    references: list[str] | None
    normal: list[bool | None] | None
    normal_source: str | None
    sites: list[str | None] | None
    _search: list[str] | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[str, str, str]:
        d = self.result.get("dataset") or {}
        return (d.get("config", "?"), d.get("split", "?"), d.get("track", "?"))

    @property
    def label(self) -> str:
        config, split, track = self.key
        return f"{self.name} ({config} {split}, {track})"

    def search_text(self) -> list[str]:
        if self._search is None:
            preds = self.predictions or [""] * len(self.ids)
            refs = self.references or [""] * len(self.ids)
            self._search = [f"{i}\n{p}\n{r}".lower() for i, p, r in zip(self.ids, preds, refs)]
        return self._search

    def row(self, study_id: str) -> int:
        try:
            return self.index[study_id]
        except KeyError:
            raise InputError(f"study {study_id!r} is not in {self.name}'s result ({len(self.ids)} studies)") from None

    def details(self, metric: str, row: int) -> Mapping[str, Any] | None:
        records = (self.result.get("details") or {}).get(metric)
        if not records or row >= len(records) or not isinstance(records[row], Mapping):
            return None
        return records[row]


def load_system(result: Mapping[str, Any], name: str | None = None) -> System:
    """Column-wise view of a ``results.json`` content (or a Space result record holding one)."""
    import numpy as np

    if "results" in result and "per_study" not in result:  # the Space's record: {"request", "results"}
        result = result["results"]
    if "per_study" not in result or "study_id" not in result["per_study"]:
        raise InputError("not a rexrank result: no per_study.study_id (pass a results.json written by `rexrank score`)")
    per = result["per_study"]
    ids = [str(i) for i in per["study_id"]]
    # the registry's order (a store may have sorted the keys), then any others
    order = {name: k for k, name in enumerate(METRICS)}
    metrics = sorted((m for m in per if m != "study_id"), key=lambda m: (order.get(m, len(order)), m))
    values = {m: np.array([as_float(v) for v in per[m]], dtype=np.float64) for m in metrics}
    texts = result.get("texts") or {}
    strata = result.get("strata") or {}
    normal, source = strata.get("normal"), strata.get("normal_source")
    if normal is None:
        from rexrank.metrics.suite.analysis import normal_labels

        found = normal_labels(result)
        normal, source = found if found else (None, None)
    return System(name=name or str(result.get("system") or "system"), result=result, ids=ids,
                  index={s: i for i, s in enumerate(ids)}, metrics=metrics, values=values,
                  predictions=texts.get("prediction"), references=texts.get("reference"),
                  normal=normal, normal_source=source, sites=strata.get("site"))


def load_system_file(path: str | os.PathLike, name: str | None = None) -> System:
    from rexrank.metrics.reporting.results_file import load_results

    p = Path(path)
    result = load_results(p)
    return load_system(result, name or str(result.get("system") or (p if p.is_dir() else p.parent).name))


# ------------------------------------------------------------------ the study table


@dataclass
class Page:
    columns: list[str]
    rows: list[list[Any]]
    total: int  # studies that pass the filters
    page: int
    pages: int
    study_ids: list[str]  # of the rows, in order

    @property
    def caption(self) -> str:
        return f"page {self.page} of {self.pages} · {self.total} studies"


def _group(system: System, row: int) -> str:
    if system.normal is None or system.normal[row] is None:
        return "–"
    return NORMAL if system.normal[row] else ABNORMAL


def filter_rows(system: System, *, group: str = ALL, site: str | None = None, metric: str | None = None,
                low: float | None = None, high: float | None = None, search: str = "") -> Any:
    """Row indices (numpy) passing the filters: normal/abnormal, site, a metric's range, a search text."""
    import numpy as np

    mask = np.ones(len(system.ids), dtype=bool)
    if group in (NORMAL, ABNORMAL):
        if system.normal is None:
            raise InputError(f"{system.name}'s result has no normal/abnormal labels (score it with chexbert, or --labels)")
        want = group == NORMAL
        mask &= np.array([v is want for v in system.normal], dtype=bool)
    if site not in (None, "", ALL):
        if system.sites is None:
            raise InputError(f"{system.name}'s test set has no sites")
        mask &= np.array([s == site for s in system.sites], dtype=bool)
    if metric and (low is not None or high is not None):
        column = system.values[metric]
        with np.errstate(invalid="ignore"):
            if low is not None and not math.isnan(low):
                mask &= column >= low
            if high is not None and not math.isnan(high):
                mask &= column <= high
    needle = (search or "").strip().lower()
    if needle:
        mask &= np.fromiter((needle in t for t in system.search_text()), dtype=bool, count=len(system.ids))
    return np.flatnonzero(mask)


def order_rows(system: System, rows: Any, metric: str | None, order: str = WORST) -> Any:
    """``rows`` sorted by ``metric``, worst (or best) first whichever way the metric points; NaN last."""
    import numpy as np

    if not metric:
        return rows
    column = system.values[metric][rows]
    worst_is_low = not lower_is_better(metric)
    ascending = worst_is_low == (order == WORST)
    key = np.where(np.isnan(column), np.inf, column if ascending else -column)
    return rows[np.argsort(key, kind="stable")]


def page(system: System, *, sort_metric: str | None = None, order: str = WORST, group: str = ALL,
         site: str | None = None, filter_metric: str | None = None, low: float | None = None,
         high: float | None = None, search: str = "", page: int = 1, page_size: int = 25) -> Page:
    """One page of the study table: sorted and filtered over all studies, only ``page_size`` rows built."""
    if sort_metric and sort_metric not in system.values:
        raise InputError(f"{system.name} has no metric {sort_metric!r}; it has {', '.join(system.metrics)}")
    rows = order_rows(system, filter_rows(system, group=group, site=site, metric=filter_metric, low=low,
                                          high=high, search=search), sort_metric, order)
    size = max(1, int(page_size))
    pages = max(1, math.ceil(len(rows) / size))
    number = min(max(1, int(page or 1)), pages)
    chosen = rows[(number - 1) * size: number * size]
    columns = ["#", "Study", "Group"] + (["Site"] if system.sites is not None else []) + \
        [column_name(m) for m in system.metrics] + ["Prediction"]
    out = []
    for r in chosen.tolist():
        pred = (system.predictions or [""] * len(system.ids))[r]
        preview = pred if len(pred) <= PREVIEW else pred[:PREVIEW - 1] + "…"
        out.append([r + 1, system.ids[r], _group(system, r)] + ([system.sites[r] or "–"] if system.sites is not None else [])
                   + [_round(system.values[m][r]) for m in system.metrics] + [preview if pred.strip() else "(empty)"])
    return Page(columns, out, len(rows), number, pages, [system.ids[r] for r in chosen.tolist()])


def _round(v: float) -> float | None:
    return None if math.isnan(v) else round(float(v), 4)


def sites(system: System) -> list[str]:
    return sorted({s for s in system.sites or [] if s is not None})


# ------------------------------------------------------------------ one study


def word_diff(reference: str, prediction: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Word-level diff (case-insensitive, punctuation its own token): each side as (token, tag),
    tag ``same`` or ``missing`` (reference only) / ``added`` (prediction only)."""
    import difflib
    import re

    token = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*|[^\w\s]|_+")
    a, b = token.findall(reference), token.findall(prediction)
    matcher = difflib.SequenceMatcher(None, [t.lower() for t in a], [t.lower() for t in b], autojunk=False)
    left: list[tuple[str, str]] = []
    right: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        left += [(t, "same" if op == "equal" else "missing") for t in a[i1:i2]]
        right += [(t, "same" if op == "equal" else "added") for t in b[j1:j2]]
    return left, right


CLASS_WORDS = {1: "positive", 0: "negative", -1: "uncertain", None: "blank"}


def chexbert_rows(detail: Mapping[str, Any] | None) -> list[dict[str, Any]] | None:
    """The 14 CheXbert conditions of both reports; ``agree`` on the 0/1 labels CheXbert F1 uses."""
    if not detail or "reference_labels" not in detail:
        return None
    from rexrank.metrics.scorers.chexbert import CONDITIONS

    ref_classes = detail.get("reference_classes") or [None] * len(CONDITIONS)
    pred_classes = detail.get("prediction_classes") or [None] * len(CONDITIONS)
    rows = []
    for k, name in enumerate(CONDITIONS):
        ref, pred = detail["reference_labels"].get(name), detail["prediction_labels"].get(name)
        rows.append({"condition": name, "reference": ref, "prediction": pred, "agree": ref == pred,
                     "reference_class": CLASS_WORDS.get(ref_classes[k], str(ref_classes[k])),
                     "prediction_class": CLASS_WORDS.get(pred_classes[k], str(pred_classes[k]))})
    return rows


def _entity_key(e: Sequence[Any]) -> tuple:
    return tuple(tuple(x) if isinstance(x, list) else x for x in e)


def graph_view(detail: Mapping[str, Any] | None) -> dict[str, list[dict[str, Any]]] | None:
    """RadGraph entities and relations of both reports, each marked matched (in the other's set) or not."""
    if not detail or "reference_entities" not in detail:
        return None
    out = {}
    for kind in ("entities", "relations"):
        ref = [_entity_key(e) for e in detail.get(f"reference_{kind}") or []]
        pred = [_entity_key(e) for e in detail.get(f"prediction_{kind}") or []]
        ref_set, pred_set = set(ref), set(pred)
        out[f"reference_{kind}"] = [{"item": e, "matched": e in pred_set} for e in ref]
        out[f"prediction_{kind}"] = [{"item": e, "matched": e in ref_set} for e in pred]
    return out


def green_view(detail: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not detail or "clinically_significant_errors" not in detail:
        return None
    from rexrank.metrics.scorers.green.parse import SUB_CATEGORIES

    letters = list(detail["clinically_significant_errors"])
    names = dict(zip("abcdef", SUB_CATEGORIES))
    return {"score": detail.get("green"), "matched": detail.get("matched_findings"),
            "explanation": detail.get("explanation") or "",
            "errors": [{"category": names.get(k, k), "significant": detail["clinically_significant_errors"].get(k),
                        "insignificant": (detail.get("clinically_insignificant_errors") or {}).get(k)} for k in letters],
            "truncated_prompt": bool(detail.get("truncated_prompt"))}


def fineradscore_view(detail: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Each numbered line of the candidate with the judge's severity, correction and comment."""
    if not detail or "numbered_candidate" not in detail:
        return None
    import re

    parts = re.split(r"\[(\d+)\] ", detail.get("numbered_candidate") or "")
    lines = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    reply = detail.get("reply") or {}
    severities = detail.get("line_severities") or {}
    rows = []
    for key in list(lines) + [k for k in reply if k not in lines]:
        entry = reply.get(key) or {}
        rows.append({"line": key, "text": lines.get(key, "(missing from the candidate)" if key == "None" else ""),
                     "severity": severities.get(key, 0 if entry else None),
                     "severity_word": entry.get("clinical severity", "no error" if not entry else ""),
                     "correction": entry.get("corrections", ""), "comment": entry.get("comments", "")})
    return {"lines": rows, "no_error": detail.get("no_error"), "error": detail.get("error")}


def study(system: System, study_id: str) -> dict[str, Any]:
    """Everything the explorer shows of one study (its details only are read here)."""
    row = system.row(study_id)
    reference = (system.references or [None] * len(system.ids))[row]
    prediction = (system.predictions or [None] * len(system.ids))[row]
    diff = word_diff(reference, prediction) if reference is not None and prediction is not None else None
    return {
        "system": system.name, "study_id": study_id, "row": row, "group": _group(system, row),
        "site": system.sites[row] if system.sites is not None else None,
        "values": [(column_name(m), _round(system.values[m][row]), lower_is_better(m)) for m in system.metrics],
        "reference": reference, "prediction": prediction, "diff": diff,
        "chexbert": chexbert_rows(system.details("chexbert", row)),
        "radgraph": graph_view(system.details("radgraph", row)),
        "green": green_view(system.details("green", row)),
        "fineradscore": fineradscore_view(system.details("fineradscore", row)),
    }


# ------------------------------------------------------------------ several systems


def same_study(systems: Sequence[System], study_id: str) -> tuple[list[str], list[list[Any]]]:
    """The study in every system that scored it: one row per system, the metrics they share."""
    having = [s for s in systems if study_id in s.index]
    shared = [m for m in having[0].metrics if all(m in s.values for s in having)] if having else []
    columns = ["System"] + [column_name(m) for m in shared] + ["Prediction"]
    rows = []
    for s in having:
        r = s.index[study_id]
        pred = (s.predictions or [""] * len(s.ids))[r]
        rows.append([s.name] + [_round(s.values[m][r]) for m in shared] + [pred if pred.strip() else "(empty)"])
    return columns, rows


def disagreements(a: System, b: System, metric: str, limit: int = 25) -> tuple[list[str], list[list[Any]], list[str]]:
    """Studies where two systems differ most on ``metric`` (largest |a − b| first, over the studies both scored)."""
    import numpy as np

    for s in (a, b):
        if metric not in s.values:
            raise InputError(f"{s.name} has no metric {metric!r}")
    common = [i for i in a.ids if i in b.index]
    ra = np.array([a.index[i] for i in common], dtype=np.int64)
    rb = np.array([b.index[i] for i in common], dtype=np.int64)
    va, vb = a.values[metric][ra], b.values[metric][rb]
    gap = np.abs(va - vb)
    top = np.argsort(np.where(np.isnan(gap), -np.inf, -gap), kind="stable")[:limit]
    name = column_name(metric)
    columns = ["Study", f"{a.name}: {name}", f"{b.name}: {name}", "difference", f"{a.name}: prediction",
               f"{b.name}: prediction"]
    rows, ids = [], []
    for k in top.tolist():
        pa = (a.predictions or [""] * len(a.ids))[ra[k]]
        pb = (b.predictions or [""] * len(b.ids))[rb[k]]
        rows.append([common[k], _round(va[k]), _round(vb[k]), _round(va[k] - vb[k]), pa[:PREVIEW], pb[:PREVIEW]])
        ids.append(common[k])
    return columns, rows, ids


# ------------------------------------------------------------------ images


def image_files(system: System, study_id: str, data_dir: str | os.PathLike | None) -> list[tuple[str, str]]:
    """(path, caption) of the study's images under ``data_dir`` (the manifest's relative paths), if there."""
    if not data_dir:
        return []
    study_row = _manifest_studies(system).get(study_id)
    if not study_row:
        return []
    root = Path(data_dir)
    out = []
    for rel, view in zip(study_row.get("image_paths") or [], study_row.get("views") or []):
        path = root / rel
        if path.is_file():
            out.append((str(path), f"{view} · {rel}"))
    return out


_MANIFESTS: dict[tuple[str, str, str], dict[str, Mapping[str, Any]]] = {}


def _manifest_studies(system: System) -> dict[str, Mapping[str, Any]]:
    """The test-set rows of the system's result (the manifest it recorded, else the official one), once."""
    from rexrank.datasets.manifests import load_manifest

    config, split, _ = system.key
    recorded = ((system.result.get("provenance") or {}).get("dataset") or {}).get("manifest") or ""
    manifest = recorded if recorded and os.path.isfile(recorded) else ""
    key = (config, split, manifest)
    if key not in _MANIFESTS:
        _MANIFESTS[key] = {s["study_id"]: s for s in load_manifest(config, split, manifest or None).studies}
    return _MANIFESTS[key]


# ------------------------------------------------------------------ the systems on offer


@dataclass(frozen=True)
class Source:
    """A system the explorer can show: its name, its test set key (known before loading) and how to load it."""

    name: str
    key: tuple[str, str, str] | None
    load: Callable[[], System]


class Explorer:
    """The systems on offer (a fixed list, or a callable re-read on refresh) and a small cache of loaded ones."""

    def __init__(self, sources: Sequence[Source] | Callable[[], Sequence[Source]], *,
                 data_dir: str | os.PathLike | None = None, cache_size: int = 6):
        self._sources = sources
        self.data_dir = data_dir
        self._cache: OrderedDict[str, System] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()

    def sources(self) -> list[Source]:
        return list(self._sources() if callable(self._sources) else self._sources)

    def names(self) -> list[str]:
        return [s.name for s in self.sources()]

    def system(self, name: str) -> System:
        with self._lock:
            if name in self._cache:
                self._cache.move_to_end(name)
                return self._cache[name]
        source = next((s for s in self.sources() if s.name == name), None)
        if source is None:
            raise InputError(f"no system {name!r} here; there are: {', '.join(self.names()) or 'none'}")
        loaded = source.load()
        with self._lock:
            self._cache[name] = loaded
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return loaded

    def comparable(self, name: str) -> list[str]:
        """Systems scored on the same test set, split and track as ``name`` (itself first)."""
        sources = self.sources()
        key = next((s.key for s in sources if s.name == name), None)
        if key is None:
            key = self.system(name).key
        return [name] + [s.name for s in sources if s.name != name and (s.key or self.system(s.name).key) == key]


def file_sources(paths: Sequence[str | os.PathLike]) -> list[Source]:
    """Sources for results folders given on the command line, loaded now (their names must be told apart)."""
    systems = [load_system_file(p) for p in paths]
    seen: dict[str, int] = {}
    out = []
    for path, system in zip(paths, systems):
        count = seen[system.name] = seen.get(system.name, 0) + 1
        if count > 1 or sum(s.name == system.name for s in systems) > 1:
            system.name = f"{system.name} [{Path(path)}]"
        out.append(Source(system.name, system.key, (lambda s=system: s)))
    return out
