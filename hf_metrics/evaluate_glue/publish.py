"""Publish the evaluate modules as Hub Spaces, so ``evaluate.load("<org>/rexrank_bleu2")`` works anywhere.

Each module Space holds ``<name>.py``, its ``README.md`` (Space YAML + metric card), an ``app.py``
that loads the Space's own module file, the wheel of this exact rexrank version, and a
``requirements.txt`` installing that wheel by its address, pinned by sha256 (or
``--rexrank-spec``). The module file's ``rexrank`` imports carry evaluate's ``# From:`` comment
with the same requirement: on a machine with only ``evaluate``, ``evaluate.load`` then names the
one ``pip install "rexrank @ …"`` line that makes the module work.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from rexrank import __version__
from rexrank.errors import InputError
from rexrank.hub import check_repo_id, endpoint, file_url, hub_token, repo_url
from rexrank.metrics.evaluate_glue.install import module_folders
from rexrank.release import PackageInstall, package_install, ship_wheel

logger = logging.getLogger(__name__)

SPACE_FILES = ("{name}.py", "README.md")
# evaluate.loading.get_imports reads column-0 imports only; the text after "# From: " becomes the pip hint
_OUR_IMPORT = re.compile(r"^((?:from|import)\s+rexrank(?:[.\s].*?)?)\s*(#.*)?$", re.M)

APP_TEMPLATE = '''"""Try {name} in the browser; written by `rexrank` {version} when it published this Space."""
import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load("{name}.py")  # this Space's own module file (the Space runs from its folder)
launch_gradio_widget(module)
'''

REQUIREMENTS_TEMPLATE = """\
# Written by `rexrank` {version} when it published this Space. CPU torch: never a CUDA build.
--extra-index-url https://download.pytorch.org/whl/cpu
torch
evaluate>=0.4.6,<0.5
{requirement}
"""


@dataclass(frozen=True)
class ModuleSpace:
    name: str
    repo_id: str
    folder: Path
    requirement: str


def with_install_hint(code: str, requirement: str) -> str:
    """Every column-0 ``rexrank`` import of a module file, with ``# From: "<requirement>"`` (quoted, so the
    hint evaluate prints is a shell line that works as it stands)."""
    if '"' in requirement:
        raise InputError(f"the requirement {requirement!r} cannot be quoted for evaluate's install hint")
    hinted, n = _OUR_IMPORT.subn(lambda m: f'{m.group(1)}  # From: "{requirement}"', code)
    if n == 0:
        raise InputError("the module file has no column-0 `rexrank` import for evaluate to check")
    return hinted


def write_module_space(name: str, source: Path, out: Path, install: PackageInstall) -> Path:
    """One module Space folder in ``out``."""
    missing = [f.format(name=name) for f in SPACE_FILES if not (source / f.format(name=name)).is_file()]
    if missing:
        raise InputError(f"{source}: missing {missing}; a module Space needs {name}.py and README.md")
    out.mkdir(parents=True, exist_ok=True)
    code = (source / f"{name}.py").read_text(encoding="utf-8")
    (out / f"{name}.py").write_text(with_install_hint(code, install.requirement), encoding="utf-8")
    shutil.copyfile(source / "README.md", out / "README.md")
    (out / "app.py").write_text(APP_TEMPLATE.format(name=name, version=__version__), encoding="utf-8")
    (out / "requirements.txt").write_text(REQUIREMENTS_TEMPLATE.format(version=__version__,
                                                                       requirement=install.requirement),
                                          encoding="utf-8")
    ship_wheel(install, out)
    return out


def selected(only: Sequence[str] | None) -> dict[str, Path]:
    folders = module_folders()
    unknown = sorted(set(only or ()) - set(folders))
    if unknown:
        raise InputError(f"no evaluate module named {unknown}; ours are: {', '.join(folders)}")
    return {k: v for k, v in folders.items() if not only or k in only}


def build_module_spaces(org: str, out: Path, *, only: Sequence[str] | None = None, rexrank_spec: str | None = None,
                        wheel: str | Path | None = None, hub: str | None = None) -> list[ModuleSpace]:
    """Write each module Space folder into ``out/<name>``; the wheel is built (at most) once and shipped to each."""
    check_repo_id(f"{org}/x", "--org")
    hub = (hub or endpoint()).rstrip("/")
    spaces, shipped = [], wheel
    for name, source in selected(only).items():
        repo_id = f"{org}/{name}"
        install = package_install(lambda f, r=repo_id: file_url(r, f, "space", hub=hub), wheel=shipped,
                                  rexrank_spec=rexrank_spec, workdir=out / ".build")
        shipped = shipped or install.wheel
        spaces.append(ModuleSpace(name, repo_id, write_module_space(name, source, out / name, install),
                                  install.requirement))
    return spaces


def publish(org: str, *, only: Sequence[str] | None = None, private: bool = False, rexrank_spec: str | None = None,
            wheel: str | Path | None = None, dry_run: bool = False, hub: str | None = None) -> list[str]:
    """Build every (or each ``only``) module Space and, unless ``dry_run``, upload it (token from ``HF_TOKEN``).
    Returns the Space addresses published."""
    from huggingface_hub import HfApi

    if private and not rexrank_spec:
        raise InputError("a private Space cannot serve its wheel to pip (no token at install time): publish the "
                         f"modules public, or pass --rexrank-spec rexrank=={__version__}")
    hub = (hub or endpoint()).rstrip("/")
    api = None if dry_run else HfApi(endpoint=hub, token=hub_token())
    urls = []
    with tempfile.TemporaryDirectory(prefix="rexrank-modules-") as tmp:
        for space in build_module_spaces(org, Path(tmp), only=only, rexrank_spec=rexrank_spec, wheel=wheel, hub=hub):
            url = repo_url(space.repo_id, "space", hub=hub)
            if api is None:
                logger.info("would publish %s -> %s (%s)", space.name, url,
                            ", ".join(sorted(p.name for p in space.folder.iterdir())))
                continue
            api.create_repo(space.repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
            info = api.upload_folder(repo_id=space.repo_id, repo_type="space", folder_path=str(space.folder),
                                     delete_patterns=["*.whl"],
                                     commit_message=f"Publish {space.name} (rexrank {__version__})")
            logger.info("published %s: %s", space.repo_id, getattr(info, "commit_url", info))
            urls.append(url)
    return urls
