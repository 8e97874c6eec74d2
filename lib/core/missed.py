"""Missed runs: a dead-man's switch for periodic tasks, decided per task and instance.

Pure. The poll hands in, for each instance of a periodic task that is still scheduled, its
last execution's finish time as listed on this poll (so the first poll after a deploy already
knows), the task's ``Frequency`` and creation time, and what DescribeInstances says of the
instance. An instance is **missed** when its last run is older than two scheduled runs plus a
grace (:func:`lib.core.schedule.deadline`): one alert, naming the task, the instance, the last
run and when the next was due. It resolves when the instance runs again, when the instance is
stopped or released (not an alarm there: counted quiet), or when the task is no longer
scheduled.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from lib.core.alerts import Alert, AlertStatus
from lib.core.catalogue import Classification
from lib.core.findings import Finding
from lib.core.schedule import Deadline, Schedule, deadline

if TYPE_CHECKING:
    from lib.core.records.ecs import Invocation

__all__ = [
    "MISSED_RUN",
    "UNSCHEDULED",
    "MissedRun",
    "Scheduled",
    "check_missed",
    "close_missed",
    "missed_fingerprint",
    "scheduled_from",
]

MISSED_RUN = Classification(
    code="MissedRun",
    category="schedule",
    severity="critical",
    explanation_zh="周期任务在该实例上没有按计划执行：已错过至少两次计划执行。",
    explanation_en="The periodic task did not run on this instance as scheduled: "
    "at least two scheduled runs were missed.",
    hint_zh="检查实例上的云助手 Agent 是否在线、实例时钟是否正确，以及任务是否仍在该实例上调度。",
    hint_en="Check that the Cloud Assistant agent on the instance is online, that the "
    "instance's clock is right, and that the task is still scheduled there.",
)


class Scheduled(BaseModel):
    """One instance of a periodic task still scheduled, as this poll lists it."""

    model_config = ConfigDict(frozen=True)

    finding: Finding  # identity and names (status "Missed"; finished_at: the last run's end)
    frequency: str
    created: datetime | None = None  # the task's creation: anchors a rate, and a never-run


class MissedRun(BaseModel):
    """The missed-run alert of one task on one instance, kept in its periodic track."""

    firing: int = 0
    open: bool = False
    since: datetime | None = None  # when it became overdue (the alert's starts_at)
    last: datetime | None = None  # the last run when it was told: a newer one resolves it
    due: datetime | None = None  # when the next run was due
    widened: bool = False  # a cron on the instance's clock
    finding: Finding | None = None


def scheduled_from(inv: Invocation, *, account: str, region: str) -> list[Scheduled]:
    """The instances of a listed periodic task (``RepeatMode`` Period) still scheduled."""
    if (inv.repeat_mode or "") != "Period" or not inv.frequency or inv.timed is False:
        return []
    return [
        Scheduled(
            finding=Finding(
                account=account,
                provider="ecs",
                region=region,
                kind="command",
                invoke_id=inv.invoke_id,
                instance_id=inst.instance_id,
                status="Missed",
                error_code=MISSED_RUN.code,
                name=inv.command_name,
                command_id=inv.command_id,
                command_type=inv.command_type,
                repeat_mode=inv.repeat_mode,
                timed=True,
                started_at=inst.start_time,
                finished_at=inst.finish_time,
                classification=MISSED_RUN,
            ),
            frequency=inv.frequency,
            created=inv.creation_time,
        )
        for inst in inv.invoke_instances
        if inst.timed is not False
    ]


def missed_fingerprint(finding: Finding) -> str:
    """One identity per (task, instance) for its missed runs, apart from its failures'."""
    parts = (
        finding.account,
        finding.provider,
        finding.region,
        "missed",
        finding.invoke_id,
        finding.instance_id,
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


Verdict = Literal["ok", "missed", "quiet", "waiting"]


def check_missed(
    track: MissedRun,
    item: Scheduled,
    schedule: Schedule,
    *,
    now: datetime,
    grace: timedelta,
    quiet: str | None = None,
) -> tuple[MissedRun, list[Alert], Verdict]:
    """Decide one instance of a scheduled task: fire, resolve, or stay as it is.

    ``quiet``: why the instance cannot run (stopped, released), from its DescribeInstances
    state; an overdue instance then is not an alarm, and an open alert resolves.
    """
    last = item.finding.finished_at
    if track.open:
        ran = last is not None and (track.last is None or last > track.last)
        if not ran and quiet is None:
            return track, [], "missed"
        ended = last if ran and last is not None else now
        return _close(track, item.finding, now, ended=ended, why="ran again" if ran else quiet)
    reference = last or item.created
    due = deadline(schedule, reference, grace=grace, created=item.created) if reference else None
    if due is None or now <= due.overdue_at or quiet is not None:
        return track, [], "quiet" if due is not None and now > due.overdue_at else "ok"
    opened = MissedRun(
        firing=track.firing + 1,
        open=True,
        since=due.overdue_at,
        last=last,
        due=due.next_due,
        widened=due.widened,
        finding=item.finding,
    )
    return opened, [_alert(opened, "firing", due)], "missed"


UNSCHEDULED = "Unscheduled"  # the finding's status on a missed run closed by its task's end


def close_missed(track: MissedRun, now: datetime) -> tuple[MissedRun, list[Alert]]:
    """Resolve an open missed-run alert whose task is no longer scheduled."""
    if not track.open or track.finding is None:
        return track, []
    finding = track.finding.model_copy(update={"status": UNSCHEDULED})
    closed, alerts, _ = _close(track, finding, now, ended=now, why="task no longer scheduled")
    return closed, alerts


def _close(
    track: MissedRun, finding: Finding, now: datetime, *, ended: datetime, why: str | None
) -> tuple[MissedRun, list[Alert], Verdict]:
    closed = track.model_copy(update={"open": False, "finding": finding})
    alert = _alert(closed, "resolved", None)
    reason = f"missed run resolved on {finding.instance_id}: {why}"
    return closed, [alert.model_copy(update={"ends_at": ended, "reason": reason})], "ok"


def _alert(track: MissedRun, status: AlertStatus, due: Deadline | None) -> Alert:
    assert track.finding is not None
    finding = track.finding
    when = track.since or finding.finished_at
    assert when is not None
    next_due = due.next_due if due is not None else track.due
    reason = (
        f"missed run: {finding.name or finding.invoke_id} on {finding.instance_id}, "
        f"next was due {next_due.isoformat() if next_due else '?'}"
    )
    return Alert(
        fingerprint=missed_fingerprint(finding),
        firing=track.firing,
        status=status,
        group=finding.invoke_id,
        reason=reason,
        starts_at=when,
        finding=finding,
        subject="missed",
        due_at=next_due,
        due_widened=track.widened,
    )
