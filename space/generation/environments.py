"""Isolated Python environments for code that is not ours: created once, cached by what defines them.

Two users: the reviewed remote-code models (pinned requirement lists, ``adapters.remote``) and
ReXrank-style submissions (``inference_script``), whose environment file (``requirements.txt``
for a venv, ``environment.yaml`` for conda/mamba when one is installed) is hashed: the same
file gives the same cached environment, a changed file a new one. Creation holds a lock, so
concurrent workers build an environment once, and writes a marker last, so an interrupted
creation is redone rather than used half-built.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
import venv
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from rexrank.digests import sha256_bytes
from rexrank.errors import ModelUnavailableError

logger = logging.getLogger(__name__)

MARKER = "rexrank-environment.json"
CONDA_TOOLS = ("micromamba", "mamba", "conda")  # first found is used
INSTALL_TIMEOUT_S = 3 * 3600


def venv_root() -> Path:
    """Where environments live: $REXRANK_VENVS, else under the HF home."""
    if os.environ.get("REXRANK_VENVS"):
        return Path(os.environ["REXRANK_VENVS"])
    hf_home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(hf_home) / "rexrank" / "venvs"


def pip_constraints() -> Path | None:
    """A pip constraints file applied to every install (``REXRANK_PIP_CONSTRAINTS``), e.g. one pinning
    the machine's CPU or CUDA torch so that no environment pulls another build."""
    value = os.environ.get("REXRANK_PIP_CONSTRAINTS")
    return Path(value) if value else None


@dataclass(frozen=True)
class Environment:
    """A ready environment: its interpreter, folder, kind (venv/conda) and the digest it was built from."""

    python: Path
    folder: Path
    kind: str
    digest: str
    created: bool  # False: taken from the cache


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ready(folder: Path, identity: dict) -> bool:
    marker = folder / MARKER
    try:
        return (folder / "bin" / "python").exists() and json.loads(marker.read_text()) == identity
    except (OSError, ValueError):
        return False


def _run(cmd: Sequence[str], what: str, cwd: Path | None = None, timeout: float = INSTALL_TIMEOUT_S) -> None:
    try:
        result = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ModelUnavailableError(f"creating the environment of {what} took longer than {timeout:.0f} s") from None
    if result.returncode:
        raise ModelUnavailableError(f"could not create the environment of {what} (exit code {result.returncode}):\n"
                                    f"{(result.stderr or result.stdout)[-2000:]}")


def ensure_venv(folder: Path, requirements: Sequence[str] = (), *, requirements_file: Path | None = None,
                what: str, cwd: Path | None = None) -> Environment:
    """A venv in ``folder`` with ``requirements`` (pip lines) or ``requirements_file`` installed, built on first use.

    The environment is identified by the requirement lines or the file's sha256, the Python
    version and the constraints file: if any changes, the venv is rebuilt.
    """
    spec = requirements_file.read_bytes() if requirements_file is not None else "\n".join(requirements).encode()
    constraints = pip_constraints()
    identity = {"kind": "venv", "python": sys.version.split()[0], "spec_sha256": sha256_bytes(spec),
                "requirements": list(requirements) if requirements_file is None else None,
                "constraints_sha256": sha256_bytes(constraints.read_bytes()) if constraints else None}
    digest = sha256_bytes(json.dumps(identity, sort_keys=True).encode())
    with _locked(folder):
        if _ready(folder, identity):
            return Environment(folder / "bin" / "python", folder, "venv", digest, created=False)
        packages = bool(requirements) or (requirements_file is not None and _has_requirements(requirements_file))
        logger.info("creating the environment of %s in %s (%s)", what, folder,
                    f"from {requirements_file.name}" if requirements_file else ", ".join(requirements) or "no packages")
        (folder / MARKER).unlink(missing_ok=True)
        venv.EnvBuilder(clear=True, with_pip=packages, symlinks=True).create(folder)
        python = folder / "bin" / "python"
        if packages:
            cmd = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input"]
            cmd += ["-r", str(requirements_file)] if requirements_file is not None else list(requirements)
            if constraints is not None:
                cmd += ["-c", str(constraints)]
            _run(cmd, what, cwd=cwd)
        (folder / MARKER).write_text(json.dumps(identity))
        return Environment(python, folder, "venv", digest, created=True)


def _has_requirements(path: Path) -> bool:
    return any(line.strip() and not line.strip().startswith("#") for line in path.read_text().splitlines())


def conda_tool() -> str | None:
    """The first of micromamba / mamba / conda on PATH (``REXRANK_CONDA`` names one explicitly)."""
    named = os.environ.get("REXRANK_CONDA")
    if named:
        return shutil.which(named) or named
    return next((found for tool in CONDA_TOOLS if (found := shutil.which(tool))), None)


def ensure_conda(folder: Path, environment_file: Path, *, what: str, tool: str | None = None) -> Environment:
    """A conda prefix in ``folder`` created from ``environment_file`` with mamba/micromamba/conda."""
    tool = tool or conda_tool()
    if tool is None:
        raise ModelUnavailableError(
            f"{what}: {environment_file.name} needs conda, mamba or micromamba, and none is on PATH here. Install one "
            "(or set REXRANK_CONDA), or give a requirements.txt for a venv instead (--environment FILE)")
    identity = {"kind": "conda", "tool": Path(tool).name, "spec_sha256": sha256_bytes(environment_file.read_bytes())}
    digest = sha256_bytes(json.dumps(identity, sort_keys=True).encode())
    with _locked(folder):
        if _ready(folder, identity):
            return Environment(folder / "bin" / "python", folder, "conda", digest, created=False)
        logger.info("creating the conda environment of %s in %s with %s", what, folder, Path(tool).name)
        if folder.exists():
            shutil.rmtree(folder)
        create = [tool, "create", "--yes", "--prefix", str(folder), "--file", str(environment_file)] \
            if Path(tool).name == "micromamba" else \
            [tool, "env", "create", "--prefix", str(folder), "--file", str(environment_file)]
        _run(create, what, cwd=environment_file.parent)
        if not (folder / "bin" / "python").exists():
            raise ModelUnavailableError(f"{what}: {environment_file.name} created no Python interpreter; "
                                        "add python to its dependencies")
        (folder / MARKER).write_text(json.dumps(identity))
        return Environment(folder / "bin" / "python", folder, "conda", digest, created=True)
