"""JSON log lines to stdout, the FC request id bound per invocation, secrets redacted.

One event is one line: ``{"timestamp", "level", "event", "request_id", ...fields}``, written
by ``get_logger().info("event", key=value)`` (the call interface of structlog, which this
module replaced to keep cold start small: see docs/decisions.md).

Two lines of defence: the outward-string scrubber (:mod:`lib.support.scrubber`: every registered
secret removed, receiver URLs cut to scheme://host) on every field; then :func:`lib.support.redact.redact_text` masks what looks like a
secret by pattern (a key in command output, a token in a URL).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any, TextIO

from lib.support.scrubber import register_secret, register_secrets
from lib.support.scrubber import scrub as _scrub

__all__ = [
    "Logger",
    "bind_request",
    "bound",
    "capture_logs",
    "configure",
    "get_logger",
    "register_secret",
    "register_secrets",
    "scrub",
]

_write_lock = threading.Lock()  # one line at a time, whole, whatever thread logs
_stream: TextIO | None = None  # None: sys.stdout as it is when the line is written
_context: ContextVar[Mapping[str, Any] | None] = ContextVar("assistwatch_log", default=None)
_captures: list[list[dict[str, Any]]] = []


def scrub(text: str) -> str:
    """The outward-string scrubber (:mod:`lib.support.scrubber`), then patterns that look secret."""
    from lib.support.redact import redact_text

    return redact_text(_scrub(text))


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):  # keys too: JSON wants strings, and a key can leak
        return {scrub(str(key)): _scrub_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_scrub_value(item) for item in value]
    if isinstance(value, BaseException):
        return scrub(f"{type(value).__name__}: {value}")
    if isinstance(value, int | float | bool) or value is None:
        return value
    return scrub(str(value))


def _format_exception(exc_info: Any) -> str:
    import traceback  # only a line that carries an exception pays for it

    if isinstance(exc_info, BaseException):
        return "".join(traceback.format_exception(type(exc_info), exc_info, exc_info.__traceback__))
    if not isinstance(exc_info, tuple):
        exc_info = sys.exc_info()
    if exc_info[0] is None:
        return "NoneType: None"
    return "".join(traceback.format_exception(*exc_info))


def _emit(level: str, event: str, fields: Mapping[str, Any]) -> None:
    record = {**(_context.get() or {}), **fields}  # a field given in the call wins over the bound
    exc_info = record.pop("exc_info", None)
    if exc_info:
        record["exception"] = _format_exception(exc_info)
    if _captures:  # a test is looking: hand it the event as logged, unredacted, unprinted
        for captured in _captures:
            captured.append({"event": event, "level": level, **record})
        return
    line: dict[str, Any] = {
        "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "level": level,
        "event": event,
    }
    for key, value in record.items():
        line.setdefault(key, value)  # the three keys above are ours; a field cannot fake them
    text = json.dumps(_scrub_value(line), ensure_ascii=False, default=str)
    # A lone surrogate (valid JSON "\\ud800" in an API answer) is not UTF-8: escape it.
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    stream = _stream if _stream is not None else sys.stdout
    with _write_lock:
        try:
            stream.write(text + "\n")
            stream.flush()  # FC may freeze the instance right after the invocation returns
        except (OSError, ValueError):  # stdout closed or broken: logging must not fail the run
            fallback = sys.__stderr__
            if fallback is not None and fallback is not stream:
                with contextlib.suppress(OSError, ValueError):
                    fallback.write(text + "\n")


class Logger:
    """``log.info("event", key=value)``: one redacted JSON line per call, at any level."""

    __slots__ = ("_bound", "name")

    def __init__(self, name: str = "assistwatch", bound: Mapping[str, Any] | None = None):
        self.name = name
        self._bound: Mapping[str, Any] = dict(bound or {})

    def __repr__(self) -> str:
        # keys only: a bound value may be a secret
        return f"Logger({self.name!r}, bound={sorted(self._bound)})"

    def bind(self, **fields: Any) -> Logger:
        """A logger whose every line also carries ``fields``."""
        return Logger(self.name, {**self._bound, **fields})

    def debug(self, event: str, **fields: Any) -> None:
        """Log at debug level."""
        _emit("debug", event, {**self._bound, **fields})

    def info(self, event: str, **fields: Any) -> None:
        """Log at info level."""
        _emit("info", event, {**self._bound, **fields})

    def warning(self, event: str, **fields: Any) -> None:
        """Log at warning level."""
        _emit("warning", event, {**self._bound, **fields})

    def error(self, event: str, **fields: Any) -> None:
        """Log at error level."""
        _emit("error", event, {**self._bound, **fields})

    def critical(self, event: str, **fields: Any) -> None:
        """Log at critical level."""
        _emit("critical", event, {**self._bound, **fields})

    def exception(self, event: str, **fields: Any) -> None:
        """Log at error level with the exception being handled."""
        fields.setdefault("exc_info", True)
        self.error(event, **fields)


def configure(stream: TextIO | None = None) -> None:
    """Send log lines to ``stream`` (default: stdout); the handler calls it every invocation."""
    global _stream  # noqa: PLW0603  # one log destination per process, like stdlib's
    _stream = stream


def bind_request(request_id: str | None, **fields: Any) -> None:
    """Start an invocation's log context: every line carries the FC request id."""
    _context.set({"request_id": request_id, **fields})


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Inside the block, every line of this context also carries ``fields`` (a scope's
    account and region, in whichever thread polls it)."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def get_logger(name: str = "assistwatch") -> Logger:
    """A logger writing where :func:`configure` last pointed (stdout by default)."""
    return Logger(name)


@contextmanager
def capture_logs() -> Iterator[list[dict[str, Any]]]:
    """Collect log events instead of writing them (tests), as structlog's capture_logs did.

    Each event is a dict with ``event``, ``level`` and its fields, before redaction: a test
    looking for a secret in it proves the code never logged one, not that a mask caught it.
    """
    captured: list[dict[str, Any]] = []
    _captures.append(captured)
    try:
        yield captured
    finally:
        # by identity: two captures holding equal lists are still two captures
        _captures[:] = [other for other in _captures if other is not captured]
