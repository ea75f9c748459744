"""The device check (``scripts/device_check.py``) end to end on this CPU, as CI runs it, and its parts.

The end-to-end run has ``datasets``, ``evaluate`` and ``gradio`` made unimportable (a
``sitecustomize`` on ``PYTHONPATH`` puts a blocking finder first on ``sys.meta_path``), and
``matplotlib`` too, which the GPU machine lacks: the check, the scorers and generation must not
need any of them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "device_check.py"
BLOCKED = ("datasets", "evaluate", "gradio", "matplotlib")
BLOCKER = f'''
import importlib.abc, sys

class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError(f"{{name}} is blocked: the device check must not need it")
        return None

sys.meta_path.insert(0, _Blocked())
'''


def _blocked_env(tmp_path: Path) -> dict[str, str]:
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(BLOCKER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(block)
    return env


@pytest.mark.slow
def test_quick_run_on_cpu_passes_without_datasets_evaluate_gradio(tmp_path, ratescore_rules, shared_data):
    env = _blocked_env(tmp_path)
    probe = subprocess.run([sys.executable, "-c", "import datasets"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "blocked" in probe.stderr  # the blocker works
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--out", str(out),
                          "--assets", str(shared_data)], env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((out / "device_check.json").read_text())
    status = {c["name"]: c["status"] for c in report["checks"]}
    assert report["ok"] and "FAIL" not in status.values(), status
    for metric in ("bleu2", "bertscore", "semb_score", "radgraph", "ratescore", "radcliq", "green"):
        assert status[f"parity/{metric}"] == "PASS"
        assert status[f"half/{metric}"] == "SKIP" if metric != "bleu2" else f"half/{metric}" not in status
    for name in ("bleu2", "bertscore", "semb_score", "radgraph", "radcliq", "ratescore", "suite"):
        assert status[f"throughput/{name}"] == "INFO"
    assert status["green/hf"] == "INFO" and status["green/vllm"] == "SKIP"
    assert status["generation/ved"] == status["generation/chat-vlm"] == "PASS"
    assert status["generation/oom"] == "SKIP" and status["imports"] == "PASS"
    suite = next(c for c in report["checks"] if c["name"] == "throughput/suite")
    assert suite["details"]["studies_per_s"] > 0
    lines = [line for line in run.stdout.splitlines() if line.split(" ", 1)[0] in ("PASS", "FAIL", "SKIP", "INFO")]
    assert len(lines) == len(report["checks"])  # one summary line per check, and nothing else in between
    assert "| parity/bertscore | PASS |" in (out / "device_check.md").read_text()


def _load_script():
    spec = importlib.util.spec_from_file_location("device_check_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wheel(folder: Path, name: str, version: str, module: str, source: str) -> Path:
    """A minimal pure-Python wheel (what pip needs: the module, METADATA, WHEEL, RECORD)."""
    dist_info = f"{name}-{version}.dist-info"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr(f"{module}.py", source)
        whl.writestr(f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        whl.writestr(f"{dist_info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{dist_info}/RECORD", "")
    return path


def test_wheels_are_installed_only_where_missing(tmp_path):
    script = _load_script()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "rexrank_probe_dist", "1.0", "rexrank_probe_module", "ANSWER = 42\n")
    _wheel(wheels, "numpy", "0.0.1", "numpy_impostor", "")  # installed already: must be left alone
    target = tmp_path / "target"
    assert script.install_wheels(wheels, target) == ["rexrank_probe_dist-1.0-py3-none-any.whl"]
    check = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(target)!r}); "
                            "import rexrank_probe_module as m, numpy; print(m.ANSWER, numpy.__version__ != '0.0.1')"],
                           capture_output=True, text=True)
    assert check.stdout.split() == ["42", "True"], check.stderr


def test_missing_requirements_are_named_and_the_run_stops(tmp_path, monkeypatch, capsys):
    from rexrank.device_check import main, requirements

    monkeypatch.setattr(requirements, "REQUIRED", requirements.REQUIRED + (
        requirements.Requirement("rexrank_no_such_module", "rexrank-no-such-dist", None, "a test"),
        requirements.Requirement("numpy", "numpy", "999.0", "a test of versions")))
    assert main.main(["--device", "cpu", "--out", str(tmp_path)]) == 2
    message = capsys.readouterr().err
    assert "rexrank-no-such-dist (import rexrank_no_such_module): not installed; needed for a test" in message
    assert "numpy" in message and "999.0 or newer needed" in message and "device_wheels.sh" in message
    report = json.loads((tmp_path / "device_check.json").read_text())
    assert report["ok"] is False and report["checks"][0]["name"] == "requirements"


def test_throughput_pairs_never_repeat_a_text(iu_findings):
    from rexrank.device_check.workload import parity_pairs, varied_pairs

    preds, refs = varied_pairs(iu_findings, 3000)
    assert len(set(preds)) == len(set(refs)) == 3000
    assert not set(preds) & set(refs)
    assert parity_pairs(iu_findings, 10)[1] == iu_findings[:10]
