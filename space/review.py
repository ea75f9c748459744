"""Who may approve a submission that runs code, and what they are shown to review.

Maintainers are Hub user names listed in ``REXRANK_MAINTAINERS`` (comma-separated; a Space sets
it in its settings). On the command line a maintainer is whoever ``HF_TOKEN`` belongs to (the
Hub's ``whoami``); in the Space, the user logged in with the Hub (OAuth). Both go through
:func:`approve` / :func:`refuse`, which check the name, then make the store's atomic change.
"""

from __future__ import annotations

import logging
import os

from rexrank import hub_env
from rexrank.errors import RexrankError
from rexrank.space.store import Request, Store

logger = logging.getLogger(__name__)


class NotAMaintainer(RexrankError):
    """The user may not review submissions (not logged in, or not in REXRANK_MAINTAINERS)."""


def maintainers() -> set[str]:
    return {name.strip() for name in os.environ.get("REXRANK_MAINTAINERS", "").split(",") if name.strip()}


def check_maintainer(user: str | None) -> str:
    if not user:
        raise NotAMaintainer("log in with your Hugging Face account to review submissions")
    allowed = maintainers()
    if not allowed:
        raise NotAMaintainer("no maintainer is configured (REXRANK_MAINTAINERS is empty), so nobody can approve "
                             "submissions that run code")
    if user not in allowed:
        raise NotAMaintainer(f"{user} is not a maintainer of this leaderboard (see REXRANK_MAINTAINERS)")
    return user


def token_user() -> str:
    """The Hub user ``HF_TOKEN`` belongs to (the CLI's identity); the token itself is never shown."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    token = hub_env.token()
    if not token:
        raise NotAMaintainer("reviewing needs your Hub token in HF_TOKEN (it identifies you as a maintainer)")
    try:
        return str(HfApi(endpoint=hub_env.endpoint()).whoami(token=token)["name"])
    except HfHubHTTPError as err:
        status = getattr(getattr(err, "response", None), "status_code", None)
        raise NotAMaintainer(f"the Hub did not accept the token in HF_TOKEN (HTTP {status}); check it") from None


def approve(store: Store, request_id: str, user: str | None, commit: str | None = None) -> Request:
    approved = store.approve(request_id, check_maintainer(user), commit=commit)
    logger.info("request %s approved by %s at commit %s", request_id, approved.approved_by, approved.approved_commit)
    return approved


def refuse(store: Store, request_id: str, user: str | None, reason: str) -> Request:
    refused = store.refuse(request_id, check_maintainer(user), reason)
    logger.info("request %s refused by %s", request_id, refused.refused_by)
    return refused


def repo_url(request: Request) -> str:
    prefix = {"space": "spaces/", "dataset": "datasets/"}.get(request.repo_type or "model", "")
    return f"https://huggingface.co/{prefix}{request.model}/tree/{request.revision}"


def review_text(request: Request) -> str:
    """What a maintainer must check before approving (the README section says the same)."""
    return "\n".join([
        f"request {request.id}: {request.model} ({request.repo_type} repo) at commit {request.revision}",
        f"  test set {request.dataset}/{request.split}, track {request.track}, submitted by "
        f"{request.submitter or 'unknown'} at {request.submitted_at}; state {request.state}",
        f"  code: {repo_url(request)}",
        "  review, at exactly that commit: inference.py and every file it imports or runs; the environment file "
        "(each package and where it comes from: an sdist runs setup code at install, outside the sandbox); "
        "where the weights come from (the run has no network, so they must be in the repo or the environment); "
        "that the script writes only its --save_json_file. Then:",
        f"  rexrank queue approve {request.id} --commit {request.revision}",
        f"  rexrank queue refuse {request.id} --reason \"...\"",
    ])
