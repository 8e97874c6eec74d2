"""Claim before sending, confirm after: what reaches people when sends fail, and what never twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from lib.app.outbox import DeliveryTally, Outbox
from lib.core.alerts import Alert
from lib.core.notification import Message, Notification
from lib.state.file import FileStore
from lib.support.errors import DeliveryError, ReceiverRateLimited, ReceiverTransientError
from lib.support.log import get_logger
from tests.factories import T1, make_alert, make_finding


class ScriptedReceiver:
    """Renders one message per notification (or one per alert) and fails when told to."""

    def __init__(self, name: str = "robot", *, per_alert: bool = False) -> None:
        self.name = name
        self.per_alert = per_alert
        self.sent: list[Message] = []
        self.failures: list[DeliveryError] = []

    def render(self, notification: Notification) -> list[Message]:
        chunks = [(a,) for a in notification.alerts] if self.per_alert else [notification.alerts]
        return [
            Message(
                receiver=self.name,
                id=f"{notification.group}-{index}",
                title=notification.group,
                text="\n".join(alert.finding.instance_id for alert in chunk),
                payload={},
                covers=tuple(alert.key for alert in chunk),
            )
            for index, chunk in enumerate(chunks)
        ]

    def send(self, message: Message) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)

    def told(self) -> list[str]:
        return [line for message in self.sent for line in message.text.splitlines()]


def alerts(*instances: str) -> list[Alert]:
    """Alerts finishing one second apart, in the order given."""
    return [
        make_alert(make_finding(instance_id=instance, finished_at=T1 + timedelta(seconds=index)))
        for index, instance in enumerate(instances)
    ]


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "state")


def outbox(
    store: FileStore, receiver: ScriptedReceiver, owner: str, clock: Callable[[], float]
) -> Outbox:
    return Outbox(
        store,
        {receiver.name: receiver},
        owner=owner,
        lease_seconds=660,
        clock=clock,
        log=get_logger(),
    )


def run(box: Outbox, receiver: ScriptedReceiver, items: list[Alert]) -> DeliveryTally:
    tally = DeliveryTally()
    box.flush_pending(tally)
    won = box.claim({receiver.name: items}, tally)
    box.deliver(won, tally)
    return tally


def test_an_alert_is_sent_once_and_a_second_run_sends_nothing(store):
    robot = ScriptedReceiver()
    first = run(outbox(store, robot, "run-1", lambda: 1000.0), robot, alerts("i-1", "i-2"))
    second = run(outbox(store, robot, "run-2", lambda: 1300.0), robot, alerts("i-1", "i-2"))
    assert robot.told() == ["i-1", "i-2"]
    assert (first.messages_sent, first.alerts_sent) == (1, 2)
    assert (second.messages_sent, second.suppressed) == (0, 2)


def test_a_failed_send_is_delivered_by_the_next_run(store):
    # GIVEN a robot that is down for the first run
    robot = ScriptedReceiver()
    robot.failures.append(ReceiverTransientError("robot", "HTTP 502"))
    first = run(outbox(store, robot, "run-1", lambda: 1000.0), robot, alerts("i-1"))
    assert robot.sent == []
    assert first.deferred == 1
    assert "HTTP 502" in first.errors[0]
    # WHEN the next run finds nothing new
    second = run(outbox(store, robot, "run-2", lambda: 1300.0), robot, [])
    # THEN the kept alert is delivered from the outbox, once
    assert robot.told() == ["i-1"]
    assert second.redelivered == 1
    third = run(outbox(store, robot, "run-3", lambda: 1600.0), robot, alerts("i-1"))
    assert robot.told() == ["i-1"]
    assert third.suppressed == 1


def test_a_rate_limited_robot_keeps_the_rest_for_later_without_resending_what_went_out(store):
    # GIVEN one message per alert, and the robot says "too fast" at the second
    class FailSecond(ScriptedReceiver):
        def send(self, message: Message) -> None:
            if len(self.sent) == 1:
                raise ReceiverRateLimited(self.name, "130101 send too fast")
            super().send(message)

    flaky = FailSecond(per_alert=True)
    box = outbox(store, flaky, "run-1", lambda: 1000.0)
    tally = run(box, flaky, alerts("i-1", "i-2", "i-3"))
    assert flaky.told() == ["i-1"]
    assert tally.deferred == 2
    # WHEN the robot recovers, the next run sends exactly the two that waited
    healthy = ScriptedReceiver(per_alert=True)
    later = run(outbox(store, healthy, "run-2", lambda: 1700.0), healthy, [])
    assert sorted(healthy.told()) == ["i-2", "i-3"]
    assert later.redelivered == 2


def test_a_run_that_died_after_claiming_is_finished_by_a_later_run_once_its_lease_ends(store):
    robot = ScriptedReceiver()
    dead = outbox(store, robot, "run-dead", lambda: 1000.0)
    dead.claim({robot.name: alerts("i-1")}, DeliveryTally())  # ... and the process dies here
    # WHILE its lease runs, another run neither sends nor steals it
    early = run(outbox(store, robot, "run-2", lambda: 1100.0), robot, alerts("i-1"))
    assert robot.sent == []
    assert early.suppressed == 1
    # AFTER the lease (660 s), a later run delivers it
    late = run(outbox(store, robot, "run-3", lambda: 1000.0 + 661), robot, [])
    assert robot.told() == ["i-1"]
    assert late.redelivered == 1
