"""What every adapter shares: the request it receives, prompts, image choice, output cleaning.

An adapter turns a batch of :class:`Request` (a study's chosen images + its prompt) into
report texts. It decides which images a study contributes (all views when the model takes
several images, else the key image) and says so in :meth:`Adapter.describe`, which the run
records next to the predictions.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from rexrank.errors import InputError

# One prompt per section; a user's --prompt replaces it. Placeholders {indication},
# {comparison}, {age}, {sex} are filled from the study ("not given" when missing).
DEFAULT_PROMPTS: dict[str, str] = {
    "findings": "You are an expert radiologist. Write the FINDINGS section of the radiology report "
                "for this chest X-ray. Reply with the findings only.",
    "findings_impression": "You are an expert radiologist. Write the radiology report for this chest X-ray "
                           "as 'Findings: ... Impression: ...'. Reply with the report only.",
}
_PLACEHOLDERS = ("indication", "comparison", "age", "sex")


@dataclass(frozen=True)
class AdapterChoice:
    """Which adapter runs a model, why, and the exact revision it will load."""

    name: str
    reason: str
    repo_id: str
    revision: str  # the commit sha resolved from config.json ("local" for a folder)
    config: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def spec(self) -> str:
        return f"{self.repo_id}@{self.revision}"


@dataclass(frozen=True)
class Request:
    """One study's input to a model: its images (paths) and prompt text."""

    study_id: str
    images: tuple[Path, ...]
    prompt: str | None
    context: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def sort_key(self) -> tuple[int, int]:
        """Longest first, so an out-of-memory batch shows up at the start, and batches pad little."""
        return (len(self.images), len(self.prompt or ""))


def fill_prompt(template: str, study: dict[str, Any]) -> str:
    """The prompt for one study: ``{indication}`` etc. from the study, 'not given' when missing."""
    values = {k: (str(study.get(k)).strip() if study.get(k) not in (None, "") else "not given") for k in _PLACEHOLDERS}
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as err:
        raise InputError(f"prompt template {template!r}: {err}; the placeholders are "
                         f"{', '.join('{' + p + '}' for p in _PLACEHOLDERS)} (double braces for a literal brace)") from err


def choose_images(study: dict[str, Any], data_dir: str | os.PathLike, max_images: int | None) -> tuple[Path, ...]:
    """The study's image files: all views in manifest order, or the key (frontal) image alone."""
    paths = list(study.get("image_paths") or [])
    if max_images == 1:
        key = study.get("key_image")
        if not key:
            views = study.get("views") or []
            key = next((p for p, v in zip(paths, views) if v == "frontal"), paths[0] if paths else None)
        paths = [key] if key else []
    elif max_images is not None:
        paths = paths[:max_images]
    if not paths:
        raise InputError(f"study {study.get('study_id')!r} lists no image")
    from rexrank.paths import resolve_inside

    # MIMIC's leading '/' means "relative to the image root"; anything else must stay inside it.
    what = f"study {study.get('study_id')!r} image"
    return tuple(resolve_inside(data_dir, str(p).lstrip("/"), what=what, root_name="the image root (--data-dir)")
                 for p in paths)


def load_images(paths: Sequence[Path], study_id: str | None = None):
    """PIL images in RGB (radiographs are often greyscale or 16-bit); a file that is not an image
    is an :class:`InputError` naming the study and the file, never a PIL traceback."""
    import io

    from PIL import Image

    from rexrank.paths import check_image

    images = []
    for path in paths:
        what = f"study {study_id!r} image" if study_id is not None else "image"
        data = check_image(path, what=what, shown_path=Path(path).name)
        with Image.open(io.BytesIO(data)) as img:
            images.append(img.convert("RGB"))
    return images


_WS = re.compile(r"\s+")


def clean_output(text: str, prompt: str | None = None, special_tokens: Sequence[str] = ()) -> str:
    """Model output as a report: no special tokens, no echoed prompt or role label, one line."""
    for token in sorted((t for t in special_tokens if t), key=len, reverse=True):
        text = text.replace(token, " ")
    text = _WS.sub(" ", text).strip()
    if prompt:
        flat_prompt = _WS.sub(" ", prompt).strip()
        if flat_prompt and text.startswith(flat_prompt):
            text = text[len(flat_prompt):].strip()
    text = re.sub(r"^(assistant|model|ASSISTANT|Assistant)\s*:?\s*", "", text)
    return text.strip()


class Adapter:
    """Base class: loads a model once, then maps batches of requests to texts.

    Subclasses set ``name``, ``max_images`` (None = every view) and implement ``load`` and
    ``generate_batch``. ``generate_batch`` may raise ``torch.cuda.OutOfMemoryError``; the run
    loop halves the batch and retries.
    """

    name = "base"
    max_images: int | None = 1
    uses_prompt = False

    def __init__(self, choice: AdapterChoice, *, section: str = "findings", device: str = "cpu",
                 dtype: Any = None, max_new_tokens: int = 256, prompt: str | None = None) -> None:
        self.choice = choice
        self.section = section
        self.device = device
        self.dtype = dtype
        self.max_new_tokens = max_new_tokens
        self.prompt_template = (prompt or DEFAULT_PROMPTS[section]) if self.uses_prompt else None

    def load(self) -> None:
        raise NotImplementedError

    def request(self, study: dict[str, Any], data_dir: str | os.PathLike) -> Request:
        """Pick the study's images and fill its prompt (raises InputError for a bad study)."""
        prompt = fill_prompt(self.prompt_template, study) if self.prompt_template else None
        return Request(str(study["study_id"]), choose_images(study, data_dir, self.max_images), prompt,
                       {k: study.get(k) for k in ("indication", "comparison", "views", "image_paths")})

    def generate_batch(self, requests: Sequence[Request]) -> list[str]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What the run records: adapter, why, prompt, which images, decoding settings."""
        return {"adapter": self.name, "reason": self.choice.reason, "repo_id": self.choice.repo_id,
                "revision": self.choice.revision, "prompt": self.prompt_template,
                "images": "all views" if self.max_images is None else
                          ("key image" if self.max_images == 1 else f"first {self.max_images} views"),
                "max_new_tokens": self.max_new_tokens, "decoding": self.decoding(),
                "dtype": str(self.dtype).replace("torch.", "") if self.dtype is not None else None}

    def decoding(self) -> str:
        return "greedy"

    def close(self) -> None:
        """Release what ``load`` holds (worker processes); in-process models go with the object."""
