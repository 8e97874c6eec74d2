"""The routing file's ``time_intervals`` (Alertmanager's), read into :mod:`lib.core.timeintervals`.

Each entry's fields are Alertmanager's, with its parser's rules (prometheus/alertmanager
``timeinterval/timeinterval.go``): ``times`` of ``start_time``/``end_time`` in ``HH:MM``
(``24:00`` allowed as an end, start before end), ``weekdays`` by name with ``first:last``
ranges (``monday:friday``), ``days_of_month`` 1..31 or -31..-1 (``-7:-1``: the last week; a
negative start needs a negative end), ``months`` by name or 1..12, ``years`` (``2026:2027``),
and ``location`` an IANA zone name (UTC by default). Names are read case-insensitively.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lib.core.timeintervals import MONTHS, WEEKDAYS, TimeInterval

__all__ = ["NamedInterval"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_TIME = re.compile(r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")


def _minutes(text: str) -> int:
    if not _TIME.match(text):
        raise ValueError(f"{text!r} is not a time of day (HH:MM, 00:00 to 24:00)")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _range(text: Any, member: Any, what: str) -> tuple[int, int]:
    raw = str(text).strip().lower()
    parts = raw.split(":")  # "-7:-1": a minus is not a colon
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"{text!r} is not a {what} or a range first:last")
    first, last = member(parts[0]), member(parts[-1])
    return first, last


class _Times(Strict):
    start_time: str
    end_time: str

    @field_validator("start_time", "end_time", mode="before")
    @classmethod
    def _sexagesimal(cls, value: Any) -> Any:
        # YAML 1.1 (PyYAML) reads an unquoted 10:00 as the base-60 number 600: minutes.
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return f"{value // 60:02d}:{value % 60:02d}"
        return value

    def build(self) -> tuple[int, int]:
        start, end = _minutes(self.start_time), _minutes(self.end_time)
        if start >= end:
            raise ValueError(
                f"start_time {self.start_time} is not before end_time {self.end_time} "
                "(a window across midnight is two ranges: 22:00-24:00 and 00:00-06:00)"
            )
        return start, end


def _weekday(text: str) -> int:
    if text not in WEEKDAYS:
        raise ValueError(f"{text!r} is not a weekday (sunday … saturday)")
    return WEEKDAYS.index(text)


def _month(text: str) -> int:
    if text in MONTHS:
        return MONTHS.index(text) + 1
    if text.isdigit() and 1 <= int(text) <= 12:
        return int(text)
    raise ValueError(f"{text!r} is not a month (january … december, or 1 … 12){_QUOTE}")


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a {what}") from None


_QUOTE = " (quote ranges, '1:7': unquoted, YAML reads 1:7 as the number 67)"


class _Interval(Strict):
    times: list[_Times] = Field(default_factory=list)
    weekdays: list[str | int] = Field(default_factory=list)
    days_of_month: list[str | int] = Field(default_factory=list)
    months: list[str | int] = Field(default_factory=list)
    years: list[str | int] = Field(default_factory=list)
    location: str | None = None

    @field_validator("times")
    @classmethod
    def _times(cls, value: list[_Times]) -> list[_Times]:
        for item in value:
            item.build()
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[str | int]) -> list[str | int]:
        for item in value:
            first, last = _range(item, _weekday, "weekday")
            if first > last:
                raise ValueError(f"{item}: the first weekday is after the last (sunday is first)")
        return value

    @field_validator("days_of_month")
    @classmethod
    def _days(cls, value: list[str | int]) -> list[str | int]:
        for item in value:
            first, last = _range(item, lambda t: _int(t, "day of the month"), "day of the month")
            for day in (first, last):
                if day == 0 or not -31 <= day <= 31:
                    hint = _QUOTE if isinstance(item, int) else ""
                    raise ValueError(f"{day} is not a day of the month (1 … 31, or -31 … -1){hint}")
            if first < 0 < last:
                raise ValueError(f"{item}: a negative first day needs a negative last day")
            if (28 + first if first < 0 else first) > (28 + last if last < 0 else last):
                raise ValueError(f"{item}: the last day is always before the first")
        return value

    @field_validator("months")
    @classmethod
    def _months(cls, value: list[str | int]) -> list[str | int]:
        for item in value:
            first, last = _range(item, _month, "month")
            if first > last:
                raise ValueError(f"{item}: the last month is before the first")
        return value

    @field_validator("years")
    @classmethod
    def _years(cls, value: list[str | int]) -> list[str | int]:
        for item in value:
            first, last = _range(item, lambda t: _int(t, "year"), "year")
            if first < 1 or first > last:
                raise ValueError(f"{item}: years are positive, the first not after the last")
        return value

    @field_validator("location")
    @classmethod
    def _location(cls, value: str | None) -> str | None:
        if value is not None:
            _zone(value)
        return value

    def build(self) -> TimeInterval:
        def ranges(items: list[str | int], member: Any, what: str) -> tuple[tuple[int, int], ...]:
            return tuple(_range(item, member, what) for item in items)

        return TimeInterval(
            times=tuple(item.build() for item in self.times),
            weekdays=ranges(self.weekdays, _weekday, "weekday"),
            days_of_month=ranges(self.days_of_month, lambda t: _int(t, "day"), "day"),
            months=ranges(self.months, _month, "month"),
            years=ranges(self.years, lambda t: _int(t, "year"), "year"),
            location=_zone(self.location) if self.location else None,
        )


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if name.lower() == "local":
        raise ValueError(
            "'Local' is the server's zone (UTC on FC): name the zone, e.g. Asia/Shanghai"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Asia/Shanghai, UTC)") from None


class NamedInterval(Strict):
    """One ``time_intervals`` entry of the routing file: a name and its intervals."""

    name: str
    time_intervals: list[_Interval]

    def build(self) -> tuple[str, tuple[TimeInterval, ...]]:
        return self.name, tuple(item.build() for item in self.time_intervals)
