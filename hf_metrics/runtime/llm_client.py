"""A small client for any OpenAI-compatible chat-completions endpoint (OpenAI, Azure's v1
route, vLLM, llama.cpp, LiteLLM...), used by FineRadScore.

Settings come from arguments or the environment: ``OPENAI_BASE_URL`` (default
``https://api.openai.com/v1``), ``OPENAI_API_KEY``. The key is sent in the ``Authorization``
header only: it never appears in logs, errors or ``repr``. Rate limits (429) and server
errors (5xx) and dropped connections are retried with exponential backoff (``Retry-After``
honoured); other 4xx errors are not retried (they will not get better).

A dead endpoint must not hold a run (or the Space's queue) for half an hour, so:

* without a key the client refuses to start, unless the user named a base URL on this machine
  (``localhost``/loopback: a local vLLM or llama.cpp server needs none; ``OPENAI_API_KEY=EMPTY``
  is the usual placeholder for a server elsewhere that takes any key);
* :meth:`ChatClient.preflight` checks the endpoint once before a run (reachable, key accepted,
  model served) and fails with one clear error;
* a circuit breaker shared by every concurrent request stops the run after
  ``max_consecutive_failures`` transport failures in a row (connection errors, timeouts, 5xx):
  pending requests and backoff sleeps end at once, and what was scored is kept by the caller.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import random
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from rexrank.errors import InputError, RexrankError

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
PREFLIGHT_TIMEOUT = 15.0


class LLMUnavailableError(RexrankError):
    """The endpoint could not be reached or kept failing (5xx/429) after every retry."""


class CircuitOpenError(LLMUnavailableError):
    """Too many transport failures in a row: the run stops instead of retrying every study."""


class LLMRequestError(RexrankError):
    """The endpoint refused the request (a 4xx other than 429: bad key, unknown model...)."""


def is_local_url(url: str) -> bool:
    """Whether ``url`` points at this machine (``localhost`` or a loopback address)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CircuitBreaker:
    """Opens after ``threshold`` consecutive transport failures across all threads; a success resets it."""

    def __init__(self, threshold: int) -> None:
        self.threshold = max(1, threshold)
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened = threading.Event()
        self.reason = ""

    @property
    def is_open(self) -> bool:
        return self._opened.is_set()

    def check(self) -> None:
        if self._opened.is_set():
            raise CircuitOpenError(self.reason)

    def success(self) -> None:
        with self._lock:
            self._consecutive = 0

    def failure(self, problem: str) -> None:
        with self._lock:
            self._consecutive += 1
            if self._consecutive >= self.threshold and not self._opened.is_set():
                self.reason = (f"{problem}; stopped after {self._consecutive} failed requests in a row "
                               "(the endpoint looks down)")
                logger.warning("LLM endpoint: %s", self.reason)
                self._opened.set()

    def sleep(self, seconds: float) -> None:
        """Back off, but wake up (and raise) as soon as the breaker opens."""
        if self._opened.wait(seconds):
            self.check()


@dataclass
class ChatClient:
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 120.0
    max_attempts: int = 6
    backoff: float = 1.0  # seconds before the first retry; doubles each time, with jitter
    max_backoff: float = 60.0
    max_consecutive_failures: int = 6
    breaker: CircuitBreaker = field(init=False, repr=False)
    checked: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.breaker = CircuitBreaker(self.max_consecutive_failures)

    @classmethod
    def from_env(cls, base_url: str | None = None, model: str | None = None, api_key: str | None = None,
                 model_env: str = "OPENAI_MODEL", default_model: str | None = None, *, what: str = "the LLM judge",
                 **kwargs: Any) -> "ChatClient":
        """Settings from arguments, then the environment; refuses to start without a key unless
        the user named a base URL on this machine."""
        model = model or os.environ.get(model_env) or default_model
        if not model:
            raise InputError(f"no model name: pass model=... or set {model_env}")
        named = base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = api_key or os.environ.get("OPENAI_API_KEY") or None
        resolved = (named or DEFAULT_BASE_URL).rstrip("/")
        if urlsplit(resolved).scheme not in ("http", "https") or not urlsplit(resolved).hostname:
            raise InputError(f"{what}: the base URL must be http(s)://HOST[:PORT]/PATH, e.g. "
                             f"{DEFAULT_BASE_URL} or http://127.0.0.1:8000/v1 (set OPENAI_BASE_URL or base_url)")
        if key is None and not (named and is_local_url(resolved)):
            raise InputError(
                f"{what} needs an API key for {resolved}, and OPENAI_API_KEY is not set. Set OPENAI_API_KEY in "
                "the environment (never on the command line), or point OPENAI_BASE_URL (base_url=) at an "
                "OpenAI-compatible server on this machine (http://127.0.0.1:PORT/v1), which may run without one.")
        return cls(base_url=resolved, model=model, api_key=key, **kwargs)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def preflight(self) -> None:
        """One quick check before a run: the endpoint answers, accepts the key and serves the model.

        ``GET /models`` where the server has it (OpenAI, vLLM, llama.cpp, LiteLLM); otherwise a
        one-token chat request. Raises :class:`LLMUnavailableError` or :class:`LLMRequestError`."""
        import requests

        if self.checked:
            return
        url = f"{self.base_url}/models"
        try:
            response = requests.get(url, headers=self._headers(), timeout=min(self.timeout, PREFLIGHT_TIMEOUT))
        except requests.RequestException as err:
            raise LLMUnavailableError(f"cannot reach {self.base_url} ({type(err).__name__}): is the server "
                                      "running, and is OPENAI_BASE_URL right?") from None
        if response.status_code in (401, 403):
            raise LLMRequestError(f"{self.base_url} refused the API key (HTTP {response.status_code}): check "
                                  "OPENAI_API_KEY")
        served = _model_ids(response) if response.status_code == 200 else None
        if served:
            if self.model not in served:
                shown = ", ".join(sorted(served)[:10]) + (" ..." if len(served) > 10 else "")
                raise LLMRequestError(f"{self.base_url} does not serve the model {self.model!r} (it serves: {shown}); "
                                      "set FINERADSCORE_MODEL or model= to one of them")
        elif response.status_code >= 500:
            raise LLMUnavailableError(f"{url} answered HTTP {response.status_code}: the server is not well")
        else:  # no usable model list: ask for one token instead
            self._probe_chat()
        self.checked = True
        logger.info("LLM endpoint %s answers and serves %s", self.base_url, self.model)

    def _probe_chat(self) -> None:
        import requests

        url = f"{self.base_url}/chat/completions"
        body = {"model": self.model, "messages": [{"role": "user", "content": "Reply with OK."}], "max_tokens": 1}
        try:
            response = requests.post(url, json=body, headers=self._headers(), timeout=min(self.timeout, PREFLIGHT_TIMEOUT))
        except requests.RequestException as err:
            raise LLMUnavailableError(f"cannot reach {self.base_url} ({type(err).__name__}): is the server running, "
                                      "and is OPENAI_BASE_URL right?") from None
        if response.status_code == 200:
            return
        if response.status_code in (401, 403):
            raise LLMRequestError(f"{self.base_url} refused the API key (HTTP {response.status_code}): check OPENAI_API_KEY")
        if response.status_code in (400, 404):
            raise LLMRequestError(f"{self.base_url} refused a one-token request for model {self.model!r} "
                                  f"(HTTP {response.status_code}: {_short(response.text, self.api_key)}); check the "
                                  "model name (FINERADSCORE_MODEL or model=)")
        if response.status_code == 429:
            return  # rate limited, but alive and the key is accepted: the run's backoff handles it
        raise LLMUnavailableError(f"{url} answered HTTP {response.status_code}")

    def chat(self, messages: list[dict[str, str]], **params: Any) -> str:
        """The first choice's message content for ``messages``."""
        import requests

        url = f"{self.base_url}/chat/completions"
        headers = self._headers()
        body = {"model": self.model, "messages": messages,
                **{k: v for k, v in params.items() if v is not None}}
        problem = ""
        for attempt in range(1, self.max_attempts + 1):
            self.breaker.check()
            retry_after = None
            try:
                response = requests.post(url, json=body, headers=headers, timeout=self.timeout)
            except requests.RequestException as err:
                problem = f"{type(err).__name__} talking to {url}"
                self.breaker.failure(problem)
            else:
                if response.status_code == 200:
                    try:
                        content = response.json()["choices"][0]["message"]["content"] or ""
                    except (ValueError, KeyError, IndexError, TypeError):
                        problem = f"{url} answered 200 without choices[0].message.content"
                        self.breaker.failure(problem)
                    else:
                        self.breaker.success()
                        return content
                elif response.status_code == 429:  # alive, just busy: not a transport failure
                    problem = f"{url} answered HTTP 429"
                    retry_after = _seconds(response.headers.get("Retry-After"))
                elif response.status_code >= 500:
                    problem = f"{url} answered HTTP {response.status_code}"
                    retry_after = _seconds(response.headers.get("Retry-After"))
                    self.breaker.failure(problem)
                else:
                    raise LLMRequestError(f"{url} refused the request: HTTP {response.status_code} "
                                          f"{_short(response.text, self.api_key)} (model {self.model!r}; check the key and model name)")
            if attempt < self.max_attempts:
                delay = retry_after if retry_after is not None else min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                delay *= 1 + 0.1 * random.random()
                logger.info("%s; retry %d/%d in %.1f s", problem, attempt, self.max_attempts - 1, delay)
                self.breaker.sleep(delay)
        raise LLMUnavailableError(f"{problem} (gave up after {self.max_attempts} attempts)")


def _model_ids(response: Any) -> set[str] | None:
    """The model ids of an OpenAI-style ``/models`` answer, or None if it is not one."""
    try:
        data = response.json().get("data")
        ids = {str(m["id"]) for m in data if isinstance(m, dict) and "id" in m}
    except (ValueError, AttributeError, TypeError, KeyError):
        return None
    return ids or None


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _short(text: str, secret: str | None, limit: int = 300) -> str:
    """A server's error body, one line, shortened, with the key masked should it be echoed."""
    text = " ".join(text.split())
    if secret:
        text = text.replace(secret, "***")
    return text[:limit] + ("..." if len(text) > limit else "")
