"""What a published Space installs: exactly this version of the package, as one pip requirement.

A Hub Space (and an evaluate module Space) installs its ``requirements.txt`` before the repo's
files are copied in, from an empty folder, so a line ``./rexrank-X.whl`` cannot work there. The
wheel is therefore shipped in the Space repo and named by its download address, pinned by its
sha256 (``rexrank[space] @ https://huggingface.co/spaces/ORG/NAME/resolve/main/rexrank-X-py3-none-any.whl#sha256=…``):
pip fetches it from the public repo and refuses any other bytes. Once a version is on a package
index, ``--rexrank-spec rexrank==X`` replaces the wheel.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from rexrank import __version__
from rexrank.digests import sha256_bytes
from rexrank.errors import InputError, RexrankError

logger = logging.getLogger(__name__)

DIST = "rexrank"
WHEEL_NAME = f"{DIST}-{__version__}-py3-none-any.whl"
_NOT_SOURCE = (".git", ".venv", ".oracle", "build", "dist", "*.egg-info", "__pycache__", "test-artifacts", ".pytest_cache",
               ".hypothesis", "tests", "out", "runs")


@dataclass(frozen=True)
class PackageInstall:
    """The ``requirements.txt`` line that installs the package, and the wheel to ship beside it (if any)."""

    requirement: str
    wheel: Path | None = None


def source_tree() -> Path | None:
    """The checkout this package runs from (its ``pyproject.toml`` names ``rexrank``), or None when installed."""
    root = Path(__file__).resolve().parents[1]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "rexrank"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def build_wheel(out_dir: Path, root: Path | None = None) -> Path:
    """Build this checkout's wheel into ``out_dir`` (``pip wheel``, the same build backend as ``python -m build``)."""
    root = root or source_tree()
    if root is None:
        raise InputError("this rexrank is installed, not a checkout, so it cannot build its own wheel: pass "
                         f"--wheel {WHEEL_NAME} (from `python -m build`), or --rexrank-spec rexrank=={__version__} "
                         "once that version is on a package index")
    out_dir.mkdir(parents=True, exist_ok=True)
    logger.info("building the rexrank %s wheel from %s", __version__, root)
    # from a clean copy: setuptools builds in the tree's build/, where a deleted module would linger
    source = out_dir / "source"
    shutil.copytree(root, source, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out_dir),
                           str(source)], capture_output=True, text=True)
    shutil.rmtree(source, ignore_errors=True)
    wheel = out_dir / WHEEL_NAME
    if done.returncode != 0 or not wheel.is_file():
        raise RexrankError(f"building the wheel failed (pip wheel exit {done.returncode}):\n{done.stderr[-2000:]}")
    return wheel


def check_wheel(path: str | Path) -> Path:
    """A given wheel must exist and be this version's: a Space built with one version and running another
    would record the wrong version in every result."""
    wheel = Path(path)
    if not wheel.is_file():
        raise InputError(f"--wheel {wheel}: no such file")
    if wheel.name != WHEEL_NAME:
        raise InputError(f"--wheel {wheel.name}: this is rexrank {__version__}, so the wheel must be {WHEEL_NAME} "
                         "(build it with `python -m build` from the same checkout)")
    return wheel


def sha256_file(path: Path) -> str:
    return sha256_bytes(path.read_bytes())


def spec_requirement(spec: str, extras: tuple[str, ...] = ()) -> str:
    """``--rexrank-spec`` as a requirement line: a ``rexrank`` requirement pinned to this version (or a URL)."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(spec)
    except InvalidRequirement as err:
        raise InputError(f"--rexrank-spec {spec!r} is not a pip requirement: {err}") from None
    if req.name.lower() != DIST:
        raise InputError(f"--rexrank-spec {spec!r} must install the rexrank distribution, not {req.name!r}")
    if not req.url and not (len(req.specifier) == 1 and next(iter(req.specifier)).operator == "=="
                            and req.specifier.contains(__version__)):
        raise InputError(f"--rexrank-spec {spec!r} must pin this version exactly (rexrank=={__version__}) or be a URL, "
                         "so the Space runs the version it was built and tested with")
    req.extras = set(req.extras) | set(extras)
    return str(req)


def wheel_requirement(wheel: Path, url: str, extras: tuple[str, ...] = ()) -> str:
    """``rexrank[extras] @ URL#sha256=HEX``: pip downloads the wheel and refuses other bytes."""
    extra = f"[{','.join(sorted(extras))}]" if extras else ""
    return f"{DIST}{extra} @ {url}#sha256={sha256_file(wheel)}"


def package_install(url_of_wheel, *, extras: tuple[str, ...] = (), wheel: str | Path | None = None,
                    rexrank_spec: str | None = None, workdir: Path) -> PackageInstall:
    """How a Space installs the package: ``--rexrank-spec``, else the given or freshly built wheel, shipped in
    the Space repo and named by ``url_of_wheel(filename)``."""
    if rexrank_spec:
        if wheel:
            raise InputError("give --wheel or --rexrank-spec, not both")
        return PackageInstall(spec_requirement(rexrank_spec, extras))
    path = check_wheel(wheel) if wheel else build_wheel(workdir / "wheel")
    return PackageInstall(wheel_requirement(path, url_of_wheel(path.name), extras), path)


def ship_wheel(install: PackageInstall, folder: Path) -> None:
    """Copy the wheel (if the install uses one) into the folder that becomes the repo."""
    if install.wheel is not None:
        shutil.copyfile(install.wheel, folder / install.wheel.name)
