#!/usr/bin/env python3
"""The device check: prove the CUDA paths right and measure them, in one offline run.

    python scripts/device_check.py [--device cuda] [--quick] [--out DIR]      # from a checkout
    python DIR/device_check.py                                                 # from scripts/device_wheels.sh DIR

This file only prepares the imports, with the standard library: when a ``wheels/`` folder lies
beside it (or ``--wheels DIR`` names one), the wheels of distributions that are not installed
already (and always ``rexrank`` itself) are installed with ``pip install --no-index --no-deps
--target`` into a temporary folder, which goes first on ``sys.path``; an ``assets/`` folder beside
it is passed on as ``--assets``. Then :mod:`rexrank.device_check.main` runs (its ``--help`` lists
the options).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _distribution(wheel: Path) -> str:
    """The distribution a wheel file holds, normalised as pip normalises names."""
    return re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def install_wheels(folder: Path, target: Path) -> list[str]:
    """Install the wheels in ``folder`` that this Python lacks (``rexrank`` always) into ``target``."""
    wheels = sorted(folder.glob("*.whl"))
    chosen = [w for w in wheels if _distribution(w) == "rexrank" or not _installed(_distribution(w))]
    if chosen:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                        "--disable-pip-version-check", "--target", str(target), *map(str, chosen)], check=True)
    return [w.name for w in chosen]


def main(argv: list[str]) -> int:
    wheels = HERE / "wheels"
    if "--wheels" in argv:
        at = argv.index("--wheels")
        wheels = Path(argv[at + 1])
        argv = argv[:at] + argv[at + 2:]
    if wheels.is_dir():
        target = Path(tempfile.mkdtemp(prefix="rexrank-device-wheels-"))
        installed = install_wheels(wheels, target)
        print(f"installed {len(installed)} wheel(s) from {wheels} into {target}", flush=True)
        sys.path.insert(0, str(target))
    if (HERE / "assets").is_dir() and "--assets" not in argv:
        argv = [*argv, "--assets", str(HERE / "assets")]
    try:
        from rexrank.device_check.main import main as run
    except ImportError as err:
        print(f"cannot import rexrank ({err}): install the package (pip install -e .), or run the copy in the "
              "folder `bash scripts/device_wheels.sh DIR` made (DIR/device_check.py), or pass --wheels DIR", file=sys.stderr)
        return 2
    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
