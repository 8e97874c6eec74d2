"""Alertmanager's ``time_intervals``: when a named interval holds, and its next window. Pure.

Semantics as Alertmanager's ``timeinterval.ContainsTime`` (prometheus/alertmanager,
``timeinterval/timeinterval.go``): an instant is in a :class:`TimeInterval` when, read in the
interval's ``location`` (an IANA zone, UTC by default), its minute of the day is in one of
``times`` (``start_time`` inclusive, ``end_time`` exclusive; ``24:00`` ends a day), its day of
the month in one of ``days_of_month`` (inclusive; negative counts from the month's end, -1
the last day; clamped to the month, a range that starts past the month's end is skipped),
its month in ``months``, its weekday in ``weekdays`` and its year in ``years`` (all
inclusive ranges). An empty field does not restrict. A named interval is a list of them:
it holds when any does.

:func:`window` finds the next window (start, end) of a set of intervals: it jumps from one
possible change to the next — a ``times`` boundary, a local midnight, a month or a year, or
the zone's change of offset (found by bisection) — so a year ahead costs a few thousand
steps at most, and every answer agrees with :func:`holds` minute by minute (a property test,
tests/test_time_intervals.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo

__all__ = [
    "HORIZON",
    "MONTHS",
    "WEEKDAYS",
    "TimeInterval",
    "holds",
    "next_change",
    "window",
]

# Alertmanager's names (lower case; its parser lowercases what it reads). Weekdays 0 = Sunday.
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
HORIZON = timedelta(days=366 * 5)  # how far ahead a next window is looked for
_MINUTE = timedelta(minutes=1)
_DAY_MINUTES = 1440


@dataclass(frozen=True)
class TimeInterval:
    """One entry of a named interval's ``time_intervals`` list, parsed.

    ``times`` are (start, end) minutes of the day, end exclusive, start < end ≤ 1440;
    ``weekdays`` are (first, last) with 0 = Sunday; ``days_of_month`` may be negative; all
    ranges inclusive. ``location`` is a tzinfo (zoneinfo) — UTC when None.
    """

    times: tuple[tuple[int, int], ...] = ()
    weekdays: tuple[tuple[int, int], ...] = ()
    days_of_month: tuple[tuple[int, int], ...] = ()
    months: tuple[tuple[int, int], ...] = ()
    years: tuple[tuple[int, int], ...] = ()
    location: tzinfo | None = None

    @property
    def zone(self) -> tzinfo:
        return self.location or timezone.utc


def _days_in_month(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _day_of_month_in(day: date, ranges: Sequence[tuple[int, int]]) -> bool:
    length = _days_in_month(day.year, day.month)
    for begin, end in ranges:
        first = length + begin + 1 if begin < 0 else begin
        last = length + end + 1 if end < 0 else end
        if first > length:  # as Alertmanager: a range starting past the month's end skips
            continue
        first = min(max(first, -length), length)
        last = min(max(last, -length), length)
        if first <= day.day <= last:
            return True
    return False


def _in(value: int, ranges: Sequence[tuple[int, int]]) -> bool:
    return any(first <= value <= last for first, last in ranges)


def _day_holds(interval: TimeInterval, day: date) -> bool:
    """Whether the local date passes the day-level fields (all but ``times``)."""
    if interval.years and not _in(day.year, interval.years):
        return False
    if interval.months and not _in(day.month, interval.months):
        return False
    if interval.days_of_month and not _day_of_month_in(day, interval.days_of_month):
        return False
    weekday = (day.weekday() + 1) % 7  # Python: Monday 0; Alertmanager: Sunday 0
    return not (interval.weekdays and not _in(weekday, interval.weekdays))


def _contains(interval: TimeInterval, at: datetime) -> bool:
    local = at.astimezone(interval.zone)
    if interval.times:
        minute = local.hour * 60 + local.minute
        if not any(start <= minute < end for start, end in interval.times):
            return False
    return _day_holds(interval, local.date())


def holds(intervals: Iterable[TimeInterval], at: datetime) -> bool:
    """Whether ``at`` (timezone-aware) is in any of ``intervals`` (a named interval)."""
    return any(_contains(interval, at) for interval in intervals)


def _local(day: date, minute: int, zone: tzinfo) -> datetime:
    """The instant of local ``day`` at ``minute`` (1440: the next midnight), as UTC."""
    if minute >= _DAY_MINUTES:
        day, minute = day + timedelta(days=1), 0
    wall = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    return wall.astimezone(timezone.utc)


def _skip_to(interval: TimeInterval, local: datetime) -> date | None:
    """The first local date after ``local``'s that may pass, when a year or month cannot."""
    day = local.date()
    if interval.years and not _in(day.year, interval.years):
        later = [first for first, _ in interval.years if first > day.year]
        return date(min(later), 1, 1) if later else None
    if interval.months and not _in(day.month, interval.months):
        return date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return day + timedelta(days=1)


def _offset(zone: tzinfo, at: datetime) -> timedelta | None:
    return at.astimezone(zone).utcoffset()


def _first_new_offset(zone: tzinfo, after: datetime, until: datetime) -> datetime:
    """The first whole minute in (after, until] whose offset differs from ``after``'s."""
    before = _offset(zone, after)
    low, high = 0, max(1, int((until - after) / _MINUTE))
    while low + 1 < high:
        middle = (low + high) // 2
        if _offset(zone, after + middle * _MINUTE) == before:
            low = middle
        else:
            high = middle
    return after + high * _MINUTE


def _next_change_of(interval: TimeInterval, at: datetime) -> datetime | None:
    """An instant after ``at`` such that whether ``interval`` holds is the same in between."""
    zone = interval.zone
    local = at.astimezone(zone)
    if not _day_holds(interval, local.date()):
        day = _skip_to(interval, local)
        if day is None:
            return None
        candidate = _local(day, 0, zone)
    else:
        minute = local.hour * 60 + local.minute
        marks = [m for pair in interval.times for m in pair if m > minute]
        candidate = _local(local.date(), min(marks, default=_DAY_MINUTES), zone)
    floor = at.replace(second=0, microsecond=0) + _MINUTE
    candidate = max(candidate, floor)
    if _offset(zone, candidate) != _offset(zone, at):  # DST: the wall clock jumped between
        candidate = min(
            candidate, _first_new_offset(zone, at.replace(second=0, microsecond=0), candidate)
        )
        candidate = max(candidate, floor)
    return candidate


def next_change(intervals: Iterable[TimeInterval], at: datetime) -> datetime | None:
    """The next instant after ``at`` where any of ``intervals`` may start or stop holding."""
    changes = [c for i in intervals if (c := _next_change_of(i, at)) is not None]
    return min(changes, default=None)


def window(
    holding: Callable[[datetime], bool],
    intervals: Sequence[TimeInterval],
    after: datetime,
    *,
    horizon: timedelta = HORIZON,
) -> tuple[datetime, datetime | None] | None:
    """The first window of ``holding`` at or after ``after``: (start, end).

    ``holding`` is a predicate built only from ``intervals`` (e.g. "muted": a mute interval
    holds, or no active interval does). ``end`` is None when the window does not end within
    ``horizon`` of its start; the whole answer is None when no window starts within it.
    """
    limit = after + horizon
    start: datetime | None = after
    while start is not None and start <= limit and not holding(start):
        start = next_change(intervals, start)
    if start is None or start > limit:
        return None
    end: datetime | None = start
    limit = start + horizon
    while end is not None and end <= limit and holding(end):
        end = next_change(intervals, end)
    if end is None or end > limit:
        return start, None
    return start, end
