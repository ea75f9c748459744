"""RadGraph F1: text handling, the F1 definition, batching, caching and bad input (no oracle)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from rexrank.metrics.scorers.radgraph.scorer import set_f1
from rexrank.metrics.scorers.radgraph.text import (adds_special_tokens_in_v4, official_layout, pretokenize,
                                                   pretokenize_xl)
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


def test_xl_pretokenize_is_wordpunct_with_the_official_replaces():
    assert pretokenize_xl("Stable 2.5 cm (left lobe), unchanged.\nNo") == \
        ["Stable", "2", ".", "5", "cm", "(", "left", "lobe", "),", "unchanged", ".", "No"]
    assert pretokenize_xl("50%. 3%), LEFT") == ["50", "%", ".", "3", "%", "),", "LEFT"]  # no lower-casing
    assert pretokenize_xl("2½ cm") == ["2", "½", "cm"]  # nltk >= 3.10's regex engine, not stdlib re
    assert pretokenize_xl("a\\nb") == ["a", "b"]  # a literal backslash-n is a space
    assert pretokenize_xl("") == [] and pretokenize_xl(" \n ") == []


def test_encoder_layout_follows_the_official_folding():
    pieces = np.arange(10, 1110)
    bert = official_layout(pieces, 512, [101], [102], True)  # [CLS] 510 pieces [SEP], folded every 512
    assert [b - a for a, b in bert.rows] == [512, 512, 82]  # 510 + 510 + 80 pieces
    assert bert.ids[bert.take].tolist() == [101, *pieces.tolist(), 102]
    short = official_layout(pieces[:5], 512, [1], [2], False)  # ModernBERT's tokenizer adds nothing on transformers 4
    assert short.ids.tolist() == pieces[:5].tolist() and short.take.tolist() == list(range(5))
    long = official_layout(pieces, 512, [1], [2], False)  # folded every 512; 2 positions per fold are dropped
    assert len(long.take) == 1100 - 2 * 2 and long.ids[long.take][:3].tolist() == [10, 11, 12]
    assert official_layout(pieces[:0], 512, [101], [102], True).rows == []


def test_which_tokenizers_add_special_tokens_on_transformers_4():
    assert adds_special_tokens_in_v4({}, "bert") and adds_special_tokens_in_v4({"tokenizer_class": "BertTokenizer"}, None)
    assert not adds_special_tokens_in_v4({"tokenizer_class": "PreTrainedTokenizerFast"}, "modernbert")
    assert not adds_special_tokens_in_v4({}, "modernbert")


def _annotation(words, entities, relations=()):
    from rexrank.metrics.scorers.radgraph.annotate import Annotation

    return Annotation(tuple(words.split()), tuple(entities), tuple(relations))


def test_reward_levels_known_answers():
    from rexrank.metrics.scorers.radgraph.levels import reward_levels

    ref = _annotation("Mild LEFT effusion", [(0, 0, "OBS"), (1, 1, "ANAT"), (2, 2, "OBS")], [(2, 2, 1, 1, "located_at")])
    assert reward_levels(ref, ref) == (1.0, 1.0, 1.0)
    # a lower-cased copy: only 'complete' relation tuples are lower-cased in radgraph 0.1.18
    low = _annotation("mild left effusion", ref.entities, ref.relations)
    simple, partial, complete = reward_levels(low, ref)
    assert simple == partial == 1 / 3  # "Mild"/"mild", "LEFT"/"left" differ; "effusion" matches
    assert complete == pytest.approx(1 / 3)  # the relation tuple (effusion, OBS, located_at, left) matches
    # same entities, relation lost: partial drops the "has a relation" mark, complete the relation tuple
    flat = _annotation("Mild LEFT effusion", ref.entities)
    assert reward_levels(flat, ref) == (1.0, pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert reward_levels(_annotation("", []), ref) == (0.0, 0.0, 0.0)


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


def test_an_archive_is_unpacked_once_and_later_loads_read_the_copy(tiny_radgraph_models, tmp_path, monkeypatch):
    import os
    import shutil

    import torch

    from rexrank.metrics.scorers.radgraph import checkpoint as ck

    archive = tmp_path / "radgraph.tar.gz"
    escape = "vocabulary/../../../escaped.txt"  # a hostile member name: never written outside the copy
    _rewrite(tiny_radgraph_models["archive"], archive, lambda files: files.update({escape: b"x"}))
    first = ck.read_checkpoint(archive)
    unpacked = ck.extracted_dir(archive)
    assert sorted(p.name for p in unpacked.iterdir()) == ["config.json", "vocabulary", "weights.th"]
    assert not list(unpacked.parent.glob(".partial-*"))
    assert not [p for p in unpacked.parents[3].rglob("escaped.txt")]

    def no_unpacking(*args, **kwargs):
        raise AssertionError("the archive was unpacked again")

    monkeypatch.setattr(ck.tarfile, "open", no_unpacking)
    second = ck.read_checkpoint(archive)
    assert (second.config, second.labels, second.source) == (first.config, first.labels, str(archive))
    assert first.state_dict.keys() == second.state_dict.keys()
    assert all(torch.equal(first.state_dict[k], second.state_dict[k]) for k in first.state_dict)
    # a replaced archive (another mtime) is never served from the old copy
    stat = archive.stat()
    os.utime(archive, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert ck.extracted_dir(archive) != unpacked
    with pytest.raises(AssertionError, match="unpacked again"):
        ck.read_checkpoint(archive)
    monkeypatch.undo()
    shutil.rmtree(unpacked)  # deleting the copy is always safe: the next load unpacks again
    assert ck.read_checkpoint(archive).config == first.config
