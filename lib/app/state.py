"""What a pass keeps: records read (afresh when unreadable) and refreshed before they expire;
alerts claimed first, shared records written after, never before."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError

from lib.app.tagging import tag_lookup
from lib.core.routing import route

if TYPE_CHECKING:
    from lib.app.context import Context
    from lib.app.run import Pass
    from lib.core.alerts import Alert
    from lib.core.routing import TagLookup
    from lib.core.silences import Silence
    from lib.state.base import Record

__all__ = ["REFRESH_AFTER", "claim", "due_for_refresh", "load", "move_states", "silenced"]

# State expires 6 weeks + 1 day after its last write (DESIGN): a record that stays open
# (a periodic task's failing streak, an unhealthy agent, a watch) is rewritten before half
# that, so it never expires under an alert that is still open.
REFRESH_AFTER = timedelta(days=21)

_Model = TypeVar("_Model", bound=BaseModel)


def due_for_refresh(written_at: datetime | None, now: datetime) -> bool:
    """True when an open record must be rewritten so it does not expire."""
    return written_at is not None and now - written_at >= REFRESH_AFTER


def load(model: type[_Model], record: Record, name: str, state: Pass) -> _Model:
    """Parse a stored record; an unreadable one starts afresh, said in the report."""
    try:
        return model.model_validate(record.value)
    except ValidationError:
        state.report.errors.append(f"state record {name} was unreadable and starts afresh")
        return model()


def claim(app: Context, state: Pass, *, early: bool = False) -> None:
    """Claim every alert decided so far (for every receiver it is routed to).

    ``early``: a long pass's checkpoint, in one scope (maybe on a fork, beside other scopes'
    threads). It holds what open alerts explain but releases nothing, and keeps resolves for
    the pass's last claim: only there is every scope's held record read with every resolve of
    the pass, so a resolve of a firing still held is never told and a held firing that
    resolved is never released.
    """
    # Maintenance windows: held alerts may be due any pass; so are those held before the
    # routing file stopped naming windows (one record read a pass while routes name none).
    windows = app.table is not None and (app.table.has_windows or _held_left(app))
    if state.outbox is None or not (state.alerts or windows):
        return
    told: list[Alert] = []
    later: list[Alert] = []  # an early claim's resolves, kept for the pass's last claim
    tags: TagLookup | None = None
    if state.alerts:
        from lib.app.inhibiting import hold_inhibited
        from lib.app.instances import with_instances

        later = [alert for alert in state.alerts if early and alert.status == "resolved"]
        if later:
            state.alerts = [alert for alert in state.alerts if alert.status != "resolved"]
        state.alerts = hold_inhibited(
            app, state, with_instances(app, state, state.alerts), release=not early
        )
        told, muted, tags = _screen(app, state.alerts, state)
        if muted:
            reasons = sorted({silence.reason or silence.id for _, silence in muted})
            state.report.notes.append(f"{len(muted)} alert(s) silenced ({'; '.join(reasons)})")
    if windows:
        from lib.app.muting import hold_muted

        routed = hold_muted(app, state, told, tags, lambda alerts: silenced(app, alerts, state))
    else:
        routed = route(told, list(app.receivers), app.table, tags=tags)
    for receiver, won in state.outbox.claim(routed, state.tally).items():
        state.won.setdefault(receiver, []).extend(won)
    state.alerts = later


def _held_left(app: Context) -> bool:
    from lib.app.muting import any_held

    return any_held(app)


def silenced(app: Context, alerts: list[Alert], state: Pass) -> list[Alert]:
    """The alerts a silence mutes now (outbox entries that waited while one was added)."""
    _, muted, _ = _screen(app, alerts, state)
    return [alert for alert, _ in muted]


def _screen(
    app: Context, alerts: list[Alert], state: Pass
) -> tuple[list[Alert], list[tuple[Alert, Silence]], TagLookup | None]:
    """Apply the store's silences now: (to tell, muted with their silence, the tags used)."""
    from lib.core.silences import apply_silences
    from lib.state.silences import list_silences

    now = app.clock().timestamp()
    silences = list_silences(app.store, now)
    tags = tag_lookup(app, state, [alert.finding for alert in alerts], silences)
    told, muted = apply_silences(alerts, silences, now, tags=tags)
    state.report.silenced += len(muted)
    return told, muted, tags


def move_states(app: Context, state: Pass) -> None:
    """After this pass's alerts are claimed, never before: a crash loses nothing.

    Every record is written with a version check; a concurrent run's update is merged,
    never overwritten (lib.state.records).
    """
    from lib.state.records import update_record

    for name, change in state.updates:
        update_record(app.store, name, change, what=name)
