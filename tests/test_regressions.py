"""Regressions a review found and we fixed: each test is one defect as a user would notice it
(an outbox held for a lease by an unreadable silence list, a running invocation's secret
unmasked on a warm instance, a tag call per instance for expected exits of periodic tasks)."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lib.app.outbox import DeliveryTally, Outbox
from lib.core.alerts import Alert
from lib.edges.entry import invocation_from_context
from lib.state.file import FileStore
from lib.support.errors import ReceiverTransientError, StateError
from lib.support.log import get_logger, register_secret, scrub
from tests import test_outbox as outbox_stories
from tests import test_polling as polling
from tests.fakes.dataset import Dataset, command, run

make_watcher = polling.make_watcher  # the deployed-watcher fixture of the polling stories
concurrency = polling.concurrency  # … which runs each story sequentially and concurrently


def _outbox(store: FileStore, robot: Any, owner: str, now: float, **kw: Any) -> Outbox:
    return Outbox(
        store,
        {robot.name: robot},
        owner=owner,
        lease_seconds=660,
        clock=lambda: now,
        log=get_logger(),
        **kw,
    )


def test_a_silence_read_that_fails_during_redelivery_does_not_hold_the_outbox_for_a_lease(
    tmp_path: Path,
) -> None:
    # GIVEN an alert waiting in the outbox (the robot was down)
    store = FileStore(tmp_path / "state")
    robot = outbox_stories.ScriptedReceiver()
    robot.failures.append(ReceiverTransientError("robot", "HTTP 502"))
    first = _outbox(store, robot, "run-1", 1000.0)
    tally = DeliveryTally()
    first.deliver(first.claim({robot.name: outbox_stories.alerts("i-1")}, tally), tally)
    assert robot.sent == []

    # WHEN the next run's redelivery cannot read the silences record (a store outage)
    def unreadable(alerts: list[Alert]) -> list[Alert]:
        raise StateError("the silences record could not be read")

    second = _outbox(store, robot, "run-2", 1300.0, muted=unreadable)
    with contextlib.suppress(StateError):
        second.flush_pending(DeliveryTally())
    # AND the timer runs again a minute later, the store healthy
    _outbox(store, robot, "run-3", 1360.0).flush_pending(DeliveryTally())
    # THEN the alert has been delivered by now (today: held by run-2 for 660 s more)
    assert robot.told() == ["i-1"]


def test_a_warm_instance_keeps_masking_the_running_invocations_access_key_secret() -> None:
    # GIVEN a warm instance that has seen many rotations of its STS credentials
    for number in range(300):
        register_secret(f"rotated secret number {number:04d} of a warm instance")
    for number in range(300):
        # WHEN FC hands a new invocation its credentials
        secret = f"current secret {number:04d} of this invocation"
        context = SimpleNamespace(
            credentials={
                "access_key_id": "STS.review2",
                "access_key_secret": secret,
                "security_token": f"current token {number:04d} of this invocation",
            }
        )
        invocation_from_context(context, {})
        # THEN a log line echoing that invocation's secret never shows it
        assert secret not in scrub(f"signed with {secret}")


def test_expected_exits_matched_by_tag_cost_one_tag_call_per_pass_not_one_per_instance(
    make_watcher: Any, tmp_path: Path
) -> None:
    # GIVEN an hourly check on five database hosts, whose exit 1 is expected on role=db hosts
    ds = Dataset()
    hosts = [f"i-db{n}" for n in range(5)]
    backup = command(
        created=polling.ago(3 * 24 * 60),
        name="hourly-check.sh",
        invoke="hourly-check",
        repeat_mode="Period",
        frequency="0 0 * * * ?",
        instances=[
            run(host, "Success", started=polling.ago(62), finished=polling.ago(61))
            for host in hosts
        ],
    )
    ds.add(backup)
    for host in hosts:
        ds.tag(host, {"role": "db"})
    routing = polling.routing_file(
        tmp_path,
        "receivers:\n  - {name: people, type: console}\n"
        "expected_exit_codes:\n  - match: {instance_tags: {role: db}}\n    codes: [1]\n",
    )
    clock = polling.MovableClock()
    watcher = make_watcher(ds, env=routing, clock=clock)
    watcher.poll()
    with ds.lock:
        polling.execute(backup, "Failed", at=polling.ago(5), error_code="ExitCodeNonzero")
    watcher.poll()
    assert watcher.told() == []
    # WHEN the timer polls again: nothing new
    clock.offset = timedelta(minutes=1)
    watcher.poll()
    # THEN the tags of the five hosts cost one batched call at most (today: five, every pass)
    tag_calls = [action for action, _ in watcher.calls() if action == "ListTagResources"]
    assert len(tag_calls) <= 1
