"""What the Space's tabs show, as plain functions of the store (tested without a browser)."""

from __future__ import annotations

import html
import logging
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from rexrank.citation import REXRANK_CITATION
from rexrank.errors import RexrankError
from rexrank.metrics.registry import METRICS, REXRANK_EIGHT
from rexrank.space import leaderboard as lb
from rexrank.metrics.reporting.values import format_number
from rexrank.redaction import public_message
from rexrank.space.store import Store
from rexrank.space.submit import SubmitPolicy, check_rate_limit, enqueue, file_requests, model_requests, read_upload

logger = logging.getLogger(__name__)

QUEUE_COLUMNS = ["Request", "Submitted", "System", "Test set", "Track", "State", "Reason", "Attempts", "Review"]


@dataclass
class AppSettings:
    on_space: bool = field(default_factory=lambda: bool(os.environ.get("SPACE_ID")))
    policy: SubmitPolicy = field(default_factory=SubmitPolicy)
    metrics: list[str] | None = None  # what the worker computes (for the About tab)
    refresh_seconds: float = 5.0


# JSON (and so the browser) has no infinity: an infinite cell travels as the largest double, so
# sorting by the column still puts it first, and is displayed as ∞ (the reason on hover).
TRANSPORT_INF = sys.float_info.max


def leaderboard_view(store: Store, dataset: str, track: str, metric: str):
    """The table of one test set × track (for ``gr.Dataframe``), and the top systems on ``metric`` for the plot."""
    frame = lb.leaderboard(store, dataset, track)
    header = METRICS[metric].display if metric in METRICS else metric
    top = lb.top_systems(frame, header) if header in frame else None
    return display_table(frame), top


def _cell(value: Any, note: str | None) -> tuple[Any, str]:
    """(raw value for sorting and the API, what the cell shows)."""
    if isinstance(value, float):
        if math.isinf(value):
            shown = format_number(value)
            raw = TRANSPORT_INF if value > 0 else -TRANSPORT_INF
        elif math.isnan(value):
            shown, raw = format_number(value), None
        else:
            shown, raw = repr(value), value
        if note:
            shown = f'<span title="{html.escape(note, quote=True)}">{shown}</span>'
        return raw, shown
    if value is None:
        return None, format_number(None)
    return value, str(value)


def display_table(frame) -> dict[str, Any]:
    """The leaderboard frame as ``gr.Dataframe`` data with display values: ∞/—, a tooltip saying why."""
    notes = frame.attrs.get("notes", {})
    headers = [str(c) for c in frame.columns]
    data, shown = [], []
    for i, row in enumerate(frame.itertuples(index=False)):
        cells = [_cell(v, notes.get((i, h))) for v, h in zip(row, headers)]
        data.append([raw for raw, _ in cells])
        shown.append([text for _, text in cells])
    return {"headers": headers, "data": data,
            "metadata": {"display_value": shown, "styling": [[""] * len(headers) for _ in data]}}


def queue_view(store: Store):
    import pandas as pd

    rows = [[r.id, r.submitted_at.replace("T", " ").rstrip("Z"), public_message(r.name, 120), r.dataset, r.track,
             r.state, public_message(r.reason) if r.reason else "", r.attempts, review_state(r)]
            for r in reversed(store.requests())]
    return pd.DataFrame(rows, columns=QUEUE_COLUMNS)


def review_state(request) -> str:
    """For a submission that runs code: the commit and who approved (or refused) it."""
    if request.kind != "script":
        return ""
    commit = (request.revision or "")[:12]
    if request.approved_by:
        return f"approved by {request.approved_by} at {request.approved_at} (commit {commit})"
    if request.refused_by:
        return f"refused by {request.refused_by} (commit {commit})"
    return f"awaiting a maintainer's review of commit {commit}"


def submit_script_view(store: Store, settings: AppSettings, repo: str, repo_type: str, revision: str, name: str,
                       datasets: list[str], track: str, submitter: str | None) -> str:
    """Queue a Hub repo holding a ReXrank inference script for review; returns the message (never raises)."""
    from rexrank.space.submit import script_requests

    try:
        if settings.on_space and submitter is None:
            return "Please log in with your Hugging Face account to submit."
        requests = script_requests(repo, revision, repo_type, datasets, track, submitter=submitter,
                                   metrics=settings.metrics, display_name=name)
        check_rate_limit(store, submitter, settings.policy, wanted=len(requests))
        return "\n\n".join(enqueue(store, requests))
    except RexrankError as err:
        return f"Not submitted: {public_message(str(err))}"
    except Exception as err:  # noqa: BLE001 - the user gets a message, the log the traceback
        logger.exception("script submission failed")
        return f"Not submitted: internal error ({type(err).__name__}); please report it."


def review_view(store: Store, settings: AppSettings, request_id: str, commit: str, reason: str, action: str,
                user: str | None) -> str:
    """A maintainer approves or refuses a submission awaiting review; returns the message (never raises)."""
    from rexrank.space import review

    request_id, commit = (request_id or "").strip(), (commit or "").strip() or None
    try:
        if not settings.on_space:
            return ("Reviewing in the browser needs the Hub login of a Space. Here, use "
                    f"`rexrank queue approve {request_id or 'ID'}` (your token in HF_TOKEN).")
        if action == "approve":
            done = review.approve(store, request_id, user, commit=commit)
            return (f"Approved {done.id}: {done.model} at commit {done.approved_commit}, by {done.approved_by} at "
                    f"{done.approved_at}. A worker will run it.")
        done = review.refuse(store, request_id, user, reason)
        return f"Refused {done.id}: {public_message(done.reason or '')}"
    except RexrankError as err:
        return f"Not done: {public_message(str(err))}"
    except Exception as err:  # noqa: BLE001
        logger.exception("review failed")
        return f"Not done: internal error ({type(err).__name__}); please report it."


def submit_view(store: Store, settings: AppSettings, model: str, revision: str, upload: str | None,
                name: str, datasets: list[str], track: str, submitter: str | None) -> str:
    """Validate and enqueue; returns the message shown under the button (never raises)."""
    try:
        if settings.on_space and submitter is None:
            return "Please log in with your Hugging Face account to submit."
        model = (model or "").strip()
        if bool(model) == bool(upload):
            return "Give either a Hub model id or a predictions file (not both)."
        if upload:
            data = read_upload(upload, settings.policy)
            requests, artifacts = file_requests(data, os.path.basename(upload), datasets, track, display_name=name,
                                                policy=settings.policy, submitter=submitter, metrics=settings.metrics)
        else:
            try:
                requests = model_requests(model, revision, datasets, track, submitter=submitter,
                                          metrics=settings.metrics)
            except ImportError:
                return "Model submissions are not available in this installation; upload a predictions file."
            artifacts = None
        check_rate_limit(store, submitter, settings.policy, wanted=len(requests))
        return "\n\n".join(enqueue(store, requests, artifacts))
    except RexrankError as err:
        logger.info("submission refused: %s", err)
        return f"Not submitted: {public_message(str(err))}"
    except Exception:  # noqa: BLE001 - the user gets a message, the log the traceback
        logger.exception("submission failed")
        return "Not submitted: an internal error occurred (logged for the operators); please try again or report it."


def about_markdown(settings: AppSettings, store: Store) -> str:
    lines = ["## Metrics", "",
             "| metric | column | reported as | official implementation | models (repo @ revision) | needs |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name in REXRANK_EIGHT:
        spec = METRICS[name]
        models = ", ".join(f"`{m.repo_id}@{m.revision}`" for m in spec.models) or "none"
        needs = ", ".join(x for x, on in (("GPU", spec.needs_gpu), ("LLM API", spec.needs_api)) if on) or "CPU"
        reported = "1 / mean" if spec.reported_as == "reciprocal_mean" else "mean"
        lines.append(f"| `{name}` | {spec.display} | {reported} | {spec.official} | {models} | {needs} |")
    computed = ", ".join(settings.metrics) if settings.metrics else "the default set (`rexrank metrics`)"
    lines += ["", f"This Space's worker computes: {computed}. Every value comes with its 95% confidence "
              "interval (mean ± 1.96·SD/√n) and n; results keep per-study values and full provenance "
              "(model revisions, library versions, manifest sha256).", "",
              "## Reproduce locally", "", "```bash",
              "pip install 'rexrank[space]'   # or: bash scripts/setup.sh",
              "rexrank generate --model ORG/MODEL --dataset iu_xray --out preds.json",
              "rexrank score --dataset iu_xray --track findings --predictions preds.json --out results/",
              "rexrank serve                  # this Space, on a local store", "```", "",
              "Predictions files: the ReXrank JSON (the test-set JSON with a `model_prediction` per study), "
              "a `{study_id: report}` JSON, JSON lines or CSV with `study_id` and `report` columns.", "",
              "## Citation", "", "```bibtex", REXRANK_CITATION.strip(), "```", "",
              f"Published tables: github rajpurkarlab/ReXrank @ b7efa9f (gh-pages). Results and queue: {store.public_location}."]
    return "\n".join(lines)
