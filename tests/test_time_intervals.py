"""Maintenance-window arithmetic (Alertmanager's time_intervals), checked against a minute-by-
minute reading of the definition: the next window found by jumping agrees with holds() at every
minute, in any zone, across daylight-saving changes and month ends."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from lib.core.timeintervals import TimeInterval, holds, window

ZONES = ["UTC", "Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe"]


@st.composite
def ranges(draw, low: int, high: int, *, most: int = 2):
    out = []
    for _ in range(draw(st.integers(0, most))):
        first = draw(st.integers(low, high))
        out.append((first, draw(st.integers(first, high))))
    return tuple(out)


@st.composite
def day_ranges(draw):
    out = []
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            first = draw(st.integers(1, 31))
            out.append((first, draw(st.integers(first, 31))))
        else:
            first = draw(st.integers(-28, -1))
            out.append((first, draw(st.integers(first, -1))))
    return tuple(out)


@st.composite
def intervals(draw):
    times = []
    for _ in range(draw(st.integers(0, 2))):
        start = draw(st.integers(0, 1439))
        times.append((start, draw(st.integers(start + 1, 1440))))
    return TimeInterval(
        times=tuple(times),
        weekdays=draw(ranges(0, 6)),
        days_of_month=draw(day_ranges()),
        months=draw(ranges(1, 12, most=1)),
        years=draw(ranges(2025, 2028, most=1)),
        location=ZoneInfo(draw(st.sampled_from(ZONES))),
    )


_FIRST = datetime(2026, 1, 1, tzinfo=timezone.utc)
instants = st.integers(0, 2 * 365 * 24 * 3600).map(lambda s: _FIRST + timedelta(seconds=s))


@settings(max_examples=60, deadline=None)
@given(st.lists(intervals(), min_size=1, max_size=2), instants)
def test_the_next_window_agrees_with_every_minute_of_the_definition(named, after):
    found = window(lambda at: holds(named, at), named, after, horizon=timedelta(days=3))
    # Walk the next three days minute by minute, reading the definition itself
    minute = after
    expected_start = None
    while minute <= after + timedelta(days=3):
        if holds(named, minute):
            expected_start = minute
            break
        minute = minute.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if expected_start is None:
        assert found is None
        return
    assert found is not None
    start, end = found
    assert start == expected_start
    # AND it holds through the window and stops at its end
    step = start
    while end is None or step < end:
        assert holds(named, step)
        step = step.replace(second=0, microsecond=0) + timedelta(minutes=1)
        if step > start + timedelta(days=3):
            break
    if end is not None:
        assert not holds(named, end)


@settings(max_examples=200, deadline=None)
@given(intervals(), instants)
def test_an_interval_without_fields_holds_always_and_a_field_only_narrows(interval, at):
    assert holds([TimeInterval(location=interval.location)], at)
    if holds([interval], at):
        for narrower in (
            TimeInterval(times=interval.times, location=interval.location),
            TimeInterval(weekdays=interval.weekdays, location=interval.location),
            TimeInterval(months=interval.months, location=interval.location),
        ):
            assert holds([narrower], at)


def test_sundays_two_to_four_in_shanghai_is_saturday_evening_utc():
    sunday = [
        TimeInterval(times=((120, 240),), weekdays=((0, 0),), location=ZoneInfo("Asia/Shanghai"))
    ]
    found = window(
        lambda at: holds(sunday, at), sunday, datetime(2026, 12, 6, 17, tzinfo=timezone.utc)
    )
    assert found == (
        datetime(2026, 12, 12, 18, tzinfo=timezone.utc),
        datetime(2026, 12, 12, 20, tzinfo=timezone.utc),
    )


def test_the_last_day_of_the_month_counts_from_its_end():
    last = [TimeInterval(days_of_month=((-1, -1),))]
    assert holds(last, datetime(2028, 2, 29, 12, tzinfo=timezone.utc))  # a leap year
    assert not holds(last, datetime(2028, 2, 28, 12, tzinfo=timezone.utc))
    assert holds(last, datetime(2027, 2, 28, 12, tzinfo=timezone.utc))


def test_a_window_on_a_wall_time_skipped_by_daylight_saving_does_not_happen_that_day():
    night = [TimeInterval(times=((120, 180),), location=ZoneInfo("America/New_York"))]
    # 2026-03-08 02:00–03:00 does not exist in New York: the next window is the 9th
    found = window(lambda at: holds(night, at), night, datetime(2026, 3, 8, 5, tzinfo=timezone.utc))
    assert found == (
        datetime(2026, 3, 9, 6, tzinfo=timezone.utc),
        datetime(2026, 3, 9, 7, tzinfo=timezone.utc),
    )


def test_a_window_across_midnight_is_one_window():
    night = [TimeInterval(times=((1320, 1440), (0, 360)))]
    found = window(
        lambda at: holds(night, at), night, datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
    )
    assert found == (
        datetime(2026, 5, 1, 22, tzinfo=timezone.utc),
        datetime(2026, 5, 2, 6, tzinfo=timezone.utc),
    )


def test_years_in_the_past_never_come_again():
    gone = [TimeInterval(years=((2020, 2021),))]
    assert (
        window(lambda at: holds(gone, at), gone, datetime(2026, 1, 1, tzinfo=timezone.utc)) is None
    )
