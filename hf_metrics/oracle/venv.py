"""The official metric packages' own virtual environment: where it lives and the one recipe that makes it.

The official packages need the stack they were written for (DESIGN §6: transformers 4, numpy 1,
bert-score 0.3.11 whose metadata pip >= 24.1 refuses, ...), so they live in a venv of their own.
``rexrank verify --setup`` makes it for users (by default under the HF cache), and
``scripts/oracle_env.sh`` makes the checkout's ``.oracle`` for the tests with the same function,
adding the test extras. Standard library only: the script runs it with a bare ``python3``
(``python3 hf_metrics/oracle/venv.py --venv .oracle --test-extras``), before anything is installed.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

CHECKOUT = Path(__file__).resolve().parents[2]  # hf_metrics/oracle/venv.py -> the checkout (editable install)
TORCH = "torch==2.13.0"
PIP = "pip<24.1"  # newer pip refuses bert-score 0.3.11's malformed metadata
OFFICIAL = ("transformers<5", "bert-score==0.3.11", "fast-bleu==0.0.90", "radgraph==0.1.18", "requests",
            "f1chexbert==0.0.2", "RaTEScore==0.6.0", "medspacy", "pandas<3", "scikit-learn<1.8")
# Only the tests need these: datasets 3 runs our builder as a loading script (pyarrow 21+ needs numpy 2).
TEST_EXTRAS = ("datasets>=3.6,<4", "pyarrow<21")
IMPORTS = ("bert_score", "fast_bleu", "radgraph", "f1chexbert", "RaTEScore", "medspacy")
DISK_COST = "about 1.7 GB (CPU torch 2.13 and the official packages); a few minutes"


def default_venv() -> Path:
    """``$REXRANK_ORACLE_VENV``, else the checkout's ``.oracle`` when it exists (a development
    install), else ``$HF_HOME/rexrank/oracle-venv`` (``HF_HOME`` defaults to ~/.cache/huggingface)."""
    if os.environ.get("REXRANK_ORACLE_VENV"):
        return Path(os.environ["REXRANK_ORACLE_VENV"]).expanduser()
    if (CHECKOUT / ".oracle" / "bin" / "python").exists() and (CHECKOUT / "pyproject.toml").is_file():
        return CHECKOUT / ".oracle"
    home = Path(os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "huggingface")
    return home.expanduser() / "rexrank" / "oracle-venv"


def python_of(venv: str | os.PathLike) -> Path:
    return Path(venv).absolute() / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def is_ready(venv: str | os.PathLike, test_extras: bool = False) -> bool:
    """True when the venv imports every official package (and the test extras when asked)."""
    python = python_of(venv)
    if not python.exists():
        return False
    imports = IMPORTS + (("datasets", "rexrank.datasets.manifests") if test_extras else ())
    return subprocess.run([str(python), "-c", "import " + ", ".join(imports)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir()).returncode == 0


def _pip(python: Path, *args: str) -> None:
    command = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args]
    logger.debug("running %s", " ".join(command))
    subprocess.run(command, check=True)


def create(venv: str | os.PathLike, *, test_extras: bool = False, base_python: str | None = None,
           torch_index_url: str | None = None) -> Path:
    """Make (or complete) the venv; idempotent: a ready venv is left as it is. Returns its python.

    ``torch_index_url``: where the torch wheel comes from (e.g. https://download.pytorch.org/whl/cpu
    for a CPU-only build on Linux, where PyPI's wheel brings the CUDA libraries). Every later install
    is constrained to that torch, so nothing replaces it.
    """
    venv = Path(venv).absolute()
    python = python_of(venv)
    if is_ready(venv, test_extras):
        logger.info("the official packages are ready in %s", venv)
        return python
    if test_extras and not (CHECKOUT / "pyproject.toml").is_file():
        raise SystemExit("--test-extras needs a checkout of the repository (it installs this checkout into the venv)")
    if not python.exists():
        logger.info("creating %s (%s)", venv, DISK_COST)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([base_python or _base_python(), "-m", "venv", str(venv)], check=True)
    steps = [("pip", [PIP]), ("torch", [TORCH] + (["--index-url", torch_index_url] if torch_index_url else []))]
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text(TORCH + "\n")
        steps.append(("the official metric packages", ["-c", str(constraints), *OFFICIAL, *(TEST_EXTRAS if test_extras else ())]))
        for i, (what, args) in enumerate(steps, 1):
            logger.info("[%d/%d] installing %s into %s", i, len(steps) + test_extras, what, venv)
            _pip(python, *args)
    if test_extras:
        # datasets 3 imports rexrank.datasets from this checkout; without dependencies, so the
        # oracle keeps the official packages' stack.
        logger.info("[%d/%d] installing this checkout (no dependencies) for the datasets-script test", 4, 4)
        _pip(python, "--no-deps", "-e", str(CHECKOUT))
    if not is_ready(venv, test_extras):
        raise SystemExit(f"{venv} was set up but does not import {', '.join(IMPORTS)}; see pip's messages above")
    return python


def _base_python() -> str:
    """The interpreter to build the venv from: this one's base (a venv inside a venv would inherit nothing useful)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", type=Path, default=None, help=f"where (default: {default_venv()})")
    parser.add_argument("--test-extras", action="store_true", help="also what the test suite needs (a checkout only)")
    parser.add_argument("--python", default=None, help="base interpreter for a new venv (default: this one)")
    parser.add_argument("--torch-index-url", default=None, help="index for the torch wheel (e.g. a CPU-only index)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    create(args.venv or default_venv(), test_extras=args.test_extras, base_python=args.python,
           torch_index_url=args.torch_index_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
