import pytest
import torch

from rexrank.metrics.scorers import chexbert
from rexrank.metrics.runtime import models
from rexrank.metrics.registry import load_scorer
from rexrank.errors import CheckpointMismatchError, InputError


@pytest.fixture(scope="module")
def oracle_chexbert(tiny_chexbert_models, core_pairs, oracle):
    preds, refs = core_pairs
    return oracle("chexbert", predictions=preds, references=refs)


@pytest.mark.oracle
def test_semb_score_parity(tiny_chexbert_models, core_pairs, oracle_chexbert):
    preds, refs = core_pairs
    ours = load_scorer("semb_score", batch_size=8)(preds, refs).values["semb_score"]
    theirs = oracle_chexbert["semb"]
    assert max(abs(a - b) for a, b in zip(ours, theirs)) <= 1e-6
    assert min(theirs) < 0.9  # the stand-in discriminates


@pytest.mark.oracle
def test_labels_and_f1_parity(tiny_chexbert_models, core_pairs, oracle_chexbert):
    preds, refs = core_pairs
    result = load_scorer("chexbert", batch_size=8)(preds, refs)
    assert [list(d["prediction_labels"].values()) for d in result.details] == oracle_chexbert["pred_labels"]
    assert [list(d["reference_labels"].values()) for d in result.details] == oracle_chexbert["ref_labels"]
    flat = [v for row in oracle_chexbert["pred_labels"] for v in row]
    assert 0 < sum(flat) < len(flat)  # both label values occur
    for ours, theirs in [("chexbert_micro_f1_14", "micro_14"), ("chexbert_macro_f1_14", "macro_14"),
                         ("chexbert_micro_f1_5", "micro_5"), ("chexbert_macro_f1_5", "macro_5"),
                         ("chexbert_accuracy_5", "accuracy_5")]:
        assert result.corpus[ours] == pytest.approx(oracle_chexbert[theirs], abs=1e-12), ours
    n = len(preds)
    assert sum(result.values["chexbert"]) / n == pytest.approx(oracle_chexbert["samples_14"], abs=1e-12)
    assert sum(result.values["chexbert_5"]) / n == pytest.approx(oracle_chexbert["samples_5"], abs=1e-12)


@pytest.mark.oracle
def test_token_ids_match_f1chexbert(tiny_chexbert_models, core_pairs, oracle):
    texts = sorted(set(core_pairs[0]))
    scorer = load_scorer("semb_score")
    ours = scorer._load().token_ids([chexbert.normalise(t) for t in texts])
    assert ours == oracle("chexbert", predictions=[], references=[], token_ids_of=texts)
    assert max(len(i) for i in ours) == 512


def test_one_pass_serves_both_metrics_and_references_are_cached(tiny_chexbert_models):
    refs = ["Heart size normal.", "Small left effusion.\n\nNo pneumothorax."]
    semb = load_scorer("semb_score")
    semb(["No acute disease.", "Effusion on the left."], refs)
    labeler = semb._load()
    cached = len(labeler.cache)
    chex = load_scorer("chexbert")
    assert chex._load() is labeler  # one model in the process
    chex(["No acute disease.", "Effusion on the left."], refs)
    assert len(labeler.cache) == cached  # nothing recomputed


def test_empty_and_identical_texts(tiny_chexbert_models):
    result = load_scorer("semb_score")(["", "Heart normal.", "  \n "], ["Heart normal.", "Heart normal.", ""])
    values = result.values["semb_score"]
    assert values[1] == pytest.approx(1.0, abs=1e-6)
    assert -1 <= values[0] < 0.999 and values[2] == pytest.approx(1.0, abs=1e-6)  # two empty texts are identical


def test_a_checkpoint_with_wrong_keys_is_refused(tiny_chexbert_models, tmp_path):
    blob = torch.load(tiny_chexbert_models["chexbert"], weights_only=True)
    del blob["model_state_dict"]["module.linear_heads.13.bias"]
    bad = tmp_path / "chexbert.pth"
    torch.save(blob, bad)
    with pytest.raises(CheckpointMismatchError, match="linear_heads.13.bias"):
        load_scorer("semb_score", model=str(tmp_path), tokenizer_model=str(tiny_chexbert_models["bert"]))(["a"], ["b"])
    bad.write_bytes(b"not a checkpoint")
    models.clear_loaded()
    with pytest.raises(CheckpointMismatchError, match="not a readable CheXbert checkpoint"):
        load_scorer("chexbert", model=str(tmp_path), tokenizer_model=str(tiny_chexbert_models["bert"]))(["a"], ["b"])


def test_bad_input(tiny_chexbert_models):
    with pytest.raises(InputError):
        load_scorer("chexbert")(["a"], ["a", "b"])
