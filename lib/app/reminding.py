"""Reminders: alerts that stay open (failing periodic streaks, unhealthy agents) told again."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from lib.app.tagging import tag_lookup
from lib.core.alerts import AgentTrack, PeriodicTrack

if TYPE_CHECKING:
    from lib.app.context import Context
    from lib.app.run import Pass
    from lib.core.alerts import Alert

__all__ = ["acknowledged_reminders", "remind", "remind_periodic"]

_Track = TypeVar("_Track", PeriodicTrack, AgentTrack)


def remind_periodic(
    app: Context, periodic: dict[str, dict[str, PeriodicTrack]], state: Pass
) -> list[Alert]:
    """Reminders of the failing streaks still open; their tracks updated in place."""
    reminders: list[Alert] = []
    for tracks in periodic.values():
        reminders += remind(app, tracks, state)
    return reminders


def _unacknowledged(app: Context, opened: dict[str, Alert], state: Pass) -> dict[str, Alert]:
    """Drop the firings someone acknowledged from a message's link (no more reminders)."""
    if not opened:
        return opened
    from lib.core.reminders import acknowledged
    from lib.state.actions import RECORD
    from lib.state.actions import acknowledged as acks_in

    acks = acks_in(app.store.read(RECORD).value)
    kept = {key: alert for key, alert in opened.items() if not acknowledged(alert, acks)}
    state.report.acknowledged += len(opened) - len(kept)
    return kept


def acknowledged_reminders(app: Context, alerts: list[Alert], state: Pass) -> list[Alert]:
    """The reminders among ``alerts`` (waiting in the outbox) whose firing someone
    acknowledged since they were claimed: not sent, counted as acknowledged."""
    reminders = [alert for alert in alerts if alert.reminder]
    if not reminders:
        return []
    from lib.core.reminders import acknowledged
    from lib.state.actions import RECORD
    from lib.state.actions import acknowledged as acks_in

    acks = acks_in(app.store.read(RECORD).value)
    found = [alert for alert in reminders if acknowledged(alert, acks)]
    state.report.acknowledged += len(found)
    return found


def remind(app: Context, tracks: dict[str, _Track], state: Pass) -> list[Alert]:
    """The reminders due for open tracks (periodic streaks, agents); tracks updated in place."""
    if app.shortest_reminder is None:
        return []
    from lib.core.reminders import could_be_due, due_reminders
    from lib.core.routing import repeat_intervals

    opened = {
        key: alert
        for key, track in tracks.items()
        if (alert := track.open_alert(state.started)) is not None
        and could_be_due(
            track.told_at or alert.starts_at, track.reminded, app.shortest_reminder, state.started
        )
    }
    opened = _unacknowledged(app, opened, state)
    if not opened:
        return []

    tags = tag_lookup(app, state, [alert.finding for alert in opened.values()])
    reminders: list[Alert] = []
    for key, alert in opened.items():
        track = tracks[key]
        intervals = repeat_intervals(
            alert,
            list(app.receivers),
            app.table,
            default=app.settings.repeat_interval,
            tags=tags,
        )
        due, reminded = due_reminders(
            alert,
            told_at=track.told_at or alert.starts_at,
            intervals=intervals,
            reminded=track.reminded,
            now=state.started,
        )
        if reminded != track.reminded:
            tracks[key] = track.model_copy(update={"reminded": reminded})
        reminders += due
    state.report.reminders += len(reminders)
    return reminders
