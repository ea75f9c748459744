"""Install our `evaluate` modules so `evaluate.load("rexrank")` and `evaluate.load("rexrank_bleu2")` work by bare name, offline too.

`evaluate.load("<name>")` first asks the Hub for `evaluate-metric/<name>`; when that fails
(offline, unreachable, not there) it uses the newest cached copy at
`$HF_MODULES_CACHE/evaluate_modules/metrics/evaluate-metric--<name>/<64 hex>/<name>.py`.
This command writes each of our module folders (`hf_metrics/rexrank`, `hf_metrics/rexrank_*`)
there. The module files are thin: they import the installed `rexrank` package, so
reinstall after upgrading the package only if the module files themselves changed.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
from pathlib import Path

from rexrank.digests import sha256_bytes

logger = logging.getLogger(__name__)

MODULE_NAMESPACE = "evaluate_modules"  # evaluate.config.MODULE_NAME_FOR_DYNAMIC_MODULES
CANONICAL_PREFIX = "evaluate-metric--"
_COPIED = ("README.md", "requirements.txt")


def modules_cache() -> Path:
    """Where `evaluate` keeps dynamic modules: $HF_MODULES_CACHE, else $HF_HOME/modules (as evaluate.config)."""
    if os.environ.get("HF_MODULES_CACHE"):
        return Path(os.environ["HF_MODULES_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "modules"


def module_folders(root: Path | None = None) -> dict[str, Path]:
    """Our evaluate module folders: ``name -> folder`` for each folder holding ``<name>.py``."""
    root = root or Path(__file__).resolve().parents[1]  # hf_metrics/, where the module folders are
    found = {}
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and (folder.name == "rexrank" or folder.name.startswith("rexrank_")) \
                and (folder / f"{folder.name}.py").is_file():
            found[folder.name] = folder
    return found


def _touch_init(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    init = path / "__init__.py"
    if not init.exists():
        init.write_text("")


def install_module(name: str, folder: Path, cache: Path) -> Path:
    """Write one module where evaluate's cached-module lookup finds it; returns the .py path."""
    script = folder / f"{name}.py"
    code = script.read_bytes()
    digest = sha256_bytes(code)
    base = cache / MODULE_NAMESPACE / "metrics" / f"{CANONICAL_PREFIX}{name}"
    for level in (cache, cache / MODULE_NAMESPACE, cache / MODULE_NAMESPACE / "metrics", base):
        _touch_init(level)
    for old in base.iterdir():  # older copies of *our* module only
        if old.is_dir() and len(old.name) == 64 and old.name != digest:
            shutil.rmtree(old)
    target = base / digest
    _touch_init(target)
    (target / script.name).write_bytes(code)
    for extra in _COPIED:
        if (folder / extra).is_file():
            shutil.copyfile(folder / extra, target / extra)
    os.utime(target / script.name)  # newest copy wins in evaluate's lookup
    return target / script.name


def install(cache: Path | None = None, only: list[str] | None = None) -> dict[str, Path]:
    cache = Path(cache) if cache else modules_cache()
    folders = module_folders()
    if only:
        unknown = sorted(set(only) - set(folders))
        if unknown:
            from rexrank.errors import InputError

            raise InputError(f"no evaluate module named {unknown}; ours are: {', '.join(folders)}")
        folders = {k: v for k, v in folders.items() if k in only}
    return {name: install_module(name, folder, cache) for name, folder in folders.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--modules-cache", type=Path, default=None,
                        help="evaluate's modules cache (default: $HF_MODULES_CACHE, else $HF_HOME/modules)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="install only these modules (e.g. rexrank rexrank_bleu2)")


def run(args: argparse.Namespace) -> int:
    installed = install(args.modules_cache, args.only)
    for name, path in installed.items():
        print(f"{name:<24} {path}")
    print(f"\n{len(installed)} modules installed. Use them by bare name, online or offline:\n"
          '  import evaluate; rexrank = evaluate.load("rexrank")')
    return 0
