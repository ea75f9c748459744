"""Models that need ``trust_remote_code``: an allowlist of repo@commit, each in its own venv.

Remote code is somebody else's Python. We run it only for reviewed ``repo@revision`` pairs,
and never in our own process: each model gets a virtual environment pinned to what it needs
(e.g. MAIRA-2's code is written for transformers 4.51), and a small worker there
(``remote_worker.py``) answers JSON requests over a pipe. To add a model: review its code at a
commit, write a recipe file in ``recipes/`` (``load(message) -> (generate, info)``), and add
a :class:`RemoteCodeModel` entry here.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from rexrank.digests import sha256_bytes
from rexrank.errors import ModelUnavailableError
from rexrank.metrics.runtime.oom import names_out_of_memory
from rexrank.space.generation.adapters.base import Adapter, Request, clean_output
from rexrank.space.generation.environments import ensure_venv as ensure_environment, venv_root

logger = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class RemoteCodeModel:
    """One reviewed remote-code model: pinned commit, recipe, and its environment's pins."""

    repo_id: str
    revision: str  # full commit sha; another revision is refused
    recipe: str  # "<path to recipe file>:<factory>"
    requirements: tuple[str, ...]
    max_images: int | None = None  # None: every view
    note: str = ""

    @property
    def env_key(self) -> str:
        """Venv folder name: the model plus a hash of its pins (new pins, new venv)."""
        digest = sha256_bytes("\n".join(self.requirements).encode())[:12]
        return f"{self.repo_id.replace('/', '--')}-{digest}"


ALLOWLIST: Mapping[str, RemoteCodeModel] = MappingProxyType({
    "microsoft/maira-2": RemoteCodeModel(
        repo_id="microsoft/maira-2", revision="795a2b1cd4a310624b4e3d14b5a23e41fd273deb",
        recipe=f"{HERE / 'recipes' / 'maira2.py'}:load",
        requirements=("torch>=2.1", "transformers==4.51.3", "pillow", "protobuf", "sentencepiece", "accelerate"),
        note="gated on the Hub (research licence): set HF_TOKEN after accepting its terms"),
})


def ensure_venv(entry: RemoteCodeModel, root: Path | None = None) -> Path:
    """The venv's python for ``entry``, creating it and installing its pins on first use."""
    folder = (root or venv_root()) / entry.env_key
    return ensure_environment(folder, entry.requirements, what=entry.repo_id).python


class RemoteCodeRunner:
    """A worker process in the model's venv; one JSON line per request and per answer."""

    def __init__(self, python: str | os.PathLike) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        self._proc = subprocess.Popen([str(python), str(HERE / "remote_worker.py")], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=None, text=True, env=env)  # its log: our stderr

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin and self._proc.stdout
        try:
            self._proc.stdin.write(json.dumps(message) + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            pass
        line = self._proc.stdout.readline()
        if not line:
            raise ModelUnavailableError(f"the remote-code worker died (exit code {self._proc.poll()}); "
                                        "its error is printed above")
        return json.loads(line)

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin
                self._proc.stdin.write(json.dumps({"op": "close"}) + "\n")
                self._proc.stdin.close()
                self._proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()


class RemoteCodeAdapter(Adapter):
    """An allowlisted remote-code model, run by its recipe in its own environment."""

    name = "remote-code"
    uses_prompt = False

    def __init__(self, choice, *, allowlist: Mapping[str, RemoteCodeModel] = ALLOWLIST,
                 venvs: Path | None = None, **kwargs: Any) -> None:
        super().__init__(choice, **kwargs)
        self.entry = allowlist[choice.repo_id]
        if self.entry.revision != choice.revision:  # choose_adapter checks this too; never run unreviewed code
            raise ModelUnavailableError(f"{choice.spec} is not the reviewed revision {self.entry.revision}")
        self.max_images = self.entry.max_images
        self.venvs = venvs
        self.runner: RemoteCodeRunner | None = None
        self.info: dict[str, Any] = {}

    def load(self) -> None:
        self.runner = RemoteCodeRunner(ensure_venv(self.entry, self.venvs))
        answer = self.runner.call({
            "op": "load", "recipe": self.entry.recipe, "repo_id": self.entry.repo_id,
            "revision": self.entry.revision, "device": self.device,
            "dtype": str(self.dtype).replace("torch.", "") if self.dtype is not None else "float32",
            "max_new_tokens": self.max_new_tokens, "trust_remote_code": True})
        if not answer["ok"]:
            raise ModelUnavailableError(f"{self.choice.spec} failed to load in its environment: {answer['error']}")
        self.info = answer["info"]

    def generate_batch(self, requests: Sequence[Request]) -> list[str]:
        assert self.runner is not None, "load() first"
        from rexrank.paths import check_image

        for r in requests:  # the recipe opens the files itself: they must be images (paths are contained already)
            for path in r.images:
                check_image(path, what=f"study {r.study_id!r} image", shown_path=Path(path).name)
        answer = self.runner.call({"op": "generate", "requests": [
            {"study_id": r.study_id, "images": [str(p) for p in r.images], "prompt": r.prompt,
             "context": r.context} for r in requests]})
        if not answer["ok"]:
            if names_out_of_memory(answer.get("error_types") or []):
                import torch

                raise torch.cuda.OutOfMemoryError(answer["error"])
            raise RuntimeError(answer["error"])
        return [clean_output(t) for t in answer["texts"]]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "environment": list(self.entry.requirements), "worker": self.info,
                "decoding": "the model card's recipe"}

    def close(self) -> None:
        if self.runner:
            self.runner.close()
            self.runner = None
