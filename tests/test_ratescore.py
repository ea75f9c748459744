"""RaTEScore: per-study parity with the official RaTEScore 0.6.0, alignment by study, options, bad input."""

from __future__ import annotations

import json
import shutil

import pytest

from rexrank.metrics.scorers.ratescore.sentences import default_splitter
from rexrank.metrics.registry import load_scorer
from rexrank.errors import CheckpointMismatchError, InputError

NASTY = {
    "five_thousand_words": " ".join(["The lungs are clear without focal consolidation or effusion."] * 560),
    "non_english": "Keine Pleuraergüsse. Herzgröße normal. 心脏大小正常，无胸腔积液。 Кардиомегалии нет.",
    "unicode": "Nódule ≥ 1.5 cm in the RUL — stable. No pneumothorax ✓. Heart: normal ♥.",
    "punctuation": "!!! ??? ... --- ;;; ((()))",
    "newlines": "FINDINGS:\n\n1. No effusion.\n2. Heart size normal.\n\nIMPRESSION: Normal chest.",
}


def iu_pairs(iu_manifests, n: int) -> tuple[list[str], list[str]]:
    """Real reports: findings as references; another study's full report as the prediction."""
    studies = [s for s in json.loads(iu_manifests["test"].read_text()).values()
               if isinstance(s["section_findings"], str) and s["section_findings"].strip().lower() != "nan"][:n]
    refs = [s["section_findings"] for s in studies]
    preds = [studies[(i + 1) % len(studies)]["report"] for i in range(len(studies))]
    return preds, refs


@pytest.fixture(scope="module")
def scorer(tiny_ratescore_models):
    return load_scorer("ratescore", progress=False, batch_size=16)


@pytest.mark.oracle
def test_per_study_values_equal_the_official_ratescore(oracle, scorer, iu_manifests):
    preds, refs = iu_pairs(iu_manifests, 40)
    for i, text in enumerate(NASTY.values()):  # nasty predictions and references, every one with a sentence
        preds.append(text)
        refs.append(refs[i])
        preds.append(preds[i])
        refs.append(text)
    preds.append(refs[0])  # identical pair
    refs.append(refs[0])
    official = oracle("ratescore_score", candidates=preds, references=refs)
    ours = scorer(preds, refs).values["ratescore"]
    assert len(official) == len(ours) == len(preds)
    worst = max(abs(a - b) for a, b in zip(ours, official))
    assert worst <= 1e-6, f"largest per-study difference {worst}"
    assert len({round(v, 6) for v in ours}) > 20  # the stand-ins give varied scores, not a constant


@pytest.mark.oracle
def test_alignment_by_study_where_the_official_code_shifts_pairs(oracle, scorer, iu_manifests):
    preds, refs = iu_pairs(iu_manifests, 12)
    preds[3] = ""   # no sentence at all
    preds[6] = "ab"  # a sentence shorter than 3 characters is dropped too
    refs[9] = " \n "
    official = oracle("ratescore_score", candidates=preds, references=refs)
    ours = scorer(preds, refs).values["ratescore"]
    assert len(official) < len(preds), "the official code drops studies without a kept sentence (issue #2)"
    splitter = default_splitter()
    ref_kept = [i for i, t in enumerate(refs) if splitter(t)]
    pred_kept = [i for i, t in enumerate(preds) if splitter(t)]
    # the k-th official value pairs the k-th kept reference with the k-th kept prediction
    aligned = [(r, value) for r, p, value in zip(ref_kept, pred_kept, official) if r == p]
    assert len(aligned) >= 3
    for study, value in aligned:
        assert ours[study] == pytest.approx(value, abs=1e-6)
    for study in (3, 6, 9):
        assert ours[study] == 0.5


def test_duplicates_and_order_do_not_change_a_study_value(scorer, iu_manifests):
    preds, refs = iu_pairs(iu_manifests, 6)
    alone = [scorer([p], [r]).values["ratescore"][0] for p, r in zip(preds, refs)]
    together = scorer(preds + preds[::-1], refs + refs[::-1]).values["ratescore"]
    assert together[:6] == pytest.approx(alone, abs=1e-6)
    assert together[6:] == pytest.approx(alone[::-1], abs=1e-6)


def test_entity_vectors_equal_the_official_per_report_batch(scorer, iu_manifests):
    """Each report gets the vectors of the official ``process_embedding`` (one batch per report,
    padded to its longest entity): bit for bit when embedded alone, to float rounding from the
    shared batches of the same padded length (the CPU kernels may sum a row in another order)."""
    import torch

    from rexrank.metrics.scorers.ratescore.scorer import EXACT_MIN_ROWS

    scorer._models()
    preds, refs = iu_pairs(iu_manifests, 30)
    sentences = list(dict.fromkeys(s for text in preds + refs for s in default_splitter()(text)))
    entities = [e for found in scorer.sentence_entities(sentences) for e, _ in found]
    reports = {f"r{i}": entities[i:i + n] for i, n in enumerate([1, 2, 3, 7, 12, 25, 40] * 3)}
    reports["repeated"] = [entities[0]] * 30  # many rows, one distinct entity
    reports["none"] = []
    ours = scorer.embed_reports(reports)
    tokenizer, encoder = scorer._enc_tokenizer, scorer._encoder

    def official(texts: list[str], extra_padding: int = 0):
        encoded = tokenizer(texts, truncation=True, padding="max_length", return_tensors="pt",
                            max_length=max(len(tokenizer(t, truncation=True, max_length=30)["input_ids"]) for t in texts)
                            + extra_padding)
        with torch.inference_mode():
            return encoder(**encoded).last_hidden_state[:, 0, :], encoded["input_ids"].numel()

    shared_diff = other_width_diff = 0.0
    paths = set()
    for name, texts in reports.items():
        if not texts:
            assert ours[name].shape == (0, encoder.config.hidden_size)
            continue
        expected, rows = official(texts)
        if rows < EXACT_MIN_ROWS:
            paths.add("alone")
            assert torch.equal(ours[name], expected), name
        else:
            paths.add("shared")
            shared_diff = max(shared_diff, (ours[name] - expected).abs().max().item())
            other_width_diff = max(other_width_diff, (official(texts, 8)[0] - expected).abs().max().item())
    assert paths == {"alone", "shared"}
    # the tolerance tells a wrong padded length apart from rounding
    assert shared_diff <= 1e-6 < other_width_diff, (shared_diff, other_width_diff)


def test_row_chunks_stay_within_bounds_and_cover_every_entity():
    from rexrank.metrics.scorers.ratescore.scorer import EXACT_MIN_ROWS, _row_chunks

    for n, length, max_rows in [(1, 3, 4096), (2, 30, 4096), (1000, 6, 4096), (10, 30, 120), (700, 13, 512)]:
        items = [f"e{i}" for i in range(n)]
        chunks = list(_row_chunks(items, length, max_rows))
        assert {e for c in chunks for e in c} == set(items)
        assert all(EXACT_MIN_ROWS <= len(c) * length <= max(max_rows, EXACT_MIN_ROWS + length) for c in chunks)


def test_empty_reports_score_the_no_entity_value_and_details_list_entities(scorer):
    result = scorer(["", "No pleural effusion. Heart size is normal.", ""],
                    ["Heart size is normal.", "", ""])
    assert result.values["ratescore"] == [0.5, 0.5, 0.5]
    assert result.details[0]["prediction_entities"] == []
    assert result.details[0]["reference_entities"], "the stand-in NER finds entities in a real sentence"
    assert all(len(e) == 2 for e in result.details[0]["reference_entities"])
    assert result.provenance["models"]["ner"]["repo_id"] == "Angelakeke/RaTE-NER-Deberta"
    assert "medspacy" in result.provenance["assets"]["ratescore/rush_rules"]


def test_short_affinity_matrix_is_an_option(tiny_ratescore_models, iu_manifests):
    preds, refs = iu_pairs(iu_manifests, 5)
    long = load_scorer("ratescore", progress=False)(preds, refs).values["ratescore"]
    short = load_scorer("ratescore", progress=False, affinity_matrix="short")(preds, refs).values["ratescore"]
    assert long != short
    with pytest.raises(InputError, match="affinity_matrix"):
        load_scorer("ratescore", affinity_matrix="medium")


def test_bad_input_is_refused_with_positions(scorer):
    with pytest.raises(InputError, match="pair up"):
        scorer(["a"], ["a", "b"])
    with pytest.raises(InputError, match=r"position\(s\) \[1\]"):
        scorer(["fine", None], ["fine", "fine"])


def test_a_checkpoint_missing_weights_is_refused(tiny_ratescore_models, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "ner"
    shutil.copytree(tiny_ratescore_models["Angelakeke/RaTE-NER-Deberta"], folder)
    weights = load_file(folder / "model.safetensors")
    weights.pop("classifier.weight")
    (folder / "model.safetensors").unlink()
    save_file(weights, folder / "model.safetensors")
    with pytest.raises(CheckpointMismatchError, match="classifier.weight"):
        load_scorer("ratescore", model=str(folder), progress=False)(["Heart normal."], ["Heart normal."])


def test_evaluate_module_returns_the_scorer_values(scorer, iu_manifests):
    from pathlib import Path

    import evaluate

    folder = Path(__file__).resolve().parents[1] / "hf_metrics" / "rexrank_ratescore"
    card = (folder / "README.md").read_text()
    assert card.startswith("---\ntitle:") and "app_file: app.py" in card and "## Official implementation" in card
    assert "launch_gradio_widget" in (folder / "app.py").read_text()
    preds, refs = iu_pairs(iu_manifests, 4)
    out = evaluate.load(str(folder)).compute(predictions=preds, references=refs, progress=False, batch_size=16)
    assert out["ratescore_per_study"] == scorer(preds, refs).values["ratescore"]
    assert out["ratescore"] == pytest.approx(sum(out["ratescore_per_study"]) / 4)
    assert len(out["ratescore_details"]) == 4


def test_a_second_system_reuses_the_reference_side(scorer, iu_manifests):
    """References seen before cost nothing again in the process (sentences, NER, vectors), and
    reused values equal recomputed ones exactly."""
    preds, refs = iu_pairs(iu_manifests, 30)
    second = [p + " Stable small left pleural effusion." for p in preds[5:] + preds[:5]]
    scorer(preds, refs)
    rows = []
    hook = scorer._ner_model.register_forward_hook(lambda m, args, out: rows.append(out.logits.shape[0]))
    try:
        reused = scorer(second, refs).values["ratescore"]
    finally:
        hook.remove()
    new_sentences = {s for text in second for s in default_splitter()(text)} - {
        s for text in preds + refs for s in default_splitter()(text)}
    assert sum(rows) == len(new_sentences)
    scorer._caches.clear()
    assert scorer(second, refs).values["ratescore"] == reused
