"""A flood of watched invocations never stops the timer from telling (issue #12, item 1).

A watch request carries at most 100 ids, a region's list at most 10,000, and a poll asks
about watches only while its deadline allows — oldest first, going on next time from a
cursor kept in the watch list — so the poll's own findings are always claimed and sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from lib.app import Invocation
from lib.core.triggers import Poll, Watch, parse_event
from lib.core.watches import MAX_IDS_PER_REQUEST, MAX_WATCHED, WatchList, record_name
from lib.state.records import update_record
from lib.support.errors import BadInput
from tests.chaos import CREDENTIALS, EXPECTED, World
from tests.fakes.dataset import eflo_command, eflo_invoke_id, node_id, run

WATCHED = 5_000
EFLO_ASKS = ("DescribeInvocations", "DescribeSendFileResults")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World.start(tmp_path / "state")
    world.env.update({"ASSISTWATCH_EFLO_ENDPOINT": world.cloud.url, "ASSISTWATCH_API_QPS": "10"})
    yield world
    world.stop()


def watch_training_jobs(world: World, count: int) -> list[str]:
    """``count`` Lingjun jobs still running, watched by earlier requests; their ids in the
    order polls ask about them (oldest request first)."""
    ids = [eflo_invoke_id(f"train-{n}") for n in range(count)]
    started = world.now - timedelta(minutes=30)
    world.cloud.dataset.add(
        *(
            eflo_command(
                created=started,
                name="train.sh",
                invoke=invoke_id,
                nodes=[run(node_id(f"gpu-{n}"), "Running")],
            )
            for n, invoke_id in enumerate(ids)
        )
    )
    watches = WatchList()
    for n in range(0, count, MAX_IDS_PER_REQUEST):  # one request each, a second apart
        batch = ids[n : n + MAX_IDS_PER_REQUEST]
        watches = watches.add(batch, "command", started + timedelta(seconds=n))
    store = world.store()
    name = record_name("self", "eflo", "cn-hangzhou")
    update_record(store, name, lambda _: watches.model_dump(mode="json"), what=name)
    return [invoke_id for _, invoke_id in watches.in_turn()]  # oldest request first


def timer_poll(world: World, request_id: str, *, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    """One timer invocation of a function whose timeout is ``timeout`` seconds."""
    world.cloud.reset_calls()
    invocation = Invocation(request_id, CREDENTIALS, timeout_seconds=timeout)
    report = world.app().run(Poll(origin="timer"), invocation)
    asked = [p["InvokeId"] for a, p in world.cloud.calls if a in EFLO_ASKS and "InvokeId" in p]
    return report, asked


def test_a_watch_list_of_5000_ids_does_not_stop_the_timer_from_telling_a_failed_deploy(world):
    # GIVEN 5,000 Lingjun training jobs watched (still running), and the demo's 8 failures
    ids = watch_training_jobs(world, WATCHED)
    # WHEN the timer fires in a function with a 10-second timeout, API at 10 qps
    report, asked = timer_poll(world, "timer-1")
    # THEN the run told every failure of its own poll, in this run
    assert report.ok, report.errors
    assert set(world.people.told) == EXPECTED
    # AND it asked about the oldest watches only as far as its deadline allowed, and said so
    assert 0 < len(asked) < WATCHED
    assert asked == ids[: len(asked)]
    assert any(f"of {WATCHED} watched eflo invocation(s)" in note for note in report.notes)
    # WHEN the next poll runs THEN it goes on where the first stopped
    world.now += timedelta(minutes=1)
    report, later = timer_poll(world, "timer-2")
    assert report.ok, report.errors
    assert later
    assert later[0] == ids[len(asked)]
    assert not set(later) & set(asked)


def test_a_failed_job_deep_in_a_long_watch_list_is_told_when_its_turn_comes(world):
    # GIVEN 5,000 watched jobs, and a first poll that got through part of them
    ids = watch_training_jobs(world, WATCHED)
    _, asked = timer_poll(world, "timer-1")
    before = len(world.people.told)
    # WHEN the job right after where it stopped fails
    failing = ids[len(asked)]
    with world.cloud.dataset.lock:
        job = next(c for c in world.cloud.dataset.eflo_commands if c.invoke_id == failing)
        node = job.instances[0]
        node.status, node.error_code, node.exit_code = "Failed", "ExitCodeNonzero", 137
        node.finish_time = node.update_time = world.now
    world.now += timedelta(minutes=1)
    report, _ = timer_poll(world, "timer-2")
    # THEN the next poll tells it and forgets it
    assert report.ok, report.errors
    told = world.people.told[before:]
    assert [(t[0], t[1]) for t in told] == [(failing, node.instance_id)]
    stored = WatchList.model_validate(
        world.store().read(record_name("self", "eflo", "cn-hangzhou")).value
    )
    assert failing not in stored.items
    assert len(stored.items) == WATCHED - 1


def test_a_watch_request_over_the_cap_is_refused_in_one_line():
    event = {
        "action": "watch",
        "provider": "eflo",
        "region": "cn-hangzhou",
        "invokeIds": [f"t-bj0{n:012d}" for n in range(150)],
    }
    with pytest.raises(BadInput) as refused:
        parse_event(event)
    assert str(refused.value) == (
        "watch has 150 invokeIds; at most 100 a request (send several requests)"
    )


def test_a_watch_that_would_overflow_the_list_is_refused_and_stores_nothing(world):
    # GIVEN a region whose watch list is full
    ids = [f"t-bj0{n:012d}" for n in range(MAX_WATCHED)]
    full = WatchList()
    for n in range(0, MAX_WATCHED, 1000):
        full = full.add(ids[n : n + 1000], "command", world.now)
    name = record_name("self", "eflo", "cn-hangzhou")
    store = world.store()
    update_record(store, name, lambda _: full.model_dump(mode="json"), what=name)
    # WHEN one more id is asked to be watched
    request = Watch("eflo", "cn-hangzhou", ("t-bj0extra0000001",), "command")
    report = world.app().run(request, Invocation("watch-1", CREDENTIALS, timeout_seconds=10))
    # THEN the run fails with one line saying why, and the list is as it was
    assert not report.ok
    assert len(report.errors) == 1
    assert "over the 10,000" in report.errors[0]
    stored = WatchList.model_validate(world.store().read(name).value)
    assert set(stored.items) == set(ids)


def test_a_watch_request_asks_about_its_own_ids_not_the_whole_list(world):
    # GIVEN 5,000 jobs already watched
    watch_training_jobs(world, WATCHED)
    mine = eflo_invoke_id("my-job")
    world.cloud.dataset.add(
        eflo_command(
            created=world.now, name="eval.sh", invoke=mine, nodes=[run(node_id("x"), "Running")]
        )
    )
    world.cloud.reset_calls()
    request = Watch("eflo", "cn-hangzhou", (mine,), "command")
    report = world.app().run(request, Invocation("watch-1", CREDENTIALS, timeout_seconds=10))
    assert report.ok, report.errors
    asked = [p["InvokeId"] for a, p in world.cloud.calls if a in EFLO_ASKS and "InvokeId" in p]
    assert asked == [mine]
