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

__all__ = ["LocalContext", "LocalFunction", "print_json", "report_of", "ticker"]

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
    """The run report inside what ``lib.entry.handle`` returned (JSON text or HTTP reply)."""
    body = answer["body"] if isinstance(answer, dict) else answer
    report: dict[str, Any] = json.loads(body)
    return report


def print_json(value: Any, stream: TextIO | None = None) -> None:
    """Pretty JSON on stdout: the one thing a script reads from us (an outward string, so
    it passes the scrubber: registered secrets removed, receiver URLs as scheme://host)."""
    from lib.scrubber import scrub

    out = stream or sys.stdout
    out.write(scrub(json.dumps(value, ensure_ascii=False, indent=2, default=str)) + "\n")
    out.flush()


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
