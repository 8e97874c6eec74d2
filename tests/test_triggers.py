"""Every way FC can wake the function, and the ways it must refuse to."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from lib.core.triggers import Poll, Target, Targets, Watch, parse_event
from lib.support.errors import BadInput

EVENTS = Path(__file__).parent / "events"


def event(name: str) -> bytes:
    return (EVENTS / name).read_bytes()


def test_a_timer_event_runs_a_full_poll():
    # GIVEN the event FC's timer trigger sends, with an empty payload
    # WHEN it is parsed
    parsed = parse_event(event("timer.json"))
    # THEN it is a poll of everything configured
    assert parsed.trigger == Poll(origin="timer")
    assert parsed.http is False


def test_a_timer_payload_narrows_the_poll_to_one_shard():
    parsed = parse_event(event("timer_narrowed.json"))
    assert parsed.trigger == Poll(
        origin="timer",
        regions=("cn-hangzhou",),
        sources=("ecs.command",),
        resource_group_id="rg-aek2pmzsx7tkvpq",
    )


def test_one_task_completed_event_becomes_a_targeted_fetch():
    parsed = parse_event(event("eventbridge_task_completed.json"))
    assert parsed.trigger == Targets(
        region="cn-hangzhou",
        targets=(Target("t-hz0jdfwd9f0001", ("i-bp1f4n9s3r5d1lq8x2k0",)),),
        account="1234567890123456",
    )


def test_a_batch_is_merged_by_invoke_id_whatever_the_key_case():
    # GIVEN three events: two about one invocation (camelCase and PascalCase), one with an
    # unknown nested field
    parsed = parse_event(event("eventbridge_batch.json"))
    # THEN two targeted fetches, the first naming both instances
    assert isinstance(parsed.trigger, Targets)
    assert parsed.trigger.targets == (
        Target("t-hz0jdfwd9f0001", ("i-bp1f4n9s3r5d1lq8x2k0", "i-bp1f4n9s3r5d1lq8x2k1")),
        Target("t-hz0jdfwd9f0002", ("i-bp1f4n9s3r5d1lq8x2k2",)),
    )


def test_an_event_without_an_invoke_id_polls_its_region():
    raw = json.loads(event("eventbridge_task_completed.json"))
    raw["data"] = {"somethingElse": 1}
    assert parse_event(json.dumps(raw)).trigger == Poll(origin="event", regions=("cn-hangzhou",))


def test_a_manual_poll_through_the_http_trigger_is_unwrapped():
    parsed = parse_event(event("http_manual_poll.json"))
    assert parsed.http is True
    assert parsed.trigger == Poll(origin="manual", lookback=timedelta(hours=6))


def test_a_watch_request_is_parsed_with_its_ids_deduplicated():
    parsed = parse_event(
        {
            "action": "watch",
            "provider": "eflo",
            "region": "cn-wulanchabu",
            "invokeIds": ["t-1", "t-1", "t-2"],
            "kind": "command",
        }
    )
    assert parsed.trigger == Watch("eflo", "cn-wulanchabu", ("t-1", "t-2"), "command", None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "event is empty"),
        (b"\xff\xfe", "not UTF-8"),
        (b"{not json", "not valid JSON"),
        (b"[]", "empty event list"),
        (b"42", "must be a JSON object"),
        (b'{"hello": "world"}', "not a trigger assistwatch knows"),
        (b'{"action": "explode"}', "unknown action"),
        (
            b'{"specversion": "1.0", "type": "ecs:Instance:StateChange", "source": "acs.ecs"}',
            "unknown type",
        ),
        (b'[{"specversion": "1.0", "type": "ecs:CloudAssistant:TaskCompleted"}, 7]', "event 1"),
        (b'{"triggerTime": "x", "payload": "not json"}', "timer payload is not valid JSON"),
        (b'{"triggerTime": "x", "payload": "[1]"}', "timer payload must be"),
        (b'{"action": "poll", "sources": ["ecs.everything"]}', "unknown source"),
        (b'{"action": "poll", "lookback": "yesterday"}', "lookback"),
        (
            b'{"action": "watch", "provider": "ecs", "region": "cn-hangzhou", "invokeIds": []}',
            "invokeIds",
        ),
        (b'{"action": "watch", "provider": "gcp", "region": "x", "invokeIds": ["t"]}', "provider"),
    ],
)
def test_bad_input_is_refused_with_a_specific_reason(raw, expected):
    # GIVEN an event that is no trigger we know
    # WHEN it is parsed THEN BadInput says what is wrong (never a bare traceback)
    with pytest.raises(BadInput, match=expected):
        parse_event(raw)


def test_a_batch_across_regions_is_refused():
    batch = json.loads(event("eventbridge_batch.json"))
    batch[1]["aliyunregionid"] = "cn-shanghai"
    with pytest.raises(BadInput, match="several regions"):
        parse_event(json.dumps(batch))


def test_the_task_completed_fixture_carries_exit_code_as_the_real_event_does():
    # GIVEN the recorded TaskCompleted event: the real one carries exitCode as a string ("0")
    raw = json.loads(event("eventbridge_task_completed.json"))
    assert isinstance(raw["data"]["exitCode"], str)
    # WHEN parsed, with the string or a number THEN the same targeted fetch (exitCode is
    # read from the API, never from the event)
    numeric = {**raw, "data": {**raw["data"], "exitCode": 2}}
    assert parse_event(json.dumps(raw)).trigger == parse_event(json.dumps(numeric)).trigger
