import math

import pytest

from rexrank.metrics.scorers import bertscore
from rexrank.metrics.registry import load_scorer
from rexrank.errors import InputError


def _max_diff(ours, theirs):
    assert len(ours) == len(theirs)
    return max(abs(a - b) for a, b in zip(ours, theirs))


@pytest.mark.oracle
@pytest.mark.parametrize("prefix_space", [True, False])
def test_parity_with_bert_score_0_3_11(tiny_bertscore_models, core_pairs, oracle, prefix_space):
    preds, refs = core_pairs
    ours = load_scorer("bertscore", prefix_space=prefix_space, batch_size=16)(preds, refs)
    theirs = oracle("bertscore", predictions=preds, references=refs, prefix_space=prefix_space)
    assert _max_diff(ours.values["bertscore"], theirs) <= 1e-6
    assert "prefix" in ours.provenance["tokenisation"]
    assert len(set(round(v, 4) for v in theirs)) > len(theirs) // 3  # the stand-in discriminates


@pytest.mark.oracle
@pytest.mark.parametrize("prefix_space", [True, False])
def test_token_ids_match_the_official_encoding(tiny_bertscore_models, core_pairs, oracle, prefix_space):
    texts = sorted(set(core_pairs[0]))
    scorer = load_scorer("bertscore", prefix_space=prefix_space)
    scorer._load()
    ours = scorer._encoder.token_ids(texts, prefix_space)
    assert ours == oracle("bertscore", predictions=[], references=[], prefix_space=prefix_space, token_ids_of=texts)
    assert max(len(i) for i in ours) == bertscore.MAX_LENGTH  # the 600+ word report is truncated


def test_two_modes_differ_on_the_first_word(tiny_bertscore_models):
    scorer = load_scorer("bertscore")
    scorer._load()
    with_prefix, without = (scorer._encoder.token_ids(["No effusion"], flag)[0] for flag in (True, False))
    assert with_prefix[2:] == without[2:] and with_prefix[1] != without[1]


def test_empty_prediction_has_the_documented_value(tiny_bertscore_models):
    result = load_scorer("bertscore")(["", "   ", "Heart normal."], ["Heart normal.", "Lungs clear.", ""])
    expected = (0 - 0.8473319) / (1 - 0.8473319)
    assert result.values["bertscore"] == pytest.approx([expected] * 3, abs=1e-6)
    assert math.isclose(expected, -5.5502, abs_tol=1e-4)


def test_identical_texts_score_one_and_are_encoded_once(tiny_bertscore_models):
    scorer = load_scorer("bertscore")
    text = "Heart size is normal. Lungs are clear."
    result = scorer([text, text], [text, text])
    assert result.values["bertscore"] == pytest.approx([1.0, 1.0], abs=1e-5)
    assert text in scorer._encoder.cache[True] and len([k for k in scorer._encoder.cache[True] if k == text]) == 1


def test_bad_input_is_refused_clearly(tiny_bertscore_models):
    scorer = load_scorer("bertscore")
    with pytest.raises(InputError, match="2 predictions but 1 references"):
        scorer(["a", "b"], ["a"])
    with pytest.raises(InputError, match="position.*1.*None/NaN"):
        scorer(["a", None], ["a", "b"])
    with pytest.raises(InputError, match="NaN"):
        scorer(["a", "b"], ["a", float("nan")])


def test_offline_with_an_empty_cache_is_a_clear_error():
    from rexrank.errors import ModelUnavailableError

    with pytest.raises(ModelUnavailableError, match="not in the local HuggingFace cache"):
        load_scorer("bertscore", model="nobody/not-cached-distilroberta@main")(["a"], ["b"])


def test_a_corrupt_or_mismatched_checkpoint_is_refused(tiny_bertscore_models, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from rexrank.errors import CheckpointMismatchError

    local = tmp_path / "distilroberta"
    shutil.copytree(tiny_bertscore_models, local)
    state = load_file(str(local / "model.safetensors"))
    del state["roberta.encoder.layer.2.output.dense.weight"]
    save_file(state, str(local / "model.safetensors"))
    with pytest.raises(CheckpointMismatchError, match="encoder.layer.2.output.dense.weight"):
        load_scorer("bertscore", model=str(local))(["a"], ["b"])
    (local / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointMismatchError, match="corrupt"):
        load_scorer("bertscore", model=str(local))(["a"], ["b"])  # a failed load is not cached


def test_provenance_records_the_resolved_revision_and_mode(tiny_bertscore_models):
    from rexrank.testing.hubcache import fake_commit

    result = load_scorer("bertscore", prefix_space=False)(["Heart normal."], ["Heart normal."])
    model = result.provenance["models"][0]
    assert model["resolved_revision"] == fake_commit("distilbert/distilroberta-base")
    assert model["pinned"] is False and "no prefix space" in result.provenance["tokenisation"]
