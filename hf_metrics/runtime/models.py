"""Resolve, load and share model weights, the way users load them from the Hub.

* Weights come through ``huggingface_hub`` at a pinned revision (``HF_HUB_OFFLINE``,
  ``HF_HOME`` and ``HF_HUB_CACHE`` are honoured because the hub client honours them), or from
  a local folder the user names instead of a repo id.
* Each model is loaded once per process (:func:`load_once`), on CUDA when present.
* A checkpoint whose keys do not match the model exactly is refused: a silently
  random-initialised layer would give wrong scores that look plausible.
* Every load reports the revision actually resolved, for the results' provenance.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from rexrank.errors import CheckpointMismatchError, ModelUnavailableError

logger = logging.getLogger(__name__)

_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class ModelRef:
    """A model as the registry pins it: Hub repo id, revision, and the files we need from it."""

    repo_id: str
    revision: str = "main"
    files: tuple[str, ...] = ()  # patterns for snapshot_download; empty = whole repo
    trust_remote_code: bool = False  # only ever True for explicitly allowlisted repo@revision

    @property
    def pinned(self) -> bool:
        return bool(_COMMIT.match(self.revision))

    def __str__(self) -> str:
        return f"{self.repo_id}@{self.revision}"


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's files are on disk, and which revision that is."""

    ref: ModelRef
    path: Path
    revision: str  # the commit sha actually resolved ("local" for a local folder)
    source: str  # "hub" or "local"

    def provenance(self) -> dict[str, Any]:
        return {"repo_id": self.ref.repo_id, "requested_revision": self.ref.revision,
                "resolved_revision": self.revision, "pinned": self.ref.pinned,
                "source": self.source, **({"path": str(self.path)} if self.source == "local" else {})}


def parse_model_spec(spec: str, default: ModelRef | None = None) -> ModelRef:
    """``org/name``, ``org/name@revision`` or a local directory, into a :class:`ModelRef`."""
    if os.path.isdir(spec):
        return ModelRef(repo_id=os.path.abspath(spec), revision="local",
                        files=default.files if default else ())
    repo_id, _, revision = spec.partition("@")
    files = default.files if default else ()
    return ModelRef(repo_id=repo_id, revision=revision or (default.revision if default and default.repo_id == repo_id else "main"), files=files)


def resolve(ref: ModelRef) -> ResolvedModel:
    """Find the files of ``ref`` on disk, downloading them unless offline.

    A ``repo_id`` that is an existing directory is used as is (local override).
    """
    if os.path.isdir(ref.repo_id):
        return ResolvedModel(ref, Path(ref.repo_id), "local", "local")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = snapshot_download(ref.repo_id, revision=ref.revision,
                                   allow_patterns=list(ref.files) or None)
    except LocalEntryNotFoundError as err:
        raise ModelUnavailableError(
            f"model {ref} is not in the local HuggingFace cache and cannot be downloaded "
            f"(offline: HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '')!r}). Download it once with "
            f"`hf download {ref.repo_id} --revision {ref.revision}` on a machine with access, copy the cache "
            f"(HF_HUB_CACHE), or pass a local folder instead of the repo id."
        ) from err
    except Exception as err:  # unknown repo, gated repo, network failure
        raise ModelUnavailableError(f"could not resolve model {ref}: {type(err).__name__}: {err}") from err
    path = Path(folder)
    if ref.files and not any(path.rglob("*")):
        raise ModelUnavailableError(f"model {ref} resolved to {path} but none of {list(ref.files)} are there")
    return ResolvedModel(ref, path, path.name, "hub")


# Set while a driver plans work that runs elsewhere (Ray actors): the device those actors use.
_REMOTE_DEVICE: contextvars.ContextVar[str | None] = contextvars.ContextVar("rexrank_remote_device", default=None)


@contextlib.contextmanager
def remote_device(device: str) -> Iterator[None]:
    """Build scorers here for models that run on ``device`` elsewhere (no CUDA needed here)."""
    token = _REMOTE_DEVICE.set(device)
    try:
        yield
    finally:
        _REMOTE_DEVICE.reset(token)


def locate(resolved: ResolvedModel) -> ResolvedModel:
    """``resolved`` on this machine: the same folder when it is here, else the same commit from
    this machine's HF cache (a Ray actor on another node than the driver that resolved it)."""
    if resolved.path.exists() or resolved.source == "local":
        return resolved
    pinned = ModelRef(resolved.ref.repo_id, resolved.revision, resolved.ref.files, resolved.ref.trust_remote_code)
    found = resolve(pinned)
    return ResolvedModel(resolved.ref, found.path, found.revision, found.source)


def planning_remotely() -> bool:
    """True while scorers are built to plan work that Ray actors run (no model is built here)."""
    return _REMOTE_DEVICE.get() is not None


def pick_device(device: str | None = None) -> str:
    """The device to run on: the one asked for, else CUDA when present, else CPU (or, while
    planning for actors, the actors' device)."""
    remote = _REMOTE_DEVICE.get()
    if remote is not None:
        return remote if device in (None, "", "auto") else str(device)
    import torch

    if device not in (None, "", "auto"):
        if str(device).startswith("cuda") and not torch.cuda.is_available():
            raise ModelUnavailableError(f"device {device!r} asked for but CUDA is not available here")
        return str(device)
    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str, half: bool | None = None):
    """fp32 on CPU (parity), fp16/bf16 on GPU only when asked: scores are defined in fp32."""
    import torch

    if half and device.startswith("cuda") and _REMOTE_DEVICE.get() is not None:
        return torch.bfloat16  # planned for actors: the GPUs Ray clusters run (Ampere and later) all have bf16
    if half and device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def check_state_dict(model: Any, state_dict: dict[str, Any], what: str,
                     ignore_unexpected: Iterable[str] = ()) -> None:
    """Load ``state_dict`` into ``model`` strictly, or raise a clear error naming the keys."""
    expected = model.state_dict()
    ignore = tuple(ignore_unexpected)
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(k for k in set(state_dict) - set(expected) if not k.startswith(ignore))
    shapes = sorted(k for k in set(expected) & set(state_dict)
                    if tuple(expected[k].shape) != tuple(state_dict[k].shape))
    if missing or unexpected or shapes:
        def few(keys: list[str]) -> str:
            return ", ".join(keys[:5]) + (f" ... ({len(keys)} in all)" if len(keys) > 5 else "")
        parts = [f"missing {few(missing)}" if missing else "", f"unexpected {few(unexpected)}" if unexpected else "",
                 f"wrong shape {few(shapes)}" if shapes else ""]
        raise CheckpointMismatchError(
            f"{what}: the checkpoint does not match the model ({'; '.join(p for p in parts if p)}). "
            "Is it the right file and revision? We refuse to score with partly random weights.")
    model.load_state_dict({k: v for k, v in state_dict.items() if k in expected}, strict=True)


def skip_weight_init() -> Any:
    """A context in which modules are built without their random init (transformers 5's
    ``no_init_weights``; else nothing), for models whose every weight then comes from a
    checkpoint through :func:`check_state_dict`: the init of a BERT-base costs about a second
    of CPU in every process that loads it."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:
        return contextlib.nullcontext()
    return no_init_weights()


@contextlib.contextmanager
def quiet_transformers_loading() -> Iterator[None]:
    """Without transformers' per-load "LOAD REPORT" table and weight-loading bars: the strict
    check below reports every key problem itself (and refuses the checkpoint), so the table only
    repeats, for keys we left out on purpose (a pooler we do not build), what nobody can act on."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def from_pretrained_strict(cls: Any, path: str | os.PathLike, what: str, ignore: Iterable[str] = (),
                           **kwargs: Any) -> Any:
    """``cls.from_pretrained`` that refuses missing, unexpected or mismatched weights (keys starting
    with one of ``ignore`` excepted: parts of the checkpoint the scorer deliberately does not build)."""
    ignore = tuple(ignore)
    try:
        with quiet_transformers_loading():
            model, info = cls.from_pretrained(path, output_loading_info=True, **kwargs)
    except OSError as err:
        raise CheckpointMismatchError(f"{what}: cannot load weights from {path}: {err}") from err
    problems = {k: sorted(key for key in v if not (ignore and key.startswith(ignore)))
                for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    problems = {k: v for k, v in problems.items() if v}
    if problems:
        raise CheckpointMismatchError(
            f"{what}: checkpoint at {path} does not match {cls.__name__} exactly: {problems}. "
            "We refuse to score with partly random weights.")
    return model


_LOADED: dict[tuple, Any] = {}
_LOCK = threading.Lock()


def load_once(key: tuple, loader: Callable[[], Any]) -> Any:
    """Return the object built by ``loader`` for ``key``, building it only the first time.

    Keys name everything that changes the result (kind, resolved path, device, dtype), so two
    scorers that need the same weights share one copy.
    """
    with _LOCK:
        if key not in _LOADED:
            logger.info("loading %s", key[0] if key else key)
            _LOADED[key] = loader()
        return _LOADED[key]


def clear_loaded() -> None:
    """Forget every loaded model (tests, and users who want the memory back)."""
    with _LOCK:
        _LOADED.clear()
