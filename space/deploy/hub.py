"""``rexrank space deploy``: build the Space folder and publish it with ``huggingface_hub``.

One run creates (or updates) the Space, its variables (``REXRANK_STORE`` and any ``--variable``)
and its secrets (``HF_TOKEN`` for a Hub store, and any ``--secret``; each value read from this
machine's environment, never from the command line, never logged), creates the store's private
dataset repo if it is missing, and uploads the folder in one commit that also removes wheels of
other versions. The deploy token is ``HF_TOKEN``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from rexrank import __version__
from rexrank.errors import InputError
from rexrank.hub import check_repo_id, endpoint, hub_token, repo_url
from rexrank.space.deploy.folder import build_folder, check_store

logger = logging.getLogger(__name__)


@dataclass
class Deployed:
    """What a deploy did; secret *names* only."""

    space_id: str
    url: str
    commit_url: str
    requirement: str
    variables: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)


def secret_sources(specs: Sequence[str], store: str | None) -> dict[str, str]:
    """Space secret name -> environment variable holding its value, from ``NAME`` or ``NAME=ENVVAR``.
    A Hub store needs ``HF_TOKEN`` (the Space writes requests and results with it)."""
    sources: dict[str, str] = {"HF_TOKEN": "HF_TOKEN"} if store else {}
    for spec in specs:
        name, sep, env = spec.partition("=")
        name, env = name.strip(), (env.strip() if sep else name.strip())
        if not name or not env:
            raise InputError(f"--secret expects NAME or NAME=ENVVAR, got {spec!r}")
        sources[name] = env
    missing = [f"{env} (for the Space secret {name})" for name, env in sources.items() if not os.environ.get(env)]
    if missing:
        raise InputError("set these environment variables before deploying; their values become Space secrets and "
                         "are never printed: " + ", ".join(missing))
    return sources


def variable_pairs(specs: Sequence[str], store: str | None) -> dict[str, str]:
    variables = {"REXRANK_STORE": store} if store else {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--variable expects KEY=VALUE, got {spec!r}")
        if key.strip().upper().endswith(("TOKEN", "KEY", "SECRET", "PASSWORD")):
            raise InputError(f"--variable {key.strip()}: Space variables are public; pass it as --secret {key.strip()}")
        variables[key.strip()] = value
    return variables


def deploy(space_id: str, *, store: str | None = None, rexrank_spec: str | None = None,
           wheel: str | os.PathLike | None = None, private: bool = False, secrets: Sequence[str] = (),
           variables: Sequence[str] = (), hub: str | None = None) -> Deployed:
    """Build the folder and publish it as the Space ``space_id`` (``hub`` defaults to ``HF_ENDPOINT``)."""
    from huggingface_hub import HfApi

    check_repo_id(space_id, "the Space id")
    store = check_store(store)
    if private and not rexrank_spec:
        raise InputError("a private Space cannot install its wheel by address (the Hub's builder downloads it "
                         "without a token): deploy it public, or publish the package and pass "
                         f"--rexrank-spec rexrank=={__version__}")
    token = hub_token()
    sources = secret_sources(secrets, store)
    values = variable_pairs(variables, store)
    hub = (hub or endpoint()).rstrip("/")
    api = HfApi(endpoint=hub, token=token)
    with tempfile.TemporaryDirectory(prefix="rexrank-deploy-") as tmp:
        folder = build_folder(Path(tmp) / "space", space_id=space_id, store=store, rexrank_spec=rexrank_spec,
                              wheel=wheel, hub=hub)
        if store:  # private: requests name their submitters; the Space's token then needs only write access
            api.create_repo(store[4:], repo_type="dataset", private=True, exist_ok=True)
        api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        for key, value in values.items():
            api.add_space_variable(space_id, key, value)
        for name, env in sources.items():
            api.add_space_secret(space_id, name, os.environ[env], description=f"set by rexrank space deploy from ${env}")
        commit = api.upload_folder(repo_id=space_id, repo_type="space", folder_path=str(folder.path),
                                   delete_patterns=["*.whl"], commit_message=f"Deploy rexrank {__version__}")
    logger.info("deployed rexrank %s to the Space %s (variables: %s; secrets: %s)", __version__, space_id,
                ", ".join(values) or "none", ", ".join(sources) or "none")
    return Deployed(space_id, repo_url(space_id, "space", hub=hub), str(getattr(commit, "commit_url", commit)),
                    folder.requirement, dict(values), sorted(sources))


def summary(done: Deployed) -> str:
    lines = [f"Space: {done.url}", f"commit: {done.commit_url}", f"installs: {done.requirement}"]
    if done.variables:
        lines.append("variables: " + ", ".join(f"{k}={v}" for k, v in done.variables.items()))
    if done.secrets:
        lines.append("secrets (names only): " + ", ".join(done.secrets))
    return "\n".join(lines)
