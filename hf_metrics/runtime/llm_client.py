"""A small client for any OpenAI-compatible chat-completions endpoint (OpenAI, Azure's v1
route, vLLM, llama.cpp, LiteLLM...), used by FineRadScore.

Settings come from arguments or the environment: ``OPENAI_BASE_URL`` (default
``https://api.openai.com/v1``), ``OPENAI_API_KEY``. The key is sent in the ``Authorization``
header only: it never appears in logs, errors or ``repr``. Rate limits (429) and server
errors (5xx) and dropped connections are retried with exponential backoff (``Retry-After``
honoured); other 4xx errors are not retried (they will not get better).
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

from rexrank.errors import InputError, RexrankError

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class LLMUnavailableError(RexrankError):
    """The endpoint could not be reached or kept failing (5xx/429) after every retry."""


class LLMRequestError(RexrankError):
    """The endpoint refused the request (a 4xx other than 429: bad key, unknown model...)."""


@dataclass
class ChatClient:
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 120.0
    max_attempts: int = 6
    backoff: float = 1.0  # seconds before the first retry; doubles each time, with jitter
    max_backoff: float = 60.0

    @classmethod
    def from_env(cls, base_url: str | None = None, model: str | None = None, api_key: str | None = None,
                 model_env: str = "OPENAI_MODEL", default_model: str | None = None, **kwargs: Any) -> "ChatClient":
        model = model or os.environ.get(model_env) or default_model
        if not model:
            raise InputError(f"no model name: pass model=... or set {model_env}")
        return cls(base_url=(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
                   model=model, api_key=api_key or os.environ.get("OPENAI_API_KEY"), **kwargs)

    def chat(self, messages: list[dict[str, str]], **params: Any) -> str:
        """The first choice's message content for ``messages``."""
        import requests

        url = f"{self.base_url}/chat/completions"
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = {"model": self.model, "messages": messages,
                **{k: v for k, v in params.items() if v is not None}}
        problem = ""
        for attempt in range(1, self.max_attempts + 1):
            retry_after = None
            try:
                response = requests.post(url, json=body, headers=headers, timeout=self.timeout)
            except requests.RequestException as err:
                problem = f"{type(err).__name__} talking to {url}"
            else:
                if response.status_code == 200:
                    try:
                        return response.json()["choices"][0]["message"]["content"] or ""
                    except (ValueError, KeyError, IndexError, TypeError):
                        problem = f"{url} answered 200 without choices[0].message.content"
                elif response.status_code == 429 or response.status_code >= 500:
                    problem = f"{url} answered HTTP {response.status_code}"
                    retry_after = _seconds(response.headers.get("Retry-After"))
                else:
                    raise LLMRequestError(f"{url} refused the request: HTTP {response.status_code} "
                                          f"{_short(response.text, self.api_key)} (model {self.model!r}; check the key and model name)")
            if attempt < self.max_attempts:
                delay = retry_after if retry_after is not None else min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                delay *= 1 + 0.1 * random.random()
                logger.info("%s; retry %d/%d in %.1f s", problem, attempt, self.max_attempts - 1, delay)
                time.sleep(delay)
        raise LLMUnavailableError(f"{problem} (gave up after {self.max_attempts} attempts)")


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
