"""Firing messages carry 静默/确认/详情 links in each robot's markdown; resolved ones carry none;
a cause on many instances carries one line for all of them; every part stays in its limit."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from lib.core.links import ActionLinks, Signer
from lib.core.notification import Message, Notification
from lib.notify.dingtalk import DingTalkReceiver
from lib.notify.feishu import FeishuReceiver
from lib.notify.render import RenderOptions, compact_json
from lib.notify.wecom import WeComReceiver
from tests.factories import make_alert, make_finding, make_notification

SECRET = b"message-actions-test-key-0123456789abcdef"
NOW = 1_764_000_000.0
SIGNER = Signer("https://alerts.example.com", SECRET)
ZH = RenderOptions(actions=ActionLinks(SIGNER, clock=lambda: NOW))
EN = RenderOptions(lang="en", actions=ActionLinks(SIGNER, clock=lambda: NOW))
URL = SecretStr("https://oapi.dingtalk.com/robot/send?access_token=abc")


def dingtalk(options: RenderOptions = ZH) -> DingTalkReceiver:
    return DingTalkReceiver("dingtalk", URL, None, http=httpx.Client(), options=options)


def links_in(text: str) -> list[tuple[str, dict[str, str]]]:
    """(label, query) of each markdown link to the public URL."""
    found = []
    for chunk in text.split("](")[1:]:
        url = chunk.split(")")[0]
        if url.startswith("https://alerts.example.com/act?"):
            label = text.split(f"]({url})", maxsplit=1)[0].rsplit("[", 1)[1]
            found.append((label, dict(parse_qsl(urlsplit(url).query))))
    return found


def tappable_in(message: Message) -> list[tuple[str, dict[str, str]]]:
    """(label, query) of each action as sent: card buttons, else the body's markdown links."""
    card = message.payload.get("card")
    if card is not None and any(e["tag"] == "action" for e in card["elements"]):
        return [
            (b["text"]["content"], dict(parse_qsl(urlsplit(b["url"]).query)))
            for e in card["elements"]
            if e["tag"] == "action"
            for b in e["actions"]
        ]
    markdown = message.payload.get("markdown") or {}
    elements = card["elements"] if card is not None else []
    texts = [markdown.get("text", ""), markdown.get("content", "")]
    return links_in("\n".join(texts + [e.get("content", "") for e in elements]))


def test_a_firing_alert_carries_its_five_actions_and_the_operator_page() -> None:
    alert = make_alert()
    [message] = dingtalk().render(make_notification(alerts=(alert,)))
    links = links_in(message.text)
    assert [label for label, _ in links] == [
        "静默 1 小时",
        "静默 1 天",
        "静默到恢复",
        "确认",
        "详情",
        "告警总览",
    ]
    for _, query in links[:5]:
        assert query["t"] == f"{alert.fingerprint}.1"
        assert SIGNER.verify(query, NOW).expires == int(NOW + 7 * 86400)
    assert SIGNER.verify(links[5][1], NOW).expires == int(NOW + 86400)
    assert SECRET.decode() not in message.text
    assert SECRET.decode() not in json.dumps(message.payload)


def test_english_labels() -> None:
    [message] = dingtalk(EN).render(make_notification(alerts=(make_alert(),)))
    labels = [label for label, _ in links_in(message.text)]
    assert labels[:5] == [
        "Silence 1 hour",
        "Silence 1 day",
        "Silence until resolved",
        "Acknowledge",
        "Details",
    ]


def test_a_resolved_message_carries_no_actions() -> None:
    alert = make_alert(status="resolved")
    [message] = dingtalk().render(make_notification(alerts=(alert,)))
    assert "/act?" not in message.text


def test_without_the_settings_messages_have_no_links() -> None:
    [message] = dingtalk(RenderOptions()).render(make_notification(alerts=(make_alert(),)))
    assert "/act?" not in message.text


def test_a_task_failing_on_many_instances_has_one_line_for_the_cause() -> None:
    notification = make_notification(40)
    [message, *rest] = dingtalk().render(notification)
    all_text = "\n".join(m.text for m in (message, *rest))
    links = links_in(all_text)
    targets = {query["t"] for _, query in links if query["a"] != "ops"}
    assert targets == {f"g:{notification.alerts[0].group}"}
    assert [q["a"] for _, q in links] == ["silence-1h", "silence-1d", "ack", "detail", "ops"]
    assert "整组操作（40 个）" in message.text


@pytest.mark.parametrize(
    ("make", "limit", "size"),
    [
        (dingtalk, 20_000, lambda m: len(compact_json(m.payload))),
        (
            lambda: WeComReceiver("wecom", URL, http=httpx.Client(), options=ZH),
            4096,
            lambda m: len(m.payload["markdown"]["content"].encode()),
        ),
        (
            lambda: FeishuReceiver("feishu", URL, http=httpx.Client(), options=ZH),
            20_000,
            lambda m: len(compact_json(m.payload)) + 200,
        ),
    ],
    ids=["dingtalk", "wecom", "feishu"],
)
def test_each_robot_gets_links_within_its_size_limit(make, limit, size) -> None:
    """GIVEN a digest of three causes with long output WHEN each robot renders it THEN each
    part fits and each firing alert listed has its links."""
    alerts = tuple(
        make_alert(
            make_finding(
                invoke_id=f"t-cause{i}",
                instance_id=f"i-{i:020d}",
                output="x" * 3000 + "\nerror: disk full",
            )
        )
        for i in range(3)
    )
    notification = Notification(receiver="r", group="digest: 3 groups", alerts=alerts)
    messages = make().render(notification)
    # What the reader can tap: the markdown links sent, or a Feishu card's buttons.
    tappable = [pair for m in messages for pair in tappable_in(m)]
    targets = {q["t"] for _, q in tappable if q["a"] == "ack"}
    assert targets == {f"{a.fingerprint}.1" for a in alerts}
    for message in messages:
        assert size(message) <= limit


def test_a_causes_link_silences_that_invocation_on_every_instance_and_nothing_else(
    tmp_path,
) -> None:
    from lib.app.actions import Actor, apply_link
    from lib.core.silences import apply_silences
    from lib.state.file import FileStore
    from lib.state.silences import list_silences

    notification = make_notification(10)
    other = make_alert(make_finding(invoke_id="t-another"))
    [message, *_] = dingtalk().render(notification)
    [query] = [q for _, q in links_in(message.text) if q["a"] == "silence-1h"]
    store = FileStore(tmp_path)
    apply_link(store, SIGNER.verify(query, NOW), Actor("203.0.113.9", "phone"), NOW)
    told, muted = apply_silences([*notification.alerts, other], list_silences(store, NOW), NOW + 1)
    assert told == [other]
    assert len(muted) == 10


def _by_invocation(invocations: int, per: int) -> Notification:
    """One command run in several invocations, failing the same way on every instance (the
    message reads by cause, lib.notify.signatures)."""
    alerts = tuple(
        make_alert(
            make_finding(
                invoke_id=f"t-inv{j}", instance_id=f"i-{j:02d}{i:018d}", output="error: disk full"
            )
        )
        for j in range(invocations)
        for i in range(per)
    )
    return Notification(receiver="r", group="digest: deploy.sh", alerts=alerts)


def test_one_command_failing_in_several_invocations_carries_a_line_per_invocation() -> None:
    """GIVEN deploy.sh failing on 3 instances in each of two invocations (one message, read by
    cause) WHEN DingTalk renders it THEN each invocation has its line of links (its timed
    silences, acknowledge and 详情), not only the operator page's link."""
    notification = _by_invocation(2, 3)
    [message] = dingtalk().render(notification)
    links = links_in(message.text)
    targets = {q["t"] for _, q in links if q["a"] == "ack"}
    assert targets == {"g:t-inv0", "g:t-inv1"}
    assert {q["a"] for _, q in links if q["t"] == "g:t-inv1"} == {
        "silence-1h",
        "silence-1d",
        "ack",
        "detail",
    }
    assert "t-inv0` 的 3 个" in message.text


def test_many_invocations_carry_a_few_lines_and_stay_within_wecoms_limit() -> None:
    """GIVEN one command failing in 12 invocations WHEN WeCom (4,096 bytes) renders it THEN the
    five largest invocations have their lines, the rest are counted toward the operator page,
    and every part fits."""
    notification = _by_invocation(12, 4)
    messages = WeComReceiver("wecom", URL, http=httpx.Client(), options=ZH).render(notification)
    text = "\n".join(m.payload["markdown"]["content"] for m in messages)
    assert len({q["t"] for _, q in links_in(text) if q["a"] == "ack"}) == 5
    assert "另有 7 组：见告警总览" in text
    for message in messages:
        assert len(message.payload["markdown"]["content"].encode()) <= 4096
