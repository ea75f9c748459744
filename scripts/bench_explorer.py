"""Benchmark: the explorer on a 10,000-study result, through its real server.

A result (any results.json, e.g. from `rexrank score`) is tiled to ``--studies`` studies (ids made
unique, every per-study list, text and detail repeated), then ``rexrank explore`` serves it and a
gradio_client times, interleaved and repeated: a page of the study table (sorted by a metric,
filtered, a late page), opening one study, and, for comparison, the naive alternative of sending
the whole sorted table to the browser at once (a Gradio app with one endpoint returning every row).
Reports wall-clock per call (median and max over repetitions), the server's CPU seconds per call
and the response size. Speed goals live here, never in tests.

    .venv/bin/python scripts/bench_explorer.py --from results/my_model --studies 10000 --reps 5
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tile(result: dict, n: int) -> dict:
    """``result`` repeated to ``n`` studies (ids suffixed #k so they stay unique)."""
    ids = result["per_study"]["study_id"]
    m = len(ids)
    pick = [i % m for i in range(n)]

    def rep(values):
        return [values[i] for i in pick]

    out = dict(result)
    out["per_study"] = {k: ([f"{ids[i]}#{k2 // m}" for k2, i in enumerate(pick)] if k == "study_id" else rep(v))
                        for k, v in result["per_study"].items()}
    out["per_study_columns"] = {m_: {c: rep(v) for c, v in cols.items()} for m_, cols in result.get("per_study_columns", {}).items()}
    out["details"] = {k: rep(v) for k, v in result.get("details", {}).items()}
    out["texts"] = {k: rep(v) for k, v in result.get("texts", {}).items()}
    out["strata"] = {k: rep(v) if isinstance(v, list) else v for k, v in result.get("strata", {}).items()}
    out["dataset"] = {**result["dataset"], "n_studies": n}
    return out


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(cmd: list[str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"server did not start: {' '.join(cmd)}")


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def serve_naive(path: str, port: int) -> None:
    """The comparison: every row of the sorted table in one response (what a non-paginated table ships)."""
    import gradio as gr

    from rexrank.space.explorer import data

    system = data.load_system_file(path)

    def everything(metric):
        p = data.page(system, sort_metric=metric, page_size=len(system.ids))
        import pandas as pd

        return pd.DataFrame(p.rows, columns=p.columns)

    with gr.Blocks() as demo:
        metric = gr.Textbox()
        table = gr.Dataframe()
        metric.submit(everything, metric, table, api_name="everything")
    demo.launch(server_name="127.0.0.1", server_port=port)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", type=Path, help="a results folder to tile")
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--serve-naive", nargs=2, metavar=("RESULTS", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_naive:
        serve_naive(args.serve_naive[0], int(args.serve_naive[1]))
        return 0
    if args.source is None:
        parser.error("--from RESULTS_DIR is required")
    from gradio_client import Client

    from rexrank.metrics.reporting.results_file import load_results, results_json

    work = Path(tempfile.mkdtemp(prefix="rexrank-bench-explorer-"))
    big = tile(load_results(args.source), args.studies)
    (work / "big").mkdir()
    (work / "big" / "results.json").write_text(results_json(big))
    size_mb = (work / "big" / "results.json").stat().st_size / 2**20
    name = big.get("system") or "system"
    metric = next(iter(big["metrics"]))
    study = big["per_study"]["study_id"][args.studies // 2]

    t = time.perf_counter()
    from rexrank.space.explorer import data

    loaded = data.load_system_file(work / "big")
    load_s = time.perf_counter() - t

    ports = _port(), _port()
    ours = _serve([sys.executable, "-m", "rexrank.cli", "-q", "explore", str(work / "big"), "--port", str(ports[0])], ports[0])
    naive = _serve([sys.executable, __file__, "--serve-naive", str(work / "big"), str(ports[1])], ports[1])
    try:
        c_ours = Client(f"http://127.0.0.1:{ports[0]}/", verbose=False)
        c_naive = Client(f"http://127.0.0.1:{ports[1]}/", verbose=False)
        calls = {
            "page 1, sorted by " + metric: (c_ours, ours, (name, metric, data.WORST, data.ALL, data.ALL, None, "", "", "", 1), "/explore_page"),
            "page 300, best first": (c_ours, ours, (name, metric, data.BEST, data.ALL, data.ALL, None, "", "", "", 300), "/explore_page"),
            "filtered (abnormal, range, text)": (c_ours, ours, (name, metric, data.WORST, data.ABNORMAL, data.ALL, metric, "0.1", "0.9", "no", 1), "/explore_page"),
            "open one study": (c_ours, ours, (name, study), "/explore_study"),
            "naive: the whole sorted table": (c_naive, naive, (metric,), "/everything"),
        }
        timings = {k: [] for k in calls}
        cpu = {k: [] for k in calls}
        sizes = {}
        for key, (client, proc, call_args, api) in calls.items():  # warm-up (first use loads the result)
            sizes[key] = len(json.dumps(client.predict(*call_args, api_name=api), default=str))
        for _ in range(args.reps):
            for key, (client, proc, call_args, api) in calls.items():
                c0, t0 = _cpu(proc.pid), time.perf_counter()
                client.predict(*call_args, api_name=api)
                timings[key].append(time.perf_counter() - t0)
                cpu[key].append(_cpu(proc.pid) - c0)
    finally:
        for proc in (ours, naive):
            proc.terminate()
            proc.wait(timeout=30)
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    print(f"\nExplorer on {args.studies:,} studies ({size_mb:.1f} MB results.json, metrics: {', '.join(loaded.metrics)}); "
          f"loading it: {load_s:.2f} s; {args.reps} interleaved repetitions, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'call (gradio_client -> server)':<36}{'median s':>10}{'max s':>8}{'server CPU s':>14}{'response':>12}")
    for key in calls:
        print(f"{key:<36}{statistics.median(timings[key]):>10.3f}{max(timings[key]):>8.3f}"
              f"{statistics.median(cpu[key]):>14.3f}{sizes[key] / 1024:>10.1f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
