"""The RadGraph stand-in written without the official package (``build_radgraph_native``).

Machines without the oracle venv (the GPU device check) write ``radgraph.tar.gz`` from our own
model. These tests prove it is the official format: the same archive entries, ``config.json``,
vocabulary files, state-dict keys, shapes and dtypes as the archive radgraph 0.1.18's own
classes write, and the official package, loading it, annotates every text exactly as we do.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from rexrank.metrics.scorers.radgraph.checkpoint import read_checkpoint


@pytest.fixture(scope="module")
def native(tmp_path_factory, tiny_radgraph_models) -> dict[str, Path]:
    from rexrank.testing.standins.radgraph import build_radgraph_native

    out = tmp_path_factory.mktemp("radgraph-native")
    archive = build_radgraph_native(out, tiny_radgraph_models["encoder"], size="tiny", seed=3)
    return {"archive": archive, "model_cache_dir": out}


def _entries(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_same_files_config_and_vocabulary(native, tiny_radgraph_models):
    ours, official = _entries(native["archive"]), _entries(tiny_radgraph_models["archive"])
    assert sorted(ours) == sorted(official)
    assert json.loads(ours["config.json"]) == json.loads(official["config.json"])
    for name in ours:
        if name.endswith("non_padded_namespaces.txt"):  # allennlp writes a set: any order
            assert sorted(ours[name].splitlines()) == sorted(official[name].splitlines())
        elif name.startswith("vocabulary/"):
            assert ours[name] == official[name], name


def test_same_state_dict_layout(native, tiny_radgraph_models):
    ours, official = read_checkpoint(native["archive"]), read_checkpoint(tiny_radgraph_models["archive"])
    assert ours.labels == official.labels
    layout = {k: (tuple(v.shape), v.dtype) for k, v in ours.state_dict.items()}
    assert layout == {k: (tuple(v.shape), v.dtype) for k, v in official.state_dict.items()}
    differ = [k for k, v in ours.state_dict.items() if not (v == official.state_dict[k]).all()]
    assert any("_ner." in k for k in differ)  # a model of its own, not a copy


@pytest.mark.oracle
def test_official_package_reads_it_and_agrees(native, oracle, iu_findings):
    from rexrank.metrics.scorers.radgraph import load_annotator

    texts = iu_findings[:40] + ["No pleural effusion.\n\nMild cardiomegaly."]
    ours = load_annotator(str(native["archive"]), device="cpu")(texts)
    official = oracle("radgraph", action="annotate", model_cache_dir=str(native["model_cache_dir"]), texts=texts)
    assert sum(len(a.entities) for a in ours) > 100 and sum(len(a.relations) for a in ours) > 10
    for text, mine, theirs in zip(texts, ours, official):
        assert "error" not in theirs, (text, theirs)
        assert list(mine.words) == theirs["words"], text
        assert sorted(map(list, mine.entities)) == theirs["entities"], text
        assert sorted(map(list, mine.relations)) == theirs["relations"], text
