"""Maintenance windows on routes (Alertmanager's ``mute_time_intervals`` and
``active_time_intervals``): who is told now, and what waits for its window to end. Pure.

A route is **muted** at an instant when one of its ``mute_time_intervals`` holds then, or when
it names ``active_time_intervals`` and none of them holds. As in Alertmanager the route still
takes the alert (routing does not change); only the telling waits. Unlike Alertmanager's,
nothing is lost by muting: an alert a muted route brings to a receiver is **held** for that
receiver, and told when the route is no longer muted, if it is still open:

- a held firing whose resolve comes while the route is still muted (the resolve's ``ends_at``
  falls in the window) is dropped with its resolve: nobody heard it start, and it is over;
- a held firing that resolves after its window ended is told, then its resolve;
- a resolve of a firing told before the window waits for the window's end too;
- reminders are not held (the firing was told, or is held): a muted reminder is skipped.

Alerts an earlier run claimed but could not deliver (the robot down, 429, 130101, its budget
full) wait in the outbox. Their retry is decided here too (:func:`waiting`), by the same rule
as a new alert: held while the route is muted — the claim stays in the outbox, untouched, and
a :class:`Muted` entry with ``claimed`` set stands for it among the held — skipped when it is
a muted reminder, sent otherwise. From then on :func:`screen` decides it like any held alert
(told at the window's end, or dropped with a resolve that came inside the window).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from lib.core.alerts import Alert
from lib.core.routing import Route, RoutingTable, TagLookup, routes_by_receiver
from lib.core.timeintervals import TimeInterval, holds, window

__all__ = ["Muted", "Screen", "Waiting", "muted", "screen", "unmuted_at", "waiting"]


@dataclass(frozen=True)
class Muted:
    """An alert held for one receiver while its route is muted; ``until``: the window's end
    when it was held (None: beyond the horizon), for people and the report only."""

    alert: Alert
    receiver: str
    until: datetime | None = None
    claimed: bool = False  # its claim waits in the outbox (an earlier delivery failed)

    @property
    def key(self) -> str:
        return f"{self.receiver}|{self.alert.key}"


@dataclass
class Screen:
    """What a pass does with its alerts and the held ones, per receiver."""

    tell: dict[str, list[Alert]] = field(default_factory=dict)
    hold: list[Muted] = field(default_factory=list)  # held now (new or still)
    released: list[Muted] = field(default_factory=list)  # held before, told now
    dropped: list[Muted] = field(default_factory=list)  # held firings resolved while muted
    skipped: int = 0  # muted reminders, and resolves dropped with their held firing
    orphans: list[Muted] = field(default_factory=list)  # held for a receiver now unconfigured


def _named(table: RoutingTable, names: Sequence[str]) -> list[tuple[TimeInterval, ...]]:
    known = dict(table.time_intervals)
    return [known.get(name, ()) for name in names]


def muted(route: Route, table: RoutingTable, at: datetime) -> bool:
    """Whether ``route`` is muted at ``at`` (see the module doc)."""
    if any(holds(named, at) for named in _named(table, route.mute_time_intervals)):
        return True
    active = _named(table, route.active_time_intervals)
    return bool(active) and not any(holds(named, at) for named in active)


def unmuted_at(route: Route, table: RoutingTable, at: datetime) -> datetime | None:
    """When ``route``, muted at ``at``, is next unmuted (None: not within the horizon)."""
    intervals = [
        interval
        for named in _named(table, (*route.mute_time_intervals, *route.active_time_intervals))
        for interval in named
    ]
    found = window(lambda instant: muted(route, table, instant), intervals, at)
    return found[1] if found is not None else None


def screen(
    alerts: Sequence[Alert],
    held: Sequence[Muted],
    receivers: Sequence[str],
    table: RoutingTable,
    now: datetime,
    *,
    tags: TagLookup | None = None,
) -> Screen:
    """Split this pass's ``alerts`` and the ``held`` ones into told now, held, dropped."""
    out = Screen(tell={name: [] for name in receivers})
    waiting = _held_firings(out, held)
    ends = _Ends(table, now)
    settled: set[str] = set()  # held keys decided with this pass's alerts
    late: list[tuple[str, Alert]] = []  # resolves told after the firing they follow
    for alert in alerts:
        for receiver, chosen in routes_by_receiver(alert, receivers, table, tags).items():
            firing = waiting.get((receiver, alert.fingerprint, alert.firing))
            if alert.status == "resolved" and firing is not None and not alert.reminder:
                settled.add(firing.key)
                if muted(chosen, table, alert.ends_at or now):
                    out.dropped.append(firing)
                    out.skipped += 1
                else:  # it outlived its window: told, then its resolve
                    out.released.append(firing)
                    late.append((receiver, alert))
            else:
                _place(out, alert, receiver, chosen, ends, held_firing=firing is not None)
    for entry in held:
        if entry.key not in settled and entry.receiver in out.tell:
            _recheck(out, entry, ends, tags)
    for entry in out.released:
        note = f"{entry.alert.reason} (held by a maintenance window)"
        out.tell[entry.receiver].insert(0, entry.alert.model_copy(update={"reason": note}))
    for receiver, alert in late:
        out.tell[receiver].append(alert)
    return out


def _held_firings(out: Screen, held: Sequence[Muted]) -> dict[tuple[str, str, int], Muted]:
    """(receiver, fingerprint, firing) → its held firing; entries for gone receivers set aside."""
    waiting: dict[tuple[str, str, int], Muted] = {}
    for entry in held:
        if entry.receiver not in out.tell:
            out.orphans.append(entry)
        elif entry.alert.status == "firing":
            waiting[entry.receiver, entry.alert.fingerprint, entry.alert.firing] = entry
    return waiting


class _Ends:
    """Whether a route is muted now, and when that ends: computed once per route a pass."""

    def __init__(self, table: RoutingTable, now: datetime) -> None:
        self.table, self.now = table, now
        self._until: dict[Route, datetime | None] = {}
        self._muted: dict[Route, bool] = {}

    def muted(self, route: Route) -> bool:
        if route not in self._muted:
            self._muted[route] = muted(route, self.table, self.now)
        return self._muted[route]

    def until(self, route: Route) -> datetime | None:
        if route not in self._until:
            self._until[route] = unmuted_at(route, self.table, self.now)
        return self._until[route]


def _verdict(alert: Alert, chosen: Route, ends: _Ends, *, held_firing: bool) -> str:
    """ "tell", "hold" or (a reminder while muted, or of a held firing) "skip"."""
    if alert.reminder and (held_firing or ends.muted(chosen)):
        return "skip"
    if not alert.reminder and ends.muted(chosen):
        return "hold"
    return "tell"


def _place(
    out: Screen, alert: Alert, receiver: str, chosen: Route, ends: _Ends, *, held_firing: bool
) -> None:
    """A new alert for ``receiver``: told, held, or (a reminder while muted) skipped."""
    verdict = _verdict(alert, chosen, ends, held_firing=held_firing)
    if verdict == "skip":
        out.skipped += 1
    elif verdict == "hold":
        out.hold.append(Muted(alert, receiver, ends.until(chosen)))
    else:
        out.tell[receiver].append(alert)


@dataclass
class Waiting:
    """What becomes of the outbox's waiting alerts (claimed by an earlier run, unsent)."""

    hold: list[Muted] = field(default_factory=list)  # left in the outbox, ``claimed`` set
    skip: list[Muted] = field(default_factory=list)  # muted reminders: confirmed, never sent

    def keys(self) -> tuple[set[str], set[str]]:
        """(held, skipped) as :attr:`Muted.key` values."""
        return {entry.key for entry in self.hold}, {entry.key for entry in self.skip}


def waiting(
    alerts: Mapping[str, Sequence[Alert]],
    held: Sequence[Muted],
    table: RoutingTable,
    now: datetime,
    *,
    tags: TagLookup | None = None,
) -> Waiting:
    """Decide the outbox's waiting ``alerts`` (receiver → alerts) as new ones are decided.

    One already among the ``held`` stays held: :func:`screen` releases it this pass or
    drops it with its resolve, as it does every held alert. One whose receiver no route
    brings it to any more is sent (not lost).
    """
    out = Waiting()
    known = {entry.key: entry for entry in held}
    firings = {
        (entry.receiver, entry.alert.fingerprint, entry.alert.firing)
        for entry in held
        if entry.alert.status == "firing"
    }
    ends = _Ends(table, now)
    for receiver, items in alerts.items():
        for alert in items:
            entry = known.get(Muted(alert, receiver).key)
            if entry is not None:
                out.hold.append(replace(entry, claimed=True))
                continue
            chosen = routes_by_receiver(alert, [receiver], table, tags).get(receiver)
            if chosen is None:
                continue
            held_firing = (receiver, alert.fingerprint, alert.firing) in firings
            verdict = _verdict(alert, chosen, ends, held_firing=held_firing)
            if verdict == "hold":
                out.hold.append(Muted(alert, receiver, ends.until(chosen), claimed=True))
            elif verdict == "skip":
                out.skip.append(Muted(alert, receiver))
    return out


def _recheck(out: Screen, entry: Muted, ends: _Ends, tags: TagLookup | None) -> None:
    """A held alert nothing new decided: still held while its route is muted, else told."""
    found = routes_by_receiver(entry.alert, [entry.receiver], ends.table, tags)
    chosen = found.get(entry.receiver)
    if chosen is not None and ends.muted(chosen):
        out.hold.append(entry)
    else:  # its window ended (or no route brings it any more: still told, not lost)
        out.released.append(entry)


def by_receiver(entries: Sequence[Muted]) -> Mapping[str, list[Alert]]:
    """Held entries grouped by receiver (for notes and tests)."""
    grouped: dict[str, list[Alert]] = {}
    for entry in entries:
        grouped.setdefault(entry.receiver, []).append(entry.alert)
    return grouped
