"""Reminders: an alert that stays open is told again every repeat interval. Pure.

Only alerts that can stay open remind: a periodic task's failing streak (open until one of
its executions succeeds) and an unhealthy agent (open until it reports healthy). A one-off
failure is an event: it is told once and never "resolves", so it never reminds.

Each receiver is reminded an interval after it was last told of the firing (its route's
interval: receivers differ), the reminders numbered 1, 2, … per receiver. A watcher that was
down for a day sends one reminder, not a backlog; a route whose interval changes reminds on
the new interval from its last reminder. Each reminder is its own claim in the store, so
overlapping runs send it once; the track remembers the last one claimed per receiver, so a
steady pass with nothing due neither claims nor writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from lib.core.alerts import Alert, Reminded
from lib.core.routing import RoutingTable

__all__ = ["acknowledged", "could_be_due", "due_reminders", "shortest_interval", "superseded"]


def shortest_interval(default: timedelta | None, table: RoutingTable | None) -> timedelta | None:
    """The shortest repeat interval anywhere in the configuration (None: no reminders at all)."""
    candidates = [default]
    if table is not None:
        candidates += [table.repeat_interval, *(route.repeat_interval for route in table.routes)]
    positive = [every for every in candidates if every is not None and every > timedelta(0)]
    return min(positive, default=None)


def could_be_due(
    told_at: datetime, reminded: Mapping[str, Reminded], shortest: timedelta, now: datetime
) -> bool:
    """Whether any receiver's reminder could be due: if not, routing (and tags) can wait.

    Cheap and conservative enough: with several intervals a reminder may wait for the
    next pass past the shortest interval since the track's oldest reminder.
    """
    anchor = min((mark.at for mark in reminded.values()), default=told_at)
    return now - anchor >= shortest


def due_reminders(
    alert: Alert,
    *,
    told_at: datetime,
    intervals: Mapping[str, timedelta],
    reminded: Mapping[str, Reminded],
    now: datetime,
) -> tuple[list[Alert], dict[str, Reminded]]:
    """The reminders of an open firing due now, one per receiver at most.

    Args:
        alert: the open firing (its latest evidence), as first told or newer.
        told_at: when the firing was first told.
        intervals: receiver → its route's repeat interval (receivers without one are absent).
        reminded: receiver → the last reminder claimed for this firing (number, when).
        now: the pass's clock.

    Returns:
        The reminder alerts (each for one receiver) and the updated ``reminded``.
    """
    reminders: list[Alert] = []
    marks = dict(reminded)
    for receiver, every in sorted(intervals.items()):
        last = marks.get(receiver)
        since = last.at if last is not None else told_at
        if every <= timedelta(0) or now - since < every:
            continue
        number = (last.number if last is not None else 0) + 1
        marks[receiver] = Reminded(number=number, at=now)
        reason = f"still open since {told_at.isoformat()}: reminder {number} (every {every})"
        reminders.append(
            alert.model_copy(update={"reminder": number, "receiver": receiver, "reason": reason})
        )
    return reminders, marks


def superseded(alerts: Sequence[Alert]) -> tuple[list[Alert], list[Alert]]:
    """Split one receiver's waiting alerts into (to send, superseded).

    Of several reminders of one firing that waited (a receiver down for hours) only the newest
    is worth sending; none once the firing's resolve waits beside them.
    """
    newest: dict[tuple[str, int], int] = {}
    resolved: set[tuple[str, int]] = set()
    for alert in alerts:
        firing = (alert.fingerprint, alert.firing)
        if alert.status == "resolved":
            resolved.add(firing)
        elif alert.reminder:
            newest[firing] = max(newest.get(firing, 0), alert.reminder)
    send: list[Alert] = []
    stale: list[Alert] = []
    for alert in alerts:
        firing = (alert.fingerprint, alert.firing)
        old = alert.reminder > 0 and (firing in resolved or alert.reminder < newest[firing])
        (stale if old else send).append(alert)
    return send, stale


def acknowledged(alert: Alert, acks: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether someone acknowledged ``alert``'s firing from a link: no more reminders of it.

    ``acks``: fingerprint → the acknowledged firing; ``g:<group>`` → a whole cause,
    acknowledged at ``at`` (every firing of it open then).
    """
    if acks.get(alert.fingerprint, {}).get("firing") == alert.firing:
        return True
    cause = acks.get(f"g:{alert.group}")
    return cause is not None and float(cause.get("at", 0)) >= alert.starts_at.timestamp()
