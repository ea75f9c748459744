"""The ReXrank Challenge paper's analyses over one result (or several systems' results).

* normal vs abnormal studies: normal = CheXbert's "No Finding" label of the *reference*
  (from the chexbert metric's per-study labels, when it ran) or a label the user gives;
* by site, when the test set has a ``site`` field (ReXGradient);
* the error-rate view: the share of studies with no clinically significant error (GREEN's
  counts) and with no actionable error (FineRadScore severity ≤ 1, "not actionable");
* the metric–metric Pearson correlation across studies and, given several results, across systems.

Everything is computed from per-study values already in the result; nothing is re-scored.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Iterable, Mapping, Sequence

from rexrank.metrics.suite import stats
from rexrank.metrics.registry import METRICS
from rexrank.metrics.reporting.values import as_float, rank_key

logger = logging.getLogger(__name__)

NO_FINDING = "No Finding"
_TRUE_WORDS = {"1", "true", "yes", "normal", "y", "t"}
_FALSE_WORDS = {"0", "false", "no", "abnormal", "n", "f"}


def _metrics_of(result: Mapping[str, Any]) -> list[str]:
    return [m for m in result["metrics"] if m in result["per_study"]]


def _entry(values: Sequence[float], metric: str) -> dict[str, Any]:
    spec = METRICS.get(metric)
    iv = stats.metric_interval([as_float(v) for v in values], spec.reported_as if spec else "mean")
    return {"value": iv.value, "ci": [iv.low, iv.high], "n": iv.n,
            "reported_as": spec.reported_as if spec else "mean"}


def group_summary(result: Mapping[str, Any], groups: Mapping[str, Sequence[int]]) -> dict[str, dict[str, Any]]:
    """Per group (row indices), per metric: leaderboard value, CI and n."""
    per = result["per_study"]
    return {g: {m: _entry([per[m][i] for i in rows], m) for m in _metrics_of(result)}
            for g, rows in groups.items() if rows}


# ------------------------------------------------------------------ normal / abnormal


def parse_label(value: Any) -> bool | None:
    """A user's normal/abnormal label: bool, 0/1, or the words normal/abnormal, yes/no."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    word = str(value).strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    return None


def check_labels(labels: Mapping[str, Any], study_ids: Sequence[str], *, known: Sequence[str] | None = None,
                 what: str = "labels") -> dict[str, bool]:
    """User labels of the scored ``study_ids`` as ``{study_id: is_normal}``, refused (before any
    scoring) if a study id is not in the test set (``known``, default ``study_ids``) or a value is
    not one of the accepted words, naming them; scored studies without a label are left out of the
    split (and counted), labels of test-set studies outside the track are ignored."""
    from rexrank.errors import InputError, describe_ids, quote

    known = set(study_ids if known is None else known)
    scored = set(study_ids)
    unknown = [str(i) for i in labels if str(i) not in known]
    bad = {str(i): v for i, v in labels.items() if str(i) in known and parse_label(v) is None}
    problems = []
    if unknown:
        problems.append(f"{describe_ids(unknown)} are not in this test set and track (check the test set, split and track)")
    if bad:
        shown = ", ".join(f"{quote(i, 40)}: {quote(v, 20)}" for i, v in list(bad.items())[:5])
        problems.append(f"{len(bad)} value(s) are neither normal nor abnormal ({shown}{', ...' if len(bad) > 5 else ''}); "
                        f"write 1/0, true/false, yes/no or normal/abnormal")
    if problems:
        raise InputError(f"{what}: " + "; ".join(problems))
    out = {str(i): bool(parse_label(v)) for i, v in labels.items() if str(i) in scored}
    unlabelled = len(scored) - len(out)
    if unlabelled:
        logger.warning("%s: %d of %d studies have no label; they are left out of the normal/abnormal split",
                       what, unlabelled, len(scored))
    return out


def no_finding_of_reference(detail: Any) -> bool | None:
    """CheXbert's "No Finding" of the reference from one chexbert per-study record, if present.

    Accepts the shapes a labeler record takes: ``{"reference_labels": {"No Finding": 1, ...}}``
    (or ``ref_labels`` / ``labels_reference`` / ``reference``), values 1/0 or the words.
    """
    if not isinstance(detail, Mapping):
        return None
    if isinstance(detail.get("reference_no_finding"), bool):
        return detail["reference_no_finding"]
    for key in ("reference_labels", "ref_labels", "labels_reference", "reference", "references"):
        labels = detail.get(key)
        if isinstance(labels, Mapping) and NO_FINDING in labels:
            v = labels[NO_FINDING]
            if isinstance(v, str):
                return v.strip().lower() in {"1", "positive", "present", "1.0"}
            return v == 1
    return None


def normal_labels(result: Mapping[str, Any], studies: Sequence[Mapping[str, Any]] | None = None,
                  labels: Mapping[str, Any] | None = None) -> tuple[list[bool | None], str] | None:
    """Normal (True) / abnormal (False) per study, and where the labels came from."""
    ids = result["per_study"]["study_id"]
    if labels is not None:
        return [parse_label(labels.get(i)) for i in ids], "user labels"
    by_id = {s.get("study_id"): s for s in studies or []}
    for column in ("normal", "is_normal", "label"):
        if any(column in s for s in by_id.values()):
            return [parse_label(by_id.get(i, {}).get(column)) for i in ids], f"test-set column {column!r}"
    details = (result.get("details") or {}).get("chexbert")
    if details:
        found = [no_finding_of_reference(d) for d in details]
        if any(v is not None for v in found):
            return found, "CheXbert 'No Finding' of the reference"
    return None


def normal_abnormal(result: Mapping[str, Any], studies=None, labels=None) -> dict[str, Any] | None:
    found = normal_labels(result, studies, labels)
    if found is None:
        return None
    flags, source = found
    groups = {"normal": [i for i, f in enumerate(flags) if f is True],
              "abnormal": [i for i, f in enumerate(flags) if f is False]}
    return {"source": source, "n_unlabelled": sum(f is None for f in flags), "groups": group_summary(result, groups)}


# ------------------------------------------------------------------ sites


def sites_of(result: Mapping[str, Any], studies: Sequence[Mapping[str, Any]] | None) -> list[str | None] | None:
    """The site of each study (test sets with a ``site`` field, e.g. ReXGradient), else None."""
    if not studies:
        return None
    site_of = {s.get("study_id"): s.get("site") for s in studies}
    sites = [site_of.get(i) for i in result["per_study"]["study_id"]]
    if not any(s is not None for s in sites):
        return None
    return [None if s is None else str(s) for s in sites]


def by_site(result: Mapping[str, Any], studies: Sequence[Mapping[str, Any]] | None) -> dict[str, Any] | None:
    sites = sites_of(result, studies)
    if sites is None:
        return None
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(sites):
        if s is not None:
            groups.setdefault(str(s), []).append(i)
    return {"groups": group_summary(result, dict(sorted(groups.items())))}


# ------------------------------------------------------------------ error rates


def _significant_errors(result: Mapping[str, Any]) -> list[float] | None:
    """GREEN's per-study count of clinically significant errors, from its columns or details."""
    columns = (result.get("per_study_columns") or {}).get("green") or {}
    for name, values in columns.items():
        low = name.lower()
        if "significant" in low and "insignificant" not in low:
            return [as_float(v) for v in values]
    details = (result.get("details") or {}).get("green")
    if not details:
        return None
    out = []
    for d in details:
        errors = None
        if isinstance(d, Mapping):
            for key in ("significant_errors", "clinically_significant_errors", "significant_error_counts"):
                if key in d:
                    errors = d[key]
                    break
        if isinstance(errors, Mapping):
            errors = sum(float(v) for v in errors.values() if v is not None)
        elif isinstance(errors, (list, tuple)):
            errors = sum(float(v) for v in errors if v is not None)
        out.append(as_float(errors))
    return out if any(not math.isnan(v) for v in out) else None


def _no_actionable_error(result: Mapping[str, Any]) -> list[bool | None]:
    """Per study: no line worse than "not actionable". From the line severities when the details
    have them (right under both the max and the sum aggregation), else from the per-study max."""
    values = [as_float(v) for v in result["per_study"]["fineradscore"]]
    details = (result.get("details") or {}).get("fineradscore") or [None] * len(values)
    out: list[bool | None] = []
    for value, detail in zip(values, details):
        lines = detail.get("line_severities") if isinstance(detail, Mapping) else None
        if math.isnan(value):
            out.append(None)
        elif isinstance(lines, Mapping):
            out.append(all(float(v) <= 1 for v in lines.values()))
        else:
            out.append(value <= 1)
    return out


def _share(flags: Iterable[bool | None]) -> dict[str, Any]:
    flags = [f for f in flags if f is not None]
    n = len(flags)
    if not n:
        return {"share": math.nan, "ci": [math.nan, math.nan], "n": 0}
    iv = stats.mean_interval([1.0 if f else 0.0 for f in flags])
    return {"share": iv.value, "ci": [iv.low, iv.high], "n": n}


def error_rates(result: Mapping[str, Any]) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    sig = _significant_errors(result)
    if sig is not None:
        out["no_clinically_significant_error"] = {
            **_share(None if math.isnan(v) else v == 0 for v in sig), "source": "GREEN clinically significant errors"}
    if "fineradscore" in result["per_study"]:
        out["no_actionable_error"] = {
            **_share(_no_actionable_error(result)),
            "source": "FineRadScore: every line 'no error' or 'not actionable' (severity <= 1)"}
    return out or None


# ------------------------------------------------------------------ correlations


def study_correlation(result: Mapping[str, Any]) -> dict[str, Any] | None:
    metrics = _metrics_of(result)
    if len(metrics) < 2:
        return None
    names, matrix = stats.pearson_matrix({m: [as_float(v) for v in result["per_study"][m]] for m in metrics})
    return {"metrics": names, "pearson": matrix.tolist(), "over": "studies",
            "n": len(result["per_study"]["study_id"])}


def system_correlation(results: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Pearson r between metrics across systems (their leaderboard values); needs ≥3 systems."""
    if len(results) < 3:
        return None
    common = [m for m in results[0]["metrics"] if all(m in r["metrics"] for r in results)]
    if len(common) < 2:
        return None
    names, matrix = stats.pearson_matrix({m: [as_float(r["metrics"][m]["value"]) for r in results] for m in common})
    return {"metrics": names, "pearson": matrix.tolist(), "over": "systems", "n": len(results)}


def site_ranks(results: Sequence[Mapping[str, Any]], metric: str) -> dict[str, Any] | None:
    """Rank of each system at each site on one metric (1 = best), from their ``by_site`` analyses."""
    tables = [(r.get("system") or f"system {i + 1}", (r.get("analyses") or {}).get("by_site")) for i, r in enumerate(results)]
    tables = [(name, t) for name, t in tables if t]
    if len(tables) < 2:
        return None
    sites = sorted(set.intersection(*(set(t["groups"]) for _, t in tables)))
    higher = METRICS[metric].higher_is_better if metric in METRICS else True
    ranks: dict[str, dict[str, int]] = {name: {} for name, _ in tables}
    for site in sites:
        vals = [(name, as_float(t["groups"][site].get(metric, {}).get("value"))) for name, t in tables]
        ordered = sorted(vals, key=lambda x: rank_key(x[1], higher))
        for rank, (name, _) in enumerate(ordered, 1):
            ranks[name][site] = rank
    return {"metric": metric, "sites": sites, "systems": [n for n, _ in tables], "ranks": ranks}


def study_strata(result: Mapping[str, Any], studies: Sequence[Mapping[str, Any]] | None = None,
                 labels: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Per study, the groups the analyses use (normal/abnormal and its source, site), so that a
    reader of the result (the explorer) can filter by them without the test set or the labels file."""
    out: dict[str, Any] = {}
    found = normal_labels(result, studies, labels)
    if found is not None:
        out["normal"], out["normal_source"] = found
    sites = sites_of(result, studies)
    if sites is not None:
        out["site"] = sites
    return out


def analyse(result: Mapping[str, Any], studies: Sequence[Mapping[str, Any]] | None = None,
            labels: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """All single-system analyses that the result's metrics and test set allow."""
    out = {"normal_abnormal": normal_abnormal(result, studies, labels), "by_site": by_site(result, studies),
           "error_rates": error_rates(result), "correlation": study_correlation(result)}
    return {k: v for k, v in out.items() if v is not None}
