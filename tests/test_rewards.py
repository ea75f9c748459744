"""Reward functions (rexrank.metrics.rewards): TRL's signature over the registry's scorers, on the stand-ins."""

from __future__ import annotations

import math
import pickle

import pytest

from rexrank.errors import InputError
from rexrank.metrics.registry import METRICS, MetricSpec, load_scorer
from rexrank.metrics.rewards import completion_text, reward_function
from rexrank.metrics.scorers.base import ScoreResult

REFS = ["No pleural effusion. Mild cardiomegaly.", "The lungs are clear. Heart size is normal.",
        "Small left effusion with bibasilar atelectasis.", "No acute cardiopulmonary process."]
COMPLETIONS = ["No effusion. Moderate cardiomegaly.", "Lungs clear, heart normal.",
               "Small left pleural effusion.", "No acute disease. Heart size is normal."]


def _chat(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


@pytest.fixture(scope="module")
def models(tiny_radgraph_models, tiny_bertscore_models, tiny_chexbert_models, tiny_ratescore_models):
    return True


@pytest.mark.parametrize("metric", ["bleu2", "bertscore", "semb_score", "chexbert", "radgraph", "ratescore"])
def test_rewards_are_the_scorers_per_study_values(models, metric):
    reward = reward_function(metric, device="cpu")
    expected = load_scorer(metric, device="cpu", progress=False)(COMPLETIONS, REFS).values[metric]
    got = reward(completions=COMPLETIONS, ground_truth=REFS, prompts=["p"] * 4, completion_ids=[[1]] * 4)
    assert got == pytest.approx(expected, abs=1e-12)
    assert all(isinstance(v, float) for v in got)
    assert reward.__name__ == f"rexrank_{metric}"


def test_radcliq_is_rewarded_as_minus_radcliq_and_radgraph_levels_by_name(models):
    radcliq = reward_function("radcliq", device="cpu")(COMPLETIONS, ground_truth=REFS)
    expected = load_scorer("radcliq", device="cpu")(COMPLETIONS, REFS).values["radcliq"]
    assert radcliq == pytest.approx([-v for v in expected], abs=1e-9)
    levels = load_scorer("radgraph", device="cpu", reward_levels=True)(COMPLETIONS, REFS).values
    partial = reward_function("radgraph", level="partial", device="cpu")
    assert partial.__name__ == "rexrank_radgraph_partial"
    assert partial(COMPLETIONS, ground_truth=REFS) == levels["radgraph_partial"]
    assert reward_function("radgraph", column="radgraph_complete")(COMPLETIONS, ground_truth=REFS) == \
        levels["radgraph_complete"]
    with pytest.raises(InputError, match="level="):
        reward_function("bertscore", level="partial")


def test_chat_completions_count_the_last_assistant_message(models):
    reward = reward_function("radgraph", device="cpu")
    plain = reward(COMPLETIONS, ground_truth=REFS)
    chats = [_chat(COMPLETIONS[0]),
             [{"role": "user", "content": "ignored"}, {"role": "assistant", "content": COMPLETIONS[1]}],
             [{"role": "assistant", "content": [{"type": "text", "text": COMPLETIONS[2]}]}],
             {"role": "assistant", "content": COMPLETIONS[3]}]
    assert reward(chats, ground_truth=REFS) == plain
    assert completion_text([{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]) == "b"


def test_empty_and_unparsable_completions_get_a_defined_reward_and_never_raise(models, caplog):
    empty_bertscore = load_scorer("bertscore", device="cpu")([""], [REFS[0]]).values["bertscore"][0]
    bad = ["", "   \n ", None, 17, [], [{"role": "user", "content": "no answer"}], [{"role": "assistant"}]]
    refs = [REFS[0]] * len(bad)
    assert reward_function("radgraph", device="cpu")(bad, ground_truth=refs) == [0.0] * len(bad)
    bertscore = reward_function("bertscore", device="cpu")(bad, ground_truth=refs)
    assert bertscore[0] == bertscore[2] == pytest.approx(empty_bertscore) and empty_bertscore < -5
    assert "hold no generated text" in caplog.text
    chosen = reward_function("bertscore", device="cpu", invalid_reward=-1.0)(bad, ground_truth=refs)
    assert chosen[2:] == [-1.0] * 5 and chosen[0] == pytest.approx(empty_bertscore)


def test_weighted_sum_and_transform(models):
    parts = {m: reward_function(m, device="cpu")(COMPLETIONS, ground_truth=REFS) for m in ("radgraph", "bertscore")}
    both = reward_function({"radgraph": 0.7, "bertscore": 0.3}, device="cpu", score_transform=lambda v: 2 * v,
                           name="mix")
    assert both.__name__ == "mix"
    assert both(COMPLETIONS, ground_truth=REFS) == pytest.approx(
        [2 * (0.7 * a + 0.3 * b) for a, b in zip(parts["radgraph"], parts["bertscore"])], abs=1e-12)
    mixed_levels = reward_function({"radgraph": 1.0, "radcliq": 1.0}, column={"radgraph": "radgraph_simple"},
                                   device="cpu")
    assert len(mixed_levels(COMPLETIONS, ground_truth=REFS)) == 4


def test_models_load_once_and_references_are_annotated_once(models, monkeypatch):
    from rexrank.metrics.scorers.radgraph.annotate import AnnotationWork

    annotated: list[str] = []
    real = AnnotationWork.__init__

    def spy(self, annotator, texts):
        real(self, annotator, texts)
        annotated.extend(self.new)  # the texts this call annotates (not cached before)

    monkeypatch.setattr(AnnotationWork, "__init__", spy)
    reward = reward_function("radgraph", reference_column="reference", device="cpu")
    refs = [r for r in REFS[:2] for _ in range(4)]  # 2 prompts x 4 generations
    step1 = [f"{c} Step one {i}." for i, c in enumerate(COMPLETIONS * 2)]
    reward(step1, reference=refs)
    first = list(annotated)
    step2 = [f"{c} Step two {i}." for i, c in enumerate(COMPLETIONS * 2)]
    reward(step2, reference=refs)
    assert set(first) <= set(step1) | set(REFS[:2])
    assert annotated[len(first):] == list(dict.fromkeys(step2))  # only the new completions, once each
    annotated.clear()
    reward(step2, reference=refs)  # identical pairs again: remembered, nothing runs
    assert annotated == []
    assert reward.nodes["radgraph"].scorer is not None


def test_reference_column_errors_name_the_columns_and_positions(models):
    reward = reward_function("bleu2")
    with pytest.raises(InputError, match=r"no 'ground_truth' among the dataset columns \['findings'\]"):
        reward(COMPLETIONS, findings=REFS, trainer_state=None)
    with pytest.raises(InputError, match=r"position\(s\) \[1\]"):
        reward(COMPLETIONS, ground_truth=[REFS[0], None, REFS[2], REFS[3]])
    with pytest.raises(InputError, match="4 completions but 3 references"):
        reward(COMPLETIONS, ground_truth=REFS[:3])
    with pytest.raises(InputError, match="unknown metric"):
        reward_function("bleu4")


def test_pickles_without_its_models_and_works_after(models):
    reward = reward_function("radgraph", device="cpu")
    before = reward(COMPLETIONS, ground_truth=REFS)
    clone = pickle.loads(pickle.dumps(reward))
    assert clone.nodes["radgraph"].scorer is None and not clone.nodes["radgraph"].memo
    assert clone(COMPLETIONS, ground_truth=REFS) == before


def test_score_cache_on_disk_serves_a_new_process_worth_of_reward(models, tmp_path, monkeypatch):
    first = reward_function("bertscore", device="cpu", score_cache=tmp_path)(COMPLETIONS, ground_truth=REFS)
    again = reward_function("bertscore", device="cpu", score_cache=tmp_path)
    monkeypatch.setattr(MetricSpec, "load", lambda *a, **k: pytest.fail("scored although cached"))
    assert again(COMPLETIONS, ground_truth=REFS) == first


class _Flaky:
    """A metric whose scorer fails on some studies (NaN), as FineRadScore does for an LLM reply that never parses."""

    name = "flaky"

    def __init__(self, **_):
        pass

    def __call__(self, predictions, references):
        return ScoreResult(self.name, {self.name: [math.nan if "?" in p else float(len(p)) for p in predictions]})


def test_nan_values_become_nan_reward_and_lower_is_better_is_negated(monkeypatch):
    monkeypatch.setitem(METRICS, "flaky", MetricSpec("flaky", "Flaky", "tests.test_rewards:_Flaky",
                                                     per_study_higher_is_better=False, extra=True))
    assert reward_function("flaky")(["ab", "what?"], ground_truth=["x", "y"]) == [-2.0, None]
    assert reward_function("flaky", nan_reward=-10.0)(["ab", "what?"], ground_truth=["x", "y"]) == [-2.0, -10.0]


def test_green_reward_runs_on_the_stand_in(tiny_green_models, tmp_path):
    reward = reward_function("green", device="cpu", metric_options={"green": {"max_length": 1200, "cache_dir": str(tmp_path)}})
    values = reward(["Left effusion.", ""], ground_truth=["No effusion.", "Lungs clear."])
    assert values == [0.0, 0.0]  # random weights write no parsable counts: GREEN's defined 0
