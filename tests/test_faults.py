"""Faults on every side of a pass: nothing is lost, nothing is told twice, one line says why.

Each story runs the real app (signed client, paging, outbox, file store) against the Cloud
Assistant fake and the demo scenario (8 failures to tell), injects one fault, then lets the
faults stop and every lease end (the app's clock moves, nobody sleeps) and runs the timer
again. Three promises are checked every time:

- **no alert lost**: every expected failure reaches the receiver;
- **no duplicate** beyond what the state protocol documents: only a process that died (or
  lost the store) between a send and its confirm may tell that message's alerts twice;
- **one clear log line**: the run's summary line carries the error, and at most one more
  line at warning/error level names the fault (no line per retry, no traceback).

The seams (a wrapping store, receiver and httpx transport) live in :mod:`tests.chaos`.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lib.app import RunReport
from lib.core.triggers import parse_event
from lib.support.errors import (
    ApiTransientError,
    ReceiverRateLimited,
    ReceiverTransientError,
    StateError,
)
from tests.chaos import EXPECTED, Journal, Killed, Outcome, People, World
from tests.fakes.dingtalk import DingTalkFake
from tests.fakes.scenario import EXPECTED_ALERTS, ID_ROLLOUT
from tests.fakes.webhook import WebhookSink

ROBOT_TOKEN = "faults0robot0token00000000000000000000000000000000000000000000"
ROBOT_SECRET = "SECfaults000000000000000000000000000000000000000000000000000000"
WEBHOOK_SECRET = "whsec_ZmF1bHRzLXdlYmhvb2stc2VjcmV0LTAwMDAwMDAw"


BACKENDS = ["file", "oss", "ots"]  # the cloud ones through their real SDKs and fakes


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The file store unless a test asks for ``backend`` (indirect parametrization)."""
    world = World.start(tmp_path / "state", backend=getattr(request, "param", "file"))
    yield world
    world.stop()


def report(outcome: Outcome) -> RunReport:
    """The run's report; fails the test if the run raised instead."""
    assert outcome.report is not None, f"the run raised {outcome.error!r}"
    return outcome.report


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def lines_naming(world: World, text: str) -> list[dict[str, Any]]:
    """Warning/error lines, other than the run summary, whose text contains ``text``."""
    return [
        line
        for line in world.problems()
        if not str(line.get("event", "")).startswith("run finished")
        and text in json.dumps(line, ensure_ascii=False)
    ]


def assert_one_clear_line(world: World, text: str) -> None:
    """The summary names the fault; at most one other line does; no traceback anywhere."""
    summaries = [
        line for line in world.log_lines() if line.get("event") == "run finished with errors"
    ]
    assert summaries, "the failed run logged no summary"
    assert any(text in error for error in summaries[0]["errors"]), summaries[0]["errors"]
    assert len(lines_naming(world, text)) <= 1, lines_naming(world, text)
    assert "Traceback" not in world.logs.getvalue()


def assert_everything_told_once(world: World, *, may_repeat: int = 0) -> None:
    assert world.people.lost() == 0, sorted(EXPECTED - set(world.people.told))
    assert world.people.duplicates() <= may_repeat
    # and nothing was ever sent again once confirmed
    assert world.journal.duplicates()[1] == 0


# --- Cloud Assistant: throttling, 5xx, timeouts, dropped connections, broken JSON ------------


def test_a_short_throttling_burst_is_absorbed_by_retries(world):
    # GIVEN Cloud Assistant throttles the next three calls (fewer than the client's attempts)
    world.cloud.fail_next(3, code="Throttling")
    # WHEN the timer fires
    outcome = world.run()
    # THEN the run succeeds and tells everything once, with no error line
    assert report(outcome).ok
    assert_everything_told_once(world)
    assert world.problems() == []


def test_throttling_absorbed_by_retries_is_said_in_the_run_report(world):
    # GIVEN Cloud Assistant throttles the next three calls
    world.cloud.fail_next(3, code="Throttling")
    # WHEN the timer fires THEN the report's notes say calls were throttled (quota pressure)
    outcome = world.run()
    assert any("throttl" in note.lower() for note in report(outcome).notes)


def inject_api(world: World, fault: str) -> str:
    """Make Cloud Assistant fail every attempt of the next call; return how the error reads."""
    attempts = 4  # the client's attempts per call
    if fault == "throttling":
        world.cloud.fail_next(attempts, code="Throttling.User")
        return "Throttling.User"
    if fault == "5xx":
        world.cloud.fail_next(attempts, code="ServiceUnavailable", status=503)
        return "ServiceUnavailable"
    if fault == "timeout":
        world.transport.inject(port_of(world.cloud.url), "timeout", attempts)
        return "ReadTimeout"
    if fault == "reset":
        world.cloud.drop_connection_next(attempts)
        return "NetworkError"
    world.cloud.garbage_next(1)  # truncated JSON: not retried in-process, FC retries the event
    return "InvalidResponse"


@pytest.mark.parametrize("fault", ["throttling", "5xx", "timeout", "reset", "truncated-json"])
def test_a_cloud_assistant_fault_outlasting_retries_fails_the_run_and_fc_retry_tells_all(
    world, fault
):
    # GIVEN Cloud Assistant fails every attempt of the first call
    named = inject_api(world, fault)
    # WHEN the timer fires
    outcome = world.run(request_id="timer-1")
    # THEN the run raises a retryable error (FC retries the event), tells nobody, says why once
    assert isinstance(outcome.error, ApiTransientError)
    assert outcome.error.retryable
    assert world.people.told == []
    assert_one_clear_line(world, named)
    # WHEN FC retries the same event THEN everything is told, once
    retry = world.run(request_id="timer-1")
    assert report(retry).ok
    assert_everything_told_once(world)


# --- receivers: 5xx, 130101, timeouts, connection resets ----------------------------------


@pytest.fixture
def robot(world: World) -> Iterator[DingTalkFake]:
    # A lambda, not world.now.timestamp: the world's clock moves, the fake must follow it.
    with DingTalkFake(clock=lambda: world.now.timestamp()) as fake:  # noqa: PLW0108
        url = fake.add_robot(ROBOT_TOKEN, secret=ROBOT_SECRET)
        world.env = {"ASSISTWATCH_DINGTALK_URL": url, "ASSISTWATCH_DINGTALK_SECRET": ROBOT_SECRET}
        yield fake


def robot_told(robot: DingTalkFake) -> list[tuple[str, str]]:
    told = []
    for body in robot.received(ROBOT_TOKEN):
        text = body["markdown"]["text"]
        told += [
            (a.invoke_id, a.instance_id)
            for a in EXPECTED_ALERTS
            if a.invoke_id in text and a.instance_id in text
        ]
    return told


@pytest.mark.parametrize(
    ("fault", "named"),
    [
        ("5xx", "HTTP 502"),
        ("timeout", "timed out"),
        ("reset", "RemoteProtocolError"),
        ("refused", "not reached"),
        ("130101", "130101"),
    ],
)
def test_a_robot_that_fails_keeps_every_alert_in_the_outbox_until_it_is_back(
    world, robot, fault, named
):
    # GIVEN the DingTalk robot fails every attempt of the first message
    attempts = 3  # the receiver's in-process attempts
    if fault in ("timeout", "reset"):
        attempts = 1  # may have arrived: never retried in-process (tests/test_late_answers.py)
    if fault == "5xx":
        robot.fail_next(502, attempts)
    elif fault in ("timeout", "reset", "refused"):
        world.transport.inject(port_of(robot.base_url), fault, attempts)
    else:  # the robot throttles: 130101 for ten minutes
        robot.throttle(ROBOT_TOKEN, 600)
    # WHEN the timer fires
    outcome = world.run(world.app(people=False))
    # THEN the run completes (nothing for FC to retry), tells nobody yet, keeps all 8, says why
    assert not report(outcome).ok
    assert outcome.report.deferred == len(EXPECTED)
    assert robot_told(robot) == []
    assert_one_clear_line(world, named)
    if fault == "130101":
        # AND a robot told to slow down is not asked again by the next run (paused for all)
        world.now += timedelta(seconds=60)
        world.run(world.app(people=False))
        assert robot.answers(ROBOT_TOKEN).count(130101) == 1
    # WHEN the robot is back and the pause is over THEN every alert is told, once
    world.now += timedelta(seconds=900)
    world.run(world.app(people=False))
    world.run(world.app(people=False))
    told = robot_told(robot)
    assert sorted(set(told)) == sorted(EXPECTED)
    assert len(told) == len(EXPECTED)


def test_a_webhook_that_answers_5xx_gets_every_alert_once_it_recovers(world):
    with WebhookSink(WEBHOOK_SECRET) as sink:
        world.env = {
            "ASSISTWATCH_WEBHOOK_URL": sink.url,
            "ASSISTWATCH_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
        # GIVEN the webhook answers 503 to every attempt of the first message
        sink.fail_next(503, times=3)
        # WHEN the timer fires THEN nothing is lost: everything waits in the outbox
        first = world.run(world.app(people=False))
        assert report(first).deferred == len(EXPECTED)
        assert_one_clear_line(world, "HTTP 503")
        # WHEN it recovers THEN every alert arrives exactly once
        world.now += timedelta(seconds=900)
        world.run(world.app(people=False))
        world.run(world.app(people=False))
        fingerprints = [alert["fingerprint"] for body in sink.payloads for alert in body["alerts"]]
        assert len(fingerprints) == len(set(fingerprints)) == len(EXPECTED)


@pytest.mark.parametrize(
    "error",
    [
        ReceiverTransientError("people", "HTTP 500"),
        ReceiverRateLimited("people", "130101 sending too fast", pause_seconds=600),
    ],
    ids=["transient", "rate-limited"],
)
def test_a_receiver_failing_mid_run_loses_nothing_of_what_was_sent_or_kept(world, error):
    # GIVEN the receiver takes the first message and refuses the second
    world.people.failures = {2: error}
    # WHEN the timer fires THEN the first message stays told, the rest is kept
    outcome = world.run()
    assert report(outcome).deferred == len(EXPECTED) - world.people.covers[0]
    assert_one_clear_line(world, error.reason)
    # THEN once the receiver is back everything is told, the first message not again
    world.settle()
    assert_everything_told_once(world)


# --- the state store: outages and conflicts ----------------------------------------------


@pytest.mark.parametrize("world", BACKENDS, indirect=True)
@pytest.mark.parametrize(
    ("method", "nth", "counted_from"),
    [
        ("pending", 1, None),
        ("read", 1, None),
        ("write", 1, None),  # a first run's window, written before paging
        ("claim", 1, None),
        ("claim", 5, None),
        ("write", 1, "claim"),  # the poll state, after the claims
        # prune only tidies: a fault there is a warning (tests/test_tidy_faults.py)
    ],
)
def test_a_store_outage_fails_the_run_for_fc_to_retry_and_loses_nothing(
    world, method, nth, counted_from
):
    # GIVEN the store fails one call
    store = world.store()
    store.fail_at = (method, nth)
    store.count_from = counted_from
    # WHEN the timer fires THEN the run raises for FC to retry, and says why once
    outcome = world.run(world.app(store))
    assert isinstance(outcome.error, StateError)
    assert world.people.told == []
    assert_one_clear_line(world, "state store unreachable")
    # WHEN FC retries and later runs follow THEN everything is told, once
    world.run()
    world.settle()
    assert_everything_told_once(world)


def test_a_store_outage_between_send_and_confirm_repeats_that_message_at_most(world):
    # GIVEN the store fails the first confirm (the message already went out)
    store = world.store()
    store.fail_at = ("confirm", 1)
    # WHEN the timer fires THEN the run raises; the unconfirmed claim is redelivered later
    outcome = world.run(world.app(store))
    assert isinstance(outcome.error, StateError)
    assert_one_clear_line(world, "state store unreachable")
    world.settle()
    # THEN nothing is lost; only the alerts of that one message may be told twice
    assert_everything_told_once(world, may_repeat=world.people.covers[0])


@pytest.mark.parametrize("world", BACKENDS, indirect=True)
@pytest.mark.parametrize("conflicts", [1, 4])
def test_concurrent_writers_are_merged_not_overwritten(world, conflicts):
    # GIVEN another instance writes the poll state just before each of our first writes
    store = world.store()
    store.conflicts = conflicts
    # WHEN the timer fires THEN the run merges and succeeds
    outcome = world.run(world.app(store))
    assert report(outcome).ok
    world.settle()
    assert_everything_told_once(world)


def test_a_record_that_keeps_changing_fails_the_run_and_its_claims_are_delivered_later(world):
    # GIVEN the poll state changes under every attempt to write it (the first run's early
    # write of its window included)
    store = world.store()
    store.conflicts = 1_000
    # WHEN the timer fires THEN the run raises (FC retries), having claimed but sent nothing
    outcome = world.run(world.app(store))
    assert isinstance(outcome.error, StateError)
    assert_one_clear_line(world, "kept changing")
    # THEN once the claims' lease ends they are delivered, once
    world.settle()
    assert_everything_told_once(world)


# --- the process killed at every stage boundary ------------------------------------------

KILLS: dict[str, tuple[str, tuple[Any, ...], str | None]] = {
    # stage boundary → where the process dies (and, for a store call, counted from when)
    "after fetch, before claim": ("store", ("claim", 1, "before"), None),
    "after the first claim": ("store", ("claim", 1, "after"), None),
    # a first run writes its window before paging: the kill is at the first write after claims
    "after claim, before the state records move": ("store", ("write", 1, "before"), "claim"),
    "after the watermark moved, before send": ("people", (1, "before"), None),
    "after send, before confirm": ("people", (1, "after"), None),
    "after confirm": ("store", ("confirm", 1, "after"), None),
    "after the last confirm, before prune": ("store", ("prune", 1, "before"), None),
}


@pytest.mark.parametrize("world", BACKENDS, indirect=True)
@pytest.mark.parametrize("stage", list(KILLS))
def test_a_process_killed_at_any_stage_boundary_loses_nothing(world, stage):
    where, point, counted_from = KILLS[stage]
    store = world.store()
    if where == "store":
        store.kill_at = point  # type: ignore[assignment]
        store.count_from = counted_from
    else:
        world.people.kill_at = point  # type: ignore[assignment]
    # GIVEN a run killed at this boundary
    outcome = world.run(world.app(store))
    assert isinstance(outcome.error, Killed)
    # WHEN the next timer runs come, before and after the dead run's lease ends
    early = world.run()
    assert report(early).ok
    world.settle()
    # THEN every alert was told; only a message sent and never confirmed may be told again
    assert_everything_told_once(world, may_repeat=world.people.unconfirmed)
    assert world.people.unconfirmed == (world.people.covers[0] if "after send" in stage else 0)


# --- FC retrying the same event, and overlapping timer runs -------------------------------


def test_fc_delivering_the_same_timer_event_twice_tells_once(world):
    # GIVEN FC retries an invocation that in fact succeeded (its answer was lost)
    world.run(request_id="timer-7")
    world.run(request_id="timer-7")
    # THEN nothing is told twice
    assert_everything_told_once(world)
    assert len(world.people.told) == len(EXPECTED)


def test_eventbridge_delivering_the_same_task_event_twice_tells_once(world):
    # GIVEN the TaskCompleted event of the rollout (three nodes failed), delivered twice
    event = {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "acs.ecs",
        "type": "ecs:CloudAssistant:TaskCompleted",
        "aliyunregionid": "cn-hangzhou",
        "data": {"invokeId": ID_ROLLOUT, "invocationStatus": "PartialFailed"},
    }
    trigger = parse_event(json.dumps(event)).trigger
    first = world.run(trigger=trigger, request_id="evt-1")
    second = world.run(trigger=trigger, request_id="evt-1")
    # THEN the three nodes are told once
    assert report(first).alerts_sent == 3
    assert report(second).alerts_sent == 0
    assert len(world.people.told) == len(set(world.people.told)) == 3


@pytest.mark.parametrize("world", BACKENDS, indirect=True)
def test_two_timer_runs_overlapping_tell_each_failure_once(world):
    for _ in range(3):
        # GIVEN two FC instances whose timer runs overlap, meeting at every claim
        world.journal = Journal()
        world.people = People(world.journal)
        gate = threading.Barrier(2, timeout=10)
        stores = [world.store(), world.store()]

        def meet(gate: threading.Barrier = gate) -> None:
            # The other run may have fewer claims to make: then carry on alone.
            with contextlib.suppress(threading.BrokenBarrierError):
                gate.wait()

        for store in stores:
            store.before_claim = meet
        apps = [world.app(store) for store in stores]
        with ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(world.run, apps))
        # THEN both finish and every failure is told exactly once between them
        assert all(outcome.report is not None for outcome in outcomes), outcomes
        assert_everything_told_once(world)
        assert len(world.people.told) == len(EXPECTED)
        world.state_dir = world.state_dir.with_name(world.state_dir.name + "x")


def test_a_first_run_failing_for_a_while_does_not_age_failures_into_the_baseline(world):
    # GIVEN a new deployment (1 h lookback) whose first run fails part-way: the store goes
    # down at the first claim. (A store down from the very first read cannot record the
    # window at all; the retry then starts its own window: see docs/decisions.md.)
    world.env = {"ASSISTWATCH_LOOKBACK": "1h"}
    store = world.store()
    store.fail_at = ("claim", 1)
    assert isinstance(world.run(world.app(store)).error, StateError)
    # WHEN the store is back twenty minutes later
    world.now += timedelta(minutes=20)
    world.run()
    # THEN the failure that was 45 minutes old at the first attempt is told, not baselined
    assert world.people.lost() == 0, sorted(EXPECTED - set(world.people.told))


def test_through_the_fc_entry_a_retryable_fault_is_one_line_besides_the_summary(world, tmp_path):
    from types import SimpleNamespace

    from lib.edges.entry import handle, reset
    from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET

    reset()
    # GIVEN Cloud Assistant answering 503 to every attempt of the first call
    world.cloud.fail_next(4, code="ServiceUnavailable", status=503)
    context = SimpleNamespace(
        request_id="req-entry",
        credentials=SimpleNamespace(
            access_key_id=DEMO_ACCESS_KEY_ID,
            access_key_secret=DEMO_ACCESS_KEY_SECRET,
            security_token=None,
        ),
        function=SimpleNamespace(name="assistwatch", timeout=60),
        region="cn-hangzhou",
    )
    environ = {
        "ASSISTWATCH_REGIONS": "cn-hangzhou",
        "ASSISTWATCH_ECS_ENDPOINT": world.cloud.url,
        "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'entry-state'}",
    }
    # WHEN FC invokes the function THEN it raises for FC to retry
    with pytest.raises(ApiTransientError):
        handle(
            b'{"triggerTime": "2026-11-23T00:00:00Z"}', context, environ=environ, stream=world.logs
        )
    reset()
    # AND the logs hold the summary and one line saying FC will retry, nothing per attempt
    assert_one_clear_line(world, "ServiceUnavailable")
    assert [line["event"] for line in world.problems()] == [
        "run finished with errors",
        "run failed, FC will retry",
    ]
