"""Secrets come from the environment only; this module keeps them out of logs, messages and results.

One home for every process (the CLI, the Space, workers): ``redact(text)`` replaces the value of
every secret-looking environment variable (``HF_TOKEN``, ``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``,
``*_PASSWORD``) and anything shaped like a Hub token, an OpenAI-style key or a bearer header with
``***``. ``install_log_filter()`` applies it to every log record, so even an exception that quotes
a header (or a predictions file that is really ``/proc/self/environ``) cannot leak a token.

``public_message(text)`` is stricter, for what a *web visitor* sees (submit replies, queue
reasons): on top of ``redact`` it hides server paths, endpoint URLs and raw exception class
names, and caps the length. Operators keep the full text in the logs.
"""

from __future__ import annotations

import logging
import os
import re

_SECRET_NAME = re.compile(r"(TOKEN|API_KEY|SECRET|PASSWORD)$|^HF_TOKEN|^HUGGING_FACE_HUB_TOKEN$", re.I)
_MIN_LENGTH = 6  # shorter values would redact ordinary words
# Shapes of secrets that may not be in *our* environment (another process's environ, a pasted key).
_SECRET_SHAPES = re.compile(
    r"\bhf_[A-Za-z0-9]{20,}\b"                        # Hugging Face user/org tokens
    r"|\bsk-[A-Za-z0-9_\-]{16,}\b"                    # OpenAI-style API keys
    r"|(?<=Bearer )[A-Za-z0-9._~+/\-]{8,}=*"          # Authorization: Bearer <token>
    r"|(?:(?<=TOKEN=)|(?<=_KEY=)|(?<=CRET=)|(?<=WORD=))[^\s\x00'\"]{6,}",  # NAME=value pairs, as in an environ dump
    re.I)

PUBLIC_LIMIT = 600  # characters of a message shown to a web visitor
_URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s'\"<>)\]]+", re.I)
_HOST = re.compile(r"(?:\b(?:localhost|\d{1,3}(?:\.\d{1,3}){3})|\[[0-9a-f:]+\])(?::\d{1,5})?(?![\w.])", re.I)
_HUB_URL = re.compile(r"^https://huggingface\.co(/|$)", re.I)
_POSIX_PATH = re.compile(r"(?<![\w.:/~\-])(?:~|\.{1,2})?/(?:[\w.@+\-]+/)*[\w.@+\-]+/?")
_WINDOWS_PATH = re.compile(r"\b[A-Za-z]:\\[^\s'\"]*")
_EXC_CLASS = re.compile(r"(?<![/\-.@])\b(?:(?:[a-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Refused|Warning|Timeout)"
                        r"|(?:[a-z_]\w*\.)+[A-Z]\w*)\b(?::\s*)?")  # ValueError, requests.exceptions.ReadTimeout


def secret_values(env: dict[str, str] | None = None) -> list[str]:
    env = os.environ if env is None else env
    return sorted({v for k, v in env.items() if _SECRET_NAME.search(k) and v and len(v) >= _MIN_LENGTH},
                  key=len, reverse=True)


_PREFIX = 12  # a message that cuts a secret short (a truncated echo) still hides what it shows


def redact(text: str) -> str:
    """``text`` with every secret value (or a cut-off start of one, 12 characters or more) and
    every secret-shaped string replaced by ``***``."""
    for value in secret_values():
        text = text.replace(value, "***")
        if len(value) > _PREFIX and value[:_PREFIX] in text:
            text = _cut_prefixes(text, value)
    return _SECRET_SHAPES.sub("***", text)


def _cut_prefixes(text: str, value: str) -> str:
    out, start = [], 0
    while (i := text.find(value[:_PREFIX], start)) >= 0:
        n = _PREFIX
        while i + n < len(text) and n < len(value) and text[i + n] == value[n]:
            n += 1
        out.append(text[start:i] + "***")
        start = i + n
    return "".join(out) + text[start:]


def public_message(text: str, limit: int = PUBLIC_LIMIT) -> str:
    """What a web visitor may see of ``text``: redacted, no server path, no endpoint URL, no exception class."""
    text = redact(str(text))
    text = _URL.sub(lambda m: m.group(0) if _HUB_URL.match(m.group(0)) else "<endpoint>", text)
    text = _HOST.sub("<endpoint>", text)
    text = _WINDOWS_PATH.sub("<server path>", text)
    text = _POSIX_PATH.sub("<server path>", text)  # ORG/NAME, refs/pr/N, 1/RadCliQ start with a word char: kept
    text = _EXC_CLASS.sub("", text).strip()
    if len(text) > limit:
        text = text[:limit].rstrip() + " …"
    return text or "failed (see the server log)"


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
