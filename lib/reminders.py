"""Reminders: an alert that stays open is told again every repeat interval. Pure.

Only alerts that can stay open remind: a periodic task's failing streak (open until one of
its executions succeeds) and an unhealthy agent (open until it reports healthy). A one-off
failure is an event: it is told once and never "resolves", so it never reminds.

Reminder N of a firing is due ``N × interval`` after the pass that told it, per receiver
(each route has its own interval). A watcher that was down for a day sends one reminder, the
latest, not a backlog. Each reminder is its own claim in the store, so overlapping runs send
it once; the track remembers the last one claimed per receiver, so a steady pass with nothing
due neither claims nor writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from lib.alerts import Alert

__all__ = ["due_reminders"]


def due_reminders(
    alert: Alert,
    *,
    told_at: datetime,
    intervals: Mapping[str, timedelta],
    reminded: Mapping[str, int],
    now: datetime,
) -> tuple[list[Alert], dict[str, int]]:
    """The reminders of an open firing due now, one per receiver at most.

    Args:
        alert: the open firing (its latest evidence), as first told or newer.
        told_at: when the firing was first told; reminders count from here.
        intervals: receiver → its route's repeat interval (receivers without one are absent).
        reminded: receiver → the last reminder number already claimed for this firing.
        now: the pass's clock.

    Returns:
        The reminder alerts (each for one receiver) and the updated ``reminded``.
    """
    reminders: list[Alert] = []
    counts = dict(reminded)
    for receiver, every in sorted(intervals.items()):
        if every <= timedelta(0):
            continue
        number = int((now - told_at) / every)
        if number < 1 or number <= counts.get(receiver, 0):
            continue
        counts[receiver] = number
        reason = f"still open since {told_at.isoformat()}: reminder {number} (every {every})"
        reminders.append(
            alert.model_copy(update={"reminder": number, "receiver": receiver, "reason": reason})
        )
    return reminders, counts
