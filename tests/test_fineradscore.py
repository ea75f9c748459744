"""FineRadScore against a local OpenAI-compatible server started by the tests: the exact
request, validation and retries as the official loop, rate limits, server errors, slow and
malformed replies, unknown severity words, an API that is down, and the reply cache."""

from __future__ import annotations

import json
import logging
import math

import pytest

from rexrank.metrics.scorers.fineradscore.scorer import (FineRadScoreScorer, build_messages, number_lines, parse_reply, InvalidReply)
from rexrank.metrics.runtime.llm_client import ChatClient, LLMRequestError
from rexrank.metrics.registry import get_spec
from rexrank import assets
from rexrank.errors import InputError, RexrankError
from tests.fixtures.llm_server import GOOD, KEY, line  # the server itself is the `api` fixture


def scorer(tmp_path, **options) -> FineRadScoreScorer:
    return FineRadScoreScorer(cache_dir=str(tmp_path / "cache"), progress=False, backoff=0.01, **options)


PRED = 'Heart size 1.5 cm. No "acute" effusion. Lungs clear...'


def test_official_line_numbering():
    assert number_lines(PRED) == "[0] Heart size 1.5 cm. [1] No acute effusion. [2] Lungs clear.."
    assert number_lines("") == "" and number_lines(" ") == ""
    assert number_lines("A. B.") == "[0] A. [1] B."  # the last "." has no space after it: not a split
    assert number_lines("Stable 2.5. Next") == "[0] Stable 2.5. Next."  # a "." right after a digit never splits
    assert number_lines("One line\nno period") == "[0] One line\nno period."


def test_request_is_the_official_few_shot_messages(api, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    reference = 'Findings: "Right lower lung consolidation."\nImpression: None'
    result = scorer(tmp_path)([PRED], [reference])
    (request,) = api.requests
    fewshot = assets.read_json("fineradscore/fewshot")["messages"]
    sent = request["body"]["messages"]
    assert request["path"] == "/v1/chat/completions" and request["body"]["model"] == "judge-model"
    assert sent[:-1] == [{"role": m["role"], "content": m["content"]} for m in fewshot[:-1]]
    assert sent[-1] == {"role": "user", "content": "Generated Text: [0] Heart size 1.5 cm. [1] No acute effusion. "
                                                   f"[2] Lungs clear.. \n \n Ground Truth Text: {reference}"}
    assert sent == build_messages(assets.read_json("fineradscore/fewshot"), PRED, reference)
    assert request["auth"] == f"Bearer {KEY}"
    assert "temperature" not in request["body"]  # the official request leaves sampling at the server default
    assert result.values["fineradscore"] == [3.0]  # worst line: "Urgent error"
    shown = caplog.text + repr(result.provenance) + repr(result.details) + repr(scorer(tmp_path).client)
    assert KEY not in shown


def test_aggregation_severity_words_and_no_error(api, tmp_path):
    refs = ["r SCENARIO:ok", "r SCENARIO:fence", "r SCENARIO:noerrors", "r SCENARIO:unknown"]
    worst = scorer(tmp_path)(["a. b. c"] * 4, refs)
    assert worst.values["fineradscore"] == [3.0, 4.0, 0.0, 1.0]
    total = scorer(tmp_path, aggregation="sum")(["a. b. c"] * 4, refs)
    assert total.values["fineradscore"] == [6.0, 4.0, 0.0, 1.0]
    assert sum(api.calls.values()) == 4  # the second run read every reply from the cache
    assert worst.details[2]["no_error"] and not worst.details[0]["no_error"]
    assert worst.details[3]["unknown_severities"] == ["[delete]", "Moderate"]
    assert worst.details[1]["line_severities"] == {"1": 4}
    assert get_spec("fineradscore").report(2.0) == 0.5  # leaderboard: 1 / mean
    with pytest.raises(InputError, match="aggregation"):
        scorer(tmp_path, aggregation="mean")


def test_invalid_replies_are_retried_like_the_official_loop(api, tmp_path):
    refs = ["SCENARIO:malformed-once", "SCENARIO:badkeys-once", "SCENARIO:always-malformed", "SCENARIO:ok"]
    result = scorer(tmp_path)(["x"] * 4, refs)
    values = result.values["fineradscore"]
    assert values[:2] == [3.0, 3.0] and math.isnan(values[2]) and values[3] == 3.0
    assert [d["attempts"] for d in result.details] == [2, 2, 6, 1]
    assert api.calls["always-malformed"] == 6  # 1 + max_retries=5, as run_rexval_experiment
    assert "no valid reply after 6 tries" in result.details[2]["error"] and result.provenance["failed"] == 1
    scorer(tmp_path)(["x"] * 4, refs)  # valid replies cached, the failed study is asked again
    assert api.calls["always-malformed"] == 12 and api.calls["malformed-once"] == 2


def test_rate_limits_server_errors_and_timeouts_are_retried(api, tmp_path):
    refs = ["SCENARIO:ratelimit", "SCENARIO:error500", "SCENARIO:timeout-once"]
    result = scorer(tmp_path, timeout=0.5)(["x"] * 3, refs)
    assert result.values["fineradscore"] == [3.0, 3.0, 3.0]
    assert api.calls["ratelimit"] == 3 and api.calls["error500"] == 2 and api.calls["timeout-once"] >= 2
    assert all(d["attempts"] == 1 for d in result.details)  # transport retries are not validation retries


def test_requests_run_concurrently(api, tmp_path):
    scorer(tmp_path, concurrency=4)([f"x{i}" for i in range(8)], ["SCENARIO:slow"] * 8)
    assert api.max_in_flight >= 2 and api.calls["slow"] == 8


def test_api_down_names_the_studies_and_keeps_what_was_scored(api, tmp_path):
    first = scorer(tmp_path)(["a", "b"], ["r1", "r2"])
    assert first.values["fineradscore"] == [3.0, 3.0]
    api.close()
    down = scorer(tmp_path, max_attempts=2)
    with pytest.raises(RexrankError, match=r"unavailable.*2 of 3 studies were scored and cached.*#2"):
        down(["a", "b", "c"], ["r1", "r2", "r3"])


def test_refused_request_is_a_clear_error_without_the_key(api, tmp_path):
    with pytest.raises(LLMRequestError, match="HTTP 401") as info:
        scorer(tmp_path)(["x"], ["SCENARIO:badkey"])
    assert KEY not in str(info.value) and "***" in str(info.value)


def test_settings_from_arguments_override_the_environment(api, tmp_path, monkeypatch):
    monkeypatch.delenv("FINERADSCORE_MODEL")
    assert scorer(tmp_path).client.model == "gpt-4"
    client = ChatClient.from_env(base_url="http://h/v1/", model="m", api_key="sk-arg-key")
    assert (client.base_url, client.model, client.api_key) == ("http://h/v1", "m", "sk-arg-key")
    assert "sk-arg-key" not in repr(client)


def test_parse_reply_rules():
    assert parse_reply(' ```json\n{"None": ' + json.dumps(line("Urgent error")) + "}\n``` ") == {"None": line("Urgent error")}
    assert parse_reply("{}") == {}
    for bad, why in [("nope", "not JSON"), ("[]", "not an object"), ('{"a": {}}', "not a line number"),
                     ('{"1": "corrections clinical severity comments error category"}', "lacks")]:
        with pytest.raises(InvalidReply, match=why):
            parse_reply(bad)
