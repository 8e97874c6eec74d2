"""Event mode, Lingjun nodes and several accounts, end to end through handler(event, context)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lib.edges.entry import handle, reset
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.dataset import (
    Dataset,
    command,
    eflo_command,
    eflo_file_send,
    eflo_invoke_id,
    node_id,
    run,
    target,
)
from tests.fakes.dingtalk import DingTalkFake
from tests.fakes.sts import StsFake

EVENTS = Path(__file__).parent / "events"
TOKEN = "ev0robot0token00000000000000000000000000000000000000000000000000"
ROBOT_SECRET = "SECev000000000000000000000000000000000000000000000000000000000"
OTHER_ROLE = "acs:ram::1234567890123456:role/assistwatch-reader"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
TIMER = (EVENTS / "timer.json").read_bytes()


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


@dataclass
class World:
    cloud: CloudAssistantFake
    dingtalk: DingTalkFake
    sts: StsFake
    environ: dict[str, str]
    logs: io.StringIO = field(default_factory=io.StringIO)
    runs: int = 0

    def invoke(self, event: bytes | str | dict[str, Any]) -> dict[str, Any]:
        self.runs += 1
        context = SimpleNamespace(
            request_id=f"req-{self.runs}",
            credentials=SimpleNamespace(
                access_key_id=DEMO_ACCESS_KEY_ID,
                access_key_secret=DEMO_ACCESS_KEY_SECRET,
                security_token=None,
            ),
            function=SimpleNamespace(name="assistwatch", timeout=60),
            region="cn-hangzhou",
        )
        raw = json.dumps(event) if isinstance(event, dict) else event
        answer = handle(raw, context, environ=self.environ, stream=self.logs)
        report: dict[str, Any] = json.loads(answer if isinstance(answer, str) else answer["body"])
        return report

    def messages(self) -> list[str]:
        return [body["markdown"]["text"] for body in self.dingtalk.received(TOKEN)]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    reset()
    with CloudAssistantFake(dataset=Dataset()) as cloud, DingTalkFake() as dingtalk:
        sts = StsFake(
            {DEMO_ACCESS_KEY_ID: DEMO_ACCESS_KEY_SECRET},
            grants={DEMO_ACCESS_KEY_ID: [OTHER_ROLE]},
            targets=[cloud],
        )
        with sts:
            environ = {
                "ASSISTWATCH_REGIONS": "cn-hangzhou",
                "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
                "ASSISTWATCH_EFLO_ENDPOINT": cloud.url,
                "ASSISTWATCH_STS_ENDPOINT": sts.url,
                "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
                "ASSISTWATCH_DINGTALK_URL": dingtalk.add_robot(TOKEN, secret=ROBOT_SECRET),
                "ASSISTWATCH_DINGTALK_SECRET": ROBOT_SECRET,
                "ASSISTWATCH_LANG": "en",
            }
            yield World(cloud, dingtalk, sts, environ)
    reset()


def task_completed(invoke_id: str, instance_id: str | None = None, **extra: Any) -> dict[str, Any]:
    event = json.loads((EVENTS / "eventbridge_task_completed.json").read_text())
    event["data"] = {"invokeId": invoke_id, **({"instanceId": instance_id} if instance_id else {})}
    event["data"].update(extra)
    return dict(event)


def test_a_batch_of_task_events_becomes_one_fetch_per_invocation_and_tells_once(world):
    # GIVEN a deploy that failed on two of three instances, and EventBridge's batch of three
    # per-instance events (one PascalCase, one with fields we have never seen)
    deploy = command(
        created=ago(3),
        name="deploy.sh",
        invoke="t-hzdeploy00001",
        instances=[
            run("web-1", "Failed", error_code="ExitCodeNonzero", exit_code=2),
            run("web-2", "Failed", error_code="ExitCodeNonzero", exit_code=2),
            run("web-3", "Success"),
        ],
    )
    world.cloud.dataset.add(deploy)
    ids = [inst.instance_id for inst in deploy.instances]
    batch = [
        task_completed(deploy.invoke_id, ids[0]),
        {**task_completed("x"), "data": {"InvokeId": deploy.invoke_id, "InstanceId": ids[1]}},
        task_completed(deploy.invoke_id, ids[2], brandNewField={"nested": [1, 2]}),
    ]
    report = world.invoke(json.dumps(batch))
    # THEN one targeted fetch, one message naming both failed instances
    assert report["ok"] is True
    assert [a for a, p in world.cloud.calls if p.get("InvokeId") == deploy.invoke_id][:1] == [
        "DescribeInvocations"
    ]
    assert len(world.messages()) == 1
    assert ids[0] in world.messages()[0]
    assert ids[1] in world.messages()[0]
    # AND the timer poll afterwards tells nothing new
    world.invoke(TIMER)
    assert len(world.messages()) == 1


def test_an_unknown_event_type_is_one_error_and_no_poll(world):
    event = task_completed("t-x")
    event["type"] = "ecs:Instance:StateChange"
    report = world.invoke(event)
    assert report["ok"] is False
    assert "unknown type" in report["errors"][0]
    assert world.cloud.calls == []


def test_a_lingjun_command_is_watched_until_it_fails_then_forgotten(world):
    # GIVEN a training job on two Lingjun nodes, still running, registered by the launcher
    job = eflo_command(
        created=ago(10),
        name="train.sh",
        invoke=eflo_invoke_id("train"),
        nodes=[run(node_id("gpu-1"), "Running"), run(node_id("gpu-2"), "Running")],
    )
    world.cloud.dataset.add(job)
    report = world.invoke(
        {
            "action": "watch",
            "provider": "eflo",
            "region": "cn-hangzhou",
            "invokeIds": [job.invoke_id],
            "kind": "command",
        }
    )
    assert report["ok"] is True, report
    world.invoke(TIMER)
    assert world.messages() == []
    # WHEN one node fails with a node error
    with world.cloud.dataset.lock:
        node = job.instances[0]
        node.status, node.error_code, node.exit_code = "Failed", "ExitCodeNonzero", 137
        node.finish_time = node.update_time = ago(1)
        other = job.instances[1]
        other.status, other.exit_code = "Success", 0
        other.finish_time = other.update_time = ago(1)
    world.invoke(TIMER)
    # THEN the next poll tells it, naming the node, and stops asking
    assert len(world.messages()) == 1
    assert node.instance_id in world.messages()[0]
    assert "Node" in world.messages()[0]
    world.cloud.reset_calls()
    world.invoke(TIMER)
    assert all(p.get("InvokeId") != job.invoke_id for _, p in world.cloud.calls)


def test_a_lingjun_file_send_failure_is_told_from_a_watch(world):
    sent = eflo_file_send(
        created=ago(5),
        name="nccl.conf",
        invoke=eflo_invoke_id("nccl"),
        nodes=[target(node_id("gpu-3"), "Failed", error_code="FileAlreadyExists")],
    )
    world.cloud.dataset.add(sent)
    report = world.invoke(
        {
            "action": "watch",
            "provider": "eflo",
            "region": "cn-hangzhou",
            "invokeIds": [sent.invoke_id],
        }
    )
    assert report["alerts_sent"] == 1
    assert "FileAlreadyExists" in world.messages()[0]


def test_another_account_is_polled_through_its_role_and_named_in_its_alerts(world):
    # GIVEN a second account whose role the function may assume
    world.environ["ASSISTWATCH_ACCOUNTS"] = OTHER_ROLE
    world.cloud.dataset.add(
        command(
            created=ago(4),
            name="patch.sh",
            invoke="t-hzpatch000001",
            instances=[run("db-9", "Failed", error_code="ExitCodeNonzero")],
        )
    )
    report = world.invoke(TIMER)
    # THEN the failure is told once per account that sees it (the fake serves both the same
    # data), each alert naming its account, with one AssumeRole for the whole run
    assert report["ok"] is True, report
    texts = world.messages()
    assert sum("1234567890123456" in text for text in texts) == 1
    assert len(world.sts.calls) == 1
    # AND the cached role serves the next run without asking STS again
    world.invoke(TIMER)
    assert len(world.sts.calls) == 1


def test_a_role_we_may_not_assume_is_reported_and_the_own_account_still_polled(world):
    world.environ["ASSISTWATCH_ACCOUNTS"] = "acs:ram::9999999999999999:role/not-granted"
    world.cloud.dataset.add(
        command(
            created=ago(2),
            name="x.sh",
            invoke="t-hzx00000001",
            instances=[run("web-5", "Failed", error_code="ExitCodeNonzero")],
        )
    )
    report = world.invoke(TIMER)
    assert report["ok"] is False
    assert any("9999999999999999" in error for error in report["errors"])
    assert len(world.messages()) == 1  # the own account's failure still went out


def test_a_redelivery_from_another_account_keeps_its_tag_route(world, tmp_path):
    # GIVEN a second account, and a route that mentions the DBA on-call for env=prod instances
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        "routes:\n"
        "  - match: {instance_tags: {env: prod}}\n"
        "    receivers: [dingtalk]\n"
        "    mentions: {mobiles: ['13800138000']}\n",
        encoding="utf-8",
    )
    world.environ["ASSISTWATCH_CONFIG"] = str(routing)
    world.environ["ASSISTWATCH_ACCOUNTS"] = OTHER_ROLE
    world.cloud.dataset.add(
        command(
            created=ago(4),
            name="patch.sh",
            invoke="t-hzpatch000002",
            instances=[run("i-db9", "Failed", error_code="ExitCodeNonzero")],
        )
    )
    world.cloud.dataset.tag("i-db9", {"env": "prod"})
    # WHEN the robot is down for the first run (both accounts' alerts wait in the outbox)
    world.dingtalk.fail_next(500, times=3)  # every attempt of the one message
    world.invoke(TIMER)
    assert world.messages() == []
    # AND the next run redelivers them, before it assumes the other account's role itself
    reset()  # a new FC instance: nothing cached
    world.invoke({"action": "poll", "lookback": "1m"})
    # THEN both alerts came with the route's mention, the other account's too
    texts = world.messages()
    assert sum("1234567890123456" in text for text in texts) == 1
    assert all("@13800138000" in text for text in texts), texts
