# ruff: noqa: F811 (the handler's `world` fixture is imported and named by each story)
"""How many of the targeted instances failed: "3 of 200" is a different incident from "3 of 3".

The total is the invocation's own instance list, read from the DescribeInvocations answer the
poll (or the fetch an event or a watch causes) already reads: no call is added for it. When
the total is not known, a message reads as it did before.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from lib.core.alerts import Alert
from lib.core.notification import Notification
from lib.core.overrides import TemplateSource
from lib.notify.base import Receiver
from lib.notify.dingtalk import DingTalkReceiver
from lib.notify.feishu import FeishuReceiver
from lib.notify.render import RenderOptions, compact_json, render_markdown
from lib.notify.wecom import WeComReceiver
from tests.factories import make_alert, make_finding
from tests.fakes.dataset import (
    Command,
    FileTarget,
    command,
    eflo_command,
    eflo_file_send,
    eflo_invoke_id,
    file_send,
    node_id,
    run,
    target,
)
from tests.test_event_mode import (  # the handler end to end, against the fakes
    TIMER,
    TOKEN,
    World,
    ago,
    task_completed,
    world,  # noqa: F401 (the fixture)
)

ROBOT_URL = "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef"
DISK_FULL = "copying build\ncp: error writing '/data/app.tar': No space left on device\n"


def rollout(failed: int, targeted: int, *, invoke: str = "t-hzrollout0001") -> Command:
    """rollout.sh on ``targeted`` instances: the first ``failed`` ran out of disk."""
    return command(
        created=ago(4),
        name="rollout.sh",
        invoke=invoke,
        instances=[
            run(f"node-{n:03d}", "Failed", error_code="ExitCodeNonzero", output=DISK_FULL)
            if n < failed
            else run(f"node-{n:03d}", "Success")
            for n in range(targeted)
        ],
    )


def refused(targets: list[str], failed: int) -> list[FileTarget]:
    """A file send to ``targets``; the first ``failed`` refused it (the file exists there)."""
    return [
        target(name, "Failed", error_code="FileAlreadyExists") if n < failed else target(name)
        for n, name in enumerate(targets)
    ]


def zh(world: World) -> World:
    world.environ["ASSISTWATCH_LANG"] = "zh"
    return world


# --- the poll ---------------------------------------------------------------------------------


def test_a_rollout_failing_on_3_of_200_instances_says_3_of_200(world: World) -> None:
    # GIVEN rollout.sh ran on 200 instances and failed on 3 of them
    job = rollout(3, 200)
    world.cloud.dataset.add(job)
    # WHEN the timer polls
    world.invoke(TIMER)
    # THEN one message tells the 3 failures as 3 of the 200 instances targeted
    [text] = world.messages()
    assert "3 of 200 instances failed" in text
    assert all(run.instance_id in text for run in job.instances[:3])
    assert job.instances[3].instance_id not in text  # the successes are not listed
    # AND the total came from the list the poll reads anyway: no lookup per invocation
    # (the only call naming the invoke id is the output fetch of its failures)
    asked = {action for action, params in world.cloud.calls if params.get("InvokeId")}
    assert asked == {"DescribeInvocationResults"}


def test_three_of_three_reads_as_every_instance_failing(world: World) -> None:
    # GIVEN the same three failures, on a rollout that targeted only those three
    world.cloud.dataset.add(rollout(3, 3))
    world.invoke(TIMER)
    # THEN the message says so: every targeted instance failed
    [text] = world.messages()
    assert "3 of 3 instances failed" in text


def test_thirty_of_200_failing_the_same_way_read_by_cause_within_the_robot_limit(
    world: World,
) -> None:
    # GIVEN 30 of 200 instances ran out of disk the same way
    job = rollout(30, 200)
    world.cloud.dataset.add(job)
    world.invoke(TIMER)
    # THEN one DingTalk message, read by cause, whose lead line counts 30 of the 200
    [text] = world.messages()
    assert "`rollout.sh` failed on 30 of 200 instances: 30 × `ExitCodeNonzero` · exit 1" in text
    # AND it names all 30 and stays within the 8,000 bytes (the JSON body as sent)
    assert all(run.instance_id in text for run in job.instances[:30])
    [body] = world.dingtalk.received(TOKEN)
    assert len(compact_json(body)) <= 8000


def test_the_chinese_message_says_3_of_200_in_chinese(world: World) -> None:
    zh(world).cloud.dataset.add(rollout(3, 200))
    world.invoke(TIMER)
    [text] = world.messages()
    assert "200 台实例中的 3 台失败" in text


def test_the_chinese_cause_line_says_30_of_200(world: World) -> None:
    zh(world).cloud.dataset.add(rollout(30, 200))
    world.invoke(TIMER)
    [text] = world.messages()
    assert "`rollout.sh` 在 200 台实例中的 30 台上失败：30 × `ExitCodeNonzero`" in text


def test_a_file_send_says_how_many_of_its_targets_it_missed(world: World) -> None:
    # GIVEN nginx.conf sent to 12 instances, refused on 2 (the file exists there)
    sent = file_send(
        created=ago(4),
        name="nginx.conf",
        target_dir="/etc/nginx",
        targets=refused([f"web-{n}" for n in range(12)], 2),
    )
    world.cloud.dataset.add(sent)
    world.invoke(TIMER)
    [text] = world.messages()
    assert "2 of 12 instances failed" in text


# --- events and watches -----------------------------------------------------------------------


def test_a_task_event_about_one_instance_says_1_of_200(world: World) -> None:
    # GIVEN rollout.sh failed on one of its 200 instances, and EventBridge says so. The event
    # names the invocation and that instance only: it carries no count.
    job = rollout(1, 200)
    world.cloud.dataset.add(job)
    world.invoke(task_completed(job.invoke_id, job.instances[0].instance_id))
    # THEN the message about that one failure says it is 1 of the 200: the total comes from
    # the DescribeInvocations the event is fetched with, asked once
    [text] = world.messages()
    assert "(1 of 200 instances failed)" in text
    fetched = [a for a, p in world.cloud.calls if p.get("InvokeId") == job.invoke_id]
    assert fetched.count("DescribeInvocations") == 1


def test_a_lingjun_job_watched_by_invoke_id_says_how_many_nodes_failed(world: World) -> None:
    # GIVEN a training job on 8 Lingjun nodes that failed on 2, watched by its invoke id
    job = eflo_command(
        created=ago(10),
        name="train.sh",
        invoke=eflo_invoke_id("train-8"),
        nodes=[
            run(node_id(f"gpu-{n}"), "Failed", exit_code=137) if n < 2 else run(node_id(f"gpu-{n}"))
            for n in range(8)
        ],
    )
    world.cloud.dataset.add(job)
    world.invoke(
        {
            "action": "watch",
            "provider": "eflo",
            "region": "cn-hangzhou",
            "invokeIds": [job.invoke_id],
            "kind": "command",
        }
    )
    world.invoke(TIMER)
    [text] = world.messages()
    assert "2 of 8 nodes failed" in text


def test_a_lingjun_file_send_uses_the_node_count_eflo_gives(world: World) -> None:
    sent = eflo_file_send(
        created=ago(5),
        name="nccl.conf",
        invoke=eflo_invoke_id("nccl-4"),
        nodes=refused([node_id(f"gpu-{n}") for n in range(4)], 1),
    )
    world.cloud.dataset.add(sent)
    world.invoke(
        {
            "action": "watch",
            "provider": "eflo",
            "region": "cn-hangzhou",
            "invokeIds": [sent.invoke_id],
        }
    )
    [text] = world.messages()
    assert "(1 of 4 nodes failed)" in text


# --- rendering: every robot, and what stays as it was ----------------------------------------


def _alerts(failed: int, targeted: int | None) -> tuple[Alert, ...]:
    return tuple(
        make_alert(
            make_finding(
                name="rollout.sh",
                instance_id=f"i-bp1rollout{n:09d}",
                output=DISK_FULL,
                targeted=targeted,
            )
        )
        for n in range(failed)
    )


@pytest.fixture
def robots(http: httpx.Client) -> dict[str, Callable[[str], Receiver]]:
    return {
        "dingtalk": lambda lang: DingTalkReceiver(
            "ops", SecretStr(ROBOT_URL), None, http=http, options=RenderOptions(lang=lang)
        ),
        "wecom": lambda lang: WeComReceiver(
            "ops",
            SecretStr("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=0123"),
            http=http,
            options=RenderOptions(lang=lang),
        ),
        "feishu": lambda lang: FeishuReceiver(
            "ops",
            SecretStr("https://open.feishu.cn/open-apis/bot/v2/hook/0123"),
            http=http,
            options=RenderOptions(lang=lang),
        ),
    }


@pytest.mark.parametrize("kind", ["dingtalk", "wecom", "feishu"])
@pytest.mark.parametrize(
    ("lang", "lead"),
    [
        ("en", "`rollout.sh` failed on 60 of 200 instances: 60 ×"),
        ("zh", "`rollout.sh` 在 200 台实例中的 60 台上失败：60 ×"),
    ],
)
def test_every_robot_carries_the_share_in_its_cause_line(robots, kind, lang, lead) -> None:
    # GIVEN 60 of 200 instances failed the same way (more than fits WeCom's 4,096 bytes)
    notification = Notification(receiver="ops", group="t-hz0jdfwd9f0001", alerts=_alerts(60, 200))
    # WHEN each robot renders it
    messages = robots[kind](lang).render(notification)
    # THEN its first message carries the cause line "60 of 200", and every instance is named
    assert lead in messages[0].text
    text = "\n".join(json.dumps(m.payload, ensure_ascii=False) for m in messages)
    assert all(a.finding.instance_id in text for a in notification.alerts)
    # AND each message stays within what the robot takes
    for message in messages:
        if kind == "wecom":
            assert len(message.payload["markdown"]["content"].encode()) <= 4096
        else:
            assert len(compact_json(message.payload)) <= 20_000


def test_an_unknown_total_reads_as_it_did() -> None:
    # GIVEN failures whose invocation's total is not known (e.g. stored before this change)
    four = Notification(receiver="ops", group="t-hz0jdfwd9f0001", alerts=_alerts(4, None))
    three = Notification(receiver="ops", group="t-hz0jdfwd9f0001", alerts=_alerts(3, None))
    # THEN the cause line and the head count as before, with no "of"
    by_cause = render_markdown(four, RenderOptions(lang="en"))
    assert "`rollout.sh` failed on 4 instances: 4 ×" in by_cause
    assert "assistwatch: 3 failed" in render_markdown(three, RenderOptions(lang="en"))
    assert "台实例中的" not in render_markdown(three, RenderOptions(lang="zh"))


def test_one_failure_of_a_one_instance_task_says_no_1_of_1() -> None:
    alone = Notification(receiver="ops", group="t-hz0jdfwd9f0001", alerts=_alerts(1, 1))
    text = render_markdown(alone, RenderOptions(lang="en"))
    assert "1 of 1" not in text
    assert "1 台实例中的" not in render_markdown(alone, RenderOptions(lang="zh"))


def test_one_invocation_total_unknown_among_two_leaves_the_count_as_it_was() -> None:
    # GIVEN a digest of two invocations of rollout.sh, one of which does not know its total
    known = _alerts(2, 200)
    unknown = tuple(
        make_alert(
            make_finding(
                name="rollout.sh", invoke_id="t-hzother00001", instance_id=f"i-bp1other{n:010d}"
            )
        )
        for n in range(2)
    )
    digest = Notification(receiver="ops", group="digest", alerts=known + unknown)
    # THEN no total is made up: the head counts the failures as before
    text = render_markdown(digest, RenderOptions(lang="en"))
    assert "assistwatch: 4 failed" in text
    assert " of 200" not in text


def test_two_invocations_that_know_their_totals_add_up() -> None:
    first = _alerts(2, 100)
    second = tuple(
        make_alert(
            make_finding(
                name="rollout.sh",
                invoke_id="t-hzother00001",
                instance_id=f"i-bp1other{n:010d}",
                targeted=50,
            )
        )
        for n in range(1)
    )
    digest = Notification(receiver="ops", group="digest", alerts=first + second)
    assert "3 of 150 instances failed" in render_markdown(digest, RenderOptions(lang="en"))


def test_a_template_can_say_how_many_were_targeted(http: httpx.Client) -> None:
    # GIVEN a routing-file template that prints each failure's share
    template = TemplateSource(
        text="{% for a in alerts %}{{ a.code.instance_id }} of {{ a.targeted or '?' }}\n"
        "{% endfor %}",
        where="routing.yaml:3",
    )
    options = RenderOptions(lang="en", template=template)
    robot = DingTalkReceiver("ops", SecretStr(ROBOT_URL), None, http=http, options=options)
    known = Notification(receiver="ops", group="t-hz0jdfwd9f0001", alerts=_alerts(1, 200))
    unknown = Notification(receiver="ops", group="t-hz0jdfwd9f0001", alerts=_alerts(1, None))
    # THEN the total is there when known, and nothing is made up when it is not
    assert "`i-bp1rollout000000000` of 200" in robot.render(known)[0].text
    assert "`i-bp1rollout000000000` of ?" in robot.render(unknown)[0].text
