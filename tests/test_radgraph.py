"""RadGraph F1: text handling, the F1 definition, batching, caching and bad input (no oracle)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from rexrank.metrics.scorers.radgraph.scorer import set_f1
from rexrank.metrics.scorers.radgraph.text import pretokenize, segments
from rexrank.errors import CheckpointMismatchError, InputError, ModelUnavailableError

REPORTS = ["No pleural effusion. Mild cardiomegaly.", "Small left effusion.",
           "The lungs are clear. Heart size is normal. No pneumothorax.",
           "Interval improvement of the left-sided effusion; stable support devices."]


def test_pretokenize_splits_the_official_punctuation_but_not_hyphens():
    assert pretokenize("Effusion/atelectasis,left:3.5cm!(stable)?") == \
        ["Effusion", "/", "atelectasis", ",", "left", ":", "3", ".", "5cm", "!", "(", "stable", ")", "?"]
    assert pretokenize("left-sided effusion") == ["left-sided", "effusion"]
    assert pretokenize("clear.\nNo effusion .") == ["clear", ".", "No", "effusion", "."]
    assert pretokenize("") == [] and pretokenize(" \n\t ") == []


def test_segments_follow_the_official_folding():
    assert segments(0, 512) == []
    assert segments(510, 512) == [(0, 510)]
    assert segments(1100, 512) == [(0, 510), (510, 1020), (1020, 1100)]


def test_set_f1_definition():
    a, b = frozenset({("x", "OBS-DP"), ("y", "ANAT-DP")}), frozenset({("x", "OBS-DP")})
    assert set_f1(a, b) == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert set_f1(a, a) == 1.0
    assert set_f1(frozenset(), frozenset()) == 0.0  # both empty → 0, not 1
    assert set_f1(a, frozenset()) == 0.0 and set_f1(frozenset(), a) == 0.0
    assert set_f1(frozenset({("x", "OBS-DP")}), frozenset({("x", "OBS-U")})) == 0.0  # labels count


def test_scorer_columns_details_and_provenance(tiny_radgraph_models):
    from rexrank.metrics.registry import load_scorer

    scorer = load_scorer("radgraph", device="cpu")
    result = scorer(REPORTS, REPORTS[1:] + REPORTS[:1])
    assert set(result.values) == {"radgraph", "radgraph_entity_f1", "radgraph_relation_f1"}
    assert all(len(v) == len(REPORTS) for v in result.values.values())
    for i, value in enumerate(result.values["radgraph"]):
        assert value == pytest.approx((result.values["radgraph_entity_f1"][i] + result.values["radgraph_relation_f1"][i]) / 2)
        d = result.details[i]
        assert set_f1(frozenset(d["reference_entities"]), frozenset(d["prediction_entities"])) == \
            result.values["radgraph_entity_f1"][i]
    assert result.provenance["radgraph"]["repo_id"] == "StanfordAIMI/RRG_scorers"
    assert len(result.provenance["radgraph"]["resolved_revision"]) == 40
    assert result.provenance["encoder"]["repo_id"] == "microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract-fulltext"


def test_identical_reports_score_one_and_empty_scores_zero(tiny_radgraph_models, iu_manifests):
    import json

    from rexrank.metrics.registry import load_scorer

    studies = json.loads(iu_manifests["test"].read_text())
    texts = [row["section_findings"] for row in list(studies.values())[:30] if row.get("section_findings")]
    scorer = load_scorer("radgraph", device="cpu")
    annotations = scorer.annotator(texts)
    with_relations = [r for r, a in zip(texts, annotations) if a.relations]
    assert len(with_relations) >= 3, "the tiny model should find relations in these reports"
    same = scorer(with_relations, with_relations)
    assert same.values["radgraph"] == [1.0] * len(with_relations)
    empty = scorer(["", "  \n", REPORTS[0]], [REPORTS[0], REPORTS[0], ""])
    assert empty.values["radgraph"] == [0.0, 0.0, 0.0]


def test_batching_and_order_do_not_change_annotations(tiny_radgraph_models, iu_manifests):
    import json

    from rexrank.metrics.scorers.radgraph.annotate import load_annotator

    studies = json.loads(iu_manifests["test"].read_text())
    texts = [row["section_findings"] for row in list(studies.values())[:10] if row.get("section_findings")] + REPORTS
    annotator = load_annotator(device="cpu", batch_size=32)
    annotator._cache.clear()
    together = annotator(texts)
    annotator._cache.clear()
    annotator.batch_size, annotator.word_budget = 1, 1  # one report per forward pass and per span batch
    try:
        alone = [annotator([t])[0] for t in reversed(texts)][::-1]
    finally:
        annotator.batch_size, annotator.word_budget = 32, 4096
    assert together == alone


def test_each_distinct_text_is_annotated_once(tiny_radgraph_models):
    from rexrank.metrics.scorers.radgraph.annotate import load_annotator

    annotator = load_annotator(device="cpu")
    annotator._cache.clear()
    calls = []
    hook = annotator.model.encoder.register_forward_hook(lambda m, i, o: calls.append(i))
    try:
        annotator(REPORTS + REPORTS)
        first = len(calls)
        annotator(REPORTS[::-1])  # the reference side of a second system: cached
    finally:
        hook.remove()
    assert first == 1 and len(calls) == 1
    assert len(annotator._cache) == len(REPORTS)


def test_bad_inputs_are_refused_clearly(tiny_radgraph_models):
    from rexrank.metrics.registry import load_scorer

    scorer = load_scorer("radgraph", device="cpu")
    with pytest.raises(InputError, match="2 predictions but 1 references"):
        scorer(["a", "b"], ["a"])
    with pytest.raises(InputError, match="missing"):
        scorer(["a", None], ["a", "b"])
    with pytest.raises(InputError, match="not a string"):
        scorer([1.5], ["a"])


def _rewrite(archive: Path, out: Path, change) -> Path:
    """Copy ``archive`` to ``out`` with ``change(files)`` applied to its {name: bytes}."""
    with tarfile.open(archive, "r:gz") as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    change(files)
    with tarfile.open(out, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def test_missing_and_corrupt_checkpoints_give_clear_errors(tiny_radgraph_models, tmp_path):
    import torch

    from rexrank.metrics.scorers.radgraph import RadGraphScorer

    with pytest.raises(ModelUnavailableError, match="not in the local HuggingFace cache"):
        RadGraphScorer(model="StanfordAIMI/not-a-radgraph-repo")
    garbage = tmp_path / "radgraph.tar.gz"
    garbage.write_bytes(b"this is not a gzip file")
    with pytest.raises(CheckpointMismatchError, match="not a readable radgraph.tar.gz"):
        RadGraphScorer(model=str(garbage))
    archive = tiny_radgraph_models["archive"]
    no_weights = _rewrite(archive, tmp_path / "no_weights.tar.gz", lambda f: f.pop("weights.th"))
    with pytest.raises(CheckpointMismatchError, match="missing weights.th"):
        RadGraphScorer(model=str(no_weights))

    def drop_a_layer(files):
        state = torch.load(io.BytesIO(files["weights.th"]), weights_only=True)
        del state["_relation._relation_scorers.radgraph__relation_labels.bias"]
        buffer = io.BytesIO()
        torch.save(state, buffer)
        files["weights.th"] = buffer.getvalue()

    partial = _rewrite(archive, tmp_path / "partial.tar.gz", drop_a_layer)
    with pytest.raises(CheckpointMismatchError, match="_relation_scorers.radgraph__relation_labels.bias"):
        RadGraphScorer(model=str(partial))
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(Path(archive).read_bytes()[:2000])
    with pytest.raises(CheckpointMismatchError):
        RadGraphScorer(model=str(truncated))


def test_local_archive_and_extracted_folder_give_the_same_model(tiny_radgraph_models):
    from rexrank.metrics.scorers.radgraph.annotate import load_annotator

    from_hub = load_annotator(device="cpu")(REPORTS)
    archive = load_annotator(str(tiny_radgraph_models["archive"]), device="cpu")
    folder = load_annotator(str(Path(tiny_radgraph_models["model_cache_dir"]) / "radgraph"), device="cpu")
    assert archive(REPORTS) == from_hub == folder(REPORTS)
    assert archive.provenance["radgraph"]["source"] == "local"
