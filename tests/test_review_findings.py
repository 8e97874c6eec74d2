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
from lib.reminders import due_reminders
from tests import test_polling as polling
from tests.factories import make_alert
from tests.fakes.dataset import Dataset, agent

make_watcher = polling.make_watcher  # the deployed-watcher fixture of the polling stories

TOLD = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def routing_file(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    return {"ASSISTWATCH_CONFIG": str(path)}


@pytest.mark.xfail(
    strict=True,
    reason="lib/reminders.py: `reminded` stores interval-relative numbers; a longer interval "
    "makes every new number <= the stored one, so reminders stop for (n+1) new intervals",
)
def test_a_longer_repeat_interval_slows_reminders_down_instead_of_stopping_them() -> None:
    # GIVEN an alert told at 02:00 and reminded hourly for a day (reminder 24 claimed)
    alert = make_alert()
    _, counts = due_reminders(
        alert, told_at=TOLD, intervals={"ops": HOUR}, reminded={}, now=TOLD + 24 * HOUR
    )
    assert counts == {"ops": 24}
    # WHEN the route is changed to every 4 hours, and 4 hours pass
    due, _ = due_reminders(
        alert, told_at=TOLD, intervals={"ops": 4 * HOUR}, reminded=counts, now=TOLD + 28 * HOUR
    )
    # THEN a reminder goes out, under a claim not already used (today: nothing until 02:00 + 100 h)
    assert [a.reminder > 24 for a in due] == [True]


@pytest.mark.xfail(
    strict=True,
    reason="each due reminder is a new claim while the older ones wait in the outbox: after a "
    "receiver outage flush_pending delivers every one of them, the backlog reminders exist to avoid",
)
def test_after_a_receiver_outage_people_get_the_latest_reminder_not_every_missed_one(
    make_watcher,
):
    # GIVEN hourly reminders of a failing hourly backup, told at the start
    ds = Dataset()
    backup = polling.hourly_backup(ds)
    clock = polling.MovableClock()
    watcher = make_watcher(ds, env={"ASSISTWATCH_REPEAT_INTERVAL": "1h"}, clock=clock)
    watcher.poll()
    with ds.lock:
        polling.execute(backup, "Failed", at=polling.ago(5), error_code="ExitCodeNonzero")
    watcher.poll()
    # WHEN the robot is down for three hours of polls
    watcher.receiver.down = True
    for minutes in (61, 121, 181):
        clock.offset = timedelta(minutes=minutes)
        watcher.poll()
    # AND it is back
    watcher.receiver.down = False
    clock.offset = timedelta(minutes=182)
    watcher.poll()
    # THEN people get one reminder, the latest (today: reminders 1, 2 and 3 at once)
    assert [t.reminder for t in watcher.told()] == [0, 3]


@pytest.mark.xfail(
    strict=True,
    reason="lib/app/reminding.py remind() reads instance tags for every open alert on every "
    "pass, before knowing whether any reminder could be due",
)
def test_a_steady_pass_with_an_open_alert_and_no_reminder_due_reads_no_tags(make_watcher, tmp_path):
    # GIVEN a tag route reminding every 4 hours, and an agent that is down (its alert open)
    ds = Dataset()
    ds.add(
        polling.deploy(5, "Aborted", error_code="ClientNotRunning"), agent("app-1", online=False)
    )
    ds.tag("app-1", {"env": "prod"})
    routing = routing_file(
        tmp_path,
        "repeat_interval: 4h\n"
        "receivers:\n  - {name: people, type: console}\n"
        "routes:\n  - match: {instance_tags: {env: prod}}\n    receivers: [people]\n",
    )
    clock = polling.MovableClock()
    watcher = make_watcher(ds, env=routing, clock=clock)
    watcher.poll()
    assert [t.subject for t in watcher.told()] == ["agent"]
    # WHEN the timer polls again a minute later: nothing new, no reminder due
    clock.offset = timedelta(minutes=1)
    watcher.poll()
    # THEN that pass costs no ListTagResources call (today: one per open alert's region, every pass)
    assert [action for action, _ in watcher.calls() if action == "ListTagResources"] == []


@pytest.mark.xfail(
    strict=True,
    reason="periodic failures become alerts in lib/alerts.track_periodic and never pass "
    "lib/app/telling.unexpected(); with reminders the expected exit is told again every interval",
)
def test_an_expected_exit_of_a_periodic_task_is_not_told_nor_reminded(make_watcher, tmp_path):
    # GIVEN exit 1 of the hourly backup is expected (say it greps for errors), reminders hourly
    ds = Dataset()
    backup = polling.hourly_backup(ds)
    routing = routing_file(
        tmp_path,
        "repeat_interval: 1h\n"
        "receivers:\n  - {name: people, type: console}\n"
        "expected_exit_codes:\n  - match: {name: 'hourly-backup*'}\n    codes: [1]\n",
    )
    clock = polling.MovableClock()
    watcher = make_watcher(ds, env=routing, clock=clock)
    watcher.poll()
    # WHEN its latest run exits 1, and an hour passes
    with ds.lock:
        polling.execute(backup, "Failed", at=polling.ago(5), error_code="ExitCodeNonzero")
    watcher.poll()
    clock.offset = timedelta(minutes=61)
    watcher.poll()
    # THEN nobody was told (today: told, then reminded every hour while it keeps exiting 1)
    assert [(t.status, t.reminder) for t in watcher.told()] == []


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
