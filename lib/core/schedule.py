"""When a periodic Cloud Assistant task is due: RunCommand's ``Frequency``, parsed and stepped.

Pure arithmetic, no I/O. The grammar (RunCommand/InvokeCommand ``Frequency``, as the official
SDK ``alibabacloud_ecs20140526`` documents it):

- ``rate(<n><s|m|h|d>)``: every n seconds/minutes/hours/days, counted from the task's creation
  (not from each run's end); the first run is one interval after creation.
- ``at(yyyy-MM-dd HH:mm:ss [<time zone>])``: once; UTC when no zone is given.
- ``<seconds> <minutes> <hours> <day of month> <month> <day of week> [<year>] [<time zone>]``:
  a Quartz-style cron. Without a zone it runs on the *instance's* clock, which the API does
  not tell us: :func:`deadline` then takes the latest time any UTC offset could make it.

Time zones: an IANA name (``Asia/Shanghai``), ``GMT+8:00`` / ``GMT-7:00``, or ``UTC``.

Cron fields: ``*``, ``?`` (day fields), values, ranges ``a-b``, steps ``a/b`` ``a-b/c``
``*/c``, lists; month names JAN–DEC; day-of-week 1–7 with 1 = Sunday or SUN–SAT; ``L``, ``W``,
``LW``, ``L-n`` in day of month; ``L``, ``nL`` and ``n#k`` in day of week; years 1970–2099.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "UTC_OFFSETS",
    "Deadline",
    "Schedule",
    "ScheduleError",
    "deadline",
    "parse_frequency",
]

_FRACTIONAL: tuple[tuple[int, int], ...] = ((-9, 30), (-3, 30), (3, 30), (4, 30), (5, 30))
_FRACTIONAL += ((5, 45), (6, 30), (8, 45), (9, 30), (10, 30), (12, 45))
# Every UTC offset in use (whole hours −12…+14 and the fractional ones): a cron without a zone
# runs on one of these, we do not know which.
UTC_OFFSETS: tuple[timedelta, ...] = tuple(
    sorted(
        {timedelta(hours=h) for h in range(-12, 15)}
        | {
            timedelta(hours=h, minutes=m) if h >= 0 else -timedelta(hours=-h, minutes=m)
            for h, m in _FRACTIONAL
        }
    )
)
_HORIZON_YEARS = 5  # a cron with no fire within this is treated as done (e.g. a past year)


class ScheduleError(ValueError):
    """A Frequency this module cannot read; the message names what is wrong."""


# -- time zones --------------------------------------------------------------------------------

_GMT = re.compile(r"^GMT([+-])([1-9]|1[0-4]|0)(?::([0-5][0-9]))?$")


def _zone(text: str) -> tzinfo:
    if text.upper() == "UTC":
        return timezone.utc
    gmt = _GMT.match(text)
    if gmt:
        sign, hours, minutes = gmt.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes or 0))
        return timezone(-offset if sign == "-" else offset)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {text!r}") from None


# -- cron fields --------------------------------------------------------------------------------

_MONTHS = {name: n for n, name in enumerate(calendar.month_abbr) if name}
_MONTHS = {k.upper(): v for k, v in _MONTHS.items()}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


def _number(text: str, names: dict[str, int], low: int, high: int, what: str) -> int:
    value = names.get(text.upper()) if names else None
    if value is None:
        if not text.isdigit():
            raise ScheduleError(f"{what}: {text!r} is not a number")
        value = int(text)
    if not low <= value <= high:
        raise ScheduleError(f"{what}: {value} is outside {low}-{high}")
    return value


def _values(
    spec: str, low: int, high: int, what: str, names: dict[str, int] | None = None
) -> frozenset[int] | None:
    """A plain field → its values (None: any)."""
    if spec in ("*", "?"):
        return None
    out: set[int] = set()
    for part in spec.split(","):
        if not part:
            raise ScheduleError(f"{what}: empty list item in {spec!r}")
        base, slash, step_text = part.partition("/")
        if slash and not step_text:
            raise ScheduleError(f"{what}: empty step in {part!r}")
        step = _number(step_text, {}, 1, high, what) if step_text else 1
        if base in ("*", ""):
            first, last = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = (
                _number(a, names or {}, low, high, what),
                _number(b, names or {}, low, high, what),
            )
            if first > last:
                raise ScheduleError(f"{what}: range {base!r} runs backwards")
        else:
            first = _number(base, names or {}, low, high, what)
            last = high if step_text else first
        out.update(range(first, last + 1, step))
    return frozenset(out)


def _last_weekday(day: date) -> date:
    while day.weekday() >= 5:  # Saturday, Sunday
        day -= timedelta(days=1)
    return day


def _nearest_weekday(year: int, month: int, dom: int) -> int | None:
    days = calendar.monthrange(year, month)[1]
    if dom > days:
        return None
    day = date(year, month, dom)
    if day.weekday() == 5:  # Saturday → Friday, unless that leaves the month
        return dom - 1 if dom > 1 else dom + 2
    if day.weekday() == 6:  # Sunday → Monday, unless that leaves the month
        return dom + 1 if dom < days else dom - 2
    return dom


def _quartz_dow(day: date) -> int:
    return (day.weekday() + 1) % 7 + 1  # Monday 0 → 2 … Sunday 6 → 1


DayRule = Callable[[date], bool]


def _dom_rule(spec: str) -> DayRule | None:
    what = "day of month"
    if spec in ("*", "?"):
        return None
    upper = spec.upper()
    if upper == "L":
        return lambda d: d.day == calendar.monthrange(d.year, d.month)[1]
    if upper == "LW":
        return lambda d: (
            d == _last_weekday(date(d.year, d.month, calendar.monthrange(d.year, d.month)[1]))
        )
    if upper.startswith("L-"):
        back = _number(upper[2:], {}, 0, 30, what)
        return lambda d: d.day == calendar.monthrange(d.year, d.month)[1] - back
    if upper.endswith("W"):
        dom = _number(upper[:-1], {}, 1, 31, what)
        return lambda d: _nearest_weekday(d.year, d.month, dom) == d.day
    values = _values(spec, 1, 31, what)
    assert values is not None
    return lambda d: d.day in values


def _dow_rule(spec: str) -> DayRule | None:
    what = "day of week"
    if spec in ("*", "?"):
        return None
    upper = spec.upper()
    if "#" in upper:
        a, _, b = upper.partition("#")
        dow, nth = _number(a, _DAYS, 1, 7, what), _number(b, {}, 1, 5, what)
        return lambda d: _quartz_dow(d) == dow and (d.day - 1) // 7 + 1 == nth
    if upper == "L":
        return lambda d: _quartz_dow(d) == 7
    if upper.endswith("L"):
        dow = _number(upper[:-1], _DAYS, 1, 7, what)
        return lambda d: (
            _quartz_dow(d) == dow and d.day + 7 > calendar.monthrange(d.year, d.month)[1]
        )
    values = _values(spec, 1, 7, what, _DAYS)
    assert values is not None
    return lambda d: _quartz_dow(d) in values


@dataclass(frozen=True)
class _Cron:
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int] | None
    years: frozenset[int] | None
    day_rules: tuple[DayRule, ...]

    def day_ok(self, day: date) -> bool:
        if self.months is not None and day.month not in self.months:
            return False
        if self.years is not None and day.year not in self.years:
            return False
        return all(rule(day) for rule in self.day_rules)

    def first_time_after(self, after: time | None) -> time | None:
        """The first (h, m, s) of a day strictly after ``after`` (None: the day's first)."""
        for h in self.hours:
            if after is not None and h < after.hour:
                continue
            for m in self.minutes:
                if after is not None and h == after.hour and m < after.minute:
                    continue
                for s in self.seconds:
                    candidate = time(h, m, s)
                    if after is None or candidate > after:
                        return candidate
        return None

    def next_local(self, after: datetime) -> datetime | None:
        """The first fire strictly after the naive local time ``after``."""
        day = after.date()
        limit = date(min(after.year + _HORIZON_YEARS, 9999), 12, 31)
        # Whole seconds: a fire at 10:00:00 is not after 10:00:00.5, nor is one at 10:00:00.
        at: time | None = after.time().replace(microsecond=0)
        while day <= limit:
            if self.years is not None and day.year > max(self.years):
                return None
            if self.day_ok(day):
                found = self.first_time_after(at)
                if found is not None:
                    return datetime.combine(day, found)
            day += timedelta(days=1)
            at = None
        return None


def _cron(fields: Sequence[str]) -> _Cron:
    sec, minute, hour, dom, month, dow = fields[:6]
    year = fields[6] if len(fields) == 7 else "*"
    if dom == "?" and dow == "?":
        raise ScheduleError("day of month and day of week cannot both be '?'")
    rules = tuple(r for r in (_dom_rule(dom), _dow_rule(dow)) if r is not None)
    return _Cron(
        seconds=tuple(sorted(_values(sec, 0, 59, "seconds") or range(60))),
        minutes=tuple(sorted(_values(minute, 0, 59, "minutes") or range(60))),
        hours=tuple(sorted(_values(hour, 0, 23, "hours") or range(24))),
        months=_values(month, 1, 12, "month", _MONTHS),
        years=_values(year, 1970, 2099, "year"),
        day_rules=rules,
    )


# -- the schedule -------------------------------------------------------------------------------

_RATE = re.compile(r"^rate\(\s*([1-9][0-9]*)\s*([smhd])\s*\)$", re.IGNORECASE)
_AT = re.compile(r"^at\(\s*(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\s+(\S+))?\s*\)$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class Schedule:
    """A parsed Frequency. ``zone`` None on a cron: the instance's own clock (unknown)."""

    text: str
    kind: Literal["rate", "at", "cron"]
    every: timedelta | None = None  # rate
    once: datetime | None = None  # at (aware)
    zone: tzinfo | None = None  # cron
    cron: _Cron | None = field(default=None, repr=False)

    @property
    def recurring(self) -> bool:
        """A task that runs again by itself (rate, cron): one that can miss a run."""
        return self.kind != "at"

    @property
    def on_instance_clock(self) -> bool:
        """A cron without a time zone: it runs on the instance's clock, which we do not know."""
        return self.kind == "cron" and self.zone is None

    def next_after(
        self, moment: datetime, *, created: datetime | None = None, zone: tzinfo | None = None
    ) -> datetime | None:
        """The first scheduled run strictly after ``moment`` (aware, UTC), None if none.

        ``created`` anchors a rate (runs at created + k × every); ``zone`` stands in for the
        instance's clock on a cron without one (UTC if not given).
        """
        if self.kind == "rate":
            assert self.every is not None
            if created is None:
                return moment + self.every
            if moment < created:  # the first run is one interval after creation
                return created + self.every
            return created + ((moment - created) // self.every + 1) * self.every
        if self.kind == "at":
            assert self.once is not None
            return self.once if self.once > moment else None
        assert self.cron is not None
        where = self.zone or zone or timezone.utc
        local = moment.astimezone(where).replace(tzinfo=None)
        while True:
            found = self.cron.next_local(local)
            if found is None:
                return None
            aware = found.replace(tzinfo=where).astimezone(timezone.utc)
            if aware > moment:  # a DST jump can map a local time back before ``moment``
                return aware
            local = found


@lru_cache(maxsize=512)
def parse_frequency(text: str) -> Schedule:
    """Parse a RunCommand ``Frequency``; raise :class:`ScheduleError` naming the problem."""
    raw = " ".join(text.split())
    if not raw:
        raise ScheduleError("empty Frequency")
    rate = _RATE.match(raw)
    if rate:
        amount, unit = int(rate.group(1)), rate.group(2).lower()
        return Schedule(raw, "rate", every=timedelta(**{_UNITS[unit]: amount}))
    at = _AT.match(raw)
    if at:
        where = _zone(at.group(2)) if at.group(2) else timezone.utc
        try:
            once = datetime.strptime(at.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=where)
        except ValueError:
            raise ScheduleError(f"at(): {at.group(1)!r} is not a date and time") from None
        return Schedule(raw, "at", once=once.astimezone(timezone.utc))
    if raw.lower().startswith(("rate(", "at(")):
        raise ScheduleError(
            f"cannot read {raw!r} (rate(<n><s|m|h|d>) or at(yyyy-MM-dd HH:mm:ss [zone]))"
        )
    tokens = raw.split(" ")
    zone: tzinfo | None = None
    # Seven or eight tokens whose last has letters: a zone (a year is digits, `*`, `-`, `/`).
    if len(tokens) in (7, 8) and re.search(r"[A-Za-z]", tokens[-1]):
        zone = _zone(tokens[-1])
        tokens = tokens[:-1]
    if len(tokens) not in (6, 7):
        raise ScheduleError(
            f"cron {raw!r} has {len(tokens)} fields; expected seconds minutes hours "
            "day-of-month month day-of-week [year] [time zone]"
        )
    return Schedule(raw, "cron", zone=zone, cron=_cron(tokens))


# -- the dead-man's switch ----------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    """When a periodic task's instance is overdue: ``runs`` scheduled runs plus a grace passed."""

    next_due: datetime  # the first run that should have followed the last one
    overdue_at: datetime  # after this, with no new run, the instance missed its runs
    widened: bool = False  # a cron on the instance's clock: the latest any UTC offset allows


def deadline(
    schedule: Schedule,
    last: datetime,
    *,
    grace: timedelta,
    created: datetime | None = None,
    runs: int = 2,
) -> Deadline | None:
    """When an instance whose last run ended at ``last`` is overdue (None: never — ``at()``,
    or a cron with no run left).

    ``runs`` scheduled runs after ``last`` must have come and gone, plus ``grace``. For a cron
    without a time zone the runs are taken on every UTC offset and the latest is kept, so a
    task on an instance in any zone is never called missed early (the grace is widened by the
    spread of time zones, at most a day and a half for a daily task).
    """
    if not schedule.recurring:
        return None
    if schedule.kind == "cron":
        # Stepping a cron (up to 38 clocks without a zone) is cached per minute, rounded up
        # so never earlier: a fleet's instances of one task end their runs within a minute or so.
        ceil = last.replace(second=0, microsecond=0)
        ceil += timedelta(minutes=1) if ceil < last else timedelta(0)
        return _deadline_cached(schedule, ceil, grace, created, runs)
    return _deadline(schedule, last, grace, created, runs)


@lru_cache(maxsize=4096)
def _deadline_cached(
    schedule: Schedule, last: datetime, grace: timedelta, created: datetime | None, runs: int
) -> Deadline | None:
    return _deadline(schedule, last, grace, created, runs)


def _deadline(
    schedule: Schedule, last: datetime, grace: timedelta, created: datetime | None, runs: int
) -> Deadline | None:
    zones: Sequence[tzinfo | None] = (
        [timezone(offset) for offset in UTC_OFFSETS] if schedule.on_instance_clock else [None]
    )
    latest_first: datetime | None = None
    latest_nth: datetime | None = None
    for zone in zones:
        moment: datetime | None = last
        first: datetime | None = None
        for _ in range(runs):
            assert moment is not None
            moment = schedule.next_after(moment, created=created, zone=zone)
            if moment is None:
                break
            first = first or moment
        if moment is None or first is None:
            continue  # no run left on this clock
        latest_first = max(latest_first or first, first)
        latest_nth = max(latest_nth or moment, moment)
    if latest_first is None or latest_nth is None:
        return None
    return Deadline(latest_first, latest_nth + grace, widened=schedule.on_instance_clock)
