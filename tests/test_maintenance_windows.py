"""Maintenance windows (Alertmanager's time_intervals on routes), end to end: the stories an
on-call engineer would tell. The real app polls the Cloud Assistant fake on a clock the test
moves through Sunday's 02:00–04:00 (Asia/Shanghai) maintenance window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from lib.app import App, Invocation, RunReport, build_app
from lib.app.config import load_config, parse_config
from lib.core.muting import Muted, screen
from lib.core.timeintervals import holds
from lib.core.triggers import Poll
from lib.edges.cli.check import checks
from lib.edges.cli.windows import window_lines
from lib.state.file import FileStore
from lib.support.credentials import Credentials
from lib.support.errors import ConfigError
from lib.support.settings import load_settings
from tests.factories import make_alert
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.dataset import Command, Dataset, command, invoke_id, run
from tests.test_polling import Recorder, execute

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Sunday 13 December 2026, 02:30 in Shanghai: half an hour into the window
SUNDAY_0230 = datetime(2026, 12, 13, 2, 30, tzinfo=SHANGHAI).astimezone(timezone.utc)

SUNDAY_MAINTENANCE = """
  - name: sunday-maintenance
    time_intervals:
      - weekdays: [sunday]
        times: [{start_time: "02:00", end_time: "04:00"}]
        location: Asia/Shanghai"""

ROUTING = (
    """
receivers:
  - {name: ops, type: console}
time_intervals:"""
    + SUNDAY_MAINTENANCE
    + """
routes:
  - match: {name: "deploy*"}
    receivers: [ops]
    mute_time_intervals: [sunday-maintenance]
  - match: {name: "hourly-backup*"}
    receivers: [ops]
    mute_time_intervals: [sunday-maintenance]
"""
)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.now = at

    def __call__(self) -> datetime:
        return self.now

    def ago(self, minutes: float) -> datetime:
        return self.now - timedelta(minutes=minutes)


class Watcher:
    def __init__(self, dataset: Dataset, tmp_path: Path, routing: str = ROUTING) -> None:
        self.cloud = CloudAssistantFake(dataset=dataset)
        self.cloud.start()
        self.clock = Clock(SUNDAY_0230)
        config = tmp_path / "routing.yaml"
        config.write_text(routing, encoding="utf-8")
        env = {
            "ASSISTWATCH_REGIONS": "cn-hangzhou",
            "ASSISTWATCH_ECS_ENDPOINT": self.cloud.url,
            "ASSISTWATCH_SHOW_OUTPUT": "false",
            "ASSISTWATCH_MISSED_RUN_GRACE": "off",
            "ASSISTWATCH_CONFIG": str(config),
        }
        self.recorder = Recorder()
        self.recorder.name = "ops"
        self.app: App = build_app(
            load_settings(env),
            store=FileStore(tmp_path / "state"),
            receivers={"ops": self.recorder},
            sleep=lambda _: None,
            clock=self.clock,
            environ=env,
        )

    def poll(self) -> RunReport:
        credentials = Credentials(DEMO_ACCESS_KEY_ID, SecretStr(DEMO_ACCESS_KEY_SECRET))
        return self.app.run(Poll(origin="timer"), Invocation("run", credentials))

    def told(self) -> list[tuple[str, str, int]]:
        names = {invoke_id(name): name for name in ("deploy", "hourly-backup")}
        return [
            (t.status, names.get(t.invoke_id, t.invoke_id), t.firing) for t in self.recorder.told
        ]


@pytest.fixture
def dataset() -> Dataset:
    return Dataset()


@pytest.fixture
def watcher(dataset: Dataset, tmp_path: Path) -> Iterator[Watcher]:
    made = Watcher(dataset, tmp_path)
    yield made
    made.cloud.stop()


def failed_deploy(at: datetime, invoke: str = "deploy") -> Command:
    return command(
        created=at,
        name="deploy.sh",
        invoke=invoke,
        instances=[run("i-app", "Failed", error_code="ExitCodeNonzero", exit_code=1)],
    )


def hourly_backup(at: datetime) -> Command:
    return command(
        created=at - timedelta(days=3),
        name="hourly-backup.sh",
        invoke="hourly-backup",
        repeat_mode="Period",
        frequency="0 0 * * * ?",
        instances=[
            run(
                "i-db",
                "Success",
                started=at - timedelta(minutes=62),
                finished=at - timedelta(minutes=61),
            )
        ],
    )


def backup_failing_in_the_window(dataset: Dataset, watcher: Watcher) -> tuple[Command, RunReport]:
    """An hourly backup, healthy at 02:30, whose 02:35 run fails; the 02:36 poll's report."""
    backup = hourly_backup(watcher.clock.now)
    dataset.add(backup)
    watcher.poll()
    watcher.clock.now = SUNDAY_0230 + timedelta(minutes=6)
    with dataset.lock:
        execute(backup, "Failed", at=watcher.clock.ago(1), error_code="ExitCodeNonzero")
    return backup, watcher.poll()


def test_a_deploy_failing_in_sundays_window_is_told_at_four_if_still_failing(dataset, watcher):
    # GIVEN a first poll at 02:30 on Sunday, inside the 02:00–04:00 window
    dataset.add(failed_deploy(watcher.clock.ago(5)))
    report = watcher.poll()
    # THEN nobody is paged; the run report counts it muted and says when it will be told
    assert watcher.told() == []
    assert report.muted == 1
    assert report.claimed == 0
    assert any("held by a maintenance window" in n and "T20:00" in n for n in report.notes)
    # WHEN polls go on inside the window: still quiet, nothing claimed
    watcher.clock.now = SUNDAY_0230 + timedelta(hours=1, minutes=29)  # 03:59
    assert watcher.poll().claimed == 0
    assert watcher.told() == []
    # WHEN the first poll after 04:00 runs
    watcher.clock.now = SUNDAY_0230 + timedelta(hours=1, minutes=31)  # 04:01
    report = watcher.poll()
    # THEN the deploy failure is told, once
    assert watcher.told() == [("firing", "deploy", 1)]
    assert any("maintenance window ended" in n for n in report.notes)
    watcher.clock.now += timedelta(minutes=5)
    watcher.poll()
    assert len(watcher.told()) == 1


def test_a_failure_outside_the_window_is_told_at_once(dataset, watcher):
    # GIVEN Sunday 04:30, after the window
    watcher.clock.now = SUNDAY_0230 + timedelta(hours=2)
    dataset.add(failed_deploy(watcher.clock.ago(5)))
    report = watcher.poll()
    assert watcher.told() == [("firing", "deploy", 1)]
    assert report.muted == 0


def test_a_backup_that_fails_and_recovers_inside_the_window_is_dropped_and_counted(
    dataset, watcher
):
    # GIVEN an hourly backup, healthy at 02:30, that fails at 02:35 (held)
    backup, report = backup_failing_in_the_window(dataset, watcher)
    assert report.muted == 1
    # WHEN it succeeds at 03:35, inside the window too
    watcher.clock.now = SUNDAY_0230 + timedelta(hours=1, minutes=6)
    with dataset.lock:
        execute(backup, "Success", at=watcher.clock.ago(1))
    report = watcher.poll()
    # THEN nobody is told either: the run report counts it resolved while muted
    assert report.muted_resolved == 1
    assert any("resolved inside their maintenance window" in n for n in report.notes)
    # AND after the window nothing comes out
    watcher.clock.now = SUNDAY_0230 + timedelta(hours=2)
    watcher.poll()
    assert watcher.told() == []


def test_a_backup_still_failing_at_four_is_told_then_and_its_recovery_after(dataset, watcher):
    backup, _ = backup_failing_in_the_window(dataset, watcher)
    # WHEN the window ends with the backup still failing
    watcher.clock.now = SUNDAY_0230 + timedelta(hours=1, minutes=31)
    watcher.poll()
    assert watcher.told() == [("firing", "hourly-backup", 1)]
    # AND it recovers at 04:20: the recovery is told as usual
    watcher.clock.now = SUNDAY_0230 + timedelta(hours=1, minutes=51)
    with dataset.lock:
        execute(backup, "Success", at=watcher.clock.ago(1))
    watcher.poll()
    assert watcher.told() == [("firing", "hourly-backup", 1), ("resolved", "hourly-backup", 1)]


def test_a_recovery_inside_the_window_of_a_failure_told_before_it_is_told_at_its_end(
    dataset, watcher
):
    # GIVEN the backup failed at 01:50, before the window, and people were told
    watcher.clock.now = SUNDAY_0230 - timedelta(minutes=40)
    backup = hourly_backup(watcher.clock.now)
    dataset.add(backup)
    watcher.poll()
    watcher.clock.now += timedelta(minutes=1)
    with dataset.lock:
        execute(backup, "Failed", at=watcher.clock.ago(0.5), error_code="ExitCodeNonzero")
    watcher.poll()
    assert watcher.told() == [("firing", "hourly-backup", 1)]
    # WHEN it recovers at 02:30, inside the window
    watcher.clock.now = SUNDAY_0230
    with dataset.lock:
        execute(backup, "Success", at=watcher.clock.ago(1))
    watcher.poll()
    assert len(watcher.told()) == 1
    # THEN the recovery is told when the window ends
    watcher.clock.now = SUNDAY_0230 + timedelta(hours=1, minutes=31)
    watcher.poll()
    assert watcher.told()[1:] == [("resolved", "hourly-backup", 1)]


def test_an_active_time_interval_tells_only_during_office_hours(dataset, tmp_path):
    # GIVEN a route active only 09:00–18:00 Shanghai time on weekdays
    routing = """
receivers:
  - {name: ops, type: console}
time_intervals:
  - name: office-hours
    time_intervals:
      - weekdays: ["monday:friday"]
        times: [{start_time: "09:00", end_time: "18:00"}]
        location: Asia/Shanghai
routes:
  - receivers: [ops]
    active_time_intervals: [office-hours]
"""
    watcher = Watcher(dataset, tmp_path, routing)
    try:
        # WHEN a deploy fails on Sunday night
        dataset.add(failed_deploy(watcher.clock.ago(5)))
        watcher.poll()
        assert watcher.told() == []
        # THEN it is told on Monday at 09:00, not before
        monday_0859 = datetime(2026, 12, 14, 8, 59, tzinfo=SHANGHAI).astimezone(timezone.utc)
        watcher.clock.now = monday_0859
        watcher.poll()
        assert watcher.told() == []
        watcher.clock.now = monday_0859 + timedelta(minutes=2)
        watcher.poll()
        assert watcher.told() == [("firing", "deploy", 1)]
    finally:
        watcher.cloud.stop()


def test_a_route_naming_an_undefined_interval_is_one_line_naming_it():
    with pytest.raises(
        ConfigError,
        match=r"routing.yaml:4: routes\[0\]\.mute_time_intervals: no time interval named 'sunday'",
    ):
        parse_config(
            "routes:\n  - receivers: [ops]\n    mute_time_intervals:\n      - sunday\n",
            source="routing.yaml",
            known=("ops",),
        )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("weekdays: [funday]", "'funday' is not a weekday"),
        ("weekdays: ['friday:monday']", "the first weekday is after the last"),
        ("times: [{start_time: '22:00', end_time: '06:00'}]", "a window across midnight is two"),
        ("times: [{start_time: '25:00', end_time: '26:00'}]", "is not a time of day"),
        ("days_of_month: ['-1:5']", "a negative first day needs a negative last day"),
        ("days_of_month: [1:7]", "quote ranges"),
        ("months: [13]", "is not a month"),
        ("location: Mars/Base", "'Mars/Base' is not an IANA time zone"),
        ("colour: red", "unknown field"),
    ],
)
def test_a_bad_time_interval_is_one_line_naming_the_field(entry, message):
    text = f"time_intervals:\n  - name: w\n    time_intervals:\n      - {entry}\n"
    with pytest.raises(
        ConfigError, match=r"routing.yaml:4: time_intervals\[0\]\.time_intervals\[0\]"
    ) as caught:
        parse_config(text, source="routing.yaml")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_check_prints_the_next_window_of_each_interval(tmp_path):
    # GIVEN the routing file with Sunday's window, and an interval no route names
    extra = (
        "  - name: spare\n    time_intervals:\n      - years: ['2020:2021']\n"
        "  - name: unused\n    time_intervals:\n      - months: [december]\n"
    )
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING.replace("time_intervals:\n", "time_intervals:\n" + extra, 1))
    environ = {
        "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
        "ASSISTWATCH_CONFIG": str(routing),
    }
    # WHEN `assistwatch check` runs on Saturday 6 December 2026, 18:30 UTC (Sunday 02:30 Shanghai)
    config = load_config(routing, environ=environ, known=())
    lines = {
        line.detail.split(":")[0]: line
        for line in window_lines(config.table, SUNDAY_0230 - timedelta(days=6))
    }
    # THEN Sunday's window is named with its next start and end, in Shanghai time and UTC
    assert lines["sunday-maintenance"].level == "ok"
    assert lines["sunday-maintenance"].detail == (
        "sunday-maintenance: next Sun 2026-12-13 02:00 Asia/Shanghai (2026-12-12 18:00 UTC)"
        " – Sun 2026-12-13 04:00 Asia/Shanghai (2026-12-12 20:00 UTC)"
    )
    # AND one whose years are past, and one no route names, are warnings
    assert lines["spare"].level == "warn"
    assert "no window in the next 5 years" in lines["spare"].detail
    assert lines["unused"].level == "warn"
    assert "open now" in lines["unused"].detail
    assert "no route names it" in lines["unused"].detail
    # AND the pre-flight itself carries those lines
    assert any(line.what == "windows" for line in checks(environ, []))


# --- the decision itself (lib.core.muting), receiver by receiver ----------------------------

TABLE = parse_config(
    ROUTING.replace(
        '  - match: {name: "deploy*"}\n    receivers: [ops]\n',
        '  - match: {name: "deploy*"}\n    receivers: [audit]\n    continue: true\n'
        '  - match: {name: "deploy*"}\n    receivers: [ops]\n',
    ),
    known=("audit",),
).table


def test_a_route_without_the_window_still_tells_its_receiver_at_once():
    # GIVEN deploys go to "audit" (no window, continue) and to "ops" (muted on Sunday night)
    alert = make_alert()
    result = screen([alert], [], ["ops", "audit"], TABLE, SUNDAY_0230)
    # THEN audit hears now; ops's copy waits until 04:00 Shanghai
    assert result.tell == {"ops": [], "audit": [alert]}
    assert [(m.receiver, m.until) for m in result.hold] == [
        ("ops", SUNDAY_0230 + timedelta(hours=1, minutes=30))
    ]


def test_a_reminder_inside_the_window_is_skipped_not_held():
    reminder = make_alert(reminder=1, receiver="ops")
    result = screen([reminder], [], ["ops", "audit"], TABLE, SUNDAY_0230)
    assert result.tell == {"ops": [], "audit": []}
    assert result.hold == []
    assert result.skipped == 1


def test_an_alert_held_for_a_receiver_since_removed_is_said_not_sent():
    held = Muted(make_alert(), "gone")
    result = screen([], [held], ["ops"], TABLE, SUNDAY_0230 + timedelta(hours=2))
    assert result.orphans == [held]
    assert result.tell == {"ops": []}


def test_the_documented_maintenance_windows_example_is_a_valid_routing_file():
    page = (Path(__file__).parents[1] / "docs" / "routing.md").read_text(encoding="utf-8")
    section = page.split("## Maintenance windows", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = parse_config("receivers:\n  - {name: ops, type: console}\n" + block)
    names = [name for name, _ in config.table.time_intervals]
    assert names == ["sunday-maintenance", "office-hours", "month-end-freeze"]
    assert config.table.routes[0].mute_time_intervals == ("sunday-maintenance",)
    assert config.table.routes[1].active_time_intervals == ("office-hours",)
    # AND the month-end freeze holds from 28 June (-3 of June's 30 days), not on the 27th
    freeze = dict(config.table.time_intervals)["month-end-freeze"]
    assert holds(freeze, datetime(2027, 6, 28, 12, tzinfo=timezone.utc))
    assert not holds(freeze, datetime(2027, 6, 27, 12, tzinfo=timezone.utc))


def test_the_operator_page_shows_what_a_window_holds_and_when_it_is_told(dataset, watcher):
    from lib.core.links import Signer
    from lib.edges.operator import operator_page

    # GIVEN a deploy failure held by Sunday's window
    dataset.add(failed_deploy(watcher.clock.ago(5)))
    watcher.poll()
    # WHEN the on-call engineer opens the operator page (Shanghai time)
    html = operator_page(
        watcher.app.settings,
        Signer("https://alerts.example.com", b"0123456789abcdef0123456789abcdef"),
        watcher.app.store,
        watcher.clock.now.timestamp(),
        SHANGHAI,
    )
    # THEN the held failure is listed with its receiver and the window's end (zh by default)
    assert "deploy.sh" in html
    assert "维护窗口中暂缓（ops），2026-12-13 04:00:00 CST 结束后仍未恢复则通知" in html


def test_an_unreadable_held_entry_is_said_once_and_removed(dataset, watcher):
    # GIVEN the held record carries an entry no version of the watcher can read
    watcher.app.store.write("muted", {"held": {"ops|x": {"alert": "garbage"}}}, None)
    # WHEN two polls run
    first, second = watcher.poll(), watcher.poll()
    # THEN the first says so in one line and removes it; the second is clean
    assert first.errors == ["state record muted: held alert ops|x was unreadable; removed"]
    assert second.errors == []
