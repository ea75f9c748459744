"""What the device check imports, what is installed, and exactly what is missing.

The GPU machine has a fixed set of packages and no index; whatever else is needed travels as
wheels (``scripts/device_wheels.sh``). ``datasets``, ``evaluate`` and ``gradio`` are never
needed: the scorers do not import them.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib import metadata


@dataclass(frozen=True)
class Requirement:
    module: str  # import name
    distribution: str  # what pip calls it
    minimum: str | None  # lowest version known to work
    why: str


REQUIRED = (
    Requirement("torch", "torch", "2.1", "every model"),
    Requirement("transformers", "transformers", "5.0", "every model"),
    Requirement("tokenizers", "tokenizers", "0.21", "tokenizers of every model"),
    Requirement("safetensors", "safetensors", None, "stand-in weights"),
    Requirement("huggingface_hub", "huggingface_hub", "1.0", "the offline HF cache"),
    Requirement("numpy", "numpy", None, "scorers"),
    Requirement("tqdm", "tqdm", None, "progress bars"),
    Requirement("PIL", "pillow", None, "images for report generation"),
    Requirement("sentencepiece", "sentencepiece", None, "stand-in tokenizers of RaTE-NER and GREEN"),
    Requirement("google.protobuf", "protobuf", None, "reading SentencePiece model files (GREEN's tokenizer)"),
    Requirement("spacy", "spacy", "3.8", "RaTEScore's sentence splitting (tokenizer)"),
    Requirement("PyFastNER", "PyFastNER", None, "RaTEScore's sentence splitting (rules)"),
)
OPTIONAL = (Requirement("vllm", "vllm", None, "GREEN with vLLM (skipped without it)"),)
NEVER_NEEDED = ("datasets", "evaluate", "gradio")


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _older(version: str, minimum: str) -> bool:
    def parts(v: str) -> tuple[int, ...]:
        out = []
        for piece in v.split("+")[0].split("."):
            digits = "".join(c for c in piece if c.isdigit())
            if not digits:
                break
            out.append(int(digits))
        return tuple(out)

    return parts(version) < parts(minimum)


def check(requirements: tuple[Requirement, ...] | None = None) -> tuple[dict[str, str], list[str]]:
    """``({distribution: version}, [what is missing or too old, and why])`` (default: :data:`REQUIRED`)."""
    found, problems = {}, []
    for req in REQUIRED if requirements is None else requirements:
        if importlib.util.find_spec(req.module) is None:
            problems.append(f"{req.distribution} (import {req.module}): not installed; needed for {req.why}")
            continue
        version = _version(req.distribution) or "unknown"
        found[req.distribution] = version
        if req.minimum and version != "unknown" and _older(version, req.minimum):
            problems.append(f"{req.distribution} {version}: {req.minimum} or newer needed, for {req.why}")
    return found, problems


def optional() -> dict[str, str | None]:
    """Optional packages and their versions (None: not installed)."""
    return {req.distribution: (_version(req.distribution) or "unknown") if importlib.util.find_spec(req.module) else None
            for req in OPTIONAL}


def missing_message(problems: list[str]) -> str:
    return ("the device check cannot run; missing here:\n  - " + "\n  - ".join(problems) +
            "\nOn a machine with a package index run `bash scripts/device_wheels.sh DIR`, copy DIR here and run "
            "`python DIR/device_check.py` (it installs DIR/wheels into a temporary folder first).")
