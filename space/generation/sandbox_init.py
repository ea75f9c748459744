"""First process inside a submission's sandbox: lock the file system down, drop every privilege, exec.

Started by :mod:`rexrank.space.generation.sandbox` as the child of
``unshare --mount --net --pid --ipc --uts --fork --mount-proc [--user --map-root-user]``, so it
is (namespace) root in fresh namespaces with no network. It imports nothing from the project:

1. each ``--writable DIR`` is bind-mounted onto itself (it stays writable);
2. ``/dev`` is replaced by a small tmpfs holding only null, zero, full, random, urandom, tty and
   any GPU device nodes (``/dev/nvidia*``, ``/dev/dri``), plus a private ``/dev/shm``: no disk
   can be opened (a device node ignores a read-only mount, so the host's /dev cannot stay);
3. every other mount (``/`` and all below it, ``/proc`` and ``/sys`` included) is remounted
   read-only, and the result is checked;
4. ``setpriv`` clears every capability (bounding, inheritable, ambient) with ``no_new_privs``
   and locked securebits, and execs the command: it can neither remount nor regain anything.

Usage: ``python sandbox_init.py --writable DIR [--writable DIR ...] -- COMMAND [ARG ...]``.
Exit status 125 (with the reason on stderr) if any step fails: the command never runs half-isolated.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
GPU_DEVICES = ("/dev/nvidia*", "/dev/dri")
SETPRIV = ["setpriv", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all",
           "--securebits=+noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked,+keep_caps_locked"]


def fail(message: str) -> None:
    sys.stderr.write(f"rexrank sandbox: {message}\n")
    sys.exit(125)


def mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode:
        fail(f"mount {' '.join(args)} failed: {result.stderr.strip()}")


def visible_mounts() -> list[tuple[str, bool]]:
    """(mount point, read-only?) of every mount reachable by path, from /proc/self/mountinfo.

    A mount covered by another at the same place (the host's /dev under ours) cannot be reached
    and is left out: its mount point now shows another file system (st_dev differs).
    """
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            major, minor = (int(x) for x in fields[2].split(":"))
            point = fields[4].encode().decode("unicode_escape")  # \040 for spaces
            try:
                device = os.stat(point, follow_symlinks=False).st_dev
            except OSError:
                continue
            if (os.major(device), os.minor(device)) == (major, minor):
                out.append((point, "ro" in fields[5].split(",")))
    return out


def build_dev(staging: str) -> None:
    """A small /dev: the harmless nodes and the GPU's bound from the host's, a private /dev/shm."""
    mount("-t", "tmpfs", "-o", "mode=755,nosuid,size=64k", "tmpfs", staging)
    nodes = [f"/dev/{name}" for name in DEVICES if os.path.exists(f"/dev/{name}")]
    nodes += sorted({p for pattern in GPU_DEVICES for p in glob.glob(pattern)})
    for node in nodes:
        target = staging + node[len("/dev"):]
        if os.path.isdir(node):
            os.makedirs(target, exist_ok=True)
        else:
            open(target, "w").close()
        mount("--bind", node, target)
    os.makedirs(staging + "/shm")
    mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev,size=2g", "tmpfs", staging + "/shm")
    for name, link in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                       ("stderr", "/proc/self/fd/2")):
        os.symlink(link, f"{staging}/{name}")


def main(argv: list[str]) -> None:
    if "--" not in argv:
        fail("usage: sandbox_init.py --writable DIR ... -- COMMAND")
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1:]
    writable = [os.path.realpath(options[i + 1]) for i, a in enumerate(options) if a == "--writable"]
    if not command or not writable:
        fail("needs at least one --writable folder and a command")
    mount("--make-rprivate", "/")
    for folder in writable:
        mount("--bind", folder, folder)
    staging = os.path.join(writable[0], ".rexrank-dev")  # built beside the scratch, then moved over /dev
    os.makedirs(staging)
    build_dev(staging)
    mount("--move", staging, "/dev")
    os.rmdir(staging)
    keep = set(writable) | {"/dev/shm"}
    for point, read_only in visible_mounts():
        if point not in keep and not read_only:
            mount("-o", "remount,bind,ro", point)
    left = [point for point, read_only in visible_mounts() if point not in keep and not read_only]
    if left:
        fail(f"could not make {', '.join(left[:5])} read-only")
    os.execvp(SETPRIV[0], SETPRIV + ["--", *command])


if __name__ == "__main__":
    main(sys.argv[1:])
