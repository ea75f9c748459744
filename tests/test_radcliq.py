import numpy as np
import pytest

from rexrank.metrics.scorers.radcliq import RadCliQScorer, radcliq_v0, radcliq_v1
from rexrank.metrics.registry import METRICS
from rexrank.metrics.scorers.base import ScoreResult
from rexrank.errors import InputError


@pytest.mark.parametrize("x, v0, v1", [
    ([0, 0, 0, 0], 5.516160804054, 2.450143083327),
    ([1, 1, 1, 1], -0.242133422944, -1.440690282805),
    ([0.3, 0.4, 0.7, 0.2], 2.666946653100, 0.719899857733),
])
def test_design_checks(x, v0, v1):
    assert radcliq_v0(np.array([x]))[0] == pytest.approx(v0, abs=1e-11)
    assert radcliq_v1(np.array([x]))[0] == pytest.approx(v1, abs=1e-11)


def test_from_precomputed_components_and_reported_as_reciprocal_mean():
    comps = {"radgraph": [0, 1, 0.3], "bertscore": [0, 1, 0.4], "semb_score": [0, 1, 0.7], "bleu2": [0, 1, 0.2]}
    results = {k: ScoreResult(k, {k: v}) for k, v in comps.items()}
    out = RadCliQScorer()(["a", "b", "c"], ["a", "b", "c"], components=results)
    assert out.values["radcliq"] == pytest.approx([2.450143083327, -1.440690282805, 0.719899857733], abs=1e-11)
    assert out.values["radcliq_v0"] == pytest.approx([5.516160804054, -0.242133422944, 2.666946653100], abs=1e-11)
    mean = np.mean(out.values["radcliq"])
    assert METRICS["radcliq"].report(mean) == pytest.approx(1 / mean)
    assert RadCliQScorer().from_components(comps).values == out.values


def test_computes_missing_components_itself(tiny_bertscore_models, tiny_chexbert_models, tiny_radgraph_models):
    preds = ["No acute disease. Heart size normal.", "", "Small left pleural effusion."]
    refs = ["Heart size normal. No effusion.", "Lungs are clear.", "Small left pleural effusion."]
    out = RadCliQScorer(batch_size=4)(preds, refs)
    assert set(out.provenance["components"]) == {"radgraph", "bertscore", "semb_score", "bleu2"}
    assert len(out.values["radcliq"]) == 3 and all(np.isfinite(out.values["radcliq"]))
    assert out.values["radcliq"][2] < out.values["radcliq"][1]  # the identical report is better (lower)


def test_bad_components():
    with pytest.raises(InputError, match="bleu2"):
        RadCliQScorer().from_components({"radgraph": [0.1], "bertscore": [0.1], "semb_score": [0.1]})
    with pytest.raises(InputError, match="non-finite"):
        RadCliQScorer().from_components({"radgraph": [float("nan")], "bertscore": [0.1], "semb_score": [0.1],
                                         "bleu2": [0.1]})
