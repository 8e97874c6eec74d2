"""The watcher reports on itself: one rate-limited "assistwatch unhealthy" message."""

from __future__ import annotations

from pathlib import Path

from lib.app.health import HealthReporter
from lib.core.notification import Message, Notification
from lib.state.file import FileStore
from lib.support.errors import ApiAuthError, ApiTransientError, ReceiverConfigError, StateError
from tests.factories import Clock


class Fallback:
    name = "fallback"

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def render(self, notification: Notification) -> list[Message]:
        alert = notification.alerts[0]
        return [
            Message(
                receiver=self.name,
                id=alert.key,
                title=notification.group,
                text=alert.finding.error_info or "",
                payload={},
            )
        ]

    def send(self, message: Message) -> None:
        self.sent.append(message)


AUTH = ApiAuthError("DescribeInvocations", "InvalidAccessKeyId.NotFound", "key not found")
ROBOT = ReceiverConfigError("ops", "robot https://x/robot/send?access_token=****abcd: 310000")
THROTTLED = ApiTransientError("DescribeInvocations", "Throttling.User", "too many")


def test_an_auth_error_is_told_once_an_hour_and_again_when_problems_change(tmp_path: Path) -> None:
    """GIVEN runs failing on credentials WHEN they report every 5 minutes
    THEN one message, not twelve; a new problem is told at once; an hour later, again."""
    fallback, clock = Fallback(), Clock()
    reporter = HealthReporter(fallback, store=FileStore(tmp_path), clock=clock)
    assert reporter.observe([AUTH])
    for _ in range(5):
        clock.now += 300
        assert not reporter.observe([AUTH])
    assert reporter.observe([AUTH, ROBOT])  # a misconfigured robot joins: told now
    assert "receiver misconfigured" in fallback.sent[-1].text
    clock.now += 3600
    assert reporter.observe([AUTH, ROBOT])
    assert len(fallback.sent) == 3
    assert "key not found" in fallback.sent[0].text


def test_throttling_is_told_only_when_sustained(tmp_path: Path) -> None:
    """GIVEN throttling WHEN it lasts one, two, three runs THEN told at the third only."""
    fallback, clock = Fallback(), Clock()
    reporter = HealthReporter(fallback, store=FileStore(tmp_path), clock=clock)
    assert [reporter.observe([THROTTLED]) for _ in range(3)] == [False, False, True]
    assert "3 runs in a row" in fallback.sent[0].text


def test_a_store_outage_is_still_told_from_memory(tmp_path: Path) -> None:
    """GIVEN a store that fails every read WHEN runs report the outage
    THEN one message per interval from this warm instance."""

    class DownStore(FileStore):
        def read(self, name: str):  # type: ignore[no-untyped-def]
            raise StateError("OTS unavailable")

    fallback, clock = Fallback(), Clock()
    reporter = HealthReporter(fallback, store=DownStore(tmp_path), clock=clock)
    outage = StateError("OTS unavailable")
    assert reporter.observe([outage])
    clock.now += 60
    assert not reporter.observe([outage])
    assert "state store unavailable" in fallback.sent[0].text
