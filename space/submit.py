"""Turning what a user submits into queue requests, with every check done at once.

A submission is a Hub model id (optional revision), a Hub repo holding a ReXrank inference
script (queued for a maintainer's review, pinned to a commit), or an uploaded predictions file,
for one or more test sets and one track. A repo id is validated as the Hub validates it
(:mod:`rexrank.hub_ids`) and is never resolved as a path on the server. Everything that can be known before evaluation is checked
here, so the user gets a clear message immediately rather than a FAILED request later:
an unknown repo or a refused adapter (read from the model's config only, before any weight),
a malformed predictions file (naming the studies), a duplicate, a rate limit.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from rexrank.errors import InputError, RexrankError, quote
from rexrank.digests import sha256_json
from rexrank.hub_ids import parse_hub_ref
from rexrank.space.store import AWAITING_REVIEW, DuplicateSubmissionError, Request, Store, new_request_id

DEFAULT_MAX_UPLOAD_MB = 20.0


class RateLimitError(RexrankError):
    """The user submitted too many requests recently."""


@dataclass
class SubmitPolicy:
    """Limits of a deployment. ``rate_limit`` submissions per ``rate_window_s`` per user apply on the Hub."""

    max_upload_bytes: int = int(float(os.environ.get("REXRANK_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)) * 2**20)
    rate_limit: int | None = None
    rate_window_s: float = 24 * 3600.0
    manifests: dict[str, str] = field(default_factory=dict)


def _check_choice(datasets: Sequence[str], track: str) -> list[str]:
    from rexrank.datasets.registry import CONFIGS, get_track

    chosen = [d for d in datasets if d]
    if not chosen:
        raise InputError("choose at least one test set")
    unknown = [d for d in chosen if d not in CONFIGS]
    if unknown:
        raise InputError(f"unknown test set(s) {', '.join(quote(d, 40) for d in unknown[:5])}; "
                         f"choose from {', '.join(CONFIGS)}")
    get_track(track)
    return chosen


def check_rate_limit(store: Store, submitter: str | None, policy: SubmitPolicy, wanted: int = 1) -> None:
    if policy.rate_limit is None or submitter is None:
        return
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - policy.rate_window_s))
    recent = [r for r in store.requests() if r.submitter == submitter and r.submitted_at >= since]
    if len(recent) + wanted > policy.rate_limit:
        hours = policy.rate_window_s / 3600
        raise RateLimitError(f"{submitter} has submitted {len(recent)} requests in the last {hours:g} hours; "
                             f"the limit is {policy.rate_limit}. Please try again later.")


def model_requests(model: str, revision: str | None, datasets: Sequence[str], track: str, *,
                   submitter: str | None = None, metrics: list[str] | None = None) -> list[Request]:
    """Requests for a Hub model, after checking the repo id and choosing an adapter from its config.

    The id is only ever a Hub repo id (``ORG/NAME``, optional ``@REVISION`` or ``revision``): a
    string that happens to name a folder on the server is looked up on the Hub, never on disk."""
    model, revision = parse_hub_ref(model or "", revision)
    chosen = _check_choice(datasets, track)
    from rexrank.space.generation.adapters import choose_adapter

    adapter = choose_adapter(model, revision, allow_local=False)  # ModelUnavailableError / RemoteCodeRefused
    return [Request(new_request_id(), "model", dataset, track, model=model,
                    revision=revision or getattr(adapter, "revision", None), adapter=adapter.name,
                    submitter=submitter, metrics=metrics) for dataset in chosen]


def script_requests(repo: str, revision: str | None, repo_type: str, datasets: Sequence[str], track: str, *,
                    submitter: str | None = None, metrics: list[str] | None = None,
                    display_name: str | None = None) -> list[Request]:
    """Requests for a Hub repo (model or Space) holding a ReXrank inference script, pinned to the commit
    its revision resolves to now, checked to hold ``inference.py`` and an environment file. They wait
    for a maintainer's review (the store puts them in AWAITING_REVIEW); nothing of them runs here."""
    from rexrank import hub_env
    from rexrank.space.generation.inference_script import ENVIRONMENT_FILES, SCRIPT

    from rexrank.errors import quote
    from rexrank.hub_ids import parse_hub_ref

    repo, revision = parse_hub_ref(repo or "", revision, what="repo id")  # never a local path
    if "/" not in repo:
        raise InputError(f"repo id {quote(repo)} names no owner; write it as ORG/NAME")
    if repo_type not in ("model", "space"):
        raise InputError(f"an inference script lives in a model or a Space repo, not a {quote(repo_type)} repo")
    chosen = _check_choice(datasets, track)
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    try:
        info = HfApi(endpoint=hub_env.endpoint(), token=hub_env.token()).repo_info(
            repo, repo_type=repo_type, revision=revision or "main")
    except RevisionNotFoundError:
        raise InputError(f"{repo} has no revision {revision or 'main'!r}") from None
    except GatedRepoError:
        raise InputError(f"{repo} is gated: the leaderboard cannot read it; make the submission repo readable") from None
    except RepositoryNotFoundError:
        raise InputError(f"no {repo_type} repo {repo} on the Hub (private? typo? a Space needs repo type 'space')") from None
    except (OfflineModeIsEnabled, HfHubHTTPError, OSError) as err:
        raise InputError(f"the Hub could not be asked about {repo} ({type(err).__name__}); try again later") from None
    files = {s.rfilename for s in info.siblings or []}
    if SCRIPT not in files:
        raise InputError(f"{repo}@{info.sha[:12]} has no {SCRIPT} at its top level; ReXrank's protocol runs "
                         f"`python {SCRIPT} --input_json_file IN --save_json_file OUT --img_root_dir DIR`")
    if not files & set(ENVIRONMENT_FILES):
        raise InputError(f"{repo}@{info.sha[:12]} has no environment file ({', '.join(ENVIRONMENT_FILES)})")
    name = (display_name or "").strip() or None
    if name is not None and (len(name) > 100 or any(c in name for c in "<>[]()|\n")):
        raise InputError("the system name must be at most 100 characters, without <>[]()| or line breaks")
    return [Request(new_request_id(), "script", dataset, track, model=repo, revision=str(info.sha), repo_type=repo_type,
                    display_name=name, submitter=submitter, metrics=metrics) for dataset in chosen]


def read_upload(path: str | os.PathLike, policy: SubmitPolicy) -> bytes:
    """The uploaded file's bytes, refusing it before reading if it is too large."""
    size = os.path.getsize(path)
    if size > policy.max_upload_bytes:
        raise InputError(f"the uploaded file is {size / 2**20:.1f} MB; the limit is "
                         f"{policy.max_upload_bytes / 2**20:.0f} MB")
    return Path(path).read_bytes()


def file_requests(data: bytes, filename: str, datasets: Sequence[str], track: str, *, display_name: str | None,
                  policy: SubmitPolicy, submitter: str | None = None,
                  metrics: list[str] | None = None) -> tuple[list[Request], dict[str, bytes]]:
    """One request for an uploaded predictions file, parsed (never executed) and checked against the test set."""
    from rexrank.datasets.predictions import read_predictions
    from rexrank.datasets.tracks import load_track

    if len(data) > policy.max_upload_bytes:
        raise InputError(f"the uploaded file is {len(data) / 2**20:.1f} MB; the limit is "
                         f"{policy.max_upload_bytes / 2**20:.0f} MB")
    chosen = _check_choice(datasets, track)
    if len(chosen) != 1:
        raise InputError("a predictions file belongs to one test set: choose exactly one")
    dataset = chosen[0]
    name = (display_name or "").strip()
    if not name:
        raise InputError("give the system a name for the leaderboard")
    if len(name) > 100 or any(c in name for c in "<>[]()|\n"):
        raise InputError("the system name must be at most 100 characters, without <>[]()| or line breaks")
    expected = load_track(dataset, track, manifest=policy.manifests.get(dataset)).study_ids
    predictions = read_predictions(data, expected, filename=Path(filename).name)
    canonical = {sid: predictions[sid] for sid in expected if sid in predictions}
    request = Request(new_request_id(), "predictions", dataset, track, display_name=name,
                      predictions_sha256=sha256_json(canonical), submitter=submitter, metrics=metrics)
    return [request], {"predictions.json": json.dumps(canonical, ensure_ascii=False).encode("utf-8")}


def enqueue(store: Store, requests: list[Request], artifacts: dict[str, bytes] | None = None) -> list[str]:
    """Submit each request; returns one line per request (queued, or the duplicate it matches)."""
    lines = []
    for request in requests:
        try:
            store.submit(request, artifacts)
            review = (f" (commit {request.revision[:12]}); it runs once a maintainer has reviewed and approved that "
                      "commit" if request.state == AWAITING_REVIEW else "")
            lines.append(f"queued {request.id}: {request.name} on {request.dataset} / {request.track}{review}")
        except DuplicateSubmissionError as err:
            lines.append(f"duplicate: {err}")
    return lines
