"""A hostile tenant writes the command names, paths, ErrorInfo and output we show: every
receiver shows them, and none obeys them (no heading, link, HTML, mention or escape code).

Each receiver kind renders the same hostile corpus; what it sends is checked the way its
robot would read it, without trusting that the robot honours backslash escapes.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from lib.core.notification import Message, Notification
from lib.notify.console import ConsoleReceiver
from lib.notify.dingtalk import DingTalkReceiver
from lib.notify.feishu import FeishuReceiver
from lib.notify.render import RenderOptions
from lib.notify.webhook import WebhookReceiver
from lib.notify.wecom import WeComReceiver
from tests.factories import make_alert, make_finding
from tests.hostile import (
    HEADING_NAME,
    INSTANCE,
    INVOKE,
    ODD_DIR,
    ODD_FILE,
    hostile_notification,
)

UNESCAPED_TAG = re.compile(r"<[A-Za-z/!?@]")
LINE_MARKER = re.compile(r"^\s*(?:[#>*+=_~`|-]|\d+[.)])")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# The lines we write: headings, counts, group, fields and digest lines, quoted output.
OURS = re.compile(r"^(?:#{3,4} |(?:critical|warning|info) \d|Group: |- |…and \d|> |云助手$|$)")


def assert_inert(text: str, *, alerts: int, at_sign: bool) -> None:
    """Read ``text`` as a robot that may honour no escape: only our own markup is there."""
    assert not CONTROL.search(text), "a control, escape or bidi character got through"
    assert not re.search("[\ud800-\udfff]", text)
    lines = text.split("\n")
    # Our lines only: our headings, fields, quoted output; no line the tenant started.
    for line in lines:
        assert OURS.match(line), f"a line we did not write: {line!r}"
        if line.startswith("> "):  # quoted output: its content must not start a block
            assert not LINE_MARKER.match(line[2:]), f"output line starts markup: {line!r}"
    # Our headings only: one per alert, after a summary head when there are several.
    assert sum(line.startswith("#") for line in lines) == alerts + (alerts > 1)
    # Links: only our console links.
    assert text.count("](") == text.count("](https://ecs.console.aliyun.com/cloud-assistant/")
    assert not UNESCAPED_TAG.search(text), "an HTML tag, autolink or mention can open"
    if at_sign:
        assert not re.search(r"@\S", text), "a DingTalk @mention from the cloud"
    for line in lines:
        # Code spans pair up on each line; a tenant's backtick never opens or closes one.
        spans = len(re.findall(r"(?<!\\)`", line))
        assert spans % 2 == 0, f"unbalanced code spans: {line!r}"
        for emphasis in ("**bold**", "__strong__", "_it_", "~~struck~~"):
            assert emphasis not in line, f"emphasis renders: {line!r}"


def assert_ids_verbatim(text: str) -> None:
    """Every id and path an engineer copies is there exactly, as code."""
    for value in (INSTANCE, INVOKE, "i-bp1i7gg30r52z2e0hst3", "f-hz0jdfwd9f0bad", ODD_DIR):
        assert f"`{value}`" in text, f"{value} is not shown verbatim"
    assert f"`{ODD_FILE}`" in text
    assert "cn-hangzhou" in text


def assert_title_one_line(title: str) -> None:
    assert "\n" not in title
    assert "\r" not in title
    assert not CONTROL.search(title)
    assert not UNESCAPED_TAG.search(title)


def no_http() -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(500)))


OPTIONS = RenderOptions(lang="en")
ROBOTS: dict[str, Callable[[], Any]] = {
    "dingtalk": lambda: DingTalkReceiver(
        "ops",
        SecretStr("https://oapi.dingtalk.com/robot/send?access_token=t0ken"),
        None,
        http=no_http(),
        options=OPTIONS,
        keyword="云助手",
    ),
    "feishu": lambda: FeishuReceiver(
        "ops",
        SecretStr("https://open.feishu.cn/open-apis/bot/v2/hook/t0ken"),
        http=no_http(),
        options=OPTIONS,
    ),
    "wecom": lambda: WeComReceiver(
        "ops",
        SecretStr("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=t0ken"),
        http=no_http(),
        options=OPTIONS,
    ),
}


def markdown_of(kind: str, message: Message) -> tuple[str, str | None]:
    """The markdown the robot renders and the title it shows, from the payload we send."""
    payload = message.payload
    if kind == "dingtalk":
        return payload["markdown"]["text"], payload["markdown"]["title"]
    if kind == "feishu":
        card = payload["card"]
        return card["elements"][0]["content"], card["header"]["title"]["content"]
    return payload["markdown"]["content"], None


@pytest.mark.parametrize("kind", sorted(ROBOTS))
def test_a_hostile_tenant_gets_no_markup_into_a_robot_message(kind: str) -> None:
    """GIVEN a command named "deploy.sh`⏎⏎### INJECTED HEADING" whose ErrorInfo and output
    carry headings, links, HTML, every robot's mention syntax, ANSI and bidi codes
    WHEN the robot's messages are rendered THEN each shows only our own headings, links and
    code spans, no tag or mention can open, the title is one line, and every id and path is
    there verbatim for the on-call engineer to copy."""
    robot = ROBOTS[kind]()
    messages = robot.render(hostile_notification())
    text = "\n\n".join(markdown_of(kind, m)[0] for m in messages)
    for message in messages:
        body, title = markdown_of(kind, message)
        assert_inert(body, alerts=body.count("\n#### "), at_sign=kind == "dingtalk")
        if title is not None:
            assert_title_one_line(title)
        assert_title_one_line(message.title)
    assert text.count("\n#### ") == 3
    assert_ids_verbatim(text)


def test_a_hostile_command_name_puts_no_heading_in_a_dingtalk_message_or_newline_in_its_title() -> (
    None
):
    """GIVEN a command named "deploy.sh`⏎⏎### INJECTED HEADING" (the attack as reported)
    WHEN the DingTalk robot renders its failure THEN the name is one code span on the alert's
    own heading line, no line starts with it, and the title stays on one line."""
    finding = make_finding(name=HEADING_NAME)
    note = Notification(receiver="ops", group=finding.invoke_id, alerts=(make_alert(finding),))
    (message,) = ROBOTS["dingtalk"]().render(note)
    text = message.payload["markdown"]["text"]
    assert "### INJECTED" not in "\n".join(
        line for line in text.split("\n") if not line.startswith("#### ")
    )
    assert "#### 🟠 [warning] command `deploy.shˋ ### INJECTED HEADING` failed" in text
    assert "\n" not in message.payload["markdown"]["title"]


def test_output_with_links_html_and_mentions_reaches_feishu_and_wecom_inert() -> None:
    """GIVEN output lines "[click](http://evil)", "<at id=all></at>" and "<@all>"
    WHEN Feishu and WeCom render them THEN no link, no Feishu mention of everyone and no
    WeCom mention of everyone is in the message, and the words are still readable."""
    finding = make_finding(output="[click](http://evil.example)\n<at id=all></at>\n<@all>\n")
    note = Notification(receiver="ops", group=finding.invoke_id, alerts=(make_alert(finding),))
    for kind in ("feishu", "wecom"):
        (message,) = ROBOTS[kind]().render(note)
        text, _ = markdown_of(kind, message)
        assert "](http://evil" not in text
        assert "<at id=all>" not in text
        assert "<@all>" not in text
        assert "click" in text
        assert "at id=all" in text
        assert "＜@all>" in text


def test_the_console_prints_no_escape_codes_and_a_one_line_title() -> None:
    """GIVEN the hostile corpus WHEN the console receiver prints it THEN the terminal gets no
    ANSI/bidi/control character, the header line is one line, and ids stay verbatim."""
    stream = io.StringIO()
    console = ConsoleReceiver(stream=stream, options=OPTIONS)
    (message,) = console.render(hostile_notification())
    console.send(message)
    printed = stream.getvalue()
    assert not CONTROL.search(printed)
    header = printed.split("\n", 1)[0]
    assert header.startswith("===== [console] assistwatch ")
    assert header.endswith(" =====")
    assert_inert(message.text, alerts=3, at_sign=False)
    assert_ids_verbatim(message.text)


def test_webhook_annotations_are_clean_lines_and_labels_keep_the_ids() -> None:
    """GIVEN the hostile corpus WHEN the webhook payload is built THEN summary and description
    are one line without control, ANSI or bidi characters, the output annotation keeps its
    lines but none of those characters, and the labels carry the ids verbatim."""
    hook = WebhookReceiver("hook", "https://example.com/h", None, http=no_http(), options=OPTIONS)
    (message,) = hook.render(hostile_notification())
    body = json.loads(json.dumps(message.payload))
    for alert in body["alerts"]:
        annotations = alert["annotations"]
        for field in ("summary", "description"):
            assert "\n" not in annotations[field]
            assert not CONTROL.search(annotations[field])
        assert not CONTROL.search(annotations.get("output", ""))
    labels = [alert["labels"] for alert in body["alerts"]]
    assert [label["instance_id"] for label in labels] == [
        INSTANCE,
        "i-bp1i7gg30r52z2e0hst2",
        "i-bp1i7gg30r52z2e0hst3",
    ]
    summary = body["alerts"][0]["annotations"]["summary"]
    assert summary.startswith("command deploy.sh` ### INJECTED HEADING Failed on ")
    assert_title_one_line(message.title)
    assert_inert(message.text, alerts=3, at_sign=False)


@pytest.mark.parametrize("kind", sorted(ROBOTS))
def test_an_instance_named_and_described_by_a_hostile_tenant_stays_inert(kind: str) -> None:
    """GIVEN a failure whose instance DescribeInstances names with markup (the tenant names
    instances) and reports in a status nobody documented WHEN the robot renders it THEN
    the name and status show, and neither opens a link, tag, mention or heading."""
    finding = make_finding(
        instance_id=INSTANCE,
        invoke_id=INVOKE,
        instance_name="web`\n\n### NAME HEADING [x](http://evil.example) <@all> @13800000000",
        instance_status="Stopped** [y](http://evil.example) <at id=all></at>\n## STATUS",
    )
    note = Notification(receiver="ops", group=INVOKE, alerts=(make_alert(finding),))
    (message,) = ROBOTS[kind]().render(note)
    body, _ = markdown_of(kind, message)
    assert_inert(body, alerts=1, at_sign=kind == "dingtalk")
    assert "NAME HEADING" in body
    assert "STATUS" in body
