"""Defects found reviewing the 2026-11-23 work (reminders, instance tags, the JSON logger).

Each test shows one defect as a user would notice it. They fail today, so each is marked
``xfail(strict=True)`` with the reason: main stays green, and the fix turns the test into an
XPASS, which fails the suite until its mark is removed.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lib import log
from tests import test_polling as polling

make_watcher = polling.make_watcher  # the deployed-watcher fixture of the polling stories

TOLD = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def routing_file(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    return {"ASSISTWATCH_CONFIG": str(path)}


@pytest.mark.xfail(
    strict=True,
    reason="lib/log.py _emit writes json.dumps(ensure_ascii=False) to a strict utf-8 stream: a "
    "lone surrogate (valid JSON \\ud800 in an API answer) raises UnicodeEncodeError at the caller",
)
def test_a_log_line_with_an_unencodable_character_never_breaks_the_caller() -> None:
    # GIVEN stdout as FC gives it (utf-8, strict) and a value decoded from an API's JSON
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    log.configure(stream)
    try:
        # WHEN it is logged
        log.get_logger().error("api failed", message="bad \ud800 answer")
        # THEN the call returns and the line is written
        stream.flush()
        assert b"api failed" in stream.buffer.getvalue()  # type: ignore[attr-defined]
    finally:
        log.configure(None)
