"""``assistwatch check``'s maintenance-window lines: the next window of each named interval,
and what the windows hold now."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any

from lib.edges.cli.preflight import Line

if TYPE_CHECKING:
    from collections.abc import Mapping

    from lib.core.routing import RoutingTable

__all__ = ["held_lines", "window_lines"]


def window_lines(table: RoutingTable, now: datetime | None = None) -> list[Line]:
    """One line per named time interval: open now until when, or its next window.

    Shown in the interval's own zone (the first entry's ``location``) and in UTC; ``warn``
    for an interval no route names, or one that never comes again (its years are past).
    """
    from lib.core.timeintervals import holds, window

    at = now or datetime.now(timezone.utc)
    used = {
        name
        for route in table.routes
        for name in (*route.mute_time_intervals, *route.active_time_intervals)
    }
    lines: list[Line] = []
    for name, intervals in table.time_intervals:
        found = window(partial(holds, intervals), intervals, at)
        zone = next((i.location for i in intervals if i.location is not None), timezone.utc)
        if found is None:
            lines.append(Line("warn", "windows", f"{name}: no window in the next 5 years"))
            continue
        start, end = found
        span = f"{_shown(start, zone)} – {_shown(end, zone) if end else 'no end in 5 years'}"
        if start == at:
            text = f"{name}: open now, until {_shown(end, zone) if end else 'beyond 5 years'}"
        else:
            text = f"{name}: next {span}"
        if name not in used:
            lines.append(Line("warn", "windows", f"{text}; no route names it"))
        else:
            lines.append(Line("ok", "windows", text))
    return lines


def held_lines(value: Mapping[str, Any]) -> list[Line]:
    """One line on what maintenance windows hold now (the ``muted`` record, lib.app.muting):
    how many, for whom, how many wait in the outbox after a failed delivery, and when the
    first is told (if still open then). Nothing when nothing is held."""
    held = value.get("held")
    found = held.values() if isinstance(held, dict) else ()
    entries = [raw for raw in found if isinstance(raw, dict)]
    if not entries:
        return []
    receivers = sorted({str(raw.get("receiver", "?")) for raw in entries})
    text = f"{len(entries)} alert(s) held for {', '.join(receivers)}"
    waiting = sum(1 for raw in entries if raw.get("claimed") is True)
    if waiting:
        text += f" ({waiting} waiting in the outbox: their delivery failed before the window)"
    ends = []
    for raw in entries:
        try:
            ends.append(datetime.fromisoformat(str(raw.get("until"))))
        except ValueError:
            continue
    if ends:
        text += f"; the first told {_shown(min(ends), timezone.utc)} if still open"
    return [Line("ok", "held", text)]


def _shown(at: datetime, zone: object) -> str:
    from datetime import tzinfo

    local = at.astimezone(zone if isinstance(zone, tzinfo) else timezone.utc)
    utc = at.astimezone(timezone.utc)
    label = getattr(zone, "key", None) or "UTC"
    text = f"{local:%a %Y-%m-%d %H:%M} {label}"
    if label != "UTC":
        text += f" ({utc:%Y-%m-%d %H:%M} UTC)"
    return text
