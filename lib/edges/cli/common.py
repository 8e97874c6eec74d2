"""What the commands share: a local FC context, the report printer, a terminal ticker."""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = [
    "LocalContext",
    "LocalFunction",
    "add_output_flags",
    "fail",
    "log_stream",
    "print_json",
    "print_report",
    "report_of",
    "ticker",
]

EXIT_OK = 0
EXIT_FAILED = 1  # the run reported errors, or a check failed
EXIT_USAGE = 2  # argparse's own status for bad arguments


@dataclass(frozen=True)
class LocalFunction:
    """The part of FC's ``context.function`` the entry reads."""

    name: str = "assistwatch-local"
    timeout: int = 600


@dataclass(frozen=True)
class LocalContext:
    """An FC context for local runs: no credentials, so ``ALIBABA_CLOUD_*`` are used."""

    request_id: str = field(default_factory=lambda: f"cli-{uuid.uuid4().hex[:12]}")
    credentials: Any = None
    function: LocalFunction = field(default_factory=LocalFunction)
    region: str | None = None


def report_of(answer: str | dict[str, Any]) -> dict[str, Any]:
    """The run report inside what ``lib.edges.entry.handle`` returned (JSON text or HTTP reply)."""
    body = answer["body"] if isinstance(answer, dict) else answer
    report: dict[str, Any] = json.loads(body)
    return report


def print_json(value: Any, stream: TextIO | None = None) -> None:
    """Pretty JSON on stdout: the one thing a script reads from us (an outward string, so
    it passes the scrubber: registered secrets removed, receiver URLs as scheme://host)."""
    from lib.support.scrubber import scrub

    out = stream or sys.stdout
    out.write(scrub(json.dumps(value, ensure_ascii=False, indent=2, default=str)) + "\n")
    out.flush()


def add_output_flags(parser: Any) -> None:
    """``--json`` (the machine-readable answer on stdout) and ``-v`` (JSON log lines on stderr)."""
    parser.add_argument(
        "--json", action="store_true", help="print the full answer as JSON on stdout (scripts)"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also show the JSON log lines on stderr"
    )


class _Discard:
    """A text stream that keeps nothing: the log destination when nobody asked for logs."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


def log_stream(args: Any) -> TextIO:
    """Where the run's JSON log lines go: stderr with ``--json`` or ``-v``, else nowhere.

    A person at a terminal reads the summary and, on failure, one line; scripts (``--json``)
    keep the logs beside the answer as before.
    """
    if getattr(args, "json", False) or getattr(args, "verbose", False):
        return sys.stderr
    return _Discard()  # type: ignore[return-value]


def fail(command: str, message: str, stream: TextIO | None = None) -> int:
    """One human line on stderr, ``assistwatch COMMAND: message``; returns exit status 1."""
    out = stream or sys.stderr
    out.write(f"assistwatch {command}: {message}\n")
    out.flush()
    return EXIT_FAILED


def print_report(command: str, report: dict[str, Any], args: Any) -> int:
    """A run report: JSON with ``--json``; else a line per figure (ok) or one error line.

    Exit 0 when the report is ok, 1 otherwise.
    """
    from lib.edges.cli.explain import explain, headline

    if getattr(args, "json", False):
        print_json(report)
        return EXIT_OK if report.get("ok") else EXIT_FAILED
    if not report.get("ok"):
        errors = [str(error) for error in report.get("errors") or []] or ["the run failed"]
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return fail(command, f"{errors[0]}{more}; --json shows the full report")
    out = sys.stdout
    out.write(headline(report) + "\n")
    for line in explain(report):
        out.write(f"  {line}\n")
    out.flush()
    return EXIT_OK


@contextmanager
def ticker(label: str, stream: TextIO | None = None, *, every: float = 0.5) -> Iterator[None]:
    """Show ``label… 12s`` on a terminal while a long call runs; nothing when piped.

    Progress goes to stderr so stdout stays machine-readable; the line is erased at the end.
    """
    out = stream or sys.stderr
    if not out.isatty():
        yield
        return
    done = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        frames = "|/-\\"
        count = 0
        while not done.wait(every):
            count += 1
            elapsed = int(time.monotonic() - started)
            out.write(f"\r{frames[count % len(frames)]} {label}… {elapsed}s ")
            out.flush()

    thread = threading.Thread(target=tick, name="assistwatch-ticker", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        out.write("\r\033[K")
        out.flush()


def run_event(
    command: str, event: bytes, context: LocalContext, args: Any, *, retried: bool = False
) -> int:
    """Hand ``event`` to the FC entry as FC would and print its report (exit 0 when ok).

    ``retried``: a retryable error is one FC would retry the event for; the line says so.
    """
    from lib.edges.entry import handle
    from lib.support.errors import AssistwatchError

    try:
        with ticker(command):
            answer = handle(event, context, stream=log_stream(args))
    except AssistwatchError as error:
        note = " (FC would retry this event)" if retried and error.retryable else ""
        return fail(command, f"{error}{note}")
    return print_report(command, report_of(answer), args)
