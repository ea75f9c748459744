"""Read RadGraph's ``radgraph.tar.gz`` (``config.json``, ``vocabulary/``, ``weights.th``), or the
``radgraph-xl.tar.gz`` / ``modern-radgraph-xl.tar.gz`` of the other model types (same layout).

radgraph 0.1.18 extracts the archive into a folder and reads those three things; we read them
straight from the archive (or from such a folder, e.g. the package's own cache). Label
vocabularies follow allennlp's ``Vocabulary.from_files``: namespaces matching a pattern of
``non_padded_namespaces.txt`` are indexed from 0 in file order, others get padding at 0.
"""

from __future__ import annotations

import fnmatch
import io
import json
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rexrank.errors import CheckpointMismatchError, ModelUnavailableError

ARCHIVE = "radgraph.tar.gz"
_PADDING, _OOV = "@@PADDING@@", "@@UNKNOWN@@"


@dataclass
class RadGraphCheckpoint:
    config: dict[str, Any]
    labels: dict[str, list[str]]  # namespace -> tokens by index
    state_dict: dict[str, Any]
    source: str  # what was read, for messages and provenance


def _vocabulary(files: dict[str, bytes]) -> dict[str, list[str]]:
    patterns = [p.strip() for p in files.pop("non_padded_namespaces.txt", b"").decode("utf-8").splitlines()
                if p.strip()]
    labels = {}
    for name, data in sorted(files.items()):
        if name.startswith(".") or not name.endswith(".txt"):
            continue
        namespace = name[:-4]
        lines = data.decode("utf-8").replace("\r\n", "\n").split("\n")
        if lines and lines[-1] == "":
            lines = lines[:-1]
        tokens = [line.replace("@@NEWLINE@@", "\n") for line in lines]
        padded = not any(fnmatch.fnmatchcase(namespace, p) for p in patterns)
        labels[namespace] = [_PADDING] + tokens if padded else tokens
    return labels


def _parse(files: dict[str, bytes], source: str, weights: bool = True) -> RadGraphCheckpoint:
    import torch

    missing = [n for n in ("config.json", "weights.th") if n not in files and (weights or n != "weights.th")]
    vocab = {n.split("/", 1)[1]: d for n, d in files.items() if n.startswith("vocabulary/")}
    if missing or not vocab:
        raise CheckpointMismatchError(
            f"{source} is not a RadGraph model: missing {', '.join(missing + ([] if vocab else ['vocabulary/']))}. "
            "Expected the StanfordAIMI/RRG_scorers radgraph.tar.gz (config.json, vocabulary/, weights.th).")
    try:
        config = json.loads(files["config.json"])
        state = torch.load(io.BytesIO(files["weights.th"]), map_location="cpu", weights_only=True) if weights else {}
    except Exception as err:
        raise CheckpointMismatchError(f"{source}: cannot read config.json / weights.th ({type(err).__name__}: {err}); "
                                      "the file is corrupt: delete it from the cache and download it again") from err
    if not isinstance(state, dict):
        raise CheckpointMismatchError(f"{source}: weights.th does not hold a state dict")
    return RadGraphCheckpoint(config, _vocabulary(vocab), state, source)


def read_checkpoint(path: str | Path, archive: str = ARCHIVE, weights: bool = True) -> RadGraphCheckpoint:
    """A RadGraph model from ``archive`` (e.g. ``radgraph.tar.gz``), a folder holding it, or an
    extracted folder (``weights=False``: its config and vocabularies only, for a driver that runs
    no model)."""
    wanted = ("config.json", "weights.th") if weights else ("config.json",)
    path = Path(path)
    if path.is_dir() and (path / archive).is_file():
        path = path / archive
    if path.is_dir():
        files = {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*")
                 if p.is_file() and (p.name in wanted or p.parent.name == "vocabulary")}
        return _parse(files, str(path), weights)
    if not path.is_file():
        raise ModelUnavailableError(f"RadGraph model not found at {path}: expected {archive} or its extracted folder")
    try:
        files = {}
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                name = member.name[2:] if member.name.startswith("./") else member.name
                if member.isfile() and (name in wanted or name.startswith("vocabulary/")):
                    files[name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise CheckpointMismatchError(
            f"{path} is not a readable {archive} ({type(err).__name__}: {err}); the download is corrupt or "
            "incomplete: delete it from the HF cache and download it again") from err
    return _parse(files, str(path), weights)
