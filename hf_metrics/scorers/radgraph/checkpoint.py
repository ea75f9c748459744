"""Read RadGraph's ``radgraph.tar.gz`` (``config.json``, ``vocabulary/``, ``weights.th``), or the
``radgraph-xl.tar.gz`` / ``modern-radgraph-xl.tar.gz`` of the other model types (same layout).

radgraph 0.1.18 extracts the archive into a folder and reads those three things; so do we, once:
the first read streams the archive in one pass (gunzip is most of a load: about 6 s of CPU for
the real 0.5 GB ``weights.th``) and leaves the three things in ``$HF_HOME/rexrank/extracted/<key>/``
(``key``: the archive's blob digest in the HF cache, else its path, size and mtime), which every
later load (every process, every Ray actor on the node) reads instead. Deleting that folder is
always safe; it costs the archive's unpacked size on disk. A folder (e.g. the package's own
cache) is read as it is.

Label vocabularies follow allennlp's ``Vocabulary.from_files``: namespaces matching a pattern of
``non_padded_namespaces.txt`` are indexed from 0 in file order, others get padding at 0.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rexrank.errors import CheckpointMismatchError, ModelUnavailableError
from rexrank.files import atomic_write_bytes

logger = logging.getLogger(__name__)

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


def _parse(files: dict[str, bytes], source: str, weights: bool = True,
           weights_file: Path | None = None) -> RadGraphCheckpoint:
    """The checkpoint of the archive's ``files`` (``weights_file``: weights.th read from disk instead)."""
    import torch

    missing = [] if "config.json" in files else ["config.json"]
    if weights and "weights.th" not in files and weights_file is None:
        missing.append("weights.th")
    vocab = {n.split("/", 1)[1]: d for n, d in files.items() if n.startswith("vocabulary/")}
    if missing or not vocab:
        raise CheckpointMismatchError(
            f"{source} is not a RadGraph model: missing {', '.join(missing + ([] if vocab else ['vocabulary/']))}. "
            "Expected the StanfordAIMI/RRG_scorers radgraph.tar.gz (config.json, vocabulary/, weights.th).")
    try:
        config = json.loads(files["config.json"])
        state = {}
        if weights:
            data = weights_file if weights_file is not None else io.BytesIO(files["weights.th"])
            state = torch.load(data, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointMismatchError(f"{source}: cannot read config.json / weights.th ({type(err).__name__}: {err}); "
                                      "the file is corrupt: delete it from the cache and download it again") from err
    if not isinstance(state, dict):
        raise CheckpointMismatchError(f"{source}: weights.th does not hold a state dict")
    return RadGraphCheckpoint(config, _vocabulary(vocab), state, source)


def _read_folder(path: Path, weights: bool) -> RadGraphCheckpoint:
    files = {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*")
             if p.is_file() and (p.name == "config.json" or p.parent.name == "vocabulary")}
    weights_file = path / "weights.th"
    return _parse(files, str(path), weights, weights_file if weights_file.is_file() else None)


def _read_archive(path: Path, archive: str, weights: bool) -> dict[str, bytes]:
    """The wanted members in one streaming pass (``weights=False``: stop once config and
    vocabulary are read, without unpacking a ``weights.th`` that follows them)."""
    files: dict[str, bytes] = {}
    seen_vocabulary = False  # tar keeps a folder's members together
    try:
        with tarfile.open(path, "r|gz") as tar:
            for member in tar:
                name = member.name[2:] if member.name.startswith("./") else member.name
                in_vocabulary = name.startswith("vocabulary/")
                if not weights and "config.json" in files and seen_vocabulary and not in_vocabulary:
                    break
                seen_vocabulary |= in_vocabulary
                safe = not name.startswith("/") and ".." not in name.split("/")  # never outside the copy we write
                wanted = safe and (name == "config.json" or in_vocabulary or (weights and name == "weights.th"))
                if member.isfile() and wanted:
                    files[name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise CheckpointMismatchError(
            f"{path} is not a readable {archive} ({type(err).__name__}: {err}); the download is corrupt or "
            "incomplete: delete it from the HF cache and download it again") from err
    return files


def extracted_dir(archive: Path) -> Path:
    """Where the unpacked copy of ``archive`` lives (it may not exist yet)."""
    from huggingface_hub import constants

    real = Path(os.path.realpath(archive))
    if re.fullmatch(r"[0-9a-f]{64}", real.name):  # a blob of the HF cache: named by its sha256
        key = real.name
    else:
        stat = real.stat()
        key = hashlib.sha256(f"{real}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    return Path(constants.HF_HOME) / "rexrank" / "extracted" / key


def _extract(files: dict[str, bytes], target: Path) -> None:
    """Write ``files`` to ``target`` atomically (a half-written folder is never read); best effort."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
        for name, data in files.items():
            atomic_write_bytes(staging / name, data)  # flushed to disk before the folder is renamed into place
        try:
            staging.rename(target)
        except OSError:  # another process got there first
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as err:
        logger.debug("could not keep an unpacked copy of the RadGraph archive in %s: %s", target, err)


def read_checkpoint(path: str | Path, archive: str = ARCHIVE, weights: bool = True) -> RadGraphCheckpoint:
    """A RadGraph model from ``archive`` (e.g. ``radgraph.tar.gz``), a folder holding it, or an
    extracted folder (``weights=False``: its config and vocabularies only, for a driver that runs
    no model)."""
    path = Path(path)
    if path.is_dir() and (path / archive).is_file():
        path = path / archive
    if path.is_dir():
        return _read_folder(path, weights)
    if not path.is_file():
        raise ModelUnavailableError(f"RadGraph model not found at {path}: expected {archive} or its extracted folder")
    unpacked = extracted_dir(path)
    if (unpacked / "weights.th").is_file():
        checkpoint = _read_folder(unpacked, weights)
        checkpoint.source = str(path)
        return checkpoint
    files = _read_archive(path, archive, weights)
    checkpoint = _parse(files, str(path), weights)
    if weights:
        _extract(files, unpacked)
    return checkpoint
