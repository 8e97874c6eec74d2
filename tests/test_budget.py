"""A robot's 20-a-minute budget and its pause, shared by every run through the state store."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from lib.core.budget import Limit, available, pause, spend
from lib.state.budget import Budget
from lib.state.file import FileStore
from tests.factories import Clock

PER_MINUTE = (Limit(20, 60.0),)
FEISHU = (Limit(100, 60.0), Limit(5, 1.0))


@given(st.lists(st.floats(min_value=0, max_value=300), max_size=60), st.floats(0, 400))
def test_never_more_than_the_limit_in_any_window(times: list[float], now: float) -> None:
    """GIVEN any history of sends WHEN as many as allowed are spent now
    THEN the last minute holds at most 20 sends."""
    value = spend({}, 0.0, 0, PER_MINUTE)
    for moment in sorted(times):
        if available(value, moment, PER_MINUTE) > 0:
            value = spend(value, moment, 1, PER_MINUTE)
    later = max([now, *times])
    allowed = available(value, later, PER_MINUTE)
    value = spend(value, later, allowed, PER_MINUTE)
    assert sum(1 for t in value["sent"] if later - t < 60.0) <= 20
    assert available(value, later, PER_MINUTE) == 0


def test_both_feishu_limits_apply_five_a_second_and_a_hundred_a_minute() -> None:
    """GIVEN 5 sends this second WHEN asked THEN none more this second, 5 the next."""
    value = spend({}, 10.0, 5, FEISHU)
    assert available(value, 10.5, FEISHU) == 0
    assert available(value, 11.0, FEISHU) == 5


def test_a_pause_is_never_shortened_and_ends_on_time() -> None:
    """GIVEN a 600 s pause WHEN a 60 s pause follows THEN the robot stays paused 600 s."""
    value = pause(pause({}, 100.0, 600.0), 110.0, 60.0)
    assert available(value, 699.0, PER_MINUTE) == 0
    assert available(value, 700.0, PER_MINUTE) == 20


def test_two_runs_share_one_budget_through_the_store(tmp_path: Path) -> None:
    """GIVEN two runs (two stores over the same state) WHEN each takes 15 slots
    THEN 20 are granted in all, and a minute later there is room again."""
    clock = Clock(1_000_000.0)
    first = Budget(FileStore(tmp_path), "robot", PER_MINUTE, clock=clock)
    second = Budget(FileStore(tmp_path), "robot", PER_MINUTE, clock=clock)
    granted = sum(first.acquire() for _ in range(15)) + sum(second.acquire() for _ in range(15))
    assert granted == 20
    clock.now += 60.0
    assert second.available() == 20


def test_concurrent_runs_never_overrun_the_robot(tmp_path: Path) -> None:
    """GIVEN six threads, each its own store over the same state, racing for slots
    WHEN each asks ten times THEN exactly 20 slots are granted."""
    clock = Clock(1_000_000.0)

    def race(_: int) -> int:
        budget = Budget(FileStore(tmp_path), "robot", PER_MINUTE, clock=clock)
        return sum(budget.acquire() for _ in range(10))

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert sum(pool.map(race, range(6))) == 20


def test_a_pause_reaches_every_run(tmp_path: Path) -> None:
    """GIVEN one run pauses the robot for 600 s WHEN another run asks 5 minutes later
    THEN it may send nothing; 10 minutes later it may."""
    clock = Clock(1_000_000.0)
    Budget(FileStore(tmp_path), "robot", PER_MINUTE, clock=clock).pause(600.0)
    other = Budget(FileStore(tmp_path), "robot", PER_MINUTE, clock=clock)
    clock.now += 300.0
    assert not other.acquire()
    clock.now += 300.0
    assert other.acquire()
