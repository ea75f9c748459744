"""First process inside a submission's sandbox: build a minimal read-only root, drop every privilege, exec.

Started by :mod:`rexrank.space.generation.sandbox` as the child of
``unshare --mount --net --pid --ipc --uts --fork --mount-proc [--user --map-root-user]``, so it
is (namespace) root in fresh namespaces with no network. It imports nothing from the project:

1. a new root on a small tmpfs gets, at their own paths, only: the system (``/usr``, the
   ``/lib*``, ``/bin``, ``/sbin`` links, a few files of ``/etc``), each ``--read-only PATH``
   (the interpreter's installation, the environment, the submission, the image root) and each
   ``--writable PATH`` (the scratch folder). Nothing else of the host exists inside: not the
   home folders, the HuggingFace cache and its token, the store, nor a private manifest;
2. ``/dev`` holds only null, zero, full, random, urandom, tty and any GPU nodes (``/dev/nvidia*``,
   ``/dev/dri``), plus a private ``/dev/shm``: no disk can be opened; ``/proc`` is the new PID
   namespace's, ``/sys`` the host's;
3. it changes root into it, remounts every mount but the scratch folder and ``/dev/shm``
   read-only, and checks that;
4. ``setpriv`` clears every capability (bounding, inheritable, ambient) with ``no_new_privs``
   and locked securebits, and execs the command: it can neither remount nor leave the root.

Usage: ``python sandbox_init.py --writable DIR [--read-only PATH ...] -- COMMAND [ARG ...]``.
Exit status 125 (with the reason on stderr) if any step fails: the command never runs half-isolated.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC = ("passwd", "group", "hosts", "nsswitch.conf", "host.conf", "resolv.conf", "localtime", "timezone",
       "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "ssl", "ca-certificates", "pki", "alternatives", "mime.types",
       "os-release", "fonts", "machine-id")
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


_OCTAL = re.compile(r"\\([0-7]{3})")  # compiled before the change of root: no import may happen after it


def visible_mounts() -> list[tuple[str, bool]]:
    """(mount point, read-only?) of every mount reachable by path, from /proc/self/mountinfo.

    A mount covered by another at the same place cannot be reached and is left out: its mount
    point then shows another file system (st_dev differs).
    """
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            major, minor = (int(x) for x in fields[2].split(":"))
            point = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), fields[4])  # \040 for a space
            try:
                device = os.stat(point, follow_symlinks=False).st_dev
            except OSError:
                continue
            if (os.major(device), os.minor(device)) == (major, minor):
                out.append((point, "ro" in fields[5].split(",")))
    return out


def place(root: str, path: str, *, recursive: bool = True) -> None:
    """Bind ``path`` (a folder or a file) at the same path under ``root``; a symlink is copied as a symlink."""
    target = root + path
    if os.path.islink(path):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(path), target)
        return
    if os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    mount("--rbind" if recursive else "--bind", path, target)


def build_dev(dev: str) -> None:
    """A small /dev: the harmless nodes and the GPU's bound from the host's, a private /dev/shm."""
    os.makedirs(dev)
    mount("-t", "tmpfs", "-o", "mode=755,nosuid,size=64k", "tmpfs", dev)
    nodes = [f"/dev/{name}" for name in DEVICES if os.path.exists(f"/dev/{name}")]
    nodes += sorted({p for pattern in GPU_DEVICES for p in glob.glob(pattern)})
    for node in nodes:
        target = dev + node[len("/dev"):]
        if os.path.isdir(node):
            os.makedirs(target, exist_ok=True)
        else:
            open(target, "w").close()
        mount("--bind", node, target)
    os.makedirs(dev + "/shm")
    mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev,size=2g", "tmpfs", dev + "/shm")
    for name, link in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                       ("stderr", "/proc/self/fd/2")):
        os.symlink(link, f"{dev}/{name}")


def main(argv: list[str]) -> None:
    if "--" not in argv:
        fail("usage: sandbox_init.py --writable DIR [--read-only PATH ...] -- COMMAND")
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1:]
    writable = [os.path.realpath(options[i + 1]) for i, a in enumerate(options) if a == "--writable"]
    read_only = [os.path.realpath(options[i + 1]) for i, a in enumerate(options) if a == "--read-only"]
    if not command or not writable:
        fail("needs at least one --writable folder and a command")
    for path in read_only:
        if any(w == path or w.startswith(path.rstrip("/") + "/") for w in writable):
            fail(f"the read-only path {path} contains the scratch folder; keep them apart")
    mount("--make-rprivate", "/")
    root = os.path.join(writable[0], ".rexrank-root")
    os.makedirs(root)
    mount("-t", "tmpfs", "-o", "mode=755,nosuid,nodev,size=16m", "tmpfs", root)
    for path in SYSTEM:
        if os.path.lexists(path):
            place(root, path)
    for name in ETC:
        if os.path.exists(f"/etc/{name}"):
            place(root, f"/etc/{name}")
    for path in read_only:
        if not os.path.exists(path):
            fail(f"{path} does not exist")
        place(root, path)
    for path in writable:
        place(root, path, recursive=False)  # not the new root mounted inside it
    for name in ("proc", "sys"):
        place(root, f"/{name}")
    build_dev(root + "/dev")
    os.makedirs(root + "/tmp", exist_ok=True)  # exists (some tools insist), read-only: TMPDIR is in the scratch
    os.chroot(root)
    os.chdir(writable[0])
    keep = set(writable) | {"/dev/shm"}
    for point, is_read_only in visible_mounts():
        if point not in keep and not is_read_only:
            mount("-o", "remount,bind,ro", point)
    left = [point for point, is_read_only in visible_mounts() if point not in keep and not is_read_only]
    if left:
        fail(f"could not make {', '.join(left[:5])} read-only")
    os.execvp(SETPRIV[0], SETPRIV + ["--", *command])


if __name__ == "__main__":
    main(sys.argv[1:])
