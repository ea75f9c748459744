"""FineRadScore as ReXrank reports it (DESIGN §7.10): an LLM corrects the candidate line by
line against the reference and grades each error's clinical severity.

Official: github rajpurkarlab/FineRadScore @ 3f5e1dc (``run_rexval_experiments.py`` numbering
and retry loop, ``gpt4_generations.py`` few-shot request; the messages are fetched and
extracted, see ``fineradscore_prompt``). What we keep from it:

* the candidate split into numbered lines exactly as the official code does;
* the few-shot messages byte for byte, the reference inserted raw;
* validation: the reply must be a JSON object whose keys are line numbers or ``"None"`` and
  whose values hold the four keys ``corrections``, ``clinical severity``, ``comments``,
  ``error category``; otherwise ask again, up to 5 more times (6 calls, as the official
  ``retry_count > max_retries`` loop).

What the official code leaves open, and what we do: the aggregation is ReXrank's (the worst
line severity per report; ``aggregation="sum"`` gives the paper's sum), a reply with no
erroneous line scores 0, a ```json fence around the reply is stripped, a study whose replies
stay invalid is recorded with its error and NaN (never a silent 0), an API error is retried
with backoff rather than forever, and valid replies are cached on disk by (model, messages)
as they arrive, so a rerun costs nothing and an interrupted run keeps what it scored.

Before the first uncached study is sent, the endpoint is checked once (:meth:`preflight`:
reachable, key accepted, model served), and a circuit breaker stops the run after a few
transport failures in a row (:mod:`rexrank.metrics.runtime.llm_client`), so a dead endpoint
costs seconds, not one backoff cycle per study. Without ``OPENAI_API_KEY`` the scorer refuses
to start unless the base URL you named is on this machine.
"""

from __future__ import annotations

import json
import logging
import math
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from rexrank.metrics.scorers.base import check_pairs
from rexrank.metrics.runtime.llm_client import ChatClient, LLMUnavailableError
from rexrank.metrics.scorers.base import ScoreResult
from rexrank import assets
from rexrank.digests import sha256_json
from rexrank.errors import InputError, RexrankError, describe_ids

logger = logging.getLogger(__name__)

SEVERITY = {"no error": 0, "invalid comparison": 0, "not actionable": 1, "actionable nonurgent error": 2,
            "urgent error": 3, "emergent error": 4}
REQUIRED_KEYS = ("corrections", "clinical severity", "comments", "error category")
MAX_RETRIES = 5  # run_rexval_experiment(max_retries=5)
DEFAULT_MODEL = "gpt-4"  # the official request names the Azure deployment "gpt4"
AGGREGATIONS = ("max", "sum")


class InvalidReply(ValueError):
    """A reply the official validation would send back for another try."""


def number_lines(prediction: str) -> str:
    """The official sentence numbering: ``[0] First sentence. [1] Second sentence.``"""
    sentences = re.split(r"(?<!\d)\.(?!\d|$) ", prediction)
    if "" in sentences:
        sentences.remove("")
    if " " in sentences:
        sentences.remove(" ")
    for i, sentence in enumerate(sentences):
        sentence = sentence.strip().replace('"', "") + "."
        sentences[i] = sentence.replace("..", ".")
    return "".join(f"[{i}] {s} " for i, s in enumerate(sentences)).strip()


def build_messages(fewshot: dict, prediction: str, reference: str) -> list[dict[str, str]]:
    """The official GPT-4 few-shot request for one study."""
    messages = []
    for message in fewshot["messages"]:
        if "content_template" in message:  # "Generated Text: {pred_target} \n \n Ground Truth Text: {gt_target}"
            before, after = message["content_template"].split("{pred_target}")
            middle, tail = after.split("{gt_target}")
            content = before + number_lines(prediction) + middle + reference + tail
            messages.append({"role": message["role"], "content": content})
        else:
            messages.append({"role": message["role"], "content": message["content"]})
    return messages


def parse_reply(text: str) -> dict[str, dict]:
    """The reply as a dict of lines, or :class:`InvalidReply` saying why (official validation)."""
    stripped = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", stripped, re.DOTALL)
    try:
        reply = json.loads(fenced.group(1) if fenced else stripped)
    except ValueError as err:
        raise InvalidReply(f"not JSON ({err})") from None
    if not isinstance(reply, dict):
        raise InvalidReply(f"a JSON {type(reply).__name__}, not an object")
    for key, line in reply.items():
        if not key.isdigit() and key != "None":
            raise InvalidReply(f"key {key!r} is not a line number")
        if not isinstance(line, dict) or any(k not in line for k in REQUIRED_KEYS):
            raise InvalidReply(f"line {key!r} lacks one of {list(REQUIRED_KEYS)}")
    return reply


def severities(reply: dict[str, dict]) -> tuple[dict[str, int], list[str]]:
    """Severity per line (unknown words count 0) and the unknown words seen."""
    found, unknown = {}, []
    for key, line in reply.items():
        word = str(line.get("clinical severity", "")).strip().lower()
        if word not in SEVERITY:
            unknown.append(str(line.get("clinical severity")))
        found[key] = SEVERITY.get(word, 0)
    return found, unknown


class FineRadScoreScorer:
    """``FineRadScoreScorer(model=None, base_url=None, api_key=None)(predictions, references)``.

    Per study: the worst line severity (0-4; ``aggregation="sum"``: the sum). Lower is better;
    the leaderboard reports 1 / mean. ``concurrency`` requests run at once.
    """

    name = "fineradscore"

    def __init__(self, model: str | None = None, base_url: str | None = None, api_key: str | None = None,
                 aggregation: str = "max", concurrency: int = 8, max_retries: int = MAX_RETRIES,
                 temperature: float | None = None, cache: bool = True, cache_dir: str | None = None,
                 progress: bool = True, timeout: float = 120.0, max_attempts: int = 6, backoff: float = 1.0,
                 max_consecutive_failures: int = 6, device: str | None = None, batch_size: int | None = None):
        if aggregation not in AGGREGATIONS:
            raise InputError(f"FineRadScore aggregation must be one of {AGGREGATIONS}, not {aggregation!r}")
        self.client = ChatClient.from_env(base_url, model, api_key, model_env="FINERADSCORE_MODEL",
                                          default_model=DEFAULT_MODEL, what="FineRadScore", timeout=timeout,
                                          max_attempts=max_attempts, backoff=backoff,
                                          max_consecutive_failures=max_consecutive_failures)
        self.aggregation, self.concurrency, self.max_retries = aggregation, max(1, concurrency), max_retries
        self.temperature, self.progress = temperature, progress
        self.cache, self.cache_dir = cache, cache_dir
        del device, batch_size  # accepted like every scorer's options; an API call has neither

    def preflight(self) -> None:
        """Check the endpoint once, before any study is sent (the suite calls this before it runs
        any metric, so a dead endpoint or a refused key is known in seconds)."""
        self.client.preflight()

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> ScoreResult:
        predictions, references = check_pairs(predictions, references, "FineRadScore")
        fewshot = assets.read_json("fineradscore/fewshot")
        requests = [build_messages(fewshot, p, r) for p, r in zip(predictions, references)]
        store, config = self._store()
        keys = [sha256_json(m) for m in requests]
        cached = set(store.get_many(config, keys)) if store is not None else set()
        if any(k not in cached for k in keys):
            try:
                self.client.preflight()
            except LLMUnavailableError as err:
                raise self._unavailable(err, [i for i, k in enumerate(keys) if k not in cached], len(keys)) from None
        with ThreadPoolExecutor(self.concurrency) as pool:
            outcomes = list(_progress(pool.map(lambda m: self._judge(m, store, config), requests),
                                      len(requests), self.progress))
        down = [i for i, o in enumerate(outcomes) if isinstance(o, LLMUnavailableError)]
        if down:
            first = self.client.breaker.reason or str(outcomes[down[0]])
            raise self._unavailable(first, down, len(requests))
        values, details = [], []
        for request, outcome in zip(requests, outcomes):
            record = {"numbered_candidate": number_lines(predictions[len(details)]), **outcome}
            if outcome.get("reply") is not None:
                lines, unknown = severities(outcome["reply"])
                scores = list(lines.values())
                value = float(max(scores, default=0) if self.aggregation == "max" else sum(scores))
                record.update(line_severities=lines, unknown_severities=unknown, no_error=not any(scores))
            else:
                value = math.nan
            values.append(value)
            details.append(record)
        failed = [i for i, v in enumerate(values) if math.isnan(v)]
        if failed:
            logger.warning("FineRadScore: no valid reply after %d tries for %s", self.max_retries + 1,
                           describe_ids([f"#{i}" for i in failed]))
        return ScoreResult("fineradscore", {"fineradscore": values}, details=details, provenance={
            "llm": {"model": self.client.model, "base_url": self.client.base_url, "temperature": self.temperature},
            "aggregation": self.aggregation, "max_retries": self.max_retries, "failed": len(failed),
            "assets": ["fineradscore/fewshot"], "official": "rajpurkarlab/FineRadScore@3f5e1dc"})

    def _unavailable(self, problem: object, not_scored: list[int], n: int) -> RexrankError:
        return RexrankError(
            f"FineRadScore: the API at {self.client.base_url} is unavailable ({problem}); "
            f"{n - len(not_scored)} of {n} studies were scored and cached, rerun to finish. "
            f"Not scored: {describe_ids([f'#{i}' for i in not_scored])} (positions in the input).")

    def _store(self):
        if not self.cache:
            return None, ""
        from pathlib import Path

        from rexrank.metrics.runtime.score_cache import ScoreCache, default_dir

        store = ScoreCache(Path(self.cache_dir) if self.cache_dir else default_dir() / "fineradscore")
        return store, sha256_json(["fineradscore-reply", self.client.model, self.temperature])

    def _judge(self, messages: list[dict[str, str]], store, config: str) -> dict[str, Any] | LLMUnavailableError:
        """One study: cached reply, else up to 1 + max_retries calls until a reply validates."""
        

        key = sha256_json(messages)
        if store is not None:
            hit = store.get_many(config, [key]).get(key)
            if hit is not None:
                return {"reply": hit["reply"], "attempts": 0, "cached": True, "error": None}
        problems = []
        for attempt in range(1, self.max_retries + 2):
            try:
                text = self.client.chat(messages, temperature=self.temperature)
            except LLMUnavailableError as err:
                return err
            try:
                reply = parse_reply(text)
            except InvalidReply as err:
                problems.append(f"try {attempt}: {err}")
                continue
            if store is not None:
                store.put_many(config, {key: {"reply": reply, "raw": text}})
            return {"reply": reply, "attempts": attempt, "cached": False, "error": None}
        return {"reply": None, "attempts": self.max_retries + 1, "cached": False,
                "error": f"no valid reply after {self.max_retries + 1} tries: " + "; ".join(problems[-3:])}


def _progress(iterable, total: int, enabled: bool):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc="FineRadScore", leave=False)
