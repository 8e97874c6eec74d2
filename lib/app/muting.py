"""Maintenance windows for a pass: hold what a muted route brings; tell it when the window ends.

Held alerts live in one versioned record (``muted``): every pass that could release them reads
it — only when some route names a time interval, so a routing file without windows costs
nothing. Entries are removed after this pass's claims (a crash in between releases them
again next pass, and the claims say "already told"). lib.core.muting decides.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from lib.app.context import Context
    from lib.app.run import Pass
    from lib.core.alerts import Alert
    from lib.core.muting import Muted
    from lib.core.routing import TagLookup

__all__ = ["RECORD", "hold_muted", "load_held"]

RECORD = "muted"


def hold_muted(
    app: Context,
    state: Pass,
    alerts: list[Alert],
    tags: TagLookup | None,
    silenced: Callable[[list[Alert]], list[Alert]],
) -> dict[str, list[Alert]]:
    """Receiver → the alerts to claim now; the rest are held (or dropped) and counted.

    ``silenced``: those of the given alerts a silence mutes now (applied to what waited).
    """
    from lib.app.tagging import tag_lookup
    from lib.core.muting import screen

    assert app.table is not None  # callers check app.table.has_windows
    held, unreadable = _load(app, state)
    before = {entry.key for entry in held}
    if held and tags is None:
        tags = tag_lookup(app, state, [entry.alert.finding for entry in held])
    result = screen(alerts, held, list(app.receivers), app.table, state.started, tags=tags)
    report = state.report
    new = [entry for entry in result.hold if entry.key not in before]
    report.muted += len(new) + result.skipped - len(result.dropped)
    report.muted_resolved += len(result.dropped)
    if new:
        ends = sorted({_when(entry.until) for entry in new})
        report.notes.append(
            f"muted: {len(new)} alert(s) held by a maintenance window (told when it ends, "
            f"{', '.join(ends)}, if still open)"
        )
    if result.dropped:
        report.notes.append(
            f"muted: {len(result.dropped)} held alert(s) resolved inside their maintenance "
            "window: dropped, never told"
        )
    for entry in result.orphans:
        report.errors.append(
            f"an alert held by a maintenance window is for receiver {entry.receiver!r}, which "
            "is no longer configured; dropped"
        )
    if result.released:
        released = {entry.alert.key for entry in result.released}
        # A silence added during the window still applies to what waited.
        quiet = {alert.key for alert in silenced([e.alert for e in result.released])}
        for name, items in result.tell.items():
            result.tell[name] = [a for a in items if a.key not in quiet or a.key not in released]
        report.notes.append(
            f"muted: {len(result.released)} held alert(s) told now: their maintenance window "
            "ended while they were open"
        )
    gone = {e.key for e in (*result.released, *result.dropped, *result.orphans)} | unreadable
    _change(state, add=new, drop=gone)
    return result.tell


def load_held(app: Context) -> list[Muted]:
    """The alerts maintenance windows hold now (unreadable entries left out)."""
    return _load(app, None)[0]


def _load(app: Context, state: Pass | None) -> tuple[list[Muted], set[str]]:
    """Held entries, and the keys of unreadable ones (said in the report, then removed)."""
    from lib.core.alerts import Alert
    from lib.core.muting import Muted

    value = app.store.read(RECORD).value
    out: list[Muted] = []
    bad: set[str] = set()
    for key, raw in dict(value.get("held", {})).items():
        try:
            until = raw.get("until")
            out.append(
                Muted(
                    Alert.model_validate(raw["alert"]),
                    str(raw["receiver"]),
                    datetime.fromisoformat(until) if until else None,
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            bad.add(key)
            if state is not None:
                state.report.errors.append(
                    f"state record {RECORD}: held alert {key} was unreadable; removed"
                )
    return out, bad


def _when(until: datetime | None) -> str:
    return until.isoformat(timespec="minutes") if until is not None else "not within 5 years"


def _change(state: Pass, *, add: list[Muted], drop: set[str]) -> None:
    if not add and not drop:
        return
    added = {
        entry.key: {
            "alert": entry.alert.model_dump(mode="json"),
            "receiver": entry.receiver,
            "until": entry.until.isoformat() if entry.until is not None else None,
        }
        for entry in add
    }
    stamp = state.started.isoformat()

    def change(current: dict[str, Any]) -> dict[str, Any] | None:
        held = {k: v for k, v in dict(current.get("held", {})).items() if k not in drop}
        held.update(added)
        if held == current.get("held", {}):
            return None
        return {"held": held, "written_at": stamp}

    state.updates.append((RECORD, change))
