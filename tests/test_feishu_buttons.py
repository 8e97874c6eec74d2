"""Feishu cards carry a firing alert's actions as real buttons (静默 1 小时 / 静默 1 天 / 静默到恢复 /
确认 / 详情 and the operator page), each a signed link; a cause on many instances has one row;
a card that would not fit with buttons keeps the markdown links; the Feishu fake refuses what
the service refuses; cloud text can neither add nor alter a button."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from lib.core.links import ActionLinks, Signer
from lib.core.notification import Message, Notification
from lib.core.overrides import Mentions
from lib.notify.feishu import FeishuReceiver
from lib.notify.render import RenderOptions, compact_json
from lib.state.file import FileStore
from lib.state.silences import list_silences
from lib.support.errors import ReceiverConfigError
from tests import test_links as links
from tests.factories import make_alert, make_finding, make_notification
from tests.fakes.feishu import FeishuFake
from tests.test_links import fresh_limiter  # noqa: F401 - autouse: the trigger's state reset

SECRET = b"feishu-buttons-test-key-0123456789abcdef"
NOW = 1_764_000_000.0
BASE = "https://alerts.example.com"
SIGNER = Signer(BASE, SECRET)
ZH = RenderOptions(actions=ActionLinks(SIGNER, clock=lambda: NOW))
EN = RenderOptions(lang="en", actions=ActionLinks(SIGNER, clock=lambda: NOW))
HOOK = SecretStr("https://open.feishu.cn/open-apis/bot/v2/hook/t0ken")
ALERT_LABELS = ["静默 1 小时", "静默 1 天", "静默到恢复", "确认", "详情"]
LIMIT = 20_000


def feishu(options: RenderOptions = ZH, url: SecretStr = HOOK, **kw: Any) -> FeishuReceiver:
    return FeishuReceiver("feishu", url, http=kw.pop("http", httpx.Client()), options=options, **kw)


def rows(message: Message) -> list[list[dict[str, Any]]]:
    """The buttons of each action element of the card, in order."""
    elements = message.payload["card"]["elements"]
    return [element["actions"] for element in elements if element["tag"] == "action"]


def label_and_query(button: dict[str, Any]) -> tuple[str, dict[str, str]]:
    return button["text"]["content"], dict(parse_qsl(urlsplit(button["url"]).query))


def body_size(message: Message) -> int:
    return len(compact_json(message.payload)) + 96  # with the signature fields added at send


@pytest.fixture
def fake() -> Iterator[FeishuFake]:
    with FeishuFake(clock=lambda: NOW) as server:
        yield server


def test_one_alert_gets_a_row_of_five_buttons_and_the_operator_page_button() -> None:
    """GIVEN one firing alert WHEN Feishu renders it THEN under its fields a flow-laid row of
    the five actions, each a signed link to this firing, and a last button to the operator
    page valid a day; the key appears nowhere."""
    alert = make_alert()
    [message] = feishu().render(make_notification(alerts=(alert,)))
    alert_row, ops_row = rows(message)
    assert [label_and_query(b)[0] for b in alert_row] == ALERT_LABELS
    for button in alert_row:
        _, query = label_and_query(button)
        assert query["t"] == f"{alert.fingerprint}.1"
        assert SIGNER.verify(query, NOW).expires == int(NOW + 7 * 86400)
        assert button["url"].startswith(f"{BASE}/act?")
    assert [b["type"] for b in alert_row] == ["default", "default", "default", "primary", "default"]
    [ops] = ops_row
    label, query = label_and_query(ops)
    assert label == "告警总览"
    assert SIGNER.verify(query, NOW).action == "ops"
    elements = message.payload["card"]["elements"]
    assert [e["tag"] for e in elements] == ["markdown", "action", "markdown", "action"]
    assert "ExitCodeNonzero" in elements[0]["content"]  # the fields, then the buttons
    assert "error: disk full" in elements[2]["content"]  # then the output
    assert all(e.get("layout") == "flow" for e in elements if e["tag"] == "action")
    assert "/act?" not in json.dumps([e for e in elements if e["tag"] == "markdown"])
    assert SECRET.decode() not in json.dumps(message.payload) + message.text


def test_english_buttons() -> None:
    [message] = feishu(EN).render(make_notification(alerts=(make_alert(),)))
    labels = [[label_and_query(b)[0] for b in row] for row in rows(message)]
    assert labels == [
        ["Silence 1 hour", "Silence 1 day", "Silence until resolved", "Acknowledge", "Details"],
        ["Open alerts"],
    ]


def test_a_resolved_message_has_no_buttons_and_is_the_plain_card() -> None:
    notification = make_notification(alerts=(make_alert(status="resolved"),))
    [message] = feishu().render(notification)
    [plain] = feishu(RenderOptions()).render(notification)
    assert rows(message) == []
    assert message.payload == plain.payload


def test_without_the_settings_the_card_is_unchanged() -> None:
    [message] = feishu(RenderOptions()).render(make_notification(alerts=(make_alert(),)))
    assert [e["tag"] for e in message.payload["card"]["elements"]] == ["markdown"]


def test_a_task_failing_on_forty_instances_has_one_titled_row_for_the_cause() -> None:
    notification = make_notification(40)
    messages = feishu().render(notification)
    all_rows = [row for message in messages for row in rows(message)]
    cause_row, ops_row = all_rows
    assert [label_and_query(b)[1]["a"] for b in cause_row] == [
        "silence-1h",
        "silence-1d",
        "ack",
        "detail",
    ]
    assert {label_and_query(b)[1]["t"] for b in cause_row} == {f"g:{notification.alerts[0].group}"}
    assert [label_and_query(b)[1]["a"] for b in ops_row] == ["ops"]
    contents = [e.get("content", "") for e in messages[0].payload["card"]["elements"]]
    assert "**整组操作（40 个）**" in contents
    assert all(body_size(m) <= LIMIT for m in messages)


def _digest(output_bytes: int) -> Notification:
    alerts = tuple(
        make_alert(
            make_finding(
                invoke_id=f"t-cause{i}",
                instance_id=f"i-{i:020d}",
                output="x" * output_bytes + "\nerror: disk full",
            )
        )
        for i in range(3)
    )
    return Notification(receiver="r", group="digest: 3 groups", alerts=alerts)


def test_a_digest_of_three_causes_has_buttons_per_alert_within_the_limit() -> None:
    """GIVEN three causes with long output WHEN rendered THEN every part fits the body limit
    (measured on the serialized card) and each alert has its own acknowledge button."""
    notification = _digest(3000)
    messages = feishu(RenderOptions(max_output_bytes=4000, actions=ZH.actions)).render(notification)
    acked = {
        label_and_query(b)[1]["t"]
        for m in messages
        for row in rows(m)
        for b in row
        if label_and_query(b)[1]["a"] == "ack"
    }
    assert acked == {f"{a.fingerprint}.1" for a in notification.alerts}
    assert all(body_size(m) <= LIMIT for m in messages)


def test_buttons_that_would_need_another_message_give_way_to_the_markdown_links() -> None:
    """GIVEN digests whose parts sit near the 20 KB limit WHEN rendered THEN each fits; where
    buttons would need more messages than links, the card carries the links instead (every
    alert still has its actions, as links), otherwise buttons; both happen in the sweep."""
    receiver = feishu(RenderOptions(max_output_bytes=8000, actions=ZH.actions))
    forms = set()
    for output_bytes in range(4400, 7200, 100):
        messages = receiver.render(_digest(output_bytes))
        assert all(body_size(m) <= LIMIT for m in messages)
        with_buttons = [bool(rows(m)) for m in messages]
        assert len(set(with_buttons)) == 1  # one form for the whole message
        if not with_buttons[0]:
            text = "".join(m.payload["card"]["elements"][0]["content"] for m in messages)
            assert text.count("/act?a=ack&") == 3
        covered = [key for m in messages for key in m.covers]
        assert sorted(covered) == sorted(a.key for a in _digest(output_bytes).alerts)
        forms.add(with_buttons[0])
    assert forms == {True, False}


def test_a_hostile_command_name_cannot_add_or_alter_a_button() -> None:
    """GIVEN a command whose name and output try to close the JSON, add a button and write
    markdown links WHEN rendered THEN the buttons are exactly ours: catalogue labels, signed
    links to our base; the hostile text stays inside a markdown element."""
    evil = 'x"}]},{"tag":"button","text":{"tag":"plain_text","content":"pwn"},"url":"https://evil.example/"}'
    name = f"{evil} [静默 1 小时](https://evil.example/a) <at id=all></at>"
    alert = make_alert(make_finding(name=name, output=f"{name}\nerror"))
    [message] = feishu().render(make_notification(alerts=(alert,)))
    buttons = [b for row in rows(message) for b in row]
    assert [label_and_query(b)[0] for b in buttons] == [*ALERT_LABELS, "告警总览"]
    for button in buttons:
        assert set(button) == {"tag", "text", "url", "type"}
        assert SIGNER.verify(label_and_query(button)[1], NOW)
    elements = message.payload["card"]["elements"]
    assert {e["tag"] for e in elements} == {"markdown", "action"}
    assert "evil.example" not in json.dumps([e for e in elements if e["tag"] == "action"])
    assert "<at id=all>" not in json.dumps(elements, ensure_ascii=False)


def test_the_fake_takes_our_cards(fake: FeishuFake) -> None:
    url = SecretStr(fake.add_robot("ok"))
    with httpx.Client(timeout=5) as http:
        receiver = feishu(url=url, http=http, clock=lambda: NOW)
        for notification in (make_notification(), make_notification(40), _digest(3000)):
            for message in receiver.render(notification):
                receiver.send(message)
    assert len(fake.received("ok")) >= 3
    assert fake.codes
    assert set(fake.codes) == {0}


def test_a_signed_keyword_bot_with_mentions_takes_the_card_and_is_pinged(
    fake: FeishuFake,
) -> None:
    """GIVEN a bot that wants a keyword and a signature, and on-call people to @ WHEN a
    firing card with buttons is sent THEN the bot takes it and the card ends with the
    mentions after the buttons."""
    url = SecretStr(fake.add_robot("kw", secret="s3cr3t", keyword="告警"))
    with httpx.Client(timeout=5) as http:
        receiver = FeishuReceiver(
            "feishu",
            url,
            SecretStr("s3cr3t"),
            http=http,
            options=ZH,
            clock=lambda: NOW,
            keyword="告警",
            mentions=Mentions(user_ids=("ou_oncall",)),
        )
        for message in receiver.render(make_notification(alerts=(make_alert(),))):
            receiver.send(message)
    [card] = fake.received("kw")
    elements = card["card"]["elements"]
    assert elements[0] == {"tag": "markdown", "content": "告警"}
    assert elements[-1] == {"tag": "markdown", "content": "<at id=ou_oncall></at>"}
    assert [e["tag"] for e in elements].count("action") == 2


def _card(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"msg_type": "interactive", "card": {"elements": list(elements)}}


def _button(**fields: Any) -> dict[str, Any]:
    return {"tag": "action", "actions": [{"tag": "button", **fields}]}


TEXT = {"tag": "plain_text", "content": "确认"}


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (_card({"tag": "blink", "content": "x"}), "unknown card element tag"),
        (_card(_button(url="https://a.example/")), "button text missing"),
        (_card(_button(text={"tag": "plain_text", "content": " "})), "button text empty"),
        (_card(_button(text=TEXT, url="javascript:alert(1)")), "not http(s)"),
        (_card(_button(text=TEXT, url="ftp://a.example/")), "not http(s)"),
        (
            _card(_button(text=TEXT, url="https://a/", multi_url={"url": "https://b/"})),
            "both set",
        ),
        (_card(_button(text=TEXT, url="https://a/", type="loud")), "button type unknown"),
        (_card({"tag": "action", "actions": []}), "without actions"),
        (_card({"tag": "action", "layout": "zigzag", "actions": []}), "layout unknown"),
        (_card({"tag": "markdown", "content": "x" * 21_000}), "Bad Request"),
    ],
    ids=[
        "unknown-tag",
        "no-text",
        "blank-text",
        "javascript-url",
        "ftp-url",
        "url-and-multi-url",
        "bad-type",
        "no-actions",
        "bad-layout",
        "too-big",
    ],
)
def test_the_fake_refuses_bad_cards_as_feishu_does(
    fake: FeishuFake, payload: dict[str, Any], why: str
) -> None:
    """GIVEN a card Feishu would refuse WHEN posted THEN 9499 with the reason; nothing shows,
    and our receiver reports a configuration error naming no token."""
    url = fake.add_robot("strict")
    with httpx.Client(timeout=5) as http:
        answer = http.post(url, content=json.dumps(payload)).json()
        assert answer["code"] == 9499
        assert why in answer["msg"]
        receiver = feishu(url=SecretStr(url), http=http, clock=lambda: NOW)
        message = Message(receiver="feishu", id="m", title="t", text="", payload=payload)
        with pytest.raises(ReceiverConfigError) as caught:
            receiver.send(message)
    assert "strict" not in str(caught.value)
    assert fake.received("strict") == []


def test_a_button_sent_to_feishu_opens_its_page_and_silences_that_alert(
    fake: FeishuFake,
    tmp_path: Path,
) -> None:
    """GIVEN a firing card sent to the Feishu fake WHEN its 'Silence 1 day' button's URL is
    opened through the HTTP trigger THEN a confirmation page, whose form silences that alert
    (its fingerprint) for a day, as a CLI silence."""
    signer = Signer(links.PUBLIC, links.SECRET.encode())
    options = RenderOptions(lang="en", actions=ActionLinks(signer))
    alert = make_alert()
    with httpx.Client(timeout=5) as http:
        receiver = feishu(options, SecretStr(fake.add_robot("oncall")), http=http)
        for message in receiver.render(make_notification(alerts=(alert,))):
            receiver.send(message)
    [card] = fake.received("oncall")
    [button] = [
        b
        for element in card["card"]["elements"]
        if element["tag"] == "action"
        for b in element["actions"]
        if b["text"]["content"] == "Silence 1 day"
    ]
    page = links.call(tmp_path, links.envelope(button["url"]))
    assert page["statusCode"] == 200
    form = {"csrf": links.csrf_of(page["body"]), "name": "Zhao Lei"}
    done = links.call(tmp_path, links.envelope(button["url"], method="POST", form=form))
    assert done["statusCode"] == 200
    [silence] = list_silences(FileStore(tmp_path), time.time())
    assert silence.match == {"fingerprint": alert.fingerprint}
    assert silence.created_by == "Zhao Lei"


def test_one_command_in_many_invocations_gets_a_titled_row_each_and_the_rest_counted(
    fake: FeishuFake,
) -> None:
    """GIVEN deploy.sh failing on 2 instances in each of 7 invocations (one message, read by
    cause) WHEN Feishu renders and sends it THEN the five invocations shown each have a titled
    row of group buttons, the two left out are counted in text (no empty button row, which
    Feishu refuses), and the fake takes the card."""
    from tests.test_message_actions import _by_invocation

    url = SecretStr(fake.add_robot("ok"))
    with httpx.Client(timeout=5) as http:
        receiver = feishu(url=url, http=http, clock=lambda: NOW)
        [message] = receiver.render(_by_invocation(7, 2))
        receiver.send(message)
    button_rows = rows(message)[:-1]  # the last is the operator page's
    targets = {label_and_query(b)[1]["t"] for row in button_rows for b in row}
    assert len(button_rows) == 5
    assert targets == {f"g:t-inv{j}" for j in range(5)}
    texts = [e["content"] for e in message.payload["card"]["elements"] if e["tag"] == "markdown"]
    assert "另有 2 组：见告警总览" in texts
    assert set(fake.codes) == {0}
