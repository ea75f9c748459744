"""Running a submission's code isolated: no network, a read-only file system except its scratch folder.

On Linux with util-linux (``unshare``, ``mount``, ``setpriv``) the command runs in new mount,
network, PID, IPC and UTS namespaces (as root directly, otherwise inside a user namespace):
:mod:`rexrank.space.generation.sandbox_init` gives it a new root holding only the system, the
paths it is given read-only (interpreter, environment, submission, images) and its scratch
folder (the only writable place), a ``/dev`` of a few harmless nodes (and GPU ones), then
drops every capability before exec. The network namespace has only a loopback that is down,
so nothing is reachable; the rest of the host (home folders, tokens, the store, a private
manifest) does not exist inside. Where that is not possible (macOS, a container without namespaces) the mode
``auto`` runs the command unisolated and says so; mode ``sandbox`` refuses instead.

The environment handed to the code is rebuilt from scratch: no secret (``HF_TOKEN``, API keys)
ever reaches it, ``HOME`` and ``TMPDIR`` point into the scratch folder.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

from rexrank.errors import RexrankError

logger = logging.getLogger(__name__)

MODES = ("auto", "sandbox", "none")
INIT = Path(__file__).resolve().with_name("sandbox_init.py")
TOOLS = ("unshare", "mount", "setpriv")
PASS_THROUGH = ("LANG", "LC_ALL", "TZ", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "OMP_NUM_THREADS",
                "MKL_NUM_THREADS")


class SandboxUnavailable(RexrankError):
    """Isolation was required (mode ``sandbox``) but this machine cannot provide it."""


@dataclass(frozen=True)
class Isolation:
    """What a run was given; recorded with its predictions."""

    mode: str  # "sandbox" or "none"
    network: bool  # True: the code could reach the network
    read_only: bool  # True: everything but the scratch folder was read-only
    how: str

    def to_dict(self) -> dict:
        return asdict(self)


def _namespace_flags() -> list[str]:
    flags = ["--mount", "--pid", "--ipc", "--uts", "--fork", "--mount-proc", "--kill-child"]
    if os.geteuid() != 0:
        flags += ["--user", "--map-root-user"]
    return flags


@functools.lru_cache(maxsize=4)
def probe(network: bool = False) -> tuple[bool, str]:
    """(whether the sandbox works here, why not): one real trial run of the init, cached per process."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if sys.platform != "linux" or missing:
        return False, f"needs Linux with {', '.join(TOOLS)} (missing: {', '.join(missing) or sys.platform})"
    with tempfile.TemporaryDirectory(prefix="rexrank-sandbox-probe-") as scratch:
        cmd = ["unshare", *_namespace_flags(), *([] if network else ["--net"]), "--",
               sys.executable, "-I", str(INIT), "--writable", scratch, "--read-only", str(INIT.parent), "--",
               "sh", "-c", f"touch {scratch}/ok && test -f {INIT} && ! touch {INIT.parent}/.rexrank-probe 2>/dev/null"]
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as err:
            return False, f"unshare could not run ({err})"
        if result.returncode == 0 and Path(scratch, "ok").exists():
            return True, ""
        return False, (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]


def clean_environment(scratch: Path, extra: Mapping[str, str] | None = None, path_first: Sequence[Path] = ()) -> dict:
    """The only variables the code sees: a PATH, HOME/TMPDIR/caches in scratch, locale and device choices."""
    home, tmp = scratch / "home", scratch / "tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    env = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
    env.update({
        "PATH": os.pathsep.join([*(str(p) for p in path_first), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home), "TMPDIR": str(tmp), "XDG_CACHE_HOME": str(home / ".cache"),
        "HF_HOME": str(home / ".cache" / "huggingface"), "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1", "MPLCONFIGDIR": str(tmp / "matplotlib"),
    })
    env.setdefault("LANG", "C.UTF-8")
    env.update(extra or {})
    return env


def wrap(command: Sequence[str], scratch: Path, *, read_only: Sequence[Path] = (), mode: str = "auto",
         network: bool = False) -> tuple[list[str], Isolation]:
    """The command line that runs ``command`` as isolated as ``mode`` allows, and what that is.

    Inside the sandbox only the system, ``read_only`` (everything the command needs: its
    interpreter, code, data) and ``scratch`` (writable) exist, each at its own path."""
    if mode not in MODES:
        raise ValueError(f"unknown isolation mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "none":
        return list(command), Isolation("none", True, False, "isolation turned off (--isolation none)")
    works, why = probe(network)
    if not works:
        if mode == "sandbox":
            raise SandboxUnavailable(
                f"this machine cannot isolate submitted code ({why}); run it where unshare works (Linux, root or "
                "user namespaces), or pass --isolation auto/none to run it unisolated at your own risk")
        logger.warning("no sandbox here (%s): the script runs with your network and file system access", why)
        return list(command), Isolation("none", True, False, f"sandbox unavailable: {why}")
    cmd = ["unshare", *_namespace_flags(), *([] if network else ["--net"]), "--",
           sys.executable, "-I", str(INIT), "--writable", str(Path(scratch).resolve())]
    for path in read_only:
        cmd += ["--read-only", str(Path(path).resolve())]
    cmd += ["--", *command]
    how = ("Linux namespaces: only the system, the environment, the submission and the images (read-only) and "
           "the scratch folder (writable) exist; minimal /dev, no capabilities" + ("" if network else ", no network"))
    return cmd, Isolation("sandbox", network, True, how)
