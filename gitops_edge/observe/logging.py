"""Structured logs for the daemon: JSON lines on stderr, with secrets masked on the way out.

The daemon's log is read by people (``kubectl logs``) and by machines (Loki,
Elasticsearch), so every line is one JSON object with ``timestamp`` (ISO 8601 UTC),
``level``, ``logger``, ``event`` and whatever the code bound (``site=``,
``revision=``...). Lines from libraries that use stdlib ``logging`` (urllib3, the
kubernetes client, GitPython) go through the same chain, so nothing reaches stderr
unformatted or unredacted.

The ops repo holds no credentials, but the daemon touches many: the Git token in a
remote URL, the webhook secret, ServiceAccount bearer tokens, SSH keys in Secrets it
may read. :func:`redact` is the last processor before the renderer and masks them
wherever they hide: under a key named like one, inside URLs, in PEM blocks, after
``Bearer``. It is a plain structlog processor so it can be tested (and reused in
another chain) on its own.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from structlog.typing import Processor

__all__ = ["MASK", "configure_logging", "redact", "scrub"]

MASK = "***"
MAX_DEPTH = 20
"""Deeper nesting is not inspected but masked: a log line is no place for it anyway."""

_SENSITIVE_KEY = re.compile(
    r"pass(?:word|wd)|secret|token|authori[sz]ation|private[_-]?key|api[_-]?key|cookie|credential",
    re.IGNORECASE,
)
_NAME_KEY = re.compile(r"(?:name|ref)$", re.IGNORECASE)
"""``secret_name``/``sshKeySecretRef`` name a Secret; they are not one and stay readable."""
_PEM = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)", re.DOTALL
)
# Repetitions are bounded so a long hyphenated or dotted run cannot make scrubbing
# quadratic: redaction runs on every log line and must stay linear in its length.
_URL_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.\-]{0,31}://)[^\s/?#@]{1,512}@")
_BEARER = re.compile(r"\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
_SENSITIVE_WORDS = r"(?:password|passwd|secret|token|private[_-]?key|api[_-]?key)"
_KEY_VALUE = re.compile(
    # From the keyword on: ``access_token=x`` keeps ``access_`` untouched before the match,
    # and no scan to the left of every word boundary is needed.
    rf"({_SENSITIVE_WORDS}[\w.\-]{{0,64}}\s*=\s*['\"]?)(?!\*\*\*)[^\s&,;'\"]+",
    re.IGNORECASE,
)
_JSON_PAIR = re.compile(
    rf"(\"[^\"]{{0,64}}{_SENSITIVE_WORDS}[^\"]{{0,64}}\"\s*:\s*)\"[^\"]*\"", re.IGNORECASE
)
_SKIP = frozenset({"exc_info", "stack_info", "_record", "_from_structlog"})
"""structlog/stdlib plumbing that later processors need as it is."""


def sensitive_key(key: str) -> bool:
    """Whether a value under ``key`` is a credential (matched by name, case-insensitive)."""
    return bool(_SENSITIVE_KEY.search(key)) and not _NAME_KEY.search(key)


def scrub(text: str) -> str:
    """``text`` with embedded credentials masked (PEM keys, URL userinfo, Bearer, k=v)."""
    if "PRIVATE KEY" in text:
        text = _PEM.sub(rf"-----BEGIN \1PRIVATE KEY----- {MASK} -----END \1PRIVATE KEY-----", text)
    if "://" in text:
        text = _URL_USERINFO.sub(rf"\1{MASK}@", text)
    text = _BEARER.sub(rf"\1 {MASK}", text)
    if "=" in text:
        text = _KEY_VALUE.sub(rf"\1{MASK}", text)
    if '"' in text:
        text = _JSON_PAIR.sub(rf'\1"{MASK}"', text)
    return text


def _redact_value(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= MAX_DEPTH:
        return MASK
    if isinstance(value, Mapping):
        return {k: _redact_item(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_redact_value(v, depth + 1) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", "replace")
        clean = scrub(text)
        return value if clean == text else clean
    # Exceptions, paths, dataclasses...: the renderer prints their str()/repr().
    text = str(value)
    clean = scrub(text)
    return value if clean == text else clean


def _redact_item(key: str, value: Any, depth: int) -> Any:
    if sensitive_key(key) and value not in (None, ""):
        return MASK
    return _redact_value(value, depth)


def redact(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask credentials in every value of ``event_dict``.

    Nested dicts and lists are copied, never changed in place: the caller may have
    logged a live object (a rendered manifest, a spec).
    """
    for key, value in list(event_dict.items()):
        if key in _SKIP:
            continue
        event_dict[key] = _redact_item(key, value, 0)
    return event_dict


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (test harnesses and daemons swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_QUIET = ("kubernetes", "urllib3")
"""At debug level these log whole request and response bodies, Secrets included."""


def configure_logging(*, json: bool = True, level: str = "info") -> None:
    """Route structlog and stdlib logging to stderr as JSON lines (or console text).

    Safe to call again (the daemon does after parsing flags; tests do per test): the
    previous handler installed here is replaced, not stacked.
    """
    numeric = _LEVELS.get(level.strip().lower())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}: use one of debug, info, warning, error")
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    renderer: Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Tracebacks become a string first, so redact sees (and masks) them too.
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    handler = _StderrHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    logging.captureWarnings(True)
