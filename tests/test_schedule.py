"""RunCommand Frequency arithmetic: properties against a brute-force clock, and the examples
the RunCommand reference gives."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.core.schedule import ScheduleError, deadline, parse_frequency

UTC = timezone.utc
moments = st.datetimes(
    min_value=datetime(2024, 1, 1),  # noqa: DTZ001 (hypothesis bounds are naive)
    max_value=datetime(2030, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


def brute_next(seconds: set[int], minutes: set[int], hours: set[int], after: datetime) -> datetime:
    """The first second after ``after`` whose fields are in the sets, found by walking minutes."""
    minute = after.replace(second=0, microsecond=0)
    for _ in range(60 * 49):
        if minute.hour in hours and minute.minute in minutes:
            for s in sorted(seconds):
                candidate = minute.replace(second=s)
                if candidate > after:
                    return candidate
        minute += timedelta(minutes=1)
    raise AssertionError("no fire within two days")


def spec(values: set[int]) -> str:
    return ",".join(str(v) for v in sorted(values))


@settings(max_examples=60, deadline=None)
@given(
    seconds=st.sets(st.integers(0, 59), min_size=1, max_size=4),
    minutes=st.sets(st.integers(0, 59), min_size=1, max_size=4),
    hours=st.sets(st.integers(0, 23), min_size=1, max_size=3),
    after=moments,
)
def test_a_cron_fires_at_the_first_matching_second_after_any_moment(seconds, minutes, hours, after):
    cron = parse_frequency(f"{spec(seconds)} {spec(minutes)} {spec(hours)} * * ? UTC")
    assert cron.next_after(after) == brute_next(seconds, minutes, hours, after)


@settings(max_examples=40, deadline=None)
@given(start=st.integers(0, 59), step=st.integers(1, 30), hour=st.integers(0, 23), after=moments)
def test_steps_and_ranges_mean_what_quartz_says(start, step, hour, after):
    minutes = set(range(start, 60, step))
    cron = parse_frequency(f"0 {start}/{step} {hour}-{hour} * * ? UTC")
    assert cron.next_after(after) == brute_next({0}, minutes, {hour}, after)


@settings(max_examples=40, deadline=None)
@given(after=moments, hour=st.integers(0, 23))
def test_a_zone_name_and_its_gmt_offset_fire_at_the_same_instants(after, hour):
    named = parse_frequency(f"0 30 {hour} * * ? Asia/Shanghai")
    offset = parse_frequency(f"0 30 {hour} * * ? GMT+8:00")
    assert named.next_after(after) == offset.next_after(after)
    fired = named.next_after(after)
    assert fired is not None
    assert fired.astimezone(timezone(timedelta(hours=8))).hour == hour


@settings(max_examples=60, deadline=None)
@given(
    created=moments,
    later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    amount=st.integers(1, 500),
    unit=st.sampled_from("smhd"),
)
def test_a_rate_runs_on_multiples_of_its_interval_from_creation(created, later, amount, unit):
    every = timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: amount})
    rate = parse_frequency(f"rate({amount}{unit})")
    moment = created + later
    fired = rate.next_after(moment, created=created)
    assert fired is not None
    assert moment < fired <= moment + every
    assert (fired - created) % every == timedelta(0)
    assert fired - created >= every  # the first run is one interval after creation


@settings(max_examples=40, deadline=None)
@given(last=moments, minutes=st.integers(1, 600), grace=st.integers(0, 30))
def test_a_rate_is_overdue_two_intervals_and_the_grace_after_its_last_run(last, minutes, grace):
    found = deadline(parse_frequency(f"rate({minutes}m)"), last, grace=timedelta(minutes=grace))
    assert found is not None
    assert found.next_due == last + timedelta(minutes=minutes)
    assert found.overdue_at == last + timedelta(minutes=2 * minutes + grace)
    assert not found.widened


@settings(max_examples=25, deadline=None)
@given(
    last=moments,
    hour=st.integers(0, 23),
    offset=st.sampled_from(["GMT-12:00", "GMT-9:30", "UTC", "GMT+5:45", "GMT+8:00", "GMT+14:00"]),
)
def test_a_cron_on_the_instance_clock_is_never_overdue_before_it_is_on_any_clock(
    last, hour, offset
):
    # Whatever zone the instance runs in, the alarm without a zone never comes earlier.
    unknown = deadline(parse_frequency(f"0 0 {hour} * * ?"), last, grace=timedelta(minutes=10))
    known = deadline(
        parse_frequency(f"0 0 {hour} * * ? {offset}"), last, grace=timedelta(minutes=10)
    )
    assert unknown is not None
    assert known is not None
    assert unknown.widened
    assert unknown.overdue_at >= known.overdue_at
    assert unknown.overdue_at - known.overdue_at <= timedelta(hours=27)  # widened, not unbounded


@settings(max_examples=40, deadline=None)
@given(year=st.integers(2024, 2030), month=st.integers(1, 12))
def test_last_day_and_nth_weekday_of_a_month(year, month):
    start = datetime(year, month, 1, tzinfo=UTC) - timedelta(seconds=1)
    last_day = calendar.monthrange(year, month)[1]
    fired = parse_frequency("0 0 0 L * ? UTC").next_after(start)
    assert fired == datetime(year, month, last_day, tzinfo=UTC)
    third_friday = parse_frequency("0 0 0 ? * 6#3 UTC").next_after(start)
    assert third_friday is not None
    assert third_friday.weekday() == 4
    assert 15 <= third_friday.day <= 21
    last_friday = parse_frequency("0 0 0 ? * 6L UTC").next_after(start)
    assert last_friday is not None
    assert last_friday.weekday() == 4
    assert last_friday.day + 7 > last_day
    weekday = parse_frequency("0 0 0 LW * ? UTC").next_after(start)
    assert weekday is not None
    assert weekday.weekday() < 5
    assert weekday.month == month


def test_the_reference_examples_read_as_documented():
    # RunCommand's Frequency examples (alibabacloud_ecs20140526 RunCommandRequest).
    at = parse_frequency("at(2022-06-06 13:15:30 Asia/Shanghai)")
    assert at.once == datetime(2022, 6, 6, 5, 15, 30, tzinfo=UTC)
    assert not at.recurring
    assert deadline(at, datetime(2022, 6, 1, tzinfo=UTC), grace=timedelta(0)) is None
    assert parse_frequency("at(2022-06-06 13:15:30 GMT-7:00)").once == datetime(
        2022, 6, 6, 20, 15, 30, tzinfo=UTC
    )
    in_2022 = parse_frequency("0 15 10 ? * * 2022 Asia/Shanghai")
    assert in_2022.next_after(datetime(2022, 3, 1, tzinfo=UTC)) == datetime(
        2022, 3, 1, 2, 15, tzinfo=UTC
    )
    assert in_2022.next_after(datetime(2023, 1, 1, tzinfo=UTC)) is None  # its year is over
    half_hourly = parse_frequency("0 0/30 10-11 * * ? 2022 GMT+8:00")
    assert half_hourly.next_after(datetime(2022, 5, 1, 2, 0, tzinfo=UTC)) == datetime(
        2022, 5, 1, 2, 30, tzinfo=UTC
    )
    every_other_october = parse_frequency("0 0/5 14 * 10 ? 2022/2 UTC")
    assert every_other_october.next_after(datetime(2023, 1, 1, tzinfo=UTC)) == datetime(
        2024, 10, 1, 14, 0, tzinfo=UTC
    )
    assert parse_frequency("rate(5m)").every == timedelta(minutes=5)
    assert parse_frequency("0 0 2 * * ?").on_instance_clock
    assert not parse_frequency("0 0 2 * * ? UTC").on_instance_clock


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty Frequency"),
        ("rate(5x)", "cannot read"),
        ("rate(0m)", "cannot read"),
        ("at(2022-13-45 10:00:00)", "not a date and time"),
        ("0 0 2 * *", "has 5 fields"),
        ("0 61 2 * * ?", "minutes: 61 is outside 0-59"),
        ("0 0 2 ? * ?", "cannot both be '?'"),
        ("0 0 5-2 * * ?", "runs backwards"),
        ("0 0 2 * * ? Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("0 0/ 2 * * ?", "empty step"),
    ],
)
def test_a_frequency_it_cannot_read_is_named_with_what_is_wrong(text, says):
    with pytest.raises(ScheduleError, match=says.replace("?", r"\?").replace("(", r"\(")):
        parse_frequency(text)
