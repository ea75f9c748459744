"""A real multi-node Ray cluster on this machine, on loopback addresses only (tests, benchmarks).

Ray maps ``localhost``/``127.0.0.1`` to the machine's external interface on purpose, so each
node gets another loopback address, which Ray uses as given: the head on 127.0.0.2, more nodes
on 127.0.0.3, ... (DESIGN §9). Ray 2.60 turns token authentication on for ``ray start --head``
and a joining node then fails, so the test cluster runs with ``RAY_AUTH_MODE=disabled`` (a real
cluster keeps it on). ``ray stop`` stops every Ray on the machine, whoever started it; :meth:`stop`
stops only this cluster's processes (found by its own temp dir) and removes that dir.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def ray_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the test cluster's nodes and of a driver that joins it."""
    env = dict(os.environ if base is None else base)
    env.update({"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"})
    return env


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LocalCluster:
    """``ray start`` a head node (127.0.0.2) and ``len(worker_ips)`` more nodes, ``cpus`` CPUs each."""

    def __init__(self, worker_ips: tuple[str, ...] = ("127.0.0.3",), cpus: int = 1, head_ip: str = "127.0.0.2",
                 object_store_mb: int = 300):
        self.head_ip, self.worker_ips, self.cpus = head_ip, tuple(worker_ips), cpus
        # short: Ray's unix sockets live under it (the AF_UNIX path limit is 107 bytes)
        self.temp_dir = tempfile.mkdtemp(prefix="rxray_", dir="/tmp")
        self.object_store = object_store_mb * 2**20
        self.port: int | None = None

    @property
    def address(self) -> str:
        return f"{self.head_ip}:{self.port}"

    def _ray(self, *args: str) -> None:
        ray = str(Path(sys.executable).parent / "ray")
        done = subprocess.run([ray, *args], env=ray_environment(), capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"ray {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")

    def start(self) -> "LocalCluster":
        self.port = _free_port(self.head_ip)
        common = ["--num-cpus", str(self.cpus), "--num-gpus", "0", "--temp-dir", self.temp_dir,
                  "--object-store-memory", str(self.object_store), "--disable-usage-stats"]
        try:
            self._ray("start", "--head", "--port", str(self.port), "--node-ip-address", self.head_ip,
                      "--include-dashboard=false", *common)
            for ip in self.worker_ips:
                self._ray("start", "--address", self.address, "--node-ip-address", ip, *common)
        except BaseException:
            self.stop()
            raise
        return self

    def processes(self) -> list[Any]:
        """This cluster's processes: those naming its temp dir, their descendants (workers and
        agents, whose command lines setproctitle rewrites) and anything holding a file under it."""
        import ray  # noqa: F401  (puts Ray's vendored psutil on sys.path)
        import psutil

        found: dict[int, Any] = {}
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                if self.temp_dir in " ".join(proc.info["cmdline"] or []):
                    found[proc.pid] = proc
                    found.update((c.pid, c) for c in proc.children(recursive=True))
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        for proc in psutil.process_iter(["pid"]):
            if proc.pid in found:
                continue
            try:
                if any(f.path.startswith(self.temp_dir) for f in proc.open_files()):
                    found[proc.pid] = proc
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        found.pop(os.getpid(), None)
        return list(found.values())

    def actor_processes(self, name: str = "_StageActor") -> list[Any]:
        """The live Ray Data actors running ``name`` (their process title says so)."""
        out = []
        for proc in self.processes():
            try:
                if name in " ".join(proc.cmdline()):
                    out.append(proc)
            except Exception:  # noqa: BLE001 - gone meanwhile
                pass
        return out

    def stop(self, grace: float = 10.0) -> int:
        """Ray's order (raylets, then the rest, gcs_server last); SIGKILL what outlives ``grace``.
        Returns how many processes had to be killed."""
        import ray  # noqa: F401
        import psutil

        def name(proc: Any) -> str:
            try:
                return proc.name()
            except psutil.Error:
                return ""

        def kill(procs: list[Any]) -> int:
            n = 0
            for proc in procs:
                try:
                    proc.kill()
                    n += 1
                except psutil.NoSuchProcess:
                    pass
            psutil.wait_procs(procs, timeout=2)
            return n

        killed = 0
        procs = self.processes()
        for bucket in ([p for p in procs if name(p) == "raylet"],
                       [p for p in procs if name(p) not in ("raylet", "gcs_server")],
                       [p for p in procs if name(p) == "gcs_server"]):
            for proc in bucket:
                try:
                    proc.terminate()
                except psutil.NoSuchProcess:
                    pass
            _, alive = psutil.wait_procs(bucket, timeout=grace)
            killed += kill(alive)
        deadline = time.time() + 5
        while time.time() < deadline:  # orphans that appeared meanwhile
            left = self.processes()
            if not left:
                break
            killed += kill(left)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        return killed

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
