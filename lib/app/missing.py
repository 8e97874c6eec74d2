"""Missed runs of periodic tasks, per poll: each scheduled instance's last run against its due time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lib.app.instances import instance_lookup

if TYPE_CHECKING:
    from datetime import timedelta

    from lib.app.context import Context
    from lib.app.paging import PollState, SourceResult
    from lib.app.run import Pass, Scope
    from lib.core.alerts import Alert
    from lib.core.missed import MissedRun, Scheduled
    from lib.core.schedule import Schedule

__all__ = ["missed_runs"]

Candidate = tuple["Scheduled", "Schedule", "MissedRun"]


def missed_runs(
    app: Context, scope: Scope, poll_state: PollState, result: SourceResult, state: Pass
) -> list[Alert]:
    """Fire, resolve or keep the missed-run alerts of one poll's periodic tasks.

    Updates ``poll_state.missed`` in place (it is written with the poll state). DescribeInstances
    is asked only for instances that are overdue or have an open alert.
    """
    from lib.core.missed import close_missed

    alerts: list[Alert] = []
    for invoke_id in result.unscheduled:  # an open alert has nothing left to wait for
        for track in poll_state.missed.pop(invoke_id, {}).values():
            alerts += close_missed(track, state.started)[1]
    grace = app.settings.missed_run_grace
    if grace is None:
        return alerts
    candidates = _candidates(scope, poll_state, result, grace, state)
    if candidates:
        alerts += _decide(app, scope, poll_state, candidates, state, grace=grace)
    return alerts


def _candidates(
    scope: Scope, poll_state: PollState, result: SourceResult, grace: timedelta, state: Pass
) -> list[Candidate]:
    """Scheduled instances that are overdue now, or whose missed-run alert is open."""
    from lib.core.missed import MissedRun, scheduled_from
    from lib.core.schedule import ScheduleError, deadline, parse_frequency

    found: list[Candidate] = []
    for inv in result.scheduled:
        if inv.repeat_mode != "Period":
            continue
        try:
            schedule = parse_frequency(inv.frequency or "")
        except ScheduleError as error:
            state.report.notes.append(
                f"missed runs not checked for {inv.invoke_id} in {scope.region}: its Frequency "
                f"{inv.frequency!r} could not be read ({error})"
            )
            continue
        tracks = poll_state.missed.get(inv.invoke_id, {})
        for item in scheduled_from(inv, account=scope.account, region=scope.region):
            track = tracks.get(item.finding.instance_id, MissedRun())
            reference = item.finding.finished_at or item.created
            if track.open:
                found.append((item, schedule, track))
            elif reference is not None and schedule.recurring:
                due = deadline(schedule, reference, grace=grace, created=item.created)
                if due is not None and state.started > due.overdue_at:
                    found.append((item, schedule, track))
    return found


def _decide(
    app: Context,
    scope: Scope,
    poll_state: PollState,
    candidates: list[Candidate],
    state: Pass,
    *,
    grace: timedelta,
) -> list[Alert]:
    from lib.core.fleet import quiet_reason, with_instance
    from lib.core.missed import check_missed

    lookup = instance_lookup(app, state, [item.finding for item, _, _ in candidates])
    alerts: list[Alert] = []
    quiet: dict[str, list[str]] = {}
    for listed, schedule, track in candidates:
        known = lookup(listed.finding)
        reason = quiet_reason(known)
        item = listed.model_copy(update={"finding": with_instance(listed.finding, known)})
        changed, fired, verdict = check_missed(
            track, item, schedule, now=state.started, grace=grace, quiet=reason
        )
        if verdict == "quiet" and reason is not None:
            quiet.setdefault(reason, []).append(item.finding.instance_id)
        if changed != track:
            tracks = poll_state.missed.setdefault(item.finding.invoke_id, {})
            tracks[item.finding.instance_id] = changed
        alerts += fired
    for reason, ids in sorted(quiet.items()):
        state.report.quiet += len(ids)
        state.report.notes.append(
            f"quiet: {reason}: {len(ids)} missed run(s) in {scope.region}, not alarms "
            f"({', '.join(sorted(ids))})"
        )
    return alerts
