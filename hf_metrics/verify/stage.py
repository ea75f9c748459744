"""Put the weights a result was scored with where the official packages look for them.

The official packages load their models by their own names (``distilroberta-base``,
``bert-base-uncased``, ``$XDG_CACHE_HOME/chexbert/chexbert.pth``, ``<model_cache_dir>/radgraph/``,
RaTEScore's repo ids at ``main``), so they would silently take whatever those names resolve to.
Here every model record of the result's provenance (repo id and *resolved* revision) is resolved
through the HF cache (downloading it if needed and allowed) and linked under the official name
in a private HF cache that the oracle process alone uses, offline.
"""

from __future__ import annotations

import json
import logging
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from rexrank.errors import RexrankError
from rexrank.metrics.registry import get_spec
from rexrank.metrics.runtime.models import ModelRef, ResolvedModel, resolve
from rexrank.metrics.suite.test_set import models_in

logger = logging.getLogger(__name__)

BERTSCORE_OFFICIAL_ID = "distilroberta-base"  # what bert-score 0.3.11 asks for
CHEXBERT_OFFICIAL_ID = "bert-base-uncased"  # what f1chexbert 0.0.2 asks for
RATESCORE_OFFICIAL_IDS = ("Angelakeke/RaTE-NER-Deberta", "FremyCompany/BioLORD-2023-C")  # RaTEScore 0.6.0 defaults


class NotStageable(RexrankError):
    """The weights a metric used cannot be given to the official code (why is in the message)."""


@dataclass
class Stage:
    """A private HF cache (and XDG cache) for the oracle process, filled metric by metric."""

    root: Path
    linked: dict[str, str] = field(default_factory=dict)  # official name -> "repo@revision" linked there
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # metric -> extra task arguments
    models: dict[str, list[dict]] = field(default_factory=dict)  # metric -> model records used

    @property
    def hub(self) -> Path:
        return self.root / "hub"

    @property
    def xdg(self) -> Path:
        return self.root / "xdg"

    def env(self) -> dict[str, str]:
        return {"HF_HOME": str(self.root), "HF_HUB_CACHE": str(self.hub), "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1", "XDG_CACHE_HOME": str(self.xdg)}

    def _claim(self, name: str, what: str) -> bool:
        """Reserve an official name for one model; False if it already holds this very model."""
        held = self.linked.get(name)
        if held is not None and held != what:
            raise NotStageable(f"{name} is already staged as {held} for another metric of this result, "
                               f"not {what}; verify the metrics separately (--metrics)")
        self.linked[name] = what
        return held is None

    def link_repo(self, official_id: str, model: ResolvedModel) -> None:
        """``official_id`` at ``main`` resolves to the files of ``model`` (symlinks, nothing copied)."""
        revision = model.revision if len(model.revision) == 40 else "0" * 40
        if not self._claim(official_id, f"{model.ref.repo_id}@{model.revision}"):
            return
        repo = self.hub / f"models--{official_id.replace('/', '--')}"
        snapshot = repo / "snapshots" / revision
        for path in sorted(model.path.rglob("*")):
            if path.is_file():
                target = snapshot / path.relative_to(model.path)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(path.resolve(), target)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(revision)

    def link_file(self, target: Path, source: Path, what: str) -> None:
        if not self._claim(str(target), what):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(source.resolve(), target)


def model_records(result: Mapping[str, Any], metric: str) -> list[dict]:
    """The model records (repo id, resolved revision, source) the metric's scorer reported, in
    the registry's order of its models."""
    prov = ((result.get("provenance") or {}).get("metrics") or {}).get(metric) or {}
    records = models_in(prov.get("scorer") or {})
    expected = get_spec(metric).models
    if len(records) != len(expected):
        raise NotStageable(f"the result's provenance for {metric} records {len(records)} model(s), expected "
                           f"{len(expected)} ({', '.join(m.repo_id for m in expected)}); it cannot be re-run as it was")
    return records


def _resolved(record: Mapping[str, Any], default: ModelRef) -> ResolvedModel:
    if record.get("source") == "local":
        path = record.get("path") or record["repo_id"]
        if not os.path.exists(path):
            raise NotStageable(f"the result used a local model at {path}, which is not there any more")
        ref = ModelRef(str(path), "local", default.files)
        return ResolvedModel(ref, Path(path), "local", "local")
    revision = record.get("resolved_revision") or record.get("requested_revision") or "main"
    return resolve(ModelRef(record["repo_id"], revision, default.files))


def _file_in(model: ResolvedModel, name: str) -> Path:
    path = model.path if model.path.is_file() else model.path / name
    if not path.is_file():
        raise NotStageable(f"{name} not found in {model.ref} ({model.path})")
    return path


def _radgraph_encoder_name(archive_dir: Path) -> str:
    config = json.loads((archive_dir / "config.json").read_text())
    return config["model"]["embedder"]["token_embedders"]["bert"]["model_name"]


def stage_metric(stage: Stage, result: Mapping[str, Any], metric: str) -> None:
    """Make ``metric``'s models visible to the official code; NotStageable says why not."""
    if metric == "bleu2":
        return  # no model
    records = model_records(result, metric)
    spec = get_spec(metric)
    resolved = [_resolved(r, ref) for r, ref in zip(records, spec.models)]
    stage.models[metric] = [{"repo_id": m.ref.repo_id, "revision": m.revision, "path": str(m.path)} for m in resolved]
    if metric == "bertscore":
        stage.link_repo(BERTSCORE_OFFICIAL_ID, resolved[0])
    elif metric in ("semb_score", "chexbert"):
        checkpoint, bert = resolved
        stage.link_file(stage.xdg / "chexbert" / "chexbert.pth", _file_in(checkpoint, "chexbert.pth"),
                        f"{checkpoint.ref.repo_id}@{checkpoint.revision}")
        stage.link_repo(CHEXBERT_OFFICIAL_ID, bert)
    elif metric == "radgraph":
        archive, encoder = resolved
        cache_dir = stage.root / "radgraph"
        model_dir = cache_dir / "radgraph"  # radgraph 0.1.18 uses <model_cache_dir>/radgraph when non-empty
        if stage._claim(str(model_dir), f"{archive.ref.repo_id}@{archive.revision}"):
            source = archive.path if archive.path.is_dir() and not (archive.path / "radgraph.tar.gz").exists() \
                else _file_in(archive, "radgraph.tar.gz")
            if source.is_dir():
                os.symlink(source.resolve(), model_dir)
            else:
                model_dir.mkdir(parents=True)
                with tarfile.open(source, "r:gz") as tar:
                    tar.extractall(model_dir, filter="data")
        stage.link_repo(_radgraph_encoder_name(model_dir), encoder)
        stage.options[metric] = {"model_cache_dir": str(cache_dir)}
    elif metric == "ratescore":
        for official_id, model in zip(RATESCORE_OFFICIAL_IDS, resolved):
            stage.link_repo(official_id, model)
    elif metric == "green":
        stage.options[metric] = {"model_dir": str(resolved[0].path)}
    else:
        raise NotStageable(f"no official code to run for {metric}")
