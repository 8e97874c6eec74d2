"""Instance context, end to end: a poll, the fake's DescribeInstances, and what people read.

Stories: a failure names its instance; a stopped or released instance's agent is not an
alarm (counted "quiet"), and an open agent alert closes when its instance stops; a command
that fails on a stopped instance is still told, with the status shown; 150 instances are
described in two calls of PageSize 100; a role without ecs:DescribeInstances loses nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr

from lib.app import App, Invocation, RunReport, build_app
from lib.core.notification import Message, Notification
from lib.core.triggers import Poll
from lib.notify.render import RenderOptions, render_markdown
from lib.state.file import FileStore
from lib.support.credentials import Credentials
from lib.support.settings import load_settings
from tests.factories import RecordingReceiver
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.dataset import agent, command, run

NOW = datetime.now(timezone.utc).replace(microsecond=0)


class Pager(RecordingReceiver):
    """What an on-call engineer reads: each message rendered as the robots render it."""

    def __init__(self, lang: str = "en") -> None:
        super().__init__()
        self.lang = lang
        self.texts: list[str] = []

    def render(self, notification: Notification) -> list[Message]:
        messages = super().render(notification)
        options = RenderOptions(lang=self.lang)  # type: ignore[arg-type]
        text = render_markdown(notification, options)
        return [m.model_copy(update={"text": text}) for m in messages]

    def send(self, message: Message) -> None:
        self.texts.append(message.text)

    @property
    def read(self) -> str:
        return "\n---\n".join(self.texts)


def watcher(cloud: CloudAssistantFake, tmp_path: Path, lang: str = "en", **more: str) -> App:
    """A watcher over the fake, telling one Pager in ``lang``; ``more``: ASSISTWATCH_* env."""
    env = {
        "ASSISTWATCH_REGIONS": "cn-hangzhou",
        "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
        "ASSISTWATCH_SHOW_OUTPUT": "false",
        **more,
    }
    return build_app(
        load_settings(env),
        store=FileStore(tmp_path / "state"),
        receivers={"people": Pager(lang)},
        sleep=lambda _: None,
        environ=env,
    )


def poll(app: App) -> RunReport:
    credentials = Credentials(DEMO_ACCESS_KEY_ID, SecretStr(DEMO_ACCESS_KEY_SECRET))
    return app.run(Poll(origin="timer"), Invocation("run-1", credentials))


def pager(app: App) -> Pager:
    return app.receivers["people"]  # type: ignore[return-value]


def failed_deploy(
    minutes_ago: float, *instances: str, code: str = "ExitCodeNonzero", invoke: str = "deploy"
):
    status = "Aborted" if code.startswith("Client") else "Failed"
    return command(
        created=NOW - timedelta(minutes=minutes_ago),
        name="deploy.sh",
        invoke=invoke,
        instances=[
            run(i, status, error_code=code, exit_code=None if code.startswith("Client") else 1)
            for i in instances
        ],
    )


def test_a_failure_names_its_instance_beside_its_id(cloud, dataset, tmp_path):
    # GIVEN a deploy that fails on an instance its owners named "web-prod-1"
    dataset.add(failed_deploy(5, "i-web1"))
    dataset.instance("i-web1", name="web-prod-1")
    app = watcher(cloud, tmp_path)
    # WHEN the poll tells it
    report = poll(app)
    # THEN the message shows the name beside the id, and no status (it is running)
    assert "`i-web1` · `web-prod-1`" in pager(app).read
    assert "running" not in pager(app).read.lower().split("web-prod-1")[1].split("\n")[0]
    # AND the instance was described in one call, by id, with PageSize 100
    calls = [params for action, params in cloud.calls if action == "DescribeInstances"]
    assert len(calls) == 1
    assert json.loads(calls[0]["InstanceIds"]) == ["i-web1"]
    assert calls[0]["PageSize"] == "100"
    assert report.ok


def test_an_agent_down_on_a_stopped_instance_is_not_an_alarm(cloud, dataset, tmp_path):
    # GIVEN someone stopped i-batch and a task sent to it failed with ClientNotRunning
    dataset.add(
        failed_deploy(5, "i-batch", code="ClientNotRunning"), agent("i-batch", online=False)
    )
    dataset.instance("i-batch", name="nightly-batch", status="Stopped")
    app = watcher(cloud, tmp_path)
    # WHEN the poll sees it
    report = poll(app)
    # THEN nobody is paged, and the run report counts it as quiet, saying why
    assert pager(app).texts == []
    assert report.quiet == 1
    assert any(
        note.startswith("quiet: instance stopped") and "i-batch" in note for note in report.notes
    )
    assert report.alerts == 0


def test_an_agent_down_on_a_released_instance_is_not_an_alarm(cloud, dataset, tmp_path):
    # GIVEN an instance released by autoscaling while a command was on its way
    dataset.add(
        failed_deploy(5, "i-gone", code="ClientNetworkBlocked"), agent("i-gone", online=False)
    )
    dataset.release("i-gone")
    app = watcher(cloud, tmp_path)
    report = poll(app)
    # THEN it is quiet too, counted as released
    assert pager(app).texts == []
    assert any(note.startswith("quiet: instance released") for note in report.notes)


def test_an_open_agent_alert_closes_when_its_instance_is_stopped(cloud, dataset, tmp_path):
    # GIVEN the agent on a running instance went down and people were told
    dataset.add(failed_deploy(10, "i-app", code="ClientNotRunning"), agent("i-app", online=False))
    dataset.instance("i-app", name="app-1")
    app = watcher(cloud, tmp_path)
    poll(app)
    assert "agent unhealthy on `i-app`" in pager(app).read
    # WHEN the owner stops the instance (its agent stays down, of course) and the next poll runs
    dataset.instance("i-app", name="app-1", status="Stopped")
    pager(app).texts.clear()
    poll(app)
    # THEN the alert is resolved, saying the instance stopped — not that the agent is healthy
    assert "agent alert closed, instance stopped: `i-app`" in pager(app).read
    assert "healthy again" not in pager(app).read
    # AND a later poll says nothing more
    pager(app).texts.clear()
    poll(app)
    assert pager(app).texts == []


def test_an_open_agent_alert_closes_when_its_instance_is_released(cloud, dataset, tmp_path):
    dataset.add(failed_deploy(10, "i-app", code="ClientNotRunning"), agent("i-app", online=False))
    app = watcher(cloud, tmp_path, lang="zh")
    poll(app)
    pager(app).texts.clear()
    dataset.release("i-app")
    poll(app)
    assert "云助手 Agent 告警关闭（实例已释放）：`i-app`" in pager(app).read


def test_a_command_failure_on_a_stopped_instance_is_still_told_with_its_status(
    cloud, dataset, tmp_path
):
    # GIVEN a backup that failed (exit 1) on an instance that has since been stopped
    dataset.add(failed_deploy(5, "i-db"))
    dataset.instance("i-db", name="db-replica", status="Stopped")
    app = watcher(cloud, tmp_path, lang="zh")
    report = poll(app)
    # THEN the command failure is told — it did fail — with the stop shown beside the name
    assert "`i-db` · `db-replica` · **已停止**" in pager(app).read
    assert report.quiet == 0


def test_150_instances_are_described_in_two_calls_not_fifteen(cloud, dataset, tmp_path):
    # GIVEN a rollout failing on 150 named instances (DescribeInstances' default page is 10)
    ids = [f"i-node{n:03d}" for n in range(150)]
    dataset.add(failed_deploy(5, *ids))
    for n, iid in enumerate(ids):
        dataset.instance(iid, name=f"node-{n:03d}")
    app = watcher(cloud, tmp_path)
    poll(app)
    # THEN two calls (100 + 50 ids) described them all
    assert cloud.count("DescribeInstances") == 2
    told = list(pager(app).alerts.values())
    assert len(told) == 150
    assert all(a.finding.instance_name == f"node-{a.finding.instance_id[-3:]}" for a in told)


def test_a_role_without_describe_instances_loses_nothing(cloud, dataset, tmp_path):
    # GIVEN a role that lacks ecs:DescribeInstances, and an agent down on a stopped instance
    dataset.add(
        failed_deploy(5, "i-batch", code="ClientNotRunning"), agent("i-batch", online=False)
    )
    dataset.instance("i-batch", status="Stopped")
    cloud.fail_next(code="Forbidden.RAM", status=403, action="DescribeInstances")
    app = watcher(cloud, tmp_path)
    report = poll(app)
    # THEN the agent alert is told as before (context unknown is no reason to stay silent)
    assert "agent unhealthy on `i-batch`" in pager(app).read
    # AND the report says what is missing and how to fix it, once
    notes = [n for n in report.notes if "ecs:DescribeInstances" in n]
    assert len(notes) == 1
    assert "Forbidden.RAM" in notes[0]
    assert cloud.count("DescribeInstances") == 1  # not asked again for the same region


def test_the_fake_keeps_the_default_page_of_ten(cloud, dataset):
    # The trap the client avoids: without PageSize, 30 ids come back as a page of 10.
    from tests.fakes.ecs_api import ApiError, handle
    from tests.fakes.ecs_api import Pager as ApiPager

    ids = [f"i-x{n:02d}" for n in range(30)]
    for iid in ids:
        dataset.instance(iid)
    answer = handle(
        "DescribeInstances",
        {"RegionId": "cn-hangzhou", "InstanceIds": json.dumps(ids)},
        dataset,
        ApiPager(),
    )
    assert answer["TotalCount"] == 30
    assert len(answer["Instances"]["Instance"]) == 10
    too_many = json.dumps([f"i-y{n:03d}" for n in range(101)])
    with pytest.raises(ApiError, match="InstanceIds"):
        handle(
            "DescribeInstances",
            {"RegionId": "cn-hangzhou", "InstanceIds": too_many},
            dataset,
            ApiPager(),
        )


def test_the_fake_pages_by_next_token_with_max_results_clamped_to_10_100(dataset):
    # MaxResults below 10 reads as 10, above 100 as 100 (the SDK model's documented rule).
    from tests.fakes.ecs_api import Pager as ApiPager
    from tests.fakes.ecs_api import handle

    ids = [f"i-z{n:03d}" for n in range(25)]
    for iid in ids:
        dataset.instance(iid, name=iid.upper())
    pager, token = ApiPager(), ""
    seen: list[str] = []
    while True:
        params = {"RegionId": "cn-hangzhou", "MaxResults": "3"}
        if token:
            params["NextToken"] = token
        answer = handle("DescribeInstances", params, dataset, pager)
        page = answer["Instances"]["Instance"]
        assert len(page) == min(10, 25 - len(seen))  # 3 reads as 10
        seen += [item["InstanceId"] for item in page]
        token = answer["NextToken"]
        if not token:
            break
    assert seen == ids
    big = handle(
        "DescribeInstances", {"RegionId": "cn-hangzhou", "MaxResults": "500"}, dataset, ApiPager()
    )
    assert len(big["Instances"]["Instance"]) == 25
