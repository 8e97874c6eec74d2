"""structlog, configured: JSON lines to stdout, the FC request id bound per invocation, scrubbed.

One event is one line: ``{"event", "request_id", ...fields, "level", "timestamp"}``, written
by ``get_logger().info("event", key=value)``. The processor chain:

1. ``merge_contextvars``: the request id :func:`bind_request` bound for this invocation;
2. ``add_log_level`` and an ISO UTC ``TimeStamper``: the line's own keys, which a field of
   the same name cannot fake;
3. ``format_exc_info``: ``log.exception`` renders its traceback into ``exception``;
4. :func:`scrub_processor`, the outward-string scrubber (:mod:`lib.support.scrubber`: registered
   secrets removed, receiver URLs cut to scheme://host) then patterns that look secret
   (:func:`lib.support.redact.redact_text`), on every key and value;
5. ``JSONRenderer``; the writer escapes a lone surrogate and never fails the caller (a
   closed stdout falls back to stderr).

Tests use ``structlog.testing.capture_logs`` (events as logged, before the chain runs).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from structlog.contextvars import (
    bind_contextvars,
    bound_contextvars,
    clear_contextvars,
    merge_contextvars,
)

from lib.support.scrubber import register_secret, register_secrets
from lib.support.scrubber import scrub as _scrub

__all__ = [
    "bind_request",
    "bound",
    "configure",
    "get_logger",
    "register_secret",
    "register_secrets",
    "scrub",
    "scrub_processor",
]

_write_lock = threading.Lock()  # one line at a time, whole, whatever thread logs
_stream: TextIO | None = None  # None: sys.stdout as it is when the line is written
_set_up = threading.Event()  # structlog configured (once per process: see configure)


def scrub(text: str) -> str:
    """The outward-string scrubber (:mod:`lib.support.scrubber`), then patterns that look secret."""
    from lib.support.redact import redact_text

    return redact_text(_scrub(text))


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):  # keys too: JSON wants strings, and a key can leak
        return {scrub(str(key)): _scrub_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub_value(item) for item in value]
    if isinstance(value, BaseException):
        return scrub(f"{type(value).__name__}: {value}")
    if isinstance(value, int | float | bool) or value is None:
        return value
    return scrub(str(value))


def scrub_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: every key and value of the event through :func:`scrub`."""
    return {scrub(str(key)): _scrub_value(value) for key, value in event_dict.items()}


class _LineWriter:
    """structlog's logger at the end of the chain: writes one rendered line, never raises.

    The stream is looked up per line, so a logger bound before :func:`configure` pointed
    elsewhere (the app keeps one for its life) writes where the invocation wants.
    """

    def msg(self, message: str) -> None:
        # A lone surrogate (valid JSON "\ud800" in an API answer) is not UTF-8: escape it.
        text = message.encode("utf-8", "backslashreplace").decode("utf-8") + "\n"
        stream = _stream if _stream is not None else sys.stdout
        with _write_lock:
            try:
                stream.write(text)
                stream.flush()  # FC may freeze the instance right after the invocation
            except (OSError, ValueError):  # stdout closed or broken: never fail the run
                fallback = sys.__stderr__
                if fallback is not None and fallback is not stream:
                    with contextlib.suppress(OSError, ValueError):
                        fallback.write(text)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


_WRITER = _LineWriter()


def _writer_factory(*_args: Any) -> _LineWriter:
    return _WRITER


class Logger(structlog.make_filtering_bound_logger(0)):  # type: ignore[misc]  # a built class
    """structlog's bound logger; its repr names bound keys only (a value may be a secret)."""

    def __repr__(self) -> str:
        return f"Logger(bound={sorted(self._context)})"


def _own_keys_first(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # The line's own keys first, whatever a field of the same name said.
    event = event_dict.pop("event", None)
    return {
        "timestamp": event_dict.pop("timestamp"),
        "level": event_dict.pop("level"),
        "event": event,
        **event_dict,
    }


def configure(stream: TextIO | None = None) -> None:
    """Send log lines to ``stream`` (default: stdout); the handler calls it every invocation.

    structlog itself is configured once per process: its processor list must stay the same
    object for ``structlog.testing.capture_logs`` (which swaps its contents) to reach
    loggers bound earlier.
    """
    global _stream  # noqa: PLW0603  # one log destination per process, like stdlib's
    _stream = stream
    if _set_up.is_set():
        return
    structlog.configure(
        processors=[
            merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _own_keys_first,
            scrub_processor,
            structlog.processors.JSONRenderer(ensure_ascii=False, default=str),
        ],
        wrapper_class=Logger,
        logger_factory=_writer_factory,
        cache_logger_on_first_use=False,
    )
    _set_up.set()


def bind_request(request_id: str | None, **fields: Any) -> None:
    """Start an invocation's log context: every line carries the FC request id, nothing older."""
    clear_contextvars()
    bind_contextvars(request_id=request_id, **fields)


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Inside the block, every line of this context also carries ``fields`` (a scope's
    account and region, in whichever thread polls it: the pool runs each scope in a copy of
    the caller's context)."""
    with bound_contextvars(**fields):
        yield


def get_logger(name: str = "assistwatch") -> Any:
    """A structlog logger writing where :func:`configure` last pointed (stdout by default)."""
    if not _set_up.is_set():
        configure(_stream)
    return structlog.get_logger(name)
