"""Outbox redeliveries meet maintenance windows, silences and acknowledgements.

An alert claimed before a window opened whose delivery failed (robot down, 429, 130101,
budget full) waits in the outbox. When its retry comes inside a window, a silence or after
an acknowledgement, it is decided exactly as a fresh alert would be: held until the window
ends (or dropped with its resolve, counted, when it resolves inside the window), not sent
while silenced, no reminder after an acknowledgement. Nothing is lost and nothing is told
twice: the claim stays in the state store (file, OSS, Table Store), one message per claim.

The real app polls the Cloud Assistant fake and sends to the strict DingTalk fake (加签,
20 a minute, 130101); the clock moves through Sunday's 02:00–04:00 window (Asia/Shanghai).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lib.app import RunReport
from lib.app.actions import Actor, apply_link
from lib.core.links import Signer
from lib.state.silences import add_silence
from tests.chaos import FaultyStore, Killed, World
from tests.fakes.cloudassist import CloudAssistantFake
from tests.fakes.dataset import Command, Dataset, invoke_id
from tests.fakes.dingtalk import DingTalkFake
from tests.test_maintenance_windows import (
    SHANGHAI,
    SUNDAY_MAINTENANCE,
    failed_deploy,
    hourly_backup,
)
from tests.test_polling import execute

TOKEN = "5b1e0c2d9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d"
SECRET = "SEC5b1e0c2d9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"
SIGNER = Signer("https://alerts.example.com", b"0123456789abcdef0123456789abcdef")
PHONE = Actor(ip="203.0.113.7", user_agent="DingTalk", name="Li Na")


def shanghai(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI).astimezone(timezone.utc)


# Sunday 13 December 2026; the window is 02:00–04:00 Shanghai time.
BEFORE = shanghai(13, 1, 55)
INSIDE = shanghai(13, 2, 30)
LAST_INSIDE = shanghai(13, 3, 58)
AFTER = shanghai(13, 4, 1)

WINDOWS = (
    "\ntime_intervals:"
    + SUNDAY_MAINTENANCE
    + """
  - name: office-hours
    time_intervals:
      - weekdays: ["monday:friday"]
        times: [{start_time: "09:00", end_time: "18:00"}]
        location: Asia/Shanghai
"""
)

MUTED = """
routes:
  - receivers: [ops]
    mute_time_intervals: [sunday-maintenance]
"""

ACTIVE = """
routes:
  - receivers: [ops]
    active_time_intervals: [office-hours]
"""

PLAIN = """
routes:
  - receivers: [ops]
"""


class Robot:
    """The group chat: the strict DingTalk fake with one signed robot."""

    def __init__(self, world: World) -> None:
        # The robot signs with the wall clock (加签 is checked against it), so the fake keeps
        # the wall clock too; the app's clock (leases, budgets, windows) is the world's.
        self.fake = DingTalkFake().__enter__()
        self.url = self.fake.add_robot(TOKEN, secret=SECRET)

    def texts(self) -> list[str]:
        return [
            body["markdown"]["text"] if "markdown" in body else str(body)
            for body in self.fake.received(TOKEN)
        ]

    def told(self, invoke: str) -> list[str]:
        """The messages naming ``invoke`` (each message names its invoke ids verbatim)."""
        return [text for text in self.texts() if invoke_id(invoke) in text]

    def stop(self) -> None:
        self.fake.__exit__(None, None, None)


class Setup:
    def __init__(self, tmp_path: Path, backend: str) -> None:
        self.dataset = Dataset()
        self.cloud = CloudAssistantFake(dataset=self.dataset).start()
        self.world = World.start(tmp_path / "state", self.cloud, backend=backend)
        self.robot = Robot(self.world)
        self.tmp_path = tmp_path
        self.route(MUTED)

    def route(self, routes: str, env: dict[str, str] | None = None) -> None:
        routing = self.tmp_path / "routing.yaml"
        receivers = (
            "receivers:\n"
            f'  - {{name: ops, type: dingtalk, url: "{self.robot.url}", secret: "{SECRET}"}}\n'
        )
        routing.write_text(receivers + WINDOWS + routes, encoding="utf-8")
        self.world.env = {
            "ASSISTWATCH_CONFIG": str(routing),
            "ASSISTWATCH_MISSED_RUN_GRACE": "off",
            "ASSISTWATCH_LOOKBACK": "1h",
            **(env or {}),
        }

    def poll(self, at: datetime | None = None, store: FaultyStore | None = None) -> RunReport:
        if at is not None:
            self.world.now = at
        outcome = self.world.run(self.world.app(store, people=False))
        assert outcome.report is not None, outcome.error
        return outcome.report

    def stop(self) -> None:
        self.robot.stop()
        self.world.stop()
        self.cloud.stop()


@pytest.fixture(params=["file"])
def setup(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Setup]:
    made = Setup(tmp_path, getattr(request, "param", "file"))
    yield made
    made.stop()


# --- how a first delivery fails -----------------------------------------------------------


def robot_down(s: Setup) -> None:
    s.robot.fake.fail_next(503, times=3)  # every in-process attempt of the one message


def robot_429(s: Setup) -> None:
    s.robot.fake.fail_next(429, times=3)


def robot_130101(s: Setup) -> None:
    s.robot.fake.throttle(TOKEN, 600)  # "send too fast": the robot is paused ten minutes


def budget_full(s: Setup) -> None:
    """Another run sent this minute's 20 messages: our budget has no slot left."""
    from lib.notify.dingtalk import LIMITS
    from lib.state.budget import Budget

    budget = Budget(s.world.store().inner, "ops", LIMITS, clock=s.world.now.timestamp)
    while budget.acquire():
        pass


FAULTS: dict[str, Callable[[Setup], None]] = {
    "robot down (503)": robot_down,
    "HTTP 429": robot_429,
    "130101": robot_130101,
    "budget full": budget_full,
}


def claimed_then_failed(s: Setup, fault: Callable[[Setup], None], cmd: Command) -> RunReport:
    """``cmd`` is claimed by the 01:55 poll, whose delivery fails with ``fault``."""
    s.dataset.add(cmd)
    s.world.now = BEFORE
    fault(s)
    report = s.poll()
    assert report.claimed == 1
    assert report.deferred == 1
    assert s.robot.told("deploy") == []
    healed(s)
    return report


def healed(s: Setup) -> None:
    """The robot answers again (its 130101 over: the app keeps its own pause)."""
    s.robot.fake.clear_faults()
    s.robot.fake.throttle(TOKEN, 0)


# --- a. a window opens before the retry ----------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_a_redelivery_waits_for_the_window_to_close(setup: Setup, fault: Any) -> None:
    # GIVEN a deploy failed at 01:50, claimed at 01:55, and the robot did not take it
    claimed_then_failed(setup, fault, failed_deploy(BEFORE - timedelta(minutes=5)))
    # WHEN the retries come inside Sunday's 02:00–04:00 window (every lease and pause over)
    report = setup.poll(INSIDE)
    # THEN nothing is sent, and the run report says it is held and until when
    assert setup.robot.told("deploy") == []
    assert report.muted == 1
    assert any("held by a maintenance window" in note for note in report.notes), report.notes
    assert setup.poll(LAST_INSIDE).muted == 0  # still held, counted once
    assert setup.robot.told("deploy") == []
    # WHEN the first poll after 04:00 runs THEN it is told, once
    setup.poll(AFTER)
    assert len(setup.robot.told("deploy")) == 1
    setup.poll(AFTER + timedelta(minutes=5))
    assert len(setup.robot.told("deploy")) == 1
    assert outbox(setup) == []


def outbox(s: Setup) -> list[str]:
    """What still waits in the outbox, whatever its lease."""
    return [claim.key.id for claim in s.world.store().inner.pending(s.world.now.timestamp() + 1e6)]


def backup_failing_before_the_window(s: Setup, fault: Callable[[Setup], None]) -> Command:
    """An hourly backup, healthy at 01:45, whose 01:54 run fails; claimed at 01:55, unsent."""
    backup = hourly_backup(BEFORE - timedelta(minutes=10))
    s.dataset.add(backup)
    s.poll(BEFORE - timedelta(minutes=10))
    with s.dataset.lock:
        execute(backup, "Failed", at=BEFORE - timedelta(minutes=1), error_code="ExitCodeNonzero")
    s.world.now = BEFORE
    fault(s)
    report = s.poll()
    assert (report.claimed, report.deferred) == (1, 1)
    healed(s)
    return backup


def test_a_held_redelivery_that_resolves_inside_the_window_is_dropped_and_counted(
    setup: Setup,
) -> None:
    # GIVEN a backup failure claimed at 01:55, the robot down, held at 02:30
    backup = backup_failing_before_the_window(setup, robot_down)
    assert setup.poll(INSIDE).muted == 1
    # WHEN the backup succeeds at 03:00, inside the window
    setup.world.now = shanghai(13, 3, 1)
    with setup.dataset.lock:
        execute(backup, "Success", at=setup.world.now - timedelta(minutes=1))
    report = setup.poll()
    # THEN nobody is told, counted as the window counts its own: resolved while muted
    assert report.muted_resolved == 1
    assert any("resolved inside their maintenance window" in n for n in report.notes)
    # AND after the window neither the failure nor its recovery comes out
    setup.poll(AFTER)
    setup.poll(AFTER + timedelta(minutes=5))
    assert setup.robot.told("hourly-backup") == []
    assert outbox(setup) == []  # its claim confirmed unsent, not left to wait for ever


def test_a_held_redelivery_still_failing_at_four_is_told_then_its_recovery_after(
    setup: Setup,
) -> None:
    backup = backup_failing_before_the_window(setup, robot_130101)
    setup.poll(INSIDE)
    assert setup.robot.told("hourly-backup") == []
    setup.poll(AFTER)
    [firing] = setup.robot.told("hourly-backup")
    # AND it recovers at 04:20: the recovery is told as usual
    setup.world.now = shanghai(13, 4, 21)
    with setup.dataset.lock:
        execute(backup, "Success", at=setup.world.now - timedelta(minutes=1))
    setup.poll()
    assert len(setup.robot.told("hourly-backup")) == 2
    assert setup.robot.told("hourly-backup")[0] == firing


def reminder_waiting(s: Setup, routes: str) -> Command:
    """Reminders every 30 minutes; a backup failing since 01:15, told at 01:16; its 01:55
    reminder claimed, the robot down: it waits in the outbox."""
    s.route(routes, {"ASSISTWATCH_REPEAT_INTERVAL": "30m"})
    start = BEFORE - timedelta(minutes=40)
    backup = hourly_backup(start)
    s.dataset.add(backup)
    s.poll(start)
    with s.dataset.lock:
        execute(backup, "Failed", at=start, error_code="ExitCodeNonzero")
    s.poll(start + timedelta(minutes=1))
    assert len(s.robot.told("hourly-backup")) == 1
    robot_down(s)
    report = s.poll(BEFORE)
    assert (report.reminders, report.deferred) == (1, 1)
    healed(s)
    return backup


def test_a_reminder_waiting_in_the_outbox_when_the_window_opens_is_skipped(setup: Setup) -> None:
    # GIVEN reminders every 30 minutes; a backup failing since 01:15, told then, whose
    # 01:55 reminder did not reach the robot
    reminder_waiting(setup, MUTED)
    # THEN the window does not send the waiting reminder; the firing is not held either
    report = setup.poll(INSIDE)
    assert len(setup.robot.told("hourly-backup")) == 1
    assert report.muted >= 1
    # AND after the window the reminders go on as usual, that old one never sent
    setup.poll(AFTER)
    told = setup.robot.told("hourly-backup")
    assert len(told) == 2
    assert "第 3 次提醒" in told[1]
    assert not any("第 1 次提醒" in text for text in told)


# --- d. outside an active interval -----------------------------------------------------------


def test_a_redelivery_outside_the_active_interval_waits_for_it(setup: Setup) -> None:
    # GIVEN a route active on weekdays 09:00–18:00 only; a deploy failed on Friday at 17:55
    setup.route(ACTIVE)
    friday_1755 = shanghai(11, 17, 55)
    setup.dataset.add(failed_deploy(friday_1755 - timedelta(minutes=2)))
    robot_down(setup)
    report = setup.poll(friday_1755)
    assert (report.claimed, report.deferred) == (1, 1)
    healed(setup)
    # WHEN the retries come after 18:00 and through the weekend THEN nothing is sent
    for at in (shanghai(11, 18, 10), shanghai(12, 12, 0), shanghai(14, 8, 59)):
        setup.poll(at)
        assert setup.robot.told("deploy") == []
    # AND on Monday at 09:01 it is told, once
    setup.poll(shanghai(14, 9, 1))
    setup.poll(shanghai(14, 9, 6))
    assert len(setup.robot.told("deploy")) == 1


# --- b. a silence made before the retry ----------------------------------------------------


def test_a_redelivery_silenced_before_its_retry_is_not_sent_nor_its_resolve(
    setup: Setup,
) -> None:
    # GIVEN no window; a backup failure claimed at 01:55 that the robot did not take
    setup.route(PLAIN)
    backup = backup_failing_before_the_window(setup, robot_down)
    # WHEN someone silences the backup from the CLI for two hours before the retry
    store = setup.world.store().inner
    now = setup.world.now.timestamp()
    add_silence(store, {"name": "hourly-backup*"}, reason="db work", duration_seconds=7200, now=now)
    report = setup.poll(BEFORE + timedelta(minutes=15))
    # THEN the retry sends nothing, and the report says it was silenced
    assert setup.robot.told("hourly-backup") == []
    assert any("silenced" in note for note in report.notes), report.notes
    # WHEN it recovers inside the silence THEN its resolve is not sent either
    setup.world.now = BEFORE + timedelta(minutes=40)
    with setup.dataset.lock:
        execute(backup, "Success", at=setup.world.now - timedelta(minutes=1))
    setup.poll()
    # AND after the silence expires nothing about that firing comes out: it is over
    setup.poll(BEFORE + timedelta(hours=2, minutes=5))
    assert setup.robot.told("hourly-backup") == []


def test_a_redelivery_silenced_from_its_link_waits_out_the_silence_like_a_new_alert(
    setup: Setup,
) -> None:
    # GIVEN reminders every hour; a backup failure claimed at 01:55, the robot throttled
    setup.route(PLAIN, {"ASSISTWATCH_REPEAT_INTERVAL": "1h"})
    backup_failing_before_the_window(setup, robot_130101)
    # WHEN someone taps 静默 1 小时 on another message of it (the same fingerprint)
    store = setup.world.store().inner
    [claim] = store.pending(setup.world.now.timestamp() + 3600)
    now = setup.world.now.timestamp()
    link = SIGNER.sign("silence-1h", f"{claim.key.fingerprint}.1", int(now) + 600)
    apply_link(store, link, PHONE, now)
    # THEN the retries within the hour send nothing
    setup.poll(BEFORE + timedelta(minutes=15))
    setup.poll(BEFORE + timedelta(minutes=55))
    assert setup.robot.told("hourly-backup") == []
    # WHEN the silence has expired and the backup still fails THEN what a new alert silenced
    # then would get: the next reminder tells it, once
    setup.poll(BEFORE + timedelta(hours=1, minutes=5))
    setup.poll(BEFORE + timedelta(hours=1, minutes=10))
    told = setup.robot.told("hourly-backup")
    assert len(told) == 1
    assert "次提醒，仍未恢复" in told[0]


# --- c. an acknowledgement before a reminder's retry ---------------------------------------


def test_a_reminder_retry_after_an_ack_is_not_sent_and_a_later_firing_is_told(
    setup: Setup,
) -> None:
    # GIVEN reminders every 30 minutes; a backup failing, told at 01:16, whose 01:55
    # reminder did not reach the robot (down)
    backup = reminder_waiting(setup, PLAIN)
    # WHEN someone taps 确认 on the first message
    store = setup.world.store().inner
    [claim] = store.pending(setup.world.now.timestamp() + 3600)
    now = setup.world.now.timestamp()
    link = SIGNER.sign("ack", f"{claim.key.fingerprint}.1", int(now) + 600)
    assert apply_link(store, link, PHONE, now).result == "acknowledged"
    # THEN the waiting reminder is not sent, and the report says it was acknowledged
    report = setup.poll(BEFORE + timedelta(minutes=5))
    assert len(setup.robot.told("hourly-backup")) == 1
    assert report.acknowledged == 1
    assert store.pending(setup.world.now.timestamp() + 3600) == []
    # WHEN it recovers and fails again: that new firing is told
    setup.world.now = BEFORE + timedelta(minutes=10)
    with setup.dataset.lock:
        execute(backup, "Success", at=setup.world.now - timedelta(minutes=1))
    setup.poll()
    setup.world.now = BEFORE + timedelta(minutes=20)
    with setup.dataset.lock:
        execute(backup, "Failed", at=setup.world.now - timedelta(minutes=1), error_code="X")
    setup.poll()
    assert len(setup.robot.told("hourly-backup")) == 3  # firing 1, its resolve, firing 2


# --- e. nothing lost, nothing twice -----------------------------------------------------------


@pytest.mark.parametrize("setup", ["file", "oss", "ots"], indirect=True)
@pytest.mark.parametrize("kill_at", [("read", 1, "before"), ("pending", 1, "after")])
def test_a_held_redelivery_survives_a_crash_and_is_told_once(
    setup: Setup, kill_at: tuple[str, int, str]
) -> None:
    # GIVEN a deploy failure claimed at 01:55, the robot down; held at 02:30
    claimed_then_failed(setup, robot_down, failed_deploy(BEFORE - timedelta(minutes=5)))
    setup.poll(INSIDE)
    # WHEN a pass inside the window dies (a new FC instance comes up for the next)
    store = setup.world.store()
    store.kill_at = kill_at
    setup.world.now = INSIDE + timedelta(minutes=5)
    outcome = setup.world.run(setup.world.app(store, people=False))
    assert isinstance(outcome.error, Killed)
    setup.poll(INSIDE + timedelta(minutes=30))
    assert setup.robot.told("deploy") == []
    # THEN when the window ends it is told exactly once, however many instances look at once
    apps = [setup.world.app(people=False) for _ in range(3)]
    setup.world.now = AFTER
    overlapping = [
        threading.Thread(target=setup.world.run, args=(app, None, f"overlap-{n}"))
        for n, app in enumerate(apps)
    ]
    for thread in overlapping:
        thread.start()
    for thread in overlapping:
        thread.join()
    setup.poll(AFTER + timedelta(minutes=20))
    assert len(setup.robot.told("deploy")) == 1
    assert outbox(setup) == []


def test_the_operator_page_lists_a_held_redelivery(setup: Setup) -> None:
    from lib.edges.operator import operator_page

    claimed_then_failed(setup, robot_down, failed_deploy(BEFORE - timedelta(minutes=5)))
    setup.poll(INSIDE)
    app = setup.world.app(people=False)
    html = operator_page(app.settings, SIGNER, app.store, setup.world.now.timestamp(), SHANGHAI)
    assert "deploy.sh" in html
    assert "维护窗口中暂缓（ops），2026-12-13 04:00:00 CST 结束后仍未恢复则通知" in html
    # AND once told, it leaves the page's held rows
    setup.poll(AFTER)
    app = setup.world.app(people=False)
    html = operator_page(app.settings, SIGNER, app.store, setup.world.now.timestamp(), SHANGHAI)
    assert "维护窗口中暂缓" not in html


def test_a_held_redelivery_whose_robot_is_down_at_four_is_told_by_a_later_run(
    setup: Setup,
) -> None:
    # GIVEN a deploy failure held by the window since its delivery failed at 01:55
    claimed_then_failed(setup, robot_down, failed_deploy(BEFORE - timedelta(minutes=5)))
    setup.poll(INSIDE)
    # WHEN the robot is down again when the window ends
    robot_down(setup)
    report = setup.poll(AFTER)
    assert report.deferred == 1
    assert setup.robot.told("deploy") == []
    healed(setup)
    # THEN the next run tells it, once, and the outbox is empty
    setup.poll(AFTER + timedelta(minutes=5))
    setup.poll(AFTER + timedelta(minutes=10))
    assert len(setup.robot.told("deploy")) == 1
    assert outbox(setup) == []


def test_a_held_redelivery_silenced_during_the_window_is_not_told_when_it_ends(
    setup: Setup,
) -> None:
    # GIVEN a deploy failure held by the window since its delivery failed at 01:55
    claimed_then_failed(setup, robot_down, failed_deploy(BEFORE - timedelta(minutes=5)))
    setup.poll(INSIDE)
    # WHEN someone silences deploys until 06:00 from the CLI, during the window
    store = setup.world.store().inner
    now = setup.world.now.timestamp()
    add_silence(store, {"name": "deploy*"}, reason="rollout", duration_seconds=12600, now=now)
    # THEN the window's end tells nothing, and nothing waits for the silence's end either
    report = setup.poll(AFTER)
    assert setup.robot.told("deploy") == []
    assert report.silenced >= 1
    assert outbox(setup) == []
    setup.poll(shanghai(13, 6, 5))
    assert setup.robot.told("deploy") == []


def test_a_resolve_waiting_in_the_outbox_is_not_sent_once_silenced(setup: Setup) -> None:
    # GIVEN no window; a backup failing, told at 01:55
    setup.route(PLAIN)
    start = BEFORE - timedelta(minutes=10)
    backup = hourly_backup(start)
    setup.dataset.add(backup)
    setup.poll(start)
    with setup.dataset.lock:
        execute(backup, "Failed", at=BEFORE - timedelta(minutes=1), error_code="ExitCodeNonzero")
    setup.poll(BEFORE)
    assert len(setup.robot.told("hourly-backup")) == 1
    # AND its recovery at 02:05 was claimed, but the robot was down
    setup.world.now = BEFORE + timedelta(minutes=10)
    with setup.dataset.lock:
        execute(backup, "Success", at=setup.world.now - timedelta(minutes=1))
    robot_down(setup)
    assert setup.poll().deferred == 1
    healed(setup)
    # WHEN someone silences the backup for an hour before the retry
    store = setup.world.store().inner
    now = setup.world.now.timestamp()
    add_silence(store, {"name": "hourly-backup*"}, reason="db work", duration_seconds=3600, now=now)
    # THEN the waiting resolve is not sent, then or after the silence (as a new one would not be)
    setup.poll(BEFORE + timedelta(minutes=20))
    setup.poll(BEFORE + timedelta(hours=1, minutes=20))
    assert len(setup.robot.told("hourly-backup")) == 1
    assert outbox(setup) == []


def test_check_says_what_the_windows_hold_and_which_wait_in_the_outbox(setup: Setup) -> None:
    from lib.edges.cli.check import checks

    # GIVEN a deploy failure held since its delivery failed at 01:55, and a new one at 02:25
    claimed_then_failed(setup, robot_down, failed_deploy(BEFORE - timedelta(minutes=5)))
    setup.dataset.add(failed_deploy(INSIDE - timedelta(minutes=5), invoke="deploy-2"))
    setup.poll(INSIDE)
    # WHEN the operator runs `assistwatch check` against the same state
    environ = {
        "ASSISTWATCH_STATE_URL": f"file://{setup.world.state_dir}",
        "ASSISTWATCH_CONFIG": setup.world.env["ASSISTWATCH_CONFIG"],
    }
    [held] = [line for line in checks(environ, []) if line.what == "held"]
    # THEN one line says both are held, which one waits in the outbox, and when they are told
    assert held.level == "ok"
    assert held.detail == (
        "2 alert(s) held for ops (1 waiting in the outbox: their delivery failed before the "
        "window); the first told Sat 2026-12-12 20:00 UTC if still open"
    )


# --- the decision itself (lib.core.muting.waiting), receiver by receiver -----------------


def test_a_retry_is_held_only_for_the_receiver_whose_route_is_muted() -> None:
    from lib.core.muting import waiting
    from tests.factories import make_alert
    from tests.test_maintenance_windows import SUNDAY_0230, TABLE

    # GIVEN one deploy failure waiting for "ops" (muted on Sunday night) and for "audit"
    alert = make_alert()
    verdict = waiting({"ops": [alert], "audit": [alert]}, [], TABLE, SUNDAY_0230)
    # THEN only ops's copy is held, with the window's end; audit's is sent
    assert [(m.receiver, m.until, m.claimed) for m in verdict.hold] == [
        ("ops", SUNDAY_0230 + timedelta(hours=1, minutes=30), True)
    ]
    assert verdict.skip == []
    # AND a waiting reminder for ops is skipped, not held
    reminder = make_alert(reminder=1, receiver="ops")
    verdict = waiting({"ops": [reminder]}, [], TABLE, SUNDAY_0230)
    assert (verdict.hold, [m.alert for m in verdict.skip]) == ([], [reminder])
    # AND after the window, one already among the held stays held: the screen releases it
    after = SUNDAY_0230 + timedelta(hours=2)
    held = waiting({"ops": [alert]}, [], TABLE, SUNDAY_0230).hold
    assert waiting({"ops": [alert]}, held, TABLE, after).hold == held
    assert waiting({"ops": [alert]}, [], TABLE, after).hold == []


def test_a_recovery_waiting_in_the_outbox_when_the_window_opens_is_told_at_its_end(
    setup: Setup,
) -> None:
    # GIVEN a backup failure told at 01:46, whose recovery at 01:54 was claimed at 01:55 but
    # did not reach the robot (down)
    start = BEFORE - timedelta(minutes=10)
    backup = hourly_backup(start)
    setup.dataset.add(backup)
    setup.poll(start)
    with setup.dataset.lock:
        execute(backup, "Failed", at=start, error_code="ExitCodeNonzero")
    setup.poll(start + timedelta(minutes=1))
    assert len(setup.robot.told("hourly-backup")) == 1
    setup.world.now = BEFORE
    with setup.dataset.lock:
        execute(backup, "Success", at=BEFORE - timedelta(minutes=1))
    robot_down(setup)
    assert setup.poll().deferred == 1
    healed(setup)
    # WHEN the window opens THEN the recovery waits, as a new one would
    setup.poll(INSIDE)
    assert len(setup.robot.told("hourly-backup")) == 1
    # AND it is told after 04:00, once
    setup.poll(AFTER)
    setup.poll(AFTER + timedelta(minutes=5))
    told = setup.robot.told("hourly-backup")
    assert len(told) == 2
    assert "已恢复" in told[1]
    assert outbox(setup) == []


def test_a_muted_reminder_waiting_while_the_budget_is_full_is_still_never_sent(
    setup: Setup,
) -> None:
    # GIVEN reminders every 30 minutes; a backup failing since 01:15, told then, whose
    # 01:55 reminder did not reach the robot
    reminder_waiting(setup, MUTED)
    # WHEN the retry comes inside the window while another run has used this minute's
    # messages (the budget has no slot: nothing could be sent anyway)
    setup.world.now = INSIDE
    budget_full(setup)
    report = setup.poll(INSIDE)
    # THEN it is dropped then, not kept for later
    assert report.deferred == 0
    assert any("dropped: a maintenance window mutes its route" in note for note in report.notes)
    # AND after the window that old reminder is still never sent (a muted reminder is
    # skipped, whatever the budget), and the reminders go on as usual
    setup.poll(AFTER)
    told = setup.robot.told("hourly-backup")
    assert not any("第 1 次提醒" in text for text in told)
    assert "第 3 次提醒" in told[-1]


def test_an_alert_held_by_a_window_is_told_when_the_routing_file_drops_every_window(
    setup: Setup,
) -> None:
    # GIVEN a deploy failed at 02:20, inside Sunday's 02:00–04:00 window: held, not told
    setup.dataset.add(failed_deploy(INSIDE - timedelta(minutes=10)))
    assert setup.poll(INSIDE).muted == 1
    assert setup.robot.told("deploy") == []
    # WHEN the maintenance is called off: the routing file's routes name no window any more
    setup.route(PLAIN)
    setup.poll(INSIDE + timedelta(minutes=5))
    # THEN the next run tells the held alert (it is not forgotten in the held record), once
    assert len(setup.robot.told("deploy")) == 1
    setup.poll(INSIDE + timedelta(minutes=10))
    assert len(setup.robot.told("deploy")) == 1
