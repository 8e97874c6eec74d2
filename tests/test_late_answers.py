"""A robot that takes a message but answers too late is told it at most twice (issue #12, item 5).

DingTalk has no idempotency key, so a send whose answer was lost may have arrived. Only what
provably did not arrive is retried (connection refused, DNS, TLS, an explicit error answer);
an unsure send is resent once, on a later run, marked as a possible repeat (可能重复); an
unsure resend is not sent a third time. docs/reliability.md, "Late answers".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from lib.notify.chat import errcode_of
from lib.notify.retry import send_with_retries, transport_fault
from lib.support.errors import ReceiverTransientError, ReceiverUnsure
from tests.chaos import EXPECTED, World
from tests.fakes.dingtalk import DingTalkFake
from tests.fakes.scenario import EXPECTED_ALERTS
from tests.fakes.webhook import WebhookSink

ROBOT_TOKEN = "late0robot0token000000000000000000000000000000000000000000000000"
ROBOT_SECRET = "SEClate00000000000000000000000000000000000000000000000000000000"
WEBHOOK_SECRET = "whsec_bGF0ZS1hbnN3ZXJzLXdlYmhvb2stc2VjcmV0LTAw"
MARK = "可能重复"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World.start(tmp_path / "state")
    yield world
    world.stop()


@pytest.fixture
def robot(world: World) -> Iterator[DingTalkFake]:
    with DingTalkFake(clock=lambda: world.now.timestamp()) as fake:  # noqa: PLW0108
        url = fake.add_robot(ROBOT_TOKEN, secret=ROBOT_SECRET)
        world.env = {"ASSISTWATCH_DINGTALK_URL": url, "ASSISTWATCH_DINGTALK_SECRET": ROBOT_SECRET}
        yield fake


def port(url: str) -> int:
    return httpx.URL(url).port or 0


def messages(robot: DingTalkFake) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(title, text, alerts named) of every message the group received."""
    out = []
    for body in robot.received(ROBOT_TOKEN):
        title, text = body["markdown"]["title"], body["markdown"]["text"]
        named = [
            (a.invoke_id, a.instance_id)
            for a in EXPECTED_ALERTS
            if a.invoke_id in text and a.instance_id in text
        ]
        out.append((title, text, named))
    return out


def timer(world: World, runs: int = 1) -> list:  # type: ignore[type-arg]
    outcomes = []
    for _ in range(runs):
        outcomes.append(world.run(world.app(people=False)))
        world.now += timedelta(seconds=60)
    return outcomes


def test_a_robot_answering_after_the_read_timeout_tells_the_group_twice_at_most_marked(
    world, robot
):
    # GIVEN a robot that takes the first message but answers after the client's read timeout
    world.transport.inject(port(robot.base_url), "late")
    # WHEN the timer fires
    (first,) = timer(world)
    # THEN that message reached the group once: no retry in the same run
    assert first.report is not None
    assert len(robot.received(ROBOT_TOKEN)) == 1
    assert not first.report.ok
    assert any("answer lost" in error for error in first.report.errors)
    assert not any(MARK in title for title, _, _ in messages(robot))
    # WHEN the next runs come
    for outcome in timer(world, 3):
        assert outcome.report is not None
        assert outcome.report.ok, outcome.report.errors
    # THEN every failure was told; the late message once more, marked, and nothing else twice
    got = messages(robot)
    late = got[0][2]
    told = [alert for _, _, named in got for alert in named]
    assert set(told) == EXPECTED
    repeats = [(title, text, named) for title, text, named in got[1:] if set(named) & set(late)]
    assert len(repeats) == 1
    title, text, named = repeats[0]
    assert MARK in title
    assert MARK in text
    assert set(named) == set(late)
    assert sorted(told) == sorted([*EXPECTED, *late])


def test_a_resend_that_is_answered_late_again_is_not_sent_a_third_time(world, robot):
    # GIVEN a robot that answers the first message late, and its marked resend late again
    world.transport.inject(port(robot.base_url), "late")
    timer(world)
    world.transport.inject(port(robot.base_url), "late")
    # WHEN the next runs come
    second, *later = timer(world, 4)
    # THEN the resend's run says the alerts may or may not have arrived, once
    assert second.report is not None
    assert any("not sent a third time" in error for error in second.report.errors)
    assert all(o.report is not None and o.report.ok for o in later)
    # AND no alert reached the group more than twice, all of them at least once
    told = [alert for _, _, named in messages(robot) for alert in named]
    assert set(told) == EXPECTED
    assert max(told.count(alert) for alert in set(told)) == 2


def test_a_refused_connection_is_retried_at_once_and_tells_once_unmarked(world, robot):
    # GIVEN the robot's host refuses the first two connections (provably nothing sent)
    world.transport.inject(port(robot.base_url), "refused", 2)
    # WHEN the timer fires THEN the client retries in the same run: all told once, no mark
    (outcome,) = timer(world)
    assert outcome.report is not None
    assert outcome.report.ok, outcome.report.errors
    told = [alert for _, _, named in messages(robot) for alert in named]
    assert sorted(told) == sorted(EXPECTED)
    assert not any(MARK in title for title, _, _ in messages(robot))


def test_a_marked_resend_that_meets_an_outage_keeps_its_mark(world, robot):
    # GIVEN a late answer, then a robot down (5xx) for the whole next run
    world.transport.inject(port(robot.base_url), "late")
    timer(world)
    robot.fail_next(502, 3)
    (down,) = timer(world)
    assert down.report is not None
    assert down.report.deferred > 0
    # WHEN it is back THEN the resend still goes out once, marked
    timer(world, 2)
    got = messages(robot)
    late = set(got[0][2])
    resent = [title for title, _, named in got[1:] if set(named) & late]
    assert len(resent) == 1
    assert MARK in resent[0]


def test_a_webhook_resend_after_a_late_answer_keeps_its_id_and_says_possible_repeat(world):
    with WebhookSink(WEBHOOK_SECRET) as sink:
        world.env = {
            "ASSISTWATCH_WEBHOOK_URL": sink.url,
            "ASSISTWATCH_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
        world.transport.inject(port(sink.url), "late")
        timer(world, 3)
        received = list(sink.deliveries)
        first = received[0]
        again = [d for d in received[1:] if d.msg_id == first.msg_id]
        # THEN the resend carries the first send's webhook-id (receivers can dedupe on it)
        assert len(again) == 1
        assert again[0].payload["commonAnnotations"]["possible_repeat"] == "true"
        assert "possible_repeat" not in first.payload["commonAnnotations"]


@pytest.mark.parametrize(
    ("error", "unsure"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), False),
        (httpx.ConnectError("[Errno -2] Name or service not known"), False),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]"), False),
        (httpx.ConnectTimeout("connect timed out"), False),
        (httpx.PoolTimeout("no connection free"), False),
        (httpx.ReadTimeout("read timed out"), True),
        (httpx.WriteTimeout("write timed out"), True),
        (httpx.ReadError("connection reset by peer"), True),
        (httpx.RemoteProtocolError("server disconnected without a response"), True),
    ],
)
def test_only_what_provably_did_not_arrive_is_retried_in_process(error, unsure):
    attempts = []

    def attempt() -> None:
        attempts.append(1)
        raise transport_fault("robot", error)

    with pytest.raises(ReceiverTransientError) as raised:
        send_with_retries(attempt, sleep=lambda _: None)
    assert isinstance(raised.value, ReceiverUnsure) is unsure
    assert len(attempts) == (1 if unsure else 3)
    assert "Errno" not in str(raised.value)  # the type only: httpx's text can name the URL


@pytest.mark.parametrize(
    ("status", "body", "unsure"),
    [
        (502, b"", False),
        (503, b"", False),
        (504, b"", True),  # the gateway gave up waiting: the robot may have it
        (200, b"<html>ok</html>", True),  # taken, probably; we cannot read that it was
    ],
)
def test_an_explicit_error_answer_is_retried_an_ambiguous_one_is_not(status, body, unsure):
    response = httpx.Response(status, content=body)
    with pytest.raises(ReceiverTransientError) as raised:
        errcode_of("robot", response, "https://oapi.dingtalk.com", pause_seconds=600)
    assert isinstance(raised.value, ReceiverUnsure) is unsure
