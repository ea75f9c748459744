"""RadGraph-XL and Modern RadGraph-XL parity: ours vs radgraph 0.1.18 (``model_type="radgraph-xl"`` /
``"modern-radgraph-xl"``) on the same tiny weights, built with the package's own classes.

Per report: the same words (``radgraph_xl_preprocess_report``), entity spans and labels, and
relations; per pair, the package's reward levels (``F1RadGraph(reward_level="all")``) exactly.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.oracle

MODEL_TYPES = ("radgraph-xl", "modern-radgraph-xl")
# Texts that exercise the XL pre-tokenisation: punctuation runs, the string replaces, literal
# backslash sequences, code points where nltk's regex engine and stdlib re disagree, case.
XL_NASTY = [
    "Stable 2.5 cm opacity (left lower lobe), unchanged.\nNo acute disease.",
    "Small LEFT effusion; bibasilar atelectasis 50%. Up 3%), was 20%, now 10%).",
    "Tube tip at 2½ cm; x² ≥ 3 — 'clear'.' said \"normal\".",
    "Literal escapes: a\\nb\\fc \\u2122 and \\\"quoted\\\" text.",
    "Café-au-lait naïve Ödème 肺 effusion ✓",
    "No pleural effusion.\n\n\nMild   cardiomegaly.\n",
    "... ,,, () / : ! ? ...!!",
    "Effusion /. and /? odd tokens",
    "no \u200b effusion \u200b",
    "XXXX",
    "a",
]


@pytest.fixture(scope="module")
def texts(iu_manifests) -> list[str]:
    studies = json.loads(iu_manifests["test"].read_text())
    findings = [row["section_findings"] for row in studies.values() if row.get("section_findings")]
    impressions = [row["section_impression"] for row in studies.values() if row.get("section_impression")]
    long_report = ""
    for finding in findings[100:]:
        long_report = f"{long_report} {finding}".strip()
        if len(long_report.split()) > 620:
            break
    return findings[:20] + impressions[:5] + XL_NASTY + [long_report]


@pytest.fixture(scope="module", params=MODEL_TYPES)
def variant(request, tiny_radgraph_variant_models, oracle, texts):
    """(model_type, parts, our annotations, the official annotations) of one model type."""
    from rexrank.metrics.scorers.radgraph import load_annotator

    model_type = request.param
    parts = tiny_radgraph_variant_models(model_type)
    ours = load_annotator(device="cpu", model_type=model_type)(texts)
    official = oracle("radgraph", action="annotate", model_cache_dir=str(parts["model_cache_dir"]), texts=texts,
                      model_type=model_type)
    return model_type, parts, ours, official


def test_the_tiny_models_emit_a_mix(variant):
    model_type, _, ours, _ = variant
    assert sum(len(a.entities) for a in ours) > 300
    assert sum(len(a.relations) for a in ours) > 30
    assert len({lab for a in ours for _, _, lab in a.entities}) >= 9
    assert {kind for a in ours for *_, kind in a.relations} == {"modify", "located_at", "suggestive_of"}


def test_identical_annotations_per_report(variant, texts):
    model_type, _, ours, official = variant
    for text, mine, theirs in zip(texts, ours, official):
        assert "error" not in theirs, (text, theirs)
        assert list(mine.words) == theirs["words"], text
        assert sorted(map(list, mine.entities)) == theirs["entities"], (model_type, text)
        assert sorted(map(list, mine.relations)) == theirs["relations"], (model_type, text)


def test_long_report_is_folded(variant, texts):
    _, _, ours, _ = variant
    assert len(ours[-1].words) > 600 and max(e for _, e, _ in ours[-1].entities) > 500


def test_reward_levels_equal_the_official_f1radgraph(variant, texts, oracle):
    from rexrank.metrics.registry import load_scorer

    model_type, parts, _, _ = variant
    short = texts[:-1]
    preds = short[5:] + short[:5] + short[:4] + [t.lower() for t in short[:4]] + ["", "No effusion.", ""]
    refs = list(short) + short[:4] + short[:4] + ["No effusion.", "", ""]
    name = model_type.replace("-", "_")
    result = load_scorer(name, device="cpu")(preds, refs)
    official = oracle("radgraph", action="score", model_cache_dir=str(parts["model_cache_dir"]),
                      predictions=preds, references=refs, model_type=model_type)
    for level in ("simple", "partial", "complete"):
        assert result.values[f"{name}_{level}"] == official[level], level
    assert result.values[name] == official["partial"]  # the headline is RG_ER
    n = len(short)
    assert result.values[f"{name}_simple"][n:n + 4] == [1.0] * 4  # identical pairs
    # 0.1.18 is case-sensitive except in 'complete' relation tuples: a lower-cased copy does not score 1
    lowered = result.values[f"{name}_partial"][n + 4:n + 8]
    assert any(v < 1.0 for v in lowered)
    assert result.values[f"{name}_simple"][-3:] == [0.0, 0.0, 0.0]  # the package skips empty pairs: 0


def test_whitespace_only_crashes_the_official_package_and_scores_zero_here(variant, oracle):
    from rexrank.metrics.registry import load_scorer

    model_type, parts, _, _ = variant
    official = oracle("radgraph", action="score", model_cache_dir=str(parts["model_cache_dir"]),
                      predictions=["   ", "No pleural effusion."], references=["No pleural effusion."] * 2,
                      model_type=model_type)
    assert official["errors"][0] and official["simple"][0] is None  # AssertionError inside allennlp
    name = model_type.replace("-", "_")
    result = load_scorer(name, device="cpu")(["   ", "No pleural effusion."], ["No pleural effusion."] * 2)
    assert result.values[name][0] == 0.0
    assert result.values[name][1] == official["partial"][1]


def test_provenance_names_the_model_type_and_the_encoder_the_archive_names(variant):
    from rexrank.metrics.registry import load_scorer
    from rexrank.testing.standins.radgraph import ENCODER_IDS

    model_type, _, _, _ = variant
    result = load_scorer(model_type.replace("-", "_"), device="cpu")(["No effusion."], ["No effusion."])
    prov = result.provenance
    assert prov["model_type"] == model_type
    assert prov["radgraph"]["repo_id"] == "StanfordAIMI/RRG_scorers"
    assert prov["encoder_name_in_config"] == ENCODER_IDS[model_type] == prov["encoder"]["repo_id"]
    assert prov["encoder_architecture"] == ("ModernBertModel" if model_type.startswith("modern") else "BertModel")
