"""The engine choice: checked options, and a run without --ray that never imports Ray."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rexrank.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def test_engine_options_are_checked():
    from rexrank.metrics.suite.engines import LocalEngine, make_engine
    from rexrank.ray_engine import add_cli_arguments, cli_options

    assert isinstance(make_engine(), LocalEngine) and isinstance(make_engine("local"), LocalEngine)
    with pytest.raises(InputError, match="engine must be one of local, ray"):
        make_engine("spark")
    with pytest.raises(InputError, match="ray_address given without engine='ray'"):
        make_engine("local", ray_address="head:6379")
    parser = argparse.ArgumentParser()
    add_cli_arguments(parser, "score")
    assert cli_options(parser.parse_args([])) == {}
    assert cli_options(parser.parse_args(["--ray"])) == {"engine": "ray", "ray_address": "auto"}
    assert cli_options(parser.parse_args(["--ray", "10.0.0.1:6379", "--ray-actors", "8"])) == {
        "engine": "ray", "ray_address": "10.0.0.1:6379", "ray_actors": 8}
    with pytest.raises(InputError, match="need --ray"):
        cli_options(parser.parse_args(["--ray-actors", "2"]))


def test_without_ray_nothing_imports_ray(tiny_bertscore_models, small_iu_manifest, small_iu_predictions):
    """Scoring with a model (Python and the CLI), and the generate and worker commands' options: no Ray."""
    script = f"""
import sys
from rexrank.metrics import suite
suite.score_predictions(['Heart normal.', 'No effusion.'], ['Heart normal.', 'Effusion.'],
                        metrics=['bleu2', 'bertscore'], use_cache=False, progress=False)
from rexrank.cli import main
assert main(['score', '--dataset', 'iu_xray', '--manifest', {str(small_iu_manifest)!r}, '--predictions',
             {str(small_iu_predictions)!r}, '--metrics', 'bleu2', 'bertscore', '--no-cache', '--no-plots',
             '--out', {str(small_iu_predictions.parent / 'out')!r}]) == 0
import rexrank.space.generation.run, rexrank.space.worker, rexrank.space.cli.generate, rexrank.space.cli.worker
loaded = sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.'))
assert not loaded, loaded
print('no ray')
"""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "no ray" in done.stdout, done.stderr[-3000:]
