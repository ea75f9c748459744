"""Put files into the HuggingFace cache as if they had been downloaded from the Hub.

Tests build tiny random-weight checkpoints with the real architectures and file names, then
store them here under the *real* repo ids, so the real loading code (``snapshot_download``,
``hf_hub_download``, ``from_pretrained`` with ``HF_HUB_OFFLINE=1``) finds them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Mapping


def cache_dir() -> Path:
    return Path(os.environ["HF_HUB_CACHE"])


def fake_commit(repo_id: str, salt: str = "") -> str:
    """A stable 40-hex 'commit sha' for a test repo."""
    return hashlib.sha1(f"{repo_id}:{salt}".encode()).hexdigest()


def put_files(repo_id: str, files: Mapping[str, bytes | str | Path], *, commit: str | None = None,
              repo_type: str = "model", refs: tuple[str, ...] = ("main",), cache: Path | None = None) -> Path:
    """Store ``{path_in_repo: bytes | text | Path of a file}`` as snapshot ``commit`` of ``repo_id``.

    Returns the snapshot folder. ``refs`` (e.g. "main") are pointed at the commit, so both
    ``revision="main"`` and ``revision=<commit>`` resolve offline. ``cache``: another cache folder than
    ``HF_HUB_CACHE`` (packages that pass ``cache_dir=`` to ``hf_hub_download``, e.g. radgraph, f1chexbert).
    """
    commit = commit or fake_commit(repo_id)
    root = (cache or cache_dir()) / f"{repo_type}s--{repo_id.replace('/', '--')}"
    snapshot = root / "snapshots" / commit
    for rel, content in files.items():
        if isinstance(content, bytes):
            data = content
        elif isinstance(content, str):
            data = content.encode("utf-8")  # text; pass a Path for a file
        else:
            data = Path(content).read_bytes()
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        target = snapshot / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            target.unlink()
        os.symlink(os.path.relpath(blob, target.parent), target)
    for ref in refs:
        (root / "refs").mkdir(parents=True, exist_ok=True)
        (root / "refs" / ref).write_text(commit)
    return snapshot


def put_folder(repo_id: str, folder: str | os.PathLike, **kwargs) -> Path:
    """Store every file of ``folder`` (e.g. a ``save_pretrained`` output) under ``repo_id``."""
    folder = Path(folder)
    files = {str(p.relative_to(folder)): p for p in folder.rglob("*") if p.is_file()}
    return put_files(repo_id, files, **kwargs)


def remove_repo(repo_id: str, repo_type: str = "model") -> None:
    shutil.rmtree(cache_dir() / f"{repo_type}s--{repo_id.replace('/', '--')}", ignore_errors=True)
