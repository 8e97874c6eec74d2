"""Maintenance windows for a pass: hold what a muted route brings; tell it when the window ends.

Held alerts live in one versioned record (``muted``): every pass that could release them reads
it — when some route names a time interval; a routing file without windows costs one read
of it a pass, so what windows held before the file stopped naming them is still told (and
nothing without a routing file). Entries are removed after this pass's claims (a crash in between releases them
again next pass, and the claims say "already told"). lib.core.muting decides.

Alerts waiting in the outbox (an earlier run claimed them; the robot was down, rate limited
or at its budget) are decided by the same rule before the outbox retries them
(:func:`hold_waiting`): held ones stay in the outbox untouched and stand among the held
entries with ``claimed`` set, so the page lists them and the screen releases them when the
window ends (the outbox takes the claim over and sends it, once) or drops them with a resolve
that came inside the window (the claim is confirmed unsent).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from lib.app.context import Context
    from lib.app.run import Pass
    from lib.core.alerts import Alert
    from lib.core.muting import Muted, Screen, Waiting
    from lib.core.routing import TagLookup

__all__ = ["RECORD", "any_held", "hold_muted", "hold_waiting", "load_held"]

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

    assert app.table is not None  # callers check app.table (windows, or entries held)
    held, unreadable = _load(app, state)
    before = {entry.key for entry in held}
    held = _with_waiting(held, state.waiting)
    if held and tags is None:
        tags = tag_lookup(app, state, [entry.alert.finding for entry in held])
    result = screen(alerts, held, list(app.receivers), app.table, state.started, tags=tags)
    report = state.report
    new = [entry for entry in result.hold if entry.key not in before]
    counted = [entry for entry in new if not entry.claimed]  # hold_waiting counted its own
    report.muted += len(counted) + result.skipped - len(result.dropped)
    report.muted_resolved += len(result.dropped)
    if counted:
        ends = sorted({_when(entry.until) for entry in counted})
        report.notes.append(
            f"muted: {len(counted)} alert(s) held by a maintenance window (told when it ends, "
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
        _release(state, result, silenced)
        report.notes.append(
            f"muted: {len(result.released)} held alert(s) told now: their maintenance window "
            "ended while they were open"
        )
    _discard(state, [entry for entry in result.dropped if entry.claimed])
    gone = {e.key for e in (*result.released, *result.dropped, *result.orphans)} | unreadable
    _change(state, add=new, drop=gone)
    return result.tell


def _release(state: Pass, result: Screen, silenced: Callable[[list[Alert]], list[Alert]]) -> None:
    """Held alerts whose window ended: in ``result.tell`` to claim now, except a silence
    added during the window mutes them; those whose claim waits in the outbox are taken
    over from it (sent this pass, once) or, silenced, confirmed unsent."""
    released = {entry.alert.key for entry in result.released}
    claimed = {entry.key: entry for entry in result.released if entry.claimed}
    quiet = {alert.key for alert in silenced([e.alert for e in result.released])}
    adopt: dict[str, list[Alert]] = {}
    for name, items in result.tell.items():
        kept = []
        for alert in items:
            entry = claimed.get(f"{name}|{alert.key}")
            if entry is not None and alert.key not in quiet:
                adopt.setdefault(name, []).append(alert)
            elif entry is None and (alert.key not in quiet or alert.key not in released):
                kept.append(alert)
        result.tell[name] = kept
    _discard(state, [entry for entry in claimed.values() if entry.alert.key in quiet])
    if state.outbox is not None:
        for name, won in state.outbox.adopt(adopt).items():
            state.won.setdefault(name, []).extend(won)


def _discard(state: Pass, entries: list[Muted]) -> None:
    """Confirm unsent the outbox claims of held entries that are not to be told."""
    if not entries or state.outbox is None:
        return
    grouped: dict[str, list[Alert]] = {}
    for entry in entries:
        grouped.setdefault(entry.receiver, []).append(entry.alert)
    state.outbox.discard(grouped)


def hold_waiting(app: Context, state: Pass, alerts: dict[str, list[Alert]]) -> Waiting:
    """The outbox's waiting alerts (receiver → alerts) a maintenance window holds or skips.

    Remembered on the pass (``state.waiting``) for :func:`hold_muted`, which records them
    among the held and releases or drops them; counted here, once, when first held.
    """
    from lib.app.tagging import tag_lookup
    from lib.core.muting import waiting

    assert app.table is not None  # the outbox is given this only with windows
    held, _ = _load(app, None)
    tags = tag_lookup(app, state, [alert.finding for items in alerts.values() for alert in items])
    verdict = waiting(alerts, held, app.table, state.started, tags=tags)
    state.waiting = verdict.hold
    before = {entry.key for entry in held}
    new = [entry for entry in verdict.hold if entry.key not in before]
    state.report.muted += len(new) + len(verdict.skip)
    if new:
        ends = sorted({_when(entry.until) for entry in new})
        state.report.notes.append(
            f"muted: {len(new)} alert(s) waiting in the outbox (an earlier delivery failed) "
            f"held by a maintenance window (told when it ends, {', '.join(ends)}, if still open)"
        )
    return verdict


def _with_waiting(held: list[Muted], waiting: list[Muted]) -> list[Muted]:
    """The held record's entries with the outbox's held claims: one entry per key, marked
    ``claimed`` when its claim waits in the outbox."""
    from dataclasses import replace

    claimed = {entry.key: entry for entry in waiting}
    merged = [replace(entry, claimed=True) if entry.key in claimed else entry for entry in held]
    known = {entry.key for entry in held}
    return merged + [entry for key, entry in claimed.items() if key not in known]


def any_held(app: Context) -> bool:
    """Whether the held record holds anything (one read): a routing file that stopped
    naming windows (maintenance called off) must still release what they held."""
    return bool(app.store.read(RECORD).value.get("held"))


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
                    claimed=raw.get("claimed") is True,
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
            **({"claimed": True} if entry.claimed else {}),
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
