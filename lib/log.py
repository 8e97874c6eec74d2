"""structlog JSON to stdout, the FC request id bound per invocation, secrets redacted.

Two lines of defence: every secret value the run knows (access key secret, STS token,
robot tokens, webhook secrets) is registered with ``register_secret`` and replaced wherever
it appears in any field; then :func:`lib.redact.redact_text` masks what looks like a
secret by pattern (a key in command output, a token in a URL).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, merge_contextvars

__all__ = [
    "bind_request",
    "configure",
    "get_logger",
    "register_secret",
    "register_secrets",
    "scrub",
]

_MASK = "****"
_MIN_SECRET = 6  # shorter values would mask ordinary words
_secrets: set[str] = set()
_lock = threading.Lock()
_configured_stream: TextIO | None = None


def register_secret(*values: str | None) -> None:
    """Remember secret values so no log line can show them (process-wide, bounded)."""
    with _lock:
        for value in values:
            if value and len(value) >= _MIN_SECRET:
                if len(_secrets) > 256:  # credentials rotate; never grow without bound
                    _secrets.clear()
                _secrets.add(value)


def scrub(text: str) -> str:
    """Mask registered secrets, then patterns that look like secrets."""
    from lib.redact import redact_text

    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, _MASK)
    return redact_text(text)


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {key: _scrub_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_scrub_value(item) for item in value]
    if isinstance(value, BaseException):
        return scrub(f"{type(value).__name__}: {value}")
    if isinstance(value, int | float | bool) or value is None:
        return value
    return scrub(str(value))


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        event[key] = _scrub_value(event[key])
    return event


def configure(stream: TextIO | None = None, *, force: bool = False) -> None:
    """Set up JSON logging once per process (again when ``force`` or the stream changes)."""
    global _configured_stream  # noqa: PLW0603  # one logging setup per process, like stdlib's
    target = stream or sys.stdout
    if _configured_stream is target and not force:
        return
    structlog.configure(
        processors=[
            merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            structlog.processors.JSONRenderer(ensure_ascii=False, sort_keys=False),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=target),
        cache_logger_on_first_use=False,
    )
    _configured_stream = target


def bind_request(request_id: str | None, **fields: Any) -> None:
    """Start an invocation's log context: every line carries the FC request id."""
    clear_contextvars()
    bind_contextvars(request_id=request_id, **fields)


def get_logger(name: str = "assistwatch") -> Any:
    """A structlog logger; configure() must have run (the handler does it)."""
    return structlog.get_logger(name)


def register_secrets(values: Iterable[str | None]) -> None:
    """Convenience for several values at once."""
    register_secret(*values)
