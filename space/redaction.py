"""Secrets come from the environment only; this module keeps them out of logs, messages and results.

``redact(text)`` replaces the value of every secret-looking environment variable (``HF_TOKEN``,
``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``) with ``***``. ``install_log_filter()``
applies it to every log record, so even an exception that quotes a header cannot leak a token.
"""

from __future__ import annotations

import logging
import os
import re

_SECRET_NAME = re.compile(r"(TOKEN|API_KEY|SECRET|PASSWORD)$|^HF_TOKEN|^HUGGING_FACE_HUB_TOKEN$", re.I)
_MIN_LENGTH = 6  # shorter values would redact ordinary words


def secret_values(env: dict[str, str] | None = None) -> list[str]:
    env = os.environ if env is None else env
    return sorted({v for k, v in env.items() if _SECRET_NAME.search(k) and v and len(v) >= _MIN_LENGTH},
                  key=len, reverse=True)


def redact(text: str) -> str:
    for value in secret_values():
        text = text.replace(value, "***")
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_filter() -> None:
    """Redact secrets in every handler of the root logger (call after logging is configured),
    and quieten the per-request lines of HTTP clients (they carry URLs, never useful at INFO)."""
    for name in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
