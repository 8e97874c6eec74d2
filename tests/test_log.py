"""The JSON logger: one redacted line per event, the request id on every line, a capture for tests."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from lib.support.log import bind_request, configure, get_logger, register_secret

SECRET = "sk-" + "7c2f" * 6  # built, so no scanner mistakes it for a real key


@pytest.fixture
def buffer() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure(stream)
    yield stream
    configure(None)
    bind_request(None)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_an_event_is_one_json_line_with_time_level_request_id_and_fields(
    buffer: io.StringIO,
) -> None:
    """GIVEN an invocation bound to request req-1 WHEN two events are logged
    THEN two JSON lines, each with an ISO UTC time, its level, the event, the request id
    and its own fields."""
    bind_request("req-1")
    log = get_logger()
    log.info("run finished", alerts=2, sources=["ecs.command"])
    log.warning("receiver slow", receiver="ops")
    first, second = lines(buffer)
    assert first["event"] == "run finished"
    assert first["level"] == "info"
    assert first["request_id"] == "req-1"
    assert first["alerts"] == 2
    assert first["sources"] == ["ecs.command"]
    stamp = datetime.fromisoformat(first["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() == timezone.utc.utcoffset(None)
    assert second["level"] == "warning"
    assert second["receiver"] == "ops"
    assert "alerts" not in second


def test_a_new_invocation_forgets_the_previous_ones_fields(buffer: io.StringIO) -> None:
    """GIVEN a request bound with an extra field WHEN the next request is bound
    THEN its lines carry the new id and not the old field."""
    bind_request("req-1", trigger="timer")
    bind_request("req-2")
    get_logger().error("run refused")
    (line,) = lines(buffer)
    assert line["request_id"] == "req-2"
    assert "trigger" not in line


def test_no_registered_secret_reaches_a_log_line_whatever_carries_it(
    buffer: io.StringIO,
) -> None:
    """GIVEN a registered secret WHEN it is logged in the event, a field, a nested dict,
    a list, an exception and a bound field THEN no line shows it; the mask does."""
    register_secret(SECRET)
    log = get_logger().bind(credential=SECRET)
    log.error(
        f"refused with {SECRET}",
        error=f"token {SECRET} expired",
        nested={"headers": {"x-token": SECRET}},
        values=[SECRET, 1, None],
        failure=ValueError(SECRET),
    )
    text = buffer.getvalue()
    assert SECRET not in text
    assert "****" in text
    assert repr(log).count(SECRET) == 0


def test_a_field_cannot_fake_the_level_or_the_event(buffer: io.StringIO) -> None:
    """GIVEN fields named like the line's own keys WHEN logged THEN the real level wins."""
    get_logger().info("sent", level="critical", timestamp="yesterday")
    (line,) = lines(buffer)
    assert line["level"] == "info"
    assert line["timestamp"] != "yesterday"


def test_an_exception_is_logged_with_its_traceback_and_redacted(buffer: io.StringIO) -> None:
    """GIVEN an exception carrying a registered secret WHEN log.exception runs in its handler
    THEN the line holds the traceback, masked."""
    register_secret(SECRET)
    try:
        raise RuntimeError(f"store refused key {SECRET}")
    except RuntimeError:
        get_logger().exception("store outage")
    (line,) = lines(buffer)
    assert line["level"] == "error"
    assert "Traceback" in line["exception"]
    assert "RuntimeError" in line["exception"]
    assert SECRET not in buffer.getvalue()


def test_chinese_text_and_odd_values_are_written_readably(buffer: io.StringIO) -> None:
    """GIVEN Chinese text and a value JSON cannot encode WHEN logged
    THEN the Chinese is kept as is and the value is written as text."""
    when = datetime(2026, 11, 23, tzinfo=timezone.utc)
    get_logger().info("命令执行失败", at=when)
    assert "命令执行失败" in buffer.getvalue()
    (line,) = lines(buffer)
    assert line["at"] == str(when)


def test_structlogs_capture_hands_tests_the_events_and_prints_nothing(
    buffer: io.StringIO,
) -> None:
    """GIVEN structlog's capture_logs (with the request id merged in) WHEN events are logged
    THEN the capture holds them, as logged, and the stream stays empty; after the capture
    lines are written again."""
    bind_request("req-9")
    with capture_logs(processors=[merge_contextvars]) as captured:
        get_logger().warning("deferred", alerts=3)
    assert captured == [
        {"event": "deferred", "log_level": "warning", "request_id": "req-9", "alerts": 3}
    ]
    assert buffer.getvalue() == ""
    get_logger().info("after")
    assert lines(buffer)[0]["event"] == "after"


def test_a_logger_bound_before_the_stream_changed_writes_to_the_new_stream() -> None:
    """GIVEN a logger bound once (the app keeps one for its life) WHEN the next invocation
    points logging at another stream THEN the bound logger's lines go there."""
    first, second = io.StringIO(), io.StringIO()
    configure(first)
    log = get_logger().bind(component="outbox")
    log.info("one")
    configure(second)
    try:
        log.info("two")
    finally:
        configure(None)
    assert [line["event"] for line in lines(first)] == ["one"]
    assert [line["event"] for line in lines(second)] == ["two"]
    assert lines(second)[0]["component"] == "outbox"


def test_the_logger_is_structlogs_with_the_scrubber_in_its_chain() -> None:
    """GIVEN the configured logging WHEN inspected THEN it is structlog's, and the chain ends
    with the scrubbing processor before the JSON renderer."""
    import structlog

    from lib.support.log import scrub_processor

    configure(None)
    processors = structlog.get_config()["processors"]
    assert processors[-2] is scrub_processor
    assert isinstance(processors[-1], structlog.processors.JSONRenderer)
    assert merge_contextvars in processors


def test_without_configure_lines_go_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN no stream configured WHEN an event is logged THEN it is on stdout."""
    configure(None)
    get_logger().info("hello")
    assert json.loads(capsys.readouterr().out)["event"] == "hello"


def test_a_line_with_an_unencodable_character_is_written_and_never_breaks_the_caller() -> None:
    # GIVEN stdout as FC gives it (utf-8, strict) and a value decoded from an API's JSON
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    configure(stream)
    try:
        # WHEN it is logged, with a non-string key too
        get_logger().error("api failed", message="bad \ud800 answer", counts={1: "one"})
        stream.flush()
        # THEN the call returns and the line is valid JSON with the value escaped
        [line] = [json.loads(raw) for raw in stream.buffer.getvalue().splitlines()]  # type: ignore[attr-defined]
        assert line["event"] == "api failed"
        assert line["counts"] == {"1": "one"}
    finally:
        configure(None)


def test_a_closed_stdout_does_not_fail_the_run() -> None:
    # GIVEN the log stream was closed under us
    stream = io.StringIO()
    stream.close()
    configure(stream)
    try:
        # WHEN an event is logged THEN the caller goes on
        get_logger().info("run finished", ok=True)
    finally:
        configure(None)


def test_configured_secrets_stay_masked_however_many_credentials_rotate(
    buffer: io.StringIO,
) -> None:
    # GIVEN a robot secret configured at start, then hundreds of rotating STS secrets
    robot = "SEC" + "9f3a" * 10
    register_secret(robot, lasting=True)
    for n in range(600):
        register_secret(f"rotating-secret-{n:04d}")
    # WHEN the robot secret turns up in a log line
    get_logger().error("delivery failed", reason=f"refused {robot}")
    # THEN it is masked
    assert robot not in buffer.getvalue()
