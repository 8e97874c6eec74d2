"""End to end through the FC entry point, against the loopback fakes: what an SRE sees."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lib.edges.entry import handle, reset
from lib.support.errors import ApiTransientError
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.dingtalk import DingTalkFake
from tests.fakes.scenario import EXPECTED_ALERTS, ID_MIGRATE, SECRET_IN_OUTPUT, demo_dataset

EVENTS = Path(__file__).parent / "events"
TIMER = (EVENTS / "timer.json").read_bytes()
TOKEN = "e2e0robot0token000000000000000000000000000000000000000000000000"
ROBOT_SECRET = "SECe2e00000000000000000000000000000000000000000000000000000000"


@dataclass
class World:
    cloud: CloudAssistantFake
    dingtalk: DingTalkFake
    environ: dict[str, str]
    logs: io.StringIO = field(default_factory=io.StringIO)
    runs: int = 0

    def invoke(self, event: bytes | str, *, secret: str = DEMO_ACCESS_KEY_SECRET) -> Any:
        self.runs += 1
        context = SimpleNamespace(
            request_id=f"req-{self.runs}",
            credentials=SimpleNamespace(
                access_key_id=DEMO_ACCESS_KEY_ID, access_key_secret=secret, security_token=None
            ),
            function=SimpleNamespace(name="assistwatch", timeout=60),
            region="cn-hangzhou",
        )
        return handle(event, context, environ=self.environ, stream=self.logs)

    def run(self, event: bytes | str = TIMER, **kwargs: Any) -> dict[str, Any]:
        answer = self.invoke(event, **kwargs)
        report: dict[str, Any] = json.loads(answer if isinstance(answer, str) else answer["body"])
        return report

    def messages(self) -> list[str]:
        return [body["markdown"]["text"] for body in self.dingtalk.received(TOKEN)]

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs.getvalue().splitlines() if line.strip()]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    reset()
    now = datetime.now(timezone.utc)
    with CloudAssistantFake(dataset=demo_dataset(now)) as cloud, DingTalkFake() as dingtalk:
        url = dingtalk.add_robot(TOKEN, secret=ROBOT_SECRET)
        environ = {
            "ASSISTWATCH_REGIONS": "cn-hangzhou",
            "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
            "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
            "ASSISTWATCH_DINGTALK_URL": url,
            "ASSISTWATCH_DINGTALK_SECRET": ROBOT_SECRET,
        }
        yield World(cloud, dingtalk, environ)
    reset()


def told_instances(world: World) -> list[tuple[str, str]]:
    """Every (invoke id, instance id) the robot was told about, in message order."""
    told = []
    for text in world.messages():
        for expected in EXPECTED_ALERTS:
            if expected.instance_id in text and expected.invoke_id in text:
                told.append((expected.invoke_id, expected.instance_id))
    return told


def test_the_first_timer_run_tells_every_failure_once_grouped_by_invocation(world):
    # GIVEN the demo scenario: 8 failures within the hour in 6 invocations, successes, a
    # running task and a failure 3 hours old
    # WHEN the timer fires
    report = world.run()
    # THEN every failure is told exactly once, one message per invocation
    assert report["ok"] is True
    assert sorted(told_instances(world)) == sorted(
        (alert.invoke_id, alert.instance_id) for alert in EXPECTED_ALERTS
    )
    assert report["alerts_sent"] == len(EXPECTED_ALERTS) == 8
    assert report["messages_sent"] == len({alert.invoke_id for alert in EXPECTED_ALERTS}) == 6
    assert report["baseline"] == 1  # the 3-hour-old failure: recorded, not sent
    assert report["api_calls"] >= 2


def test_a_second_run_over_the_same_data_sends_nothing(world):
    world.run()
    sent = len(world.messages())
    report = world.run()
    assert report["ok"] is True
    assert report["messages_sent"] == 0
    assert len(world.messages()) == sent


def test_a_message_explains_the_error_and_hides_passwords_in_the_output(world):
    world.run()
    migrate = next(text for text in world.messages() if ID_MIGRATE in text)
    assert "ExitCodeNonzero" in migrate
    assert "退出码" in migrate  # zh by default
    assert "password authentication failed" in migrate  # the output tail is there
    assert SECRET_IN_OUTPUT not in migrate
    assert all(SECRET_IN_OUTPUT not in text for text in world.messages())


def test_a_robot_that_is_down_gets_everything_on_the_next_run_and_nothing_twice(world):
    # GIVEN the robot answers 502 to a send and its two retries (the run then stops sending
    # to it at the first failure)
    world.dingtalk.fail_next(502, times=3)
    first = world.run()
    assert first["deferred"] > 0
    assert first["ok"] is False  # the report says something was kept back
    # WHEN the next timer run comes and the robot is back
    second = world.run()
    # THEN what waited is delivered, and nothing is told twice
    assert second["redelivered"] == first["deferred"]
    told = told_instances(world)
    assert sorted(told) == sorted((a.invoke_id, a.instance_id) for a in EXPECTED_ALERTS)
    assert len(told) == len(set(told))


def test_a_task_completed_event_tells_its_failure_and_a_later_poll_does_not_repeat_it(world):
    event = json.loads((EVENTS / "eventbridge_task_completed.json").read_text())
    event["data"] = {"invokeId": ID_MIGRATE}
    report = world.run(json.dumps(event))
    assert report["alerts_sent"] == 1
    assert any(ID_MIGRATE in text for text in world.messages())
    world.run()  # the timer poll afterwards
    assert sum(ID_MIGRATE in text for text in world.messages()) == 1


@pytest.mark.parametrize(
    ("event", "expected"),
    [(b"{nope", "not valid JSON"), (b'{"hello": 1}', "not a trigger"), (b"[]", "empty event list")],
)
def test_bad_input_gets_a_failed_report_and_one_error_line_never_an_exception(
    world, event, expected
):
    report = world.run(event)
    assert report["ok"] is False
    assert expected in report["errors"][0]
    errors = [line for line in world.log_lines() if line["level"] == "error"]
    assert len(errors) == 1
    assert expected in errors[0]["error"]
    assert errors[0]["request_id"] == "req-1"
    assert world.cloud.calls == []  # no poll


def test_a_broken_setting_is_reported_naming_the_variable(world):
    world.environ["ASSISTWATCH_LOOKBACK"] = "a fortnight"
    report = world.run()
    assert report["ok"] is False
    assert "ASSISTWATCH_LOOKBACK" in report["errors"][0]


def test_credentials_are_read_for_every_invocation_and_a_wrong_secret_is_a_clear_error(world):
    # GIVEN a first invocation with good credentials (the app is built and cached)
    assert world.run()["ok"] is True
    # WHEN the next invocation's context carries a secret the API rejects
    report = world.run(secret="rotated-wrong-secret-value")
    # THEN the cached app used the new credentials, and the error names the API's code
    assert report["ok"] is False
    assert "SignatureDoesNotMatch" in report["errors"][0]
    assert "rotated-wrong-secret-value" not in world.logs.getvalue()


def test_throttling_that_outlives_the_retries_is_raised_so_fc_retries_the_event(world):
    world.cloud.fail_next(20, code="ServiceUnavailable", status=503)
    with pytest.raises(ApiTransientError, match="ServiceUnavailable"):
        world.invoke(TIMER)
    errors = [line for line in world.log_lines() if line["level"] == "error"]
    assert any("FC will retry" in line["event"] for line in errors)


def test_a_manual_poll_over_the_http_trigger_looks_back_as_far_as_asked(world):
    # GIVEN {"action": "poll", "lookback": "6h"} in an FC HTTP trigger envelope
    answer = world.invoke((EVENTS / "http_manual_poll.json").read_bytes())
    # THEN the reply is HTTP, and the 3-hour-old failure is told too (8 + 1)
    assert answer["statusCode"] == 200
    assert answer["headers"]["content-type"] == "application/json"
    report = json.loads(answer["body"])
    assert report["alerts_sent"] == 9
    assert report["baseline"] == 0


def test_bad_input_over_the_http_trigger_is_a_400(world):
    envelope = json.loads((EVENTS / "http_manual_poll.json").read_text())
    envelope.update(body="not json", isBase64Encoded=False)
    answer = world.invoke(json.dumps(envelope))
    assert answer["statusCode"] == 400
    assert "not valid JSON" in json.loads(answer["body"])["errors"][0]


def test_no_secret_reaches_a_log_line_or_a_report(world):
    world.dingtalk.fail_next(502, times=2)
    reports = [world.run(), world.run(secret="another-wrong-secret"), world.run()]
    everything = world.logs.getvalue() + json.dumps(reports)
    for secret in (DEMO_ACCESS_KEY_SECRET, ROBOT_SECRET, TOKEN, "another-wrong-secret"):
        assert secret not in everything
    assert world.log_lines()[-1]["event"].startswith("run finished")


def test_a_missing_credentials_message_reaches_the_log_unmasked(world):
    # GIVEN a context without credentials and none in the environment
    context = SimpleNamespace(request_id="req-x", function=None, region="cn-hangzhou")
    answer = handle(TIMER, context, environ=world.environ, stream=world.logs)
    # THEN the log says what to set, in words nobody masked as a secret
    report = json.loads(answer if isinstance(answer, str) else answer["body"])
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in report["errors"][0]
    assert "FC passes them" in world.logs.getvalue()
