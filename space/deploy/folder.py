"""``rexrank space build``: a self-contained Space folder that the Hub builds as it is.

The folder holds ``README.md`` (the Space YAML and card, from this package's ``space/README.md``),
a three-line ``app.py`` that runs :func:`rexrank.space.app.main`, the wheel of this exact version,
and ``requirements.txt`` naming that wheel by its address in the Space repo, pinned by sha256
(see :mod:`rexrank.release` for why a relative path cannot work on the Hub). Nothing in it names
the build machine or carries a secret: the store is a Space variable, tokens are Space secrets.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from rexrank import __version__
from rexrank.errors import InputError
from rexrank.hub import check_repo_id, file_url
from rexrank.release import PackageInstall, package_install, ship_wheel, source_tree

logger = logging.getLogger(__name__)

TORCH_INDEX = "https://download.pytorch.org/whl/cpu"  # CPU torch, so the Space never pulls a CUDA build
SECRET_ENV_SUFFIXES = ("TOKEN", "KEY", "SECRET", "PASSWORD")

APP_TEMPLATE = '''"""The ReXrank leaderboard Space, written by `rexrank space build` (rexrank {version}).

The code is the installed rexrank package (requirements.txt installs exactly that version);
configuration comes from the Space's variables and secrets (see README.md).
"""
{store_default}
from rexrank.space.app import main

if __name__ == "__main__":
    main()
'''

REQUIREMENTS_TEMPLATE = """\
# Written by `rexrank space build` (rexrank {version}). The Hub installs this together with
# gradio[oauth,mcp]=={gradio} (sdk_version in README.md). CPU torch: the Space never pulls a CUDA build.
--extra-index-url {torch_index}
torch
{requirement}
"""


@dataclass
class SpaceFolder:
    """What was written: the folder, its requirement line, and the Space YAML."""

    path: Path
    requirement: str
    header: dict
    files: list[str] = field(default_factory=list)


def template_card() -> str:
    """The Space card shipped in the package (``space/README.md``: YAML header + text)."""
    return resources.files("rexrank.space").joinpath("README.md").read_text(encoding="utf-8")


def card_header(card: str) -> dict:
    import yaml

    if not card.startswith("---\n"):
        raise InputError("the Space card has no YAML header")
    return yaml.safe_load(card[4:].split("\n---", 1)[0]) or {}


def check_store(store: str | None) -> str | None:
    if store is None:
        return None
    if not store.startswith("hub:"):
        raise InputError(f"--store {store!r}: a Space keeps its queue in a Hub dataset repo, so give hub:ORG/REPO "
                         "(a folder inside a Space is lost on every restart)")
    check_repo_id(store[4:], "--store hub:ORG/REPO")
    return store


def build_folder(out: str | os.PathLike, *, space_id: str | None = None, store: str | None = None,
                 rexrank_spec: str | None = None, wheel: str | os.PathLike | None = None,
                 hub: str | None = None, install: PackageInstall | None = None) -> SpaceFolder:
    """Write the Space into ``out`` (which must be empty or new); returns what was written.

    The wheel is installed from ``hub``'s ``spaces/<space_id>/resolve/main/<wheel>``, so without
    ``rexrank_spec`` the Space id must be known.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty: give a new or empty folder for the Space")
    store = check_store(store)
    if space_id is not None:
        check_repo_id(space_id, "the Space id")
    if install is None and rexrank_spec is None and space_id is None:
        raise InputError("the Space installs its wheel from the Space repo by address, so name the Space: "
                         "--space-id ORG/NAME (or give --rexrank-spec rexrank==VERSION from a package index)")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rexrank-space-") as tmp:
        install = install or package_install(lambda name: file_url(space_id, name, "space", hub=hub),
                                             extras=("space",), wheel=wheel, rexrank_spec=rexrank_spec,
                                             workdir=Path(tmp))
        return _write(out, install, store)


def _write(out: Path, install: PackageInstall, store: str | None) -> SpaceFolder:
    card = template_card()
    header = card_header(card)
    store_default = (f'import os\n\nos.environ.setdefault("REXRANK_STORE", "{store}")  # the Space variable wins\n'
                     if store else "")
    files = {
        "README.md": card,
        "app.py": APP_TEMPLATE.format(version=__version__, store_default=store_default),
        "requirements.txt": REQUIREMENTS_TEMPLATE.format(version=__version__, gradio=header["sdk_version"],
                                                         torch_index=TORCH_INDEX, requirement=install.requirement),
    }
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    ship_wheel(install, out)
    written = sorted(p.name for p in out.iterdir())
    refuse_leaks(out)
    logger.info("Space folder %s: %s", out, ", ".join(written))
    return SpaceFolder(out, install.requirement, header, written)


def _machine_paths(out: Path) -> list[str]:
    """Paths of this machine that must never appear in a published folder."""
    paths = {str(Path.home()), str(out.resolve()), sys.prefix, str(Path.cwd().resolve())}
    root = source_tree()
    if root is not None:
        paths.add(str(root))
    return sorted(p for p in paths if len(p) > 1)


def _secret_values() -> list[str]:
    return [v for k, v in os.environ.items() if k.upper().endswith(SECRET_ENV_SUFFIXES) and len(v) >= 8]


def refuse_leaks(folder: Path) -> None:
    """No path of the build machine and no secret from its environment in any text file of the folder."""
    paths, secrets = _machine_paths(folder), _secret_values()
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix == ".whl":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found = [p for p in paths if p in text]
        if found:
            raise InputError(f"{path.name} would publish a path of this machine ({found[0]}); nothing was uploaded")
        if any(s in text for s in secrets):
            raise InputError(f"{path.name} would publish a secret from this environment; nothing was uploaded")
