"""Which code turns a Hub model into reports, decided from its config.json alone.

Selection order (the reason is logged and recorded with the predictions):

1. ``adapter=`` given explicitly (``--adapter``);
2. a transformers ``VisionEncoderDecoderModel`` (the CheXpert-Plus baselines);
3. a chat vision-language model transformers knows (``AutoModelForImageTextToText``:
   MedGemma, Qwen2.5-VL, LLaVA, ...);
4. a reviewed ``repo@commit`` on the remote-code allowlist (:mod:`rexrank.space.generation.adapters.remote`),
   run in its own virtual environment;
5. anything else is refused, before any weight is downloaded, saying why and what to do
   instead (generate the reports yourself and submit a predictions file).

``trust_remote_code=True`` is never passed in this process; only an allowlisted model's worker,
in its own venv, runs the repo's code. Adapters are named in one immutable table,
:data:`ADAPTERS` (name -> "module:Class"), imported only when used.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from rexrank.importing import import_object
from rexrank.errors import InputError, ModelUnavailableError, RemoteCodeRefused
from rexrank.space.generation.adapters.base import Adapter, AdapterChoice

logger = logging.getLogger(__name__)

ADAPTERS: Mapping[str, str] = MappingProxyType({
    "vision-encoder-decoder": "rexrank.space.generation.adapters.ved:VisionEncoderDecoderAdapter",
    "chat-vlm": "rexrank.space.generation.adapters.chat:ChatVisionLanguageAdapter",
    "remote-code": "rexrank.space.generation.adapters.remote:RemoteCodeAdapter",
})

INSTEAD = ("Generate the reports yourself and submit a predictions file (ReXrank JSON with "
           "'model_prediction' per study) instead")

__all__ = ["ADAPTERS", "Adapter", "AdapterChoice", "choose_adapter", "load_adapter", "read_config"]


def is_explicit_path(model: str) -> bool:
    """A model given as a path on purpose (``./x``, ``../x``, ``/x``, ``~/x``, ``C:\\x``), not a repo id
    that happens to name a folder here."""
    return model.startswith(("/", "./", "../", "~", ".\\", "..\\")) or (len(model) > 2 and model[1:3] in (":\\", ":/"))


def _parse_config(text: bytes | str, where: str) -> dict[str, Any]:
    """config.json as a dict, or one clear error (never a JSONDecodeError/AttributeError later)."""
    try:
        config = json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        line = f" (line {err.lineno}, column {err.colno})" if hasattr(err, "lineno") else ""
        raise ModelUnavailableError(f"{where}: config.json is not valid JSON{line}; a transformers model's "
                                    "config.json is a JSON object") from None
    if not isinstance(config, dict):
        raise ModelUnavailableError(f"{where}: config.json holds a JSON {type(config).__name__}, not an object; "
                                    "is it a transformers model?")
    return config


def read_config(model: str, revision: str | None = None, *, allow_local: bool = True) -> tuple[dict[str, Any], str, str]:
    """``(config, repo_id, resolved revision)`` from config.json only: never a weight file.

    ``model`` is a Hub repo id; with ``allow_local`` (the CLI) an explicit path (``./DIR``,
    ``/DIR``) names a local folder instead. A web submission passes ``allow_local=False``: its
    text is only ever a Hub id, so it can neither load from nor probe the server's disk."""
    if allow_local and is_explicit_path(model):
        folder = Path(model).expanduser()
        if not folder.exists():
            raise ModelUnavailableError(f"model folder {model} does not exist")
        if not folder.is_dir():
            raise ModelUnavailableError(f"model {model} is a file; pass the model's folder (with config.json)")
        path = folder / "config.json"
        if not path.is_file():
            raise ModelUnavailableError(f"{model} has no config.json: is it a transformers model folder?")
        return _parse_config(path.read_bytes(), model), str(folder.resolve()), "local"
    from rexrank.hub_ids import parse_hub_ref

    try:
        model, revision = parse_hub_ref(model, revision)
    except InputError as err:
        hint = (" For a local folder, write it as a path: ./NAME or /full/path." if allow_local and
                os.path.isdir(model) else "")
        raise ModelUnavailableError(f"{err}{hint}") from None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    try:
        file = Path(hf_hub_download(model, "config.json", revision=revision or "main"))
    except LocalEntryNotFoundError as err:
        hint = (f" (a folder {model!r} exists here: to use it, pass ./{model})" if allow_local and os.path.isdir(model)
                else "")
        raise ModelUnavailableError(
            f"{model}@{revision or 'main'}: config.json is not in the local HuggingFace cache and the Hub "
            f"cannot be reached (HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '')!r}){hint}") from err
    except GatedRepoError as err:
        raise ModelUnavailableError(f"{model} is gated: accept its terms on the Hub and set HF_TOKEN") from err
    except (RepositoryNotFoundError, RevisionNotFoundError) as err:
        raise ModelUnavailableError(f"{model}@{revision or 'main'} not found on the Hub (private? typo?)") from err
    except EntryNotFoundError as err:
        raise ModelUnavailableError(f"{model} has no config.json, so it is not a transformers model we can run. "
                                    f"{INSTEAD}.") from err
    resolved = file.parent.name if file.parent.parent.name == "snapshots" else (revision or "main")
    return _parse_config(file.read_bytes(), f"{model}@{revision or 'main'}"), model, resolved


def _known_to_transformers(model_type: str) -> bool:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return model_type in CONFIG_MAPPING_NAMES


def _is_image_text_to_text(model_type: str) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def choose_adapter(model: str, revision: str | None = None, adapter: str | None = None, *,
                   allowlist: Mapping[str, Any] | None = None, allow_local: bool = True) -> AdapterChoice:
    """Pick the adapter for ``model`` (``repo``, ``repo@revision``, or with ``allow_local`` an
    explicit path ``./DIR``) from its config.

    Raises :class:`RemoteCodeRefused` for code we have not reviewed and
    :class:`ModelUnavailableError` for a model we cannot run, both before any weight download.
    """
    if allowlist is None:
        from rexrank.space.generation.adapters.remote import ALLOWLIST as allowlist
    config, repo_id, resolved = read_config(model, revision, allow_local=allow_local)
    model_type = str(config.get("model_type", ""))
    architectures = list(config.get("architectures") or [])
    known = _known_to_transformers(model_type)
    entry = allowlist.get(repo_id)

    def choice(name: str, reason: str) -> AdapterChoice:
        logger.info("adapter for %s@%s: %s (%s)", repo_id, resolved, name, reason)
        return AdapterChoice(name, reason, repo_id, resolved, config)

    def allowlisted(reason: str) -> AdapterChoice:
        if entry.revision != resolved:
            raise RemoteCodeRefused(
                f"{repo_id} runs its own code and was reviewed only at revision {entry.revision}; "
                f"{revision or 'main'} resolves to {resolved}. Pass --model {repo_id}@{entry.revision}, "
                f"or {INSTEAD[0].lower() + INSTEAD[1:]}.")
        return choice("remote-code", reason)

    if adapter:
        if adapter not in ADAPTERS:
            raise ModelUnavailableError(f"unknown adapter {adapter!r}; known: {', '.join(ADAPTERS)}")
        if adapter == "remote-code":
            if entry is None:
                raise RemoteCodeRefused(f"{repo_id} is not on the remote-code allowlist "
                                        f"({', '.join(allowlist) or 'empty'}). {INSTEAD}.")
            return allowlisted("--adapter remote-code asked for; repo@revision is on the allowlist")
        if not known:
            raise RemoteCodeRefused(f"--adapter {adapter}: {repo_id} has model_type {model_type!r}, which "
                                    "transformers does not know, so it would need the repo's own code "
                                    f"(trust_remote_code), which we do not run here. {INSTEAD}.")
        return choice(adapter, f"--adapter {adapter} asked for")
    if model_type == "vision-encoder-decoder" or "VisionEncoderDecoderModel" in architectures:
        _check_encoder_decoder(config, f"{repo_id}@{resolved}")
        return choice("vision-encoder-decoder", "config.json is a transformers VisionEncoderDecoderModel")
    if known and _is_image_text_to_text(model_type):
        note = "; the repo's auto_map (own code) is ignored" if config.get("auto_map") else ""
        return choice("chat-vlm", f"model_type {model_type!r} is an image-text-to-text architecture "
                                  f"transformers ships (AutoModelForImageTextToText){note}")
    if entry is not None:
        return allowlisted(f"{repo_id}@{entry.revision} is on the remote-code allowlist (own environment)")
    if config.get("auto_map") or not known:
        raise RemoteCodeRefused(
            f"{repo_id}@{resolved} (model_type {model_type!r}) needs its own code (trust_remote_code), and "
            f"that repo@revision is not on our reviewed allowlist, so we refuse to run it; nothing was "
            f"downloaded but config.json. {INSTEAD}, or ask for the model to be reviewed and allowlisted.")
    raise ModelUnavailableError(
        f"{repo_id}@{resolved} is a {model_type!r} model ({', '.join(architectures) or 'no architectures'}), "
        "not an image-to-text report generator we know how to run (vision-encoder-decoder or "
        f"image-text-to-text). {INSTEAD}.")


def _check_encoder_decoder(config: dict[str, Any], where: str) -> None:
    """A VisionEncoderDecoder config names its two sub-models; both must be types transformers knows,
    or loading would fail after the run had started (refused here, from config.json alone)."""
    problems = []
    for part in ("encoder", "decoder"):
        sub = config.get(part)
        if not isinstance(sub, dict):
            problems.append(f"no {part!r} section")
            continue
        kind = str(sub.get("model_type", ""))
        if not kind:
            problems.append(f"the {part} has no model_type")
        elif not _known_to_transformers(kind):
            problems.append(f"the {part}'s model_type {kind!r} is not one transformers knows")
    if problems:
        raise ModelUnavailableError(f"{where} is a vision-encoder-decoder model but its config.json has "
                                    f"{'; '.join(problems)}, so it cannot be loaded. {INSTEAD}.")


def load_adapter(choice: AdapterChoice, **options: Any) -> Adapter:
    """Instantiate the adapter named by ``choice`` (its weights load in ``.load()``)."""
    return import_object(ADAPTERS[choice.name])(choice, **options)
