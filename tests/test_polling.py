"""Polling without blind spots, at constant cost: the stories an SRE would tell.

Each test runs the real app (signed client, paging, state, outbox) against the Cloud
Assistant fake, with a receiver that records what people would be told.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from lib.app import App, Invocation, RunReport, build_app
from lib.core.notification import Message
from lib.core.triggers import Poll
from lib.state.file import FileStore
from lib.state.silences import add_silence
from lib.support.credentials import Credentials
from lib.support.errors import ReceiverTransientError, StateError
from lib.support.settings import load_settings
from tests.factories import RecordingReceiver
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.dataset import Command, Dataset, agent, command, execution, instance_id, run

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


@dataclass
class Told:
    """One alert as a receiver got it."""

    status: str
    subject: str
    invoke_id: str
    instance_id: str
    firing: int
    related: tuple[str, ...]
    reminder: int = 0


class CountingStore(FileStore):
    """A file store that counts writes (claims and records), to show what steady state costs."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.writes = 0

    def write(self, name: str, value: dict[str, Any], expected_version: str | None) -> bool:
        self.writes += 1
        return super().write(name, value, expected_version)

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        self.writes += 1
        return super().claim(*args, **kwargs)


@dataclass
class Watcher:
    """The function as deployed: one app, run again and again by the timer."""

    cloud: CloudAssistantFake
    app: App
    store: CountingStore
    receiver: Recorder
    reports: list[RunReport] = field(default_factory=list)

    def poll(self) -> RunReport:
        credentials = Credentials(DEMO_ACCESS_KEY_ID, SecretStr(DEMO_ACCESS_KEY_SECRET))
        self.cloud.reset_calls()
        report = self.app.run(
            Poll(origin="timer"), Invocation(f"run-{len(self.reports)}", credentials)
        )
        self.reports.append(report)
        return report

    def told(self) -> list[Told]:
        return self.receiver.told

    def calls(self) -> list[tuple[str, dict[str, str]]]:
        return list(self.cloud.calls)


class Recorder(RecordingReceiver):
    """A receiver that records each alert it was sent (status, subject, ids, firing)."""

    def __init__(self) -> None:
        super().__init__()
        self.told: list[Told] = []
        self.down = False

    def send(self, message: Message) -> None:
        if self.down:
            raise ReceiverTransientError(self.name, "HTTP 502")
        for alert in self.covered(message):
            self.told.append(
                Told(
                    status=alert.status,
                    subject=alert.subject,
                    invoke_id=alert.finding.invoke_id,
                    instance_id=alert.finding.instance_id,
                    firing=alert.firing,
                    related=alert.related,
                    reminder=alert.reminder,
                )
            )


@pytest.fixture(params=["1", "8"], ids=["sequential", "concurrent"])
def concurrency(request: pytest.FixtureRequest) -> str:
    """Every story runs both ways: scopes one after another, and in the pool of threads."""
    return str(request.param)


@pytest.fixture
def make_watcher(tmp_path: Path, concurrency: str) -> Iterator[Any]:
    fakes: list[CloudAssistantFake] = []

    def make(
        dataset: Dataset,
        *,
        order: str = "newest",
        lookback: str = "1h",
        env: dict[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
        store: CountingStore | None = None,
    ) -> Watcher:
        cloud = CloudAssistantFake(dataset=dataset, order=order)  # type: ignore[arg-type]
        cloud.start()
        fakes.append(cloud)
        settings = load_settings(
            {
                "ASSISTWATCH_REGIONS": "cn-hangzhou",
                "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
                "ASSISTWATCH_LOOKBACK": lookback,
                "ASSISTWATCH_SHOW_OUTPUT": "false",
                "ASSISTWATCH_CONCURRENCY": concurrency,
                **(env or {}),
            }
        )
        store = store or CountingStore(tmp_path / f"state-{len(fakes)}")
        recorder = Recorder()
        app = build_app(
            settings,
            store=store,
            receivers={recorder.name: recorder},
            sleep=lambda _: None,
            clock=clock,
        )
        return Watcher(cloud, app, store, recorder)

    yield make
    for cloud in fakes:
        cloud.stop()


def history(count: int, *, start_minutes_ago: float = 60 * 24 * 6) -> list[Command]:
    """``count`` finished successes spread over the days before now, oldest first."""
    step = start_minutes_ago / max(count, 1)
    return [
        command(
            created=ago(start_minutes_ago - n * step),
            name="uptime",
            invoke=f"history-{n}",
            instances=[run(f"web-{n % 7}")],
        )
        for n in range(count)
    ]


def deploy(
    minutes_ago: float, status: str = "Failed", *, name: str = "deploy.sh", **kw: Any
) -> Command:
    return command(
        created=ago(minutes_ago),
        name=name,
        invoke=f"{name}-{minutes_ago}",
        instances=[
            run(
                "app-1",
                status,
                error_code=kw.pop("error_code", "ExitCodeNonzero" if status == "Failed" else ""),
                **kw,
            )
        ],
    )


def finish(
    cmd: Command, status: str, *, at: datetime, error_code: str = "", exit_code: int | None = None
) -> None:
    """The running command ends now (as Cloud Assistant would record it)."""
    for inst in cmd.instances:
        inst.status = status
        inst.error_code = error_code
        inst.exit_code = exit_code if exit_code is not None else (0 if status == "Success" else 1)
        inst.start_time = inst.start_time or cmd.creation_time
        inst.finish_time = at
        inst.update_time = at


def execute(cmd: Command, status: str, *, at: datetime, error_code: str = "") -> None:
    """A periodic task runs once more on every instance: the latest moves into the history."""
    for inst in cmd.instances:
        previous = execution(
            inst.status,
            error_code=inst.error_code,
            exit_code=inst.exit_code,
            started=inst.start_time,
            finished=inst.finish_time,
        )
        previous.repeats = inst.repeats
        inst.history.append(previous)
        inst.repeats += 1
        inst.status = status
        inst.error_code = error_code
        inst.exit_code = 0 if status == "Success" else 1
        inst.start_time = at - timedelta(seconds=2)
        inst.finish_time = at
        inst.update_time = at


# --- stories ------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["newest", "shuffled"])
def test_a_failure_after_the_first_look_is_told_whichever_order_the_api_pages_in(
    make_watcher, order
):
    # GIVEN a week of history and a watcher that already looked once
    ds = Dataset().add(*history(230))
    watcher = make_watcher(ds, order=order)
    assert watcher.poll().ok
    assert watcher.told() == []
    # WHEN a deploy fails two minutes later
    ds.add(deploy(2))
    report = watcher.poll()
    # THEN it is told, once, in either order (a shuffled answer is scanned in full)
    assert [(t.invoke_id, t.status) for t in watcher.told()] == [
        (ds.commands[-1].invoke_id, "firing")
    ]
    assert report.ok
    if order == "shuffled":
        assert any("out of order" in note for note in report.notes)
    watcher.poll()
    assert len(watcher.told()) == 1


def test_a_deploy_still_running_at_one_poll_that_fails_later_is_told(make_watcher):
    # GIVEN "a deploy script that was still running at 10:00" — and 60 newer tasks since,
    # so the next poll's first page no longer reaches it
    ds = Dataset()
    running = deploy(40, "Running", name="deploy.sh")
    ds.add(running)
    watcher = make_watcher(ds)
    watcher.poll()
    ds.add(
        *[
            command(
                created=ago(30 - n * 0.4),
                name="uptime",
                invoke=f"new-{n}",
                instances=[run("web-1")],
            )
            for n in range(60)
        ]
    )
    watcher.poll()
    assert watcher.told() == []
    # WHEN it "failed at 10:02"
    with ds.lock:
        finish(running, "Failed", at=ago(1), error_code="ExitCodeNonzero", exit_code=2)
    watcher.poll()
    # THEN the next poll tells it, having asked for running tasks and fetched it singly
    assert [(t.invoke_id, t.instance_id) for t in watcher.told()] == [
        (running.invoke_id, running.instances[0].instance_id)
    ]
    calls = watcher.calls()
    assert ("DescribeInvocations", "Running") in [(a, p.get("InvokeStatus")) for a, p in calls]
    assert any(p.get("InvokeId") == running.invoke_id for _, p in calls)
    # AND once terminal it is no longer followed
    watcher.poll()
    assert all(p.get("InvokeStatus") != "Running" for _, p in watcher.calls())


def test_a_periodic_task_from_last_week_fires_resolves_and_fires_again(make_watcher):
    # GIVEN a backup that runs every hour since three days ago, healthy so far
    ds = Dataset()
    backup = command(
        created=ago(3 * 24 * 60),
        name="hourly-backup.sh",
        invoke="hourly-backup",
        repeat_mode="Period",
        frequency="0 0 * * * ?",
        instances=[
            run(
                "db-1",
                "Success",
                started=ago(62),
                finished=ago(61),
                history=[
                    execution("Success", started=ago(m + 1), finished=ago(m))
                    for m in range(241, 60, -60)
                ],
            )
        ],
    )
    ds.add(backup)
    watcher = make_watcher(ds)
    watcher.poll()
    assert watcher.told() == []
    # WHEN the next execution fails
    with ds.lock:
        execute(backup, "Failed", at=ago(5), error_code="ExitCodeNonzero")
    watcher.poll()
    # AND the one after fails too (still the same firing: no second message)
    with ds.lock:
        execute(backup, "Failed", at=ago(4), error_code="ExitCodeNonzero")
    watcher.poll()
    # AND then it recovers
    with ds.lock:
        execute(backup, "Success", at=ago(3))
    watcher.poll()
    # AND fails again later
    with ds.lock:
        execute(backup, "Failed", at=ago(2), error_code="ExitCodeNonzero")
    watcher.poll()
    # THEN people were told: firing 1, resolved 1, firing 2 — nothing else
    assert [(t.status, t.firing) for t in watcher.told()] == [
        ("firing", 1),
        ("resolved", 1),
        ("firing", 2),
    ]
    assert {t.invoke_id for t in watcher.told()} == {backup.invoke_id}


def test_executions_between_two_polls_are_all_read(make_watcher):
    # GIVEN a task every minute, and a poll every five: a failure in between is not lost
    ds = Dataset()
    task = command(
        created=ago(120),
        name="every-minute.sh",
        invoke="every-minute",
        repeat_mode="Period",
        instances=[run("web-1", "Success", started=ago(11), finished=ago(10))],
    )
    ds.add(task)
    watcher = make_watcher(ds)
    watcher.poll()
    with ds.lock:
        execute(task, "Failed", at=ago(4), error_code="ExitCodeNonzero")  # hidden by...
        execute(task, "Success", at=ago(3))  # ...the success the list call shows
    watcher.poll()
    assert [(t.status, t.firing) for t in watcher.told()] == [("firing", 1), ("resolved", 1)]
    assert any(p.get("IncludeHistory") == "true" for _, p in watcher.calls())


def test_an_agent_that_stopped_is_one_alert_listing_its_failures_and_resolves_when_back(
    make_watcher,
):
    # GIVEN two tasks that could not run on db-1 because its agent is down
    ds = Dataset()
    first = deploy(6, "Aborted", error_code="ClientNotRunning", name="hotfix.sh")
    second = deploy(5, "Aborted", error_code="ClientNotRunning", name="rotate-logs.sh")
    ds.add(first, second, agent("app-1", online=False))
    watcher = make_watcher(ds)
    watcher.poll()
    # THEN one "agent unhealthy" alert for the instance, naming both invocations
    assert len(watcher.told()) == 1
    told = watcher.told()[0]
    assert (told.subject, told.status) == ("agent", "firing")
    assert {entry.split()[0] for entry in told.related} == {first.invoke_id, second.invoke_id}
    # WHEN another task fails the same way, nothing new is sent
    ds.add(deploy(1, "Aborted", error_code="ClientNotRunning", name="third.sh"))
    watcher.poll()
    assert len(watcher.told()) == 1
    # WHEN the agent is healthy again, the alert resolves
    ds.add(agent("app-1", online=True))
    watcher.poll()
    assert [(t.subject, t.status) for t in watcher.told()] == [
        ("agent", "firing"),
        ("agent", "resolved"),
    ]
    assert any(a == "DescribeCloudAssistantStatus" for a, _ in watcher.calls())
    # AND with nothing open, agent health is no longer asked
    watcher.poll()
    assert all(a != "DescribeCloudAssistantStatus" for a, _ in watcher.calls())


def test_the_first_run_tells_only_what_failed_within_the_lookback(make_watcher):
    ds = Dataset().add(deploy(30, name="recent.sh"), deploy(180, name="old.sh"))
    watcher = make_watcher(ds)
    report = watcher.poll()
    assert [t.invoke_id for t in watcher.told()] == [ds.commands[0].invoke_id]
    assert report.baseline == 1
    assert any("baseline" in note for note in report.notes)


@pytest.mark.parametrize("size", [100, 2000])
def test_nothing_new_costs_the_same_calls_whatever_the_history_and_writes_nothing(
    make_watcher, size
):
    # GIVEN a history of `size` tasks, a periodic task, and a watcher that has seen it all
    ds = Dataset().add(*history(size))
    ds.add(
        command(
            created=ago(600),
            name="hourly.sh",
            invoke="hourly",
            repeat_mode="Period",
            instances=[run("web-1", "Success", started=ago(31), finished=ago(30))],
        )
    )
    watcher = make_watcher(ds)
    watcher.poll()
    watcher.poll()
    writes_before = watcher.store.writes
    # WHEN the timer fires again with nothing new
    report = watcher.poll()
    # THEN one page per source plus one list of periodic tasks, and no state written
    assert report.api_calls == 3, watcher.calls()
    assert sorted(a for a, _ in watcher.calls()) == [
        "DescribeInvocations",
        "DescribeInvocations",
        "DescribeSendFileResults",
    ]
    assert watcher.store.writes == writes_before
    assert report.alerts_sent == 0


def test_concurrent_passes_merge_their_state_instead_of_overwriting(make_watcher):
    from lib.app.paging import PollState, merge_poll_states

    base = PollState(inflight={"t-a": "Running"})
    ours = PollState(inflight={"t-a": "Running", "t-b": "Pending"}, seen_through=ago(1))
    theirs = PollState(inflight={"t-c": "Running"}, seen_through=ago(5))
    merged = merge_poll_states(base, ours, theirs)
    assert set(merged.inflight) == {"t-a", "t-b", "t-c"}
    assert merged.seen_through == ago(5)  # the earlier: the next pass looks again, never less


def test_concurrent_passes_keep_each_others_periodic_tracks_and_claimed_fingerprints():
    from lib.app.paging import PollState, merge_poll_states
    from lib.core.alerts import PeriodicTrack

    # GIVEN two passes that each moved a different instance of one periodic task
    quiet = PeriodicTrack(repeats=1)
    base = PollState(periodic={"t-p": {"i-1": quiet, "i-2": quiet}})
    ours = PollState(
        periodic={"t-p": {"i-1": PeriodicTrack(repeats=2, failing=True), "i-2": quiet}},
        recent={"fp-ours": ago(2)},
    )
    theirs = PollState(
        periodic={"t-p": {"i-1": quiet, "i-2": PeriodicTrack(repeats=2)}},
        recent={"fp-theirs": ago(3)},
    )
    # WHEN the second to write merges
    merged = merge_poll_states(base, ours, theirs)
    # THEN both instances' moves survive, and both passes' claimed fingerprints stay known
    assert merged.periodic["t-p"]["i-1"].failing is True
    assert merged.periodic["t-p"]["i-2"].repeats == 2
    assert set(merged.recent) == {"fp-ours", "fp-theirs"}


def test_an_event_and_a_later_poll_agree_on_an_agent_fault(make_watcher):
    from lib.core.triggers import Target, Targets

    # GIVEN EventBridge tells us about a task the agent could not run
    ds = Dataset()
    hotfix = deploy(3, "Aborted", error_code="ClientNotRunning", name="hotfix.sh")
    ds.add(hotfix, agent("app-1", online=False))
    watcher = make_watcher(ds)
    credentials = Credentials(DEMO_ACCESS_KEY_ID, SecretStr(DEMO_ACCESS_KEY_SECRET))
    event = Targets(region="cn-hangzhou", targets=(Target(hotfix.invoke_id),))
    watcher.app.run(event, Invocation("event-1", credentials))
    # WHEN the timer poll sees the same failure
    watcher.poll()
    # THEN one agent alert in all
    assert [(t.subject, t.status) for t in watcher.told()] == [("agent", "firing")]


# --- watched invocations ------------------------------------------------------------------


def watch(watcher: Watcher, *ids: str, provider: str = "ecs", kind: str | None = None) -> RunReport:
    from lib.core.triggers import Watch

    credentials = Credentials(DEMO_ACCESS_KEY_ID, SecretStr(DEMO_ACCESS_KEY_SECRET))
    trigger = Watch(provider, "cn-hangzhou", ids, kind)  # type: ignore[arg-type]
    watcher.cloud.reset_calls()
    return watcher.app.run(trigger, Invocation("watch", credentials))


def test_a_watched_invocation_is_followed_until_it_ends_then_forgotten(make_watcher):
    # GIVEN a long job, created long before the look-back, registered with a watch request
    ds = Dataset()
    job = deploy(60 * 24 * 3, "Running", name="reindex.sh")
    ds.add(job)
    watcher = make_watcher(ds)
    report = watch(watcher, job.invoke_id, kind="command")
    assert any("watching 1" in note for note in report.notes)
    watcher.poll()
    assert watcher.told() == []
    # WHEN it fails
    with ds.lock:
        finish(job, "Failed", at=ago(1), error_code="ExitCodeNonzero", exit_code=3)
    watcher.poll()
    # THEN the next poll tells it, and then stops asking about it
    assert [t.invoke_id for t in watcher.told()] == [job.invoke_id]
    watcher.poll()
    assert all(p.get("InvokeId") != job.invoke_id for _, p in watcher.calls())


def test_a_watch_for_an_unknown_id_is_dropped_with_a_note(make_watcher):
    watcher = make_watcher(Dataset())
    report = watch(watcher, "t-doesnotexist0001")
    assert any("unknown" in note for note in report.notes)
    watcher.poll()
    assert all(p.get("InvokeId") != "t-doesnotexist0001" for _, p in watcher.calls())


def test_a_fresh_failure_is_not_decided_again_nor_its_output_fetched_again(make_watcher, tmp_path):
    # GIVEN output tails on, and a failure told one minute ago
    ds = Dataset().add(deploy(1, output="boom\n"))
    watcher = make_watcher(ds)
    watcher.app.settings = watcher.app.settings.model_copy(update={"show_output": True})
    first = watcher.poll()
    assert first.alerts_sent == 1
    assert any(a == "DescribeInvocationResults" for a, _ in watcher.calls())
    # WHEN the next poll re-reads the overlap
    second = watcher.poll()
    # THEN the failure is known: no claim asked, no output fetched again
    assert second.known == 1
    assert second.suppressed == 0
    assert all(a != "DescribeInvocationResults" for a, _ in watcher.calls())


def test_an_agent_alert_open_for_weeks_is_rewritten_before_the_store_expires_it(make_watcher):
    # GIVEN an agent that has been down for a while (one alert, open)
    ds = Dataset().add(
        deploy(5, "Aborted", error_code="ClientNotRunning"), agent("app-1", online=False)
    )
    watcher = make_watcher(ds)
    watcher.poll()
    writes = watcher.store.writes
    watcher.poll()
    assert watcher.store.writes == writes  # nothing new: nothing written
    # WHEN three weeks pass with the agent still down (the store expires entries after 43 days)
    later = datetime.now(timezone.utc) + timedelta(days=22)
    watcher.app.clock = lambda: later
    watcher.poll()
    # THEN the open alert's record was rewritten (its expiry starts again), and nothing was sent
    record = watcher.store.read("agents/self/cn-hangzhou")
    assert record.value["written_at"].startswith(later.date().isoformat())
    assert [t.status for t in watcher.told()] == ["firing"]


class MovableClock:
    """The watcher's clock: now, moved on by the test."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def at(self, minutes: float) -> datetime:
        return self() + timedelta(minutes=minutes)


def hourly_backup(ds: Dataset) -> Command:
    backup = command(
        created=ago(3 * 24 * 60),
        name="hourly-backup.sh",
        invoke="hourly-backup",
        repeat_mode="Period",
        frequency="0 0 * * * ?",
        instances=[run("db-1", "Success", started=ago(62), finished=ago(61))],
    )
    ds.add(backup)
    return backup


@dataclass
class FailingBackup:
    """An hourly backup whose latest run failed, and the watcher that told it."""

    ds: Dataset
    backup: Command
    clock: MovableClock
    watcher: Watcher


def backup_failing_and_told(
    make_watcher: Any, *, env: dict[str, str] | None = None, store: CountingStore | None = None
) -> FailingBackup:
    """A first poll (healthy), then the backup fails and the second poll tells it."""
    ds = Dataset()
    backup = hourly_backup(ds)
    clock = MovableClock()
    # The clock moves hours on while the fake runs nothing: these are reminder stories, and
    # the backup's missed runs (told since #15) are tests/test_missed_runs.py's.
    env = {"ASSISTWATCH_MISSED_RUN_GRACE": "off", **(env or {})}
    watcher = make_watcher(ds, env=env, clock=clock, store=store)
    watcher.poll()
    with ds.lock:
        execute(backup, "Failed", at=ago(5), error_code="ExitCodeNonzero")
    watcher.poll()
    return FailingBackup(ds, backup, clock, watcher)


def test_a_periodic_task_that_keeps_failing_is_reminded_each_interval_until_it_recovers(
    make_watcher,
):
    # GIVEN reminders every hour, and an hourly backup whose last run failed and was told
    given = backup_failing_and_told(make_watcher, env={"ASSISTWATCH_REPEAT_INTERVAL": "1h"})
    ds, backup, clock, watcher = given.ds, given.backup, given.clock, given.watcher
    assert [(t.status, t.reminder) for t in watcher.told()] == [("firing", 0)]
    # WHEN half an hour passes with the streak still open: nothing more
    clock.offset = timedelta(minutes=30)
    watcher.poll()
    assert len(watcher.told()) == 1
    # WHEN an hour has passed since it was told: one reminder of the same firing
    clock.offset = timedelta(minutes=61)
    report = watcher.poll()
    assert [(t.status, t.firing, t.reminder) for t in watcher.told()[1:]] == [("firing", 1, 1)]
    assert report.reminders == 1
    # AND polls later in that hour send nothing and write nothing
    clock.offset = timedelta(minutes=75)
    writes = watcher.store.writes
    watcher.poll()
    assert len(watcher.told()) == 2
    assert watcher.store.writes == writes
    # WHEN the watcher was down for five hours: one reminder, not a backlog
    clock.offset = timedelta(hours=6, minutes=1)
    watcher.poll()
    assert [t.reminder for t in watcher.told()[2:]] == [2]
    # WHEN the backup succeeds again: resolved, and no reminders after that
    with ds.lock:
        execute(backup, "Success", at=clock.at(-1))
    watcher.poll()
    clock.offset = timedelta(hours=9)
    watcher.poll()
    assert [(t.status, t.reminder) for t in watcher.told()[3:]] == [("resolved", 0)]


def test_without_a_repeat_interval_an_open_streak_is_told_once(make_watcher):
    # GIVEN no repeat interval anywhere (the default), and a backup failing, told
    given = backup_failing_and_told(make_watcher)
    clock, watcher = given.clock, given.watcher
    # WHEN a day passes with the task still failing
    clock.offset = timedelta(days=1)
    watcher.poll()
    # THEN people were told once
    assert [(t.status, t.reminder) for t in watcher.told()] == [("firing", 0)]


def test_an_agent_still_down_is_reminded_and_its_recovery_ends_the_reminders(make_watcher):
    # GIVEN reminders every 4 hours and an instance whose agent is down
    ds = Dataset()
    ds.add(deploy(5, "Aborted", error_code="ClientNotRunning"), agent("app-1", online=False))
    clock = MovableClock()
    watcher = make_watcher(ds, env={"ASSISTWATCH_REPEAT_INTERVAL": "4h"}, clock=clock)
    watcher.poll()
    # WHEN 4 hours pass with the agent still down
    clock.offset = timedelta(hours=4, minutes=1)
    watcher.poll()
    # THEN one reminder of the agent alert, naming what could not run
    assert [(t.subject, t.reminder) for t in watcher.told()] == [("agent", 0), ("agent", 1)]
    assert watcher.told()[1].related == watcher.told()[0].related
    # WHEN the agent is back: resolved; no reminder after that
    ds.add(agent("app-1", online=True))
    watcher.poll()
    clock.offset = timedelta(hours=12)
    watcher.poll()
    assert [(t.status, t.reminder) for t in watcher.told()[2:]] == [("resolved", 0)]


def test_two_overlapping_runs_send_a_reminder_once(make_watcher, tmp_path):
    # GIVEN two deployments of the watcher sharing one state store, reminding hourly
    ds = Dataset()
    backup = hourly_backup(ds)
    clock = MovableClock()
    store = CountingStore(tmp_path / "shared")
    env = {"ASSISTWATCH_REPEAT_INTERVAL": "1h"}
    one = make_watcher(ds, env=env, clock=clock, store=store)
    two = make_watcher(ds, env=env, clock=clock, store=store)
    one.poll()
    with ds.lock:
        execute(backup, "Failed", at=ago(5), error_code="ExitCodeNonzero")
    one.poll()
    # WHEN both run when the reminder is due, from the same state
    clock.offset = timedelta(minutes=61)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda w: w.poll(), [one, two]))
    # THEN the reminder went out once
    reminders = [t for w in (one, two) for t in w.told() if t.reminder]
    assert [t.reminder for t in reminders] == [1]


class StoreThatFailsRecordWrites(CountingStore):
    """A store whose record writes fail while ``failing`` (claims still work)."""

    failing = False

    def write(self, name: str, value: dict[str, Any], expected_version: str | None) -> bool:
        if self.failing:
            raise StateError("injected: the table is unavailable")
        return super().write(name, value, expected_version)


def test_a_reminder_whose_track_was_not_written_is_not_sent_twice(make_watcher, tmp_path):
    # GIVEN an hourly reminder due, and a store that fails the writes after the claims
    store = StoreThatFailsRecordWrites(tmp_path / "flaky")
    given = backup_failing_and_told(
        make_watcher, env={"ASSISTWATCH_REPEAT_INTERVAL": "1h"}, store=store
    )
    clock, watcher = given.clock, given.watcher
    clock.offset = timedelta(minutes=61)
    store.failing = True
    # WHEN the run that sends the reminder cannot record it in the track (FC retries it)
    credentials = Credentials(DEMO_ACCESS_KEY_ID, SecretStr(DEMO_ACCESS_KEY_SECRET))
    with pytest.raises(StateError):
        watcher.app.run(Poll(origin="timer"), Invocation("retry-me", credentials))
    store.failing = False
    # AND later runs go on (the failed run's claim is taken over once its lease is over)
    for minutes in (62, 61 + 15, 61 + 20):
        clock.offset = timedelta(minutes=minutes)
        watcher.poll()
    # THEN the reminder reached people once
    assert [t.reminder for t in watcher.told()] == [0, 1]


def test_a_reminder_a_robot_refused_waits_in_the_outbox_and_is_sent_once(make_watcher):
    # GIVEN an hourly reminder due, and a receiver that is down for one run
    given = backup_failing_and_told(make_watcher, env={"ASSISTWATCH_REPEAT_INTERVAL": "1h"})
    clock, watcher = given.clock, given.watcher
    clock.offset = timedelta(minutes=61)
    watcher.receiver.down = True
    report = watcher.poll()
    assert report.deferred == 1
    # WHEN the receiver is back, on the next two runs
    watcher.receiver.down = False
    clock.offset = timedelta(minutes=66)
    watcher.poll()
    watcher.poll()
    # THEN the reminder came out of the outbox once
    assert [t.reminder for t in watcher.told()] == [0, 1]


def routing_file(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    return {"ASSISTWATCH_CONFIG": str(path)}


def test_a_steady_pass_with_an_open_alert_and_no_reminder_due_reads_no_tags(make_watcher, tmp_path):
    # GIVEN a tag route reminding every 4 hours, and an agent that is down (its alert open)
    ds = Dataset()
    ds.add(deploy(5, "Aborted", error_code="ClientNotRunning"), agent("app-1", online=False))
    ds.tag(instance_id("app-1"), {"env": "prod"})
    routing = routing_file(
        tmp_path,
        "repeat_interval: 4h\n"
        "receivers:\n  - {name: people, type: console}\n"
        "routes:\n  - match: {instance_tags: {env: prod}}\n    receivers: [people]\n",
    )
    clock = MovableClock()
    watcher = make_watcher(ds, env=routing, clock=clock)
    watcher.poll()
    assert [t.subject for t in watcher.told()] == ["agent"]
    # WHEN the timer polls again a minute later: nothing new, no reminder due
    clock.offset = timedelta(minutes=1)
    watcher.poll()
    # THEN that pass costs no ListTagResources call (today: one per open alert's region, every pass)
    assert [action for action, _ in watcher.calls() if action == "ListTagResources"] == []


def test_after_a_receiver_outage_people_get_the_latest_reminder_not_every_missed_one(
    make_watcher,
):
    # GIVEN hourly reminders of a failing hourly backup, told at the start
    given = backup_failing_and_told(make_watcher, env={"ASSISTWATCH_REPEAT_INTERVAL": "1h"})
    clock, watcher = given.clock, given.watcher
    # WHEN the robot is down for three hours of polls
    watcher.receiver.down = True
    for minutes in (61, 121, 181):
        clock.offset = timedelta(minutes=minutes)
        watcher.poll()
    # AND it is back
    watcher.receiver.down = False
    clock.offset = timedelta(minutes=182)
    watcher.poll()
    # THEN people get one reminder, the latest
    assert [t.reminder for t in watcher.told()] == [0, 3]


def test_alerts_waiting_in_the_outbox_are_not_sent_once_a_silence_mutes_them(make_watcher):
    # GIVEN a failure told while the robot is down: it waits in the outbox
    ds = Dataset().add(deploy(5, name="noisy.sh"))
    watcher = make_watcher(ds)
    watcher.receiver.down = True
    assert watcher.poll().deferred == 1
    # WHEN someone silences that task before the robot is back
    add_silence(
        watcher.store,
        {"name": ["noisy*"]},
        reason="known noisy",
        duration_seconds=3600,
        now=datetime.now(timezone.utc).timestamp(),
    )
    watcher.receiver.down = False
    report = watcher.poll()
    # THEN it is not sent, the report says so, and it does not wait any longer
    assert watcher.told() == []
    assert any("silenced" in note for note in report.notes)
    assert watcher.poll().deferred == 0
    assert watcher.told() == []


def test_an_expected_exit_of_a_periodic_task_is_not_told_nor_reminded(make_watcher, tmp_path):
    # GIVEN exit 1 of the hourly backup is expected (say it greps for errors), reminders hourly
    ds = Dataset()
    backup = hourly_backup(ds)
    routing = routing_file(
        tmp_path,
        "repeat_interval: 1h\n"
        "receivers:\n  - {name: people, type: console}\n"
        "expected_exit_codes:\n  - match: {name: 'hourly-backup*'}\n    codes: [1]\n",
    )
    clock = MovableClock()
    watcher = make_watcher(ds, env=routing, clock=clock)
    watcher.poll()
    # WHEN its latest run exits 1, and an hour passes
    with ds.lock:
        execute(backup, "Failed", at=ago(5), error_code="ExitCodeNonzero")
    watcher.poll()
    clock.offset = timedelta(minutes=61)
    watcher.poll()
    # THEN nobody was told
    assert [(t.status, t.reminder) for t in watcher.told()] == []


def test_expected_exits_of_a_periodic_task_read_from_its_history_are_not_failures(
    make_watcher, tmp_path
):
    # GIVEN exit 1 of the hourly backup is expected, and two runs between two polls
    ds = Dataset()
    backup = hourly_backup(ds)
    routing = routing_file(
        tmp_path,
        "receivers:\n  - {name: people, type: console}\n"
        "expected_exit_codes:\n  - match: {name: 'hourly-backup*'}\n    codes: [1]\n",
    )
    watcher = make_watcher(ds, env=routing)
    watcher.poll()
    with ds.lock:
        execute(backup, "Failed", at=ago(6), error_code="ExitCodeNonzero")
        execute(backup, "Failed", at=ago(5), error_code="ExitCodeNonzero")
    # WHEN the poll reads both from the task's history
    report = watcher.poll()
    # THEN neither is a failure
    assert watcher.told() == []
    assert report.expected >= 1
    assert any(p.get("IncludeHistory") == "true" for _, p in watcher.calls())


def test_a_next_reboot_only_task_is_never_asked_with_include_history(make_watcher):
    # GIVEN a NextRebootOnly task still running on one instance (history would be asked for
    # a Period task here) — IncludeHistory is documented for Period and EveryReboot only
    ds = Dataset()
    task = command(
        created=ago(30),
        name="after-reboot.sh",
        invoke="next-reboot",
        repeat_mode="NextRebootOnly",
        instances=[run("web-1", "Running", started=ago(2), repeats=1)],
    )
    ds.add(task)
    watcher = make_watcher(ds)
    # WHEN polled
    watcher.poll()
    # THEN its results were read without IncludeHistory=true
    results = [p for action, p in watcher.calls() if action == "DescribeInvocationResults"]
    assert results, "the running task's results were read"
    assert all(p.get("IncludeHistory") != "true" for p in results)
