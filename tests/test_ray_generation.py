"""Report generation on the two-node Ray cluster: the same reports as one process, the same
resumable progress file, and `rexrank generate --ray` from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rexrank.space.generation.run import generate_reports, progress_path

pytestmark = pytest.mark.ray
ROOT = Path(__file__).resolve().parents[1]


def _run(models, testset, kind, out, **kwargs):
    options = dict(manifest=testset["manifest"], data_dir=testset["images"], batch_size=2, max_new_tokens=12,
                   progress=False)
    options.update(kwargs)
    return generate_reports(models[kind], "iu_xray", out, **options)


@pytest.mark.parametrize("kind", ["ved", "chat"])
def test_reports_generated_on_ray_are_identical(tiny_generation_models, generation_testset, tmp_path, ray_address,
                                                one_thread, kind, caplog):
    local = _run(tiny_generation_models, generation_testset, kind, tmp_path / "local.json")
    on_ray = _run(tiny_generation_models, generation_testset, kind, tmp_path / "ray.json", engine="ray",
                  ray_address=ray_address)
    assert on_ray.complete and on_ray.n_generated == len(generation_testset["ids"])
    assert (tmp_path / "ray.json").read_bytes() == (tmp_path / "local.json").read_bytes()
    record = json.loads(progress_path(tmp_path / "ray.json").read_text())
    assert record["engine"]["name"] == "ray" and record["engine"]["nodes"] == 2
    [stage] = record["engine"]["stages"]
    assert stage["jobs"] == 3 and stage["failed_items"] == 0  # 6 studies in batches of 2, one model per actor
    assert record["adapter"] == json.loads(progress_path(tmp_path / "local.json").read_text())["adapter"]
    # a run on Ray leaves the application's log handlers as they were: its warnings still arrive
    import logging

    assert all(h.level == logging.NOTSET for h in logging.getLogger().handlers)
    logging.getLogger("rexrank.test").warning("after a Ray run")
    assert "after a Ray run" in caplog.text


def test_cli_generate_on_ray_resumes_from_the_progress_file(tiny_generation_models, generation_testset, tmp_path,
                                                            ray_address):
    """A progress file with two studies done (as a killed run leaves it): `--ray` generates only the rest
    and ends with the file an uninterrupted run writes."""
    whole = tmp_path / "whole.json"
    _run(tiny_generation_models, generation_testset, "ved", whole)
    out = tmp_path / "resumed.json"
    state = json.loads(progress_path(whole).read_text())
    first_two = dict(list(state["done"].items())[:2])
    progress_path(out).write_text(json.dumps({**state, "complete": False, "done": first_two}))
    cmd = [sys.executable, "-m", "rexrank.cli", "-q", "generate", "--model", tiny_generation_models["ved"],
           "--dataset", "iu_xray", "--manifest", str(generation_testset["manifest"]), "--data-dir",
           str(generation_testset["images"]), "--batch-size", "2", "--max-new-tokens", "12", "--out", str(out),
           "--ray", ray_address]
    done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["resumed"] == 2 and summary["complete"]
    assert out.read_bytes() == whole.read_bytes()
