"""Missed runs, end to end: periodic tasks in the fake, polls, and what the on-call reads.

Stories: a backup that stopped running on one instance is told on the first poll after a
deploy, once, naming the task, the instance, its last run and when the next was due; it
resolves when the instance runs again; a stopped instance is quiet; a cron without a time
zone waits for the latest clock; a task no longer scheduled closes its alert; a Frequency we
cannot read is said, not dropped; the check can be turned off.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from lib.app import App
from tests.fakes.cloudassist import CloudAssistantFake
from tests.fakes.dataset import Command, Dataset, agent, command, run
from tests.test_instance_context import Pager, poll, watcher

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def read(app: App) -> str:
    inbox: Pager = app.receivers["people"]  # type: ignore[assignment]
    text = inbox.read
    inbox.texts.clear()
    return text


def backup(frequency: str, *last_runs: tuple[str, float], created: float = 3 * 24 * 60) -> Command:
    """A periodic backup; each instance's last run finished that many minutes ago."""
    return command(
        created=ago(created),
        name="backup.sh",
        invoke="backup",
        repeat_mode="Period",
        frequency=frequency,
        instances=[
            run(instance, "Success", started=ago(minutes + 0.5), finished=ago(minutes), repeats=40)
            for instance, minutes in last_runs
        ],
    )


def ran_again(task: Command, instance: str, dataset: Dataset) -> None:
    with dataset.lock:
        for inst in task.instances:
            if inst.instance_id == instance:
                inst.repeats += 1
                inst.start_time, inst.finish_time = ago(1), ago(0.5)
                inst.update_time = inst.finish_time


def test_an_instance_that_stopped_running_its_backup_is_told_on_the_first_poll(
    cloud, dataset, tmp_path
):
    # GIVEN a backup every 5 minutes: i-good ran 3 minutes ago, i-late last ran 40 minutes ago
    dataset.add(backup("rate(5m)", ("i-good", 3), ("i-late", 40)))
    dataset.instance("i-late", name="db-replica-2")
    app = watcher(cloud, tmp_path)
    # WHEN assistwatch is deployed and polls for the first time
    report = poll(app)
    # THEN one missed-run alert names the task, the instance, its last run and the due time
    text = read(app)
    assert "Missed runs: `backup.sh`" in text
    assert "`i-late` · `db-replica-2`" in text
    shanghai = ago(40).astimezone(ZoneInfo("Asia/Shanghai"))  # the messages' default zone
    assert f"Last run: {shanghai:%Y-%m-%d %H:%M:%S}" in text
    assert "next was due: " in text
    assert "i-good" not in text
    assert report.alerts == 1
    # AND the next poll does not tell it again
    poll(app)
    assert read(app) == ""


def test_the_missed_run_resolves_when_the_instance_runs_again(cloud, dataset, tmp_path):
    task = backup("rate(5m)", ("i-late", 40))
    dataset.add(task)
    app = watcher(cloud, tmp_path)
    poll(app)
    assert "Missed runs" in read(app)
    # WHEN the instance runs its backup again
    ran_again(task, "i-late", dataset)
    poll(app)
    # THEN people hear it runs again, once
    assert "Runs again: `backup.sh`" in read(app)
    poll(app)
    assert read(app) == ""


def test_a_stopped_instance_missing_its_runs_is_quiet(cloud, dataset, tmp_path):
    # GIVEN an instance someone stopped, so its every-5-minutes task has not run for an hour
    dataset.add(backup("rate(5m)", ("i-off", 60)))
    dataset.instance("i-off", status="Stopped")
    app = watcher(cloud, tmp_path)
    report = poll(app)
    # THEN nobody is paged; the report counts it quiet and says why
    assert read(app) == ""
    assert report.quiet == 1
    assert any(n.startswith("quiet: instance stopped: 1 missed run(s)") for n in report.notes)


def test_a_missed_run_alert_closes_when_its_instance_is_stopped(cloud, dataset, tmp_path):
    dataset.add(backup("rate(5m)", ("i-late", 40)))
    app = watcher(cloud, tmp_path)
    poll(app)
    assert "Missed runs" in read(app)
    dataset.instance("i-late", status="Stopped")
    poll(app)
    assert "Missed runs closed, instance stopped: `backup.sh`" in read(app)


def test_a_cron_without_a_time_zone_waits_for_the_latest_clock(cloud, dataset, tmp_path):
    # GIVEN a daily cron at 02:00 with no time zone: it runs on each instance's own clock
    dataset.add(backup("0 0 2 * * ?", ("i-day", 30 * 60), ("i-gone-quiet", 4 * 24 * 60)))
    app = watcher(cloud, tmp_path)
    poll(app)
    text = read(app)
    # THEN 30 hours without a run could be one missed day in some zone: not yet an alarm
    assert "i-day" not in text
    # BUT four days is missed on every clock, and the message says the due time is the latest
    assert "`i-gone-quiet`" in text
    assert "runs on the instance's clock" in text


def test_a_cron_with_a_time_zone_is_told_after_two_runs_and_the_grace(cloud, dataset, tmp_path):
    # GIVEN a task every 10 minutes in Shanghai time, last run 35 minutes ago (due at −25, −15)
    dataset.add(backup("0 0/10 * * * ? Asia/Shanghai", ("i-sh", 35)))
    app = watcher(cloud, tmp_path, ASSISTWATCH_MISSED_RUN_GRACE="5m")
    poll(app)
    # THEN with a 5-minute grace it is overdue (−15 + 5 = −10 < now)
    assert "`i-sh`" in read(app)


def test_a_task_no_longer_scheduled_closes_its_missed_run_alert(cloud, dataset, tmp_path):
    task = backup("rate(5m)", ("i-late", 40))
    dataset.add(task)
    app = watcher(cloud, tmp_path)
    poll(app)
    assert "Missed runs" in read(app)
    # WHEN someone stops the periodic task (StopInvocation)
    with dataset.lock:
        task.stopped = True
    poll(app)
    # THEN its open alert is resolved rather than left open forever
    assert "Missed runs closed, the task is no longer scheduled: `backup.sh`" in read(app)


def test_an_instance_that_never_ran_is_missed_too(cloud, dataset, tmp_path):
    # GIVEN a task created 30 minutes ago, every 5 minutes, that never ran on i-new
    dataset.add(
        command(
            created=ago(30),
            name="heartbeat.sh",
            invoke="heartbeat",
            repeat_mode="Period",
            frequency="rate(5m)",
            instances=[run("i-new", "Scheduled", repeats=0)],
        )
    )
    app = watcher(cloud, tmp_path)
    poll(app)
    text = read(app)
    assert "Missed runs: `heartbeat.sh`" in text
    assert "Last run: never ran" in text


def test_a_frequency_it_cannot_read_is_said_in_the_report(cloud, dataset, tmp_path):
    dataset.add(backup("every tuesday", ("i-late", 40)))
    app = watcher(cloud, tmp_path)
    report = poll(app)
    assert any("'every tuesday' could not be read" in note for note in report.notes)
    assert report.ok


def test_missed_runs_can_be_turned_off(cloud, dataset, tmp_path):
    dataset.add(backup("rate(5m)", ("i-late", 40)))
    app = watcher(cloud, tmp_path, ASSISTWATCH_MISSED_RUN_GRACE="off")
    poll(app)
    assert read(app) == ""


def test_a_missed_run_on_an_instance_whose_agent_is_down_waits_behind_the_agent_alert(
    cloud, dataset, tmp_path
):
    # GIVEN the agent on i-late is down (a hotfix could not reach it) and its backup stopped
    dataset.add(
        backup("rate(5m)", ("i-late", 40)),
        command(
            created=ago(5),
            name="hotfix.sh",
            invoke="hotfix",
            instances=[run("i-late", "Aborted", error_code="ClientNotRunning")],
        ),
        agent("i-late", online=False),
    )
    app = watcher(cloud, tmp_path)
    report = poll(app)
    text = read(app)
    # THEN people hear the cause — the agent — and the missed run is held behind it
    assert "agent unhealthy on `i-late`" in text
    assert "Missed runs" not in text
    assert report.inhibited == 1


def held_backup(dataset: Dataset) -> Command:
    """A backup whose runs stopped on i-late, whose agent is down (a hotfix could not reach it):
    its missed runs are held behind the agent alert."""
    task = backup("rate(5m)", ("i-late", 40))
    dataset.add(
        task,
        command(
            created=ago(5),
            name="hotfix.sh",
            invoke="hotfix",
            instances=[run("i-late", "Aborted", error_code="ClientNotRunning")],
        ),
        agent("i-late", online=False),
    )
    return task


def test_a_held_missed_run_that_runs_again_is_never_told(cloud, dataset, tmp_path):
    # GIVEN a missed run held behind the agent-down alert of its instance
    task = held_backup(dataset)
    app = watcher(cloud, tmp_path)
    poll(app)
    read(app)
    # WHEN the backup runs again (the agent is still reported down)
    ran_again(task, "i-late", dataset)
    poll(app)
    # THEN nobody hears "runs again" of a missed run they were never told of
    assert "Runs again" not in read(app)
    # AND when the agent is back, the resolved missed run does not come out of hold either
    dataset.add(agent("i-late", online=True))
    poll(app)
    text = read(app)
    assert "agent healthy again on `i-late`" in text
    assert "Missed runs" not in text


@pytest.mark.parametrize("concurrency", ["1", "8"], ids=["sequential", "concurrent"])
def test_a_held_missed_run_stays_untold_while_a_busy_region_claims_early(tmp_path, concurrency):
    # GIVEN two regions: in cn-hangzhou a missed backup held behind its agent-down alert;
    # cn-shanghai quiet for now
    hangzhou, shanghai = Dataset(), Dataset()
    task = held_backup(hangzhou)
    with CloudAssistantFake(regions={"cn-hangzhou": hangzhou, "cn-shanghai": shanghai}) as cloud:
        app = watcher(
            cloud,
            tmp_path,
            ASSISTWATCH_REGIONS="cn-hangzhou,cn-shanghai",
            ASSISTWATCH_CONCURRENCY=concurrency,
        )
        poll(app)
        assert "Missed runs" not in read(app)
        # WHEN the backup runs again (its agent still reported down) while cn-shanghai got busy:
        # more than twenty pages of new runs, a failure among the newest, so that region's
        # poll claims what it found before it ends (a long pass's checkpoint)
        ran_again(task, "i-late", hangzhou)
        shanghai.add(
            command(
                created=ago(0.1),
                name="deploy.sh",
                invoke="deploy-sh",
                instances=[run("i-sh", "Failed", error_code="ExitCodeNonzero", exit_code=1)],
            ),
            *(
                command(
                    created=ago(1 + n / 100),
                    name="uptime",
                    invoke=f"up-{n}",
                    instances=[run("i-sh")],
                )
                for n in range(21 * 50)
            ),
        )
        poll(app)
        text = read(app)
        # THEN people hear cn-shanghai's failure, and not "runs again" of a missed run they
        # were never told of
        assert "`i-sh`" in text
        assert "Runs again" not in text
        assert "Missed runs" not in text
