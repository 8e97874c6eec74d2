"""A new user's first hour (issue #15 item 7): what they saw, and what they see now.

They sent a test and it arrived as 🔴 严重; a single failure came under a three-line summary
that repeated its own heading; the Chinese text mixed ASCII punctuation in; an agent alert did
not say since when; the CLI printed UTC with microseconds. Each story below is one of those.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone
from pathlib import Path

import httpx
from pydantic import SecretStr

from lib.core.catalogue import classify
from lib.core.notification import Notification
from lib.edges.cli import main
from lib.edges.cli.send_test import send_test
from lib.notify.dingtalk import DingTalkReceiver
from lib.notify.render import RenderOptions, render_markdown
from tests.factories import make_alert, make_finding, make_notification
from tests.fakes.dingtalk import DingTalkFake

TOKEN = "first0hour0token000000000000000000000000000000000000000000000000"
CJK = "[\u3400-\u9fff]"
# ASCII punctuation touching a Chinese character: what full-width punctuation replaces.
HALF_WIDTH_BESIDE_CJK = re.compile(rf"{CJK}[,;:()!?]|[,;:()!?]{CJK}|{CJK} \(|\) {CJK}")


def robot(lang: str = "zh") -> DingTalkReceiver:
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(500)))
    return DingTalkReceiver(
        "ops",
        SecretStr("https://oapi.dingtalk.com/robot/send?access_token=t0ken"),
        None,
        http=client,
        options=RenderOptions(lang=lang),  # type: ignore[arg-type]
    )


def test_a_single_failure_opens_with_its_own_heading_not_a_summary_of_one():
    """GIVEN one command failing on one instance WHEN the robot's message is drawn
    THEN it starts with the alert's heading; two alerts still get the summary head."""
    [one] = robot().render(make_notification(1))
    assert one.text.startswith("#### 🟠 [警告] 命令 `deploy.sh` 执行失败")
    assert "1 个失败" not in one.text
    assert "分组" not in one.text
    [two] = robot().render(make_notification(2))
    assert two.text.startswith("### 🟠 assistwatch：2 个失败")


def test_chinese_messages_use_full_width_punctuation_throughout():
    """GIVEN a command failure, a file send, an unhealthy agent and a cause shared by many
    instances WHEN drawn in Chinese THEN no ASCII comma, colon or parenthesis sits beside
    a Chinese character (ids, paths and commands keep their own)."""
    agent_finding = make_finding(
        instance_id="i-bp1i7gg30r52z2e00007",
        error_code="ClientNotRunning",
        exit_code=None,
        output=None,
        classification=classify(
            status="Failed", error_code="ClientNotRunning", exit_code=None, kind="command"
        ),
    )
    notifications = [
        make_notification(1),
        make_notification(3),
        make_notification(12),  # one message per cause
        make_notification(
            alerts=(
                make_alert(make_finding(kind="file", name="a.conf", target_dir="/etc/")),
                make_alert(agent_finding, subject="agent"),
                make_alert(status="resolved", ends_at=datetime(2026, 1, 1, tzinfo=timezone.utc)),
            )
        ),
    ]
    for notification in notifications:
        for message in robot("zh").render(notification):
            beside = HALF_WIDTH_BESIDE_CJK.findall(message.text)
            assert not beside, f"half-width punctuation in Chinese: {beside}\n{message.text}"


def test_an_agent_alert_says_since_when_the_agent_is_down_in_the_configured_zone():
    """GIVEN the agent on an instance stopped answering at 01:00 UTC WHEN the alert is drawn
    for a Shanghai team THEN it says it started at 09:00:00 (Asia/Shanghai), no microseconds."""
    down = datetime(2026, 11, 23, 1, 0, 0, 123456, tzinfo=timezone.utc)
    finding = make_finding(
        error_code="ClientNotRunning",
        exit_code=None,
        classification=classify(
            status="Failed", error_code="ClientNotRunning", exit_code=None, kind="command"
        ),
    )
    alert = make_alert(finding, subject="agent", starts_at=down)
    notification = Notification(receiver="ops", group="agent:x", alerts=(alert,))
    zh = render_markdown(notification, RenderOptions(lang="zh", timezone="Asia/Shanghai"))
    en = render_markdown(notification, RenderOptions(lang="en", timezone="Asia/Shanghai"))
    assert "- 开始于：2026-11-23 09:00:00（Asia/Shanghai）" in zh
    assert "- Since: 2026-11-23 09:00:00 (Asia/Shanghai)" in en
    assert "123456" not in zh + en


def test_send_test_arrives_drawn_as_a_test_not_as_a_critical_failure():
    """GIVEN a DingTalk robot WHEN the user runs send-test THEN the message says 🧪 [测试]
    and nothing to do; it never shows 🔴 or 严重."""
    with DingTalkFake() as dingtalk:
        url = dingtalk.add_robot(TOKEN)
        out = io.StringIO()
        assert send_test({"ASSISTWATCH_DINGTALK_URL": url}, [], out) == 0
        [body] = dingtalk.received(TOKEN)
    text = body["markdown"]["text"]
    assert text.startswith("#### 🧪 [测试]")
    assert "🔴" not in text
    assert "严重" not in text
    assert "无需处理" in text


def test_the_silence_cli_prints_times_in_the_configured_zone_to_the_second(tmp_path: Path, capsys):
    """GIVEN a Shanghai team WHEN they add a silence for an hour and list silences
    THEN both print the end in Asia/Shanghai, to the second, with the zone named."""
    environ = {
        "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
        "ASSISTWATCH_TIMEZONE": "Asia/Shanghai",
    }
    import os

    saved = dict(os.environ)
    os.environ.update(environ)
    try:
        assert (
            main(
                [
                    "silence",
                    "add",
                    "--match",
                    "name=deploy.sh",
                    "--for",
                    "1h",
                    "--reason",
                    "deploy window",
                ]
            )
            == 0
        )
        assert main(["silence", "list"]) == 0
    finally:
        os.environ.clear()
        os.environ.update(saved)
    printed = capsys.readouterr().out
    shown = re.findall(r"until (\S+ \S+) \((\S+)\)", printed)
    assert len(shown) == 2
    for moment, zone in shown:
        assert zone == "Asia/Shanghai"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", moment)
    assert "+00:00" not in printed
