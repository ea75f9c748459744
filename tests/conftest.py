"""Test-session setup shared by every test.

* The whole session is offline: a temporary HuggingFace home, ``HF_HUB_OFFLINE=1``. These
  are set in ``pytest_configure``, before anything imports ``huggingface_hub`` (which reads
  them at import time). A test never downloads anything.
* The session is the same on every host: CPU only (``CUDA_VISIBLE_DEVICES=""``) and an empty
  ``OPENAI_API_KEY``, so a GPU or a key does not change the default metrics or the device.
* ``../shared`` (design data) is found through the one ``shared_dir`` fixture.
* The official assets cache is seeded from ``../shared/data`` once.
* Fixture modules in ``tests/fixtures/`` are registered as plugins automatically, so each
  area adds its tiny-checkpoint builders there without editing this file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}" for p in (ROOT / "tests" / "fixtures").glob("*.py") if p.stem != "__init__"
)


def _shared_dir() -> Path:
    return Path(os.environ.get("REXRANK_SHARED", ROOT.parent / "shared")).resolve()


def pytest_configure(config: pytest.Config) -> None:
    home = Path(tempfile.mkdtemp(prefix="rexrank-test-hf-"))
    os.environ.update({
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_MODULES_CACHE": str(home / "modules"),
        "HF_DATASETS_CACHE": str(home / "datasets"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
        # the same tests and expectations on a machine with a GPU or an API key: CPU, no key
        "CUDA_VISIBLE_DEVICES": "",
        "OPENAI_API_KEY": "",
    })
    for name in ("HF_TOKEN", "OPENAI_BASE_URL", "FINERADSCORE_MODEL"):
        os.environ.pop(name, None)
    os.environ.pop("REXRANK_ASSETS_CACHE", None)
    shared = _shared_dir()
    if (shared / "data").is_dir():
        from rexrank import assets

        assets.seed_directory(shared / "data")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout (CI always has it); REXRANK_SHARED overrides."""
    path = _shared_dir()
    if not (path / "DESIGN.md").is_file():
        pytest.fail(f"../shared not found at {path}: CI puts it beside the checkout; set REXRANK_SHARED")
    return path


@pytest.fixture(scope="session")
def shared_data(shared_dir: Path) -> Path:
    return shared_dir / "data"


@pytest.fixture(scope="session")
def iu_manifests(shared_data: Path) -> dict[str, Path]:
    return {"test": shared_data / "manifests" / "ReXRank_IUXray_test.json",
            "validation": shared_data / "manifests" / "ReXRank_IUXray_valid.json"}


@pytest.fixture(scope="session")
def hf_home() -> Path:
    return Path(os.environ["HF_HOME"])
