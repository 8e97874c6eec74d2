"""DingTalkReceiver against the loopback robot: size, mentions, keyword, 加签, errcodes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from lib.notify.dingtalk import DingTalkReceiver
from lib.notify.render import RenderOptions, compact_json
from lib.support.errors import (
    DeliveryError,
    ReceiverConfigError,
    ReceiverRateLimited,
    ReceiverTransientError,
)
from tests.factories import NOW, Clock, make_alert, make_finding, make_notification
from tests.fakes.dingtalk import DingTalkFake

SECRET = "SECd1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2"
TOKEN = "9edc1903fb16c17417fefb6fc70b5ac6cb6ccb035585c2de0257b38e7cc3f3a9"


@pytest.fixture
def fake(clock: Clock) -> Iterator[DingTalkFake]:
    with DingTalkFake(clock=clock) as server:
        yield server


def receiver(
    url: str,
    http: httpx.Client,
    clock: Clock,
    *,
    secret: str | None = SECRET,
    keyword: str | None = None,
    **kwargs: object,
) -> DingTalkReceiver:
    kwargs.setdefault("sleep", lambda seconds: None)  # retries back off on a fake clock
    return DingTalkReceiver(
        "ops-robot",
        SecretStr(url),
        SecretStr(secret) if secret is not None else None,
        http=http,
        clock=clock,
        keyword=keyword,
        **kwargs,  # type: ignore[arg-type]
    )


def assert_no_secret(exc: BaseException) -> None:
    for text in (str(exc), repr(exc)):
        assert TOKEN not in text
        assert TOKEN[:-4] not in text
        assert SECRET not in text


def test_every_part_of_a_500_instance_group_fits_20000_bytes(
    fake: DingTalkFake, http: httpx.Client, clock: Clock
) -> None:
    """GIVEN a task failed on 500 instances with long Chinese output, all listed
    WHEN rendered and sent THEN every JSON body is ≤ 20,000 bytes, the robot takes them all,
    and together they name every instance with no entry cut in two."""
    output = "\n".join(f"错误：第 {n} 行输出，磁盘空间不足" for n in range(40))
    # Each instance its own cause (exit code): alert by alert, so the group must split in parts
    # (one cause on 500 instances reads as one message: tests/test_signatures.py).
    notification = make_notification(
        alerts=tuple(
            make_alert(
                make_finding(instance_id=f"i-bp1i7gg30r52z2e{n:05d}", output=output, exit_code=n)
            )
            for n in range(500)
        )
    )
    robot = receiver(
        fake.add_robot(TOKEN, secret=SECRET),
        http,
        clock,
        options=RenderOptions(max_alerts_listed=500, max_output_bytes=4000),
    )
    messages = robot.render(notification)
    assert len(messages) > 1
    for message in messages:
        assert len(compact_json(message.payload)) <= 20_000
        robot.send(message)
        clock.now += 3.5  # stay under the robot's 20 messages a minute
    texts = [m["markdown"]["text"] for m in fake.received(TOKEN)]
    joined = "\n".join(texts)
    for alert in notification.alerts:
        assert joined.count(f"`{alert.finding.instance_id}`") == 1
    # Each detailed entry ends with its output's last line: none was cut mid-entry.
    assert joined.count("> 错误：第 39 行输出，磁盘空间不足") == 500
    assert len({m.id for m in messages}) == len(messages)


def test_mentions_are_written_in_the_text_and_in_at(
    fake: DingTalkFake, http: httpx.Client, clock: Clock
) -> None:
    """GIVEN a robot that mentions a phone and a user id WHEN a message is rendered
    THEN "@138…" and "@user" are in the text and both lists are in ``at``."""
    robot = receiver(
        fake.add_robot(TOKEN),
        http,
        clock,
        secret=None,
        at_mobiles=["13800138000"],
        at_user_ids=["manager4711"],
    )
    (message,) = robot.render(make_notification(2))
    assert "@13800138000" in message.text
    assert "@manager4711" in message.text
    assert message.payload["at"] == {
        "atMobiles": ["13800138000"],
        "atUserIds": ["manager4711"],
        "isAtAll": False,
    }


def test_keyword_is_always_present_so_the_robot_accepts_every_part(
    fake: DingTalkFake, http: httpx.Client, clock: Clock
) -> None:
    """GIVEN a robot whose security setting is the keyword 云助手告警
    WHEN a multi-part notification is sent THEN every part is accepted."""
    robot = receiver(
        fake.add_robot(TOKEN, keyword="云助手告警"),
        http,
        clock,
        secret=None,
        keyword="云助手告警",
        options=RenderOptions(max_alerts_listed=200),
    )
    distinct = tuple(  # each its own cause (exit code), so the group needs several parts
        make_alert(make_finding(instance_id=f"i-bp1k{n:016d}", output="x" * 1500, exit_code=n))
        for n in range(200)
    )
    messages = robot.render(make_notification(alerts=distinct))
    assert len(messages) > 1
    for message in messages:
        assert "云助手告警" in message.title
        robot.send(message)
        clock.now += 3.5
    assert len(fake.received(TOKEN)) == len(messages)


def test_message_ids_are_stable_across_renders(http: httpx.Client, clock: Clock) -> None:
    """GIVEN the same notification WHEN rendered twice THEN the message ids are identical."""
    robot = receiver("https://oapi.dingtalk.com/robot/send?access_token=x", http, clock)
    notification = make_notification(30)
    assert [m.id for m in robot.render(notification)] == [m.id for m in robot.render(notification)]


def test_rate_limit_130101_pauses_the_robot_ten_minutes(
    fake: DingTalkFake, http: httpx.Client, clock: Clock
) -> None:
    """GIVEN a robot that already took 20 messages this minute WHEN one more is sent
    THEN ReceiverRateLimited with a pause of 600 s, and the message is not delivered."""
    robot = receiver(fake.add_robot(TOKEN, secret=SECRET), http, clock)
    (message,) = robot.render(make_notification(1))
    for _ in range(20):
        robot.send(message)
    with pytest.raises(ReceiverRateLimited) as caught:
        robot.send(message)
    assert caught.value.pause_seconds == 600
    assert len(fake.received(TOKEN)) == 20


def test_wrong_secret_is_a_config_error_that_never_shows_token_or_secret(
    fake: DingTalkFake, http: httpx.Client, clock: Clock
) -> None:
    """GIVEN a robot whose 加签 secret differs from ours WHEN sending
    THEN ReceiverConfigError naming the robot by scheme://host only, no token, no secret."""
    fake.add_robot(TOKEN, secret="SECsomethingelse")
    robot = receiver(fake.url_for(TOKEN), http, clock)
    (message,) = robot.render(make_notification(1))
    with pytest.raises(ReceiverConfigError) as caught:
        robot.send(message)
    assert "310000" in str(caught.value)
    assert f"robot {fake.base_url}: 310000" in str(caught.value)
    assert "access_token" not in str(caught.value)
    assert_no_secret(caught.value)
    assert TOKEN not in repr(robot)


def test_unknown_token_is_a_config_error_without_the_token(
    fake: DingTalkFake, http: httpx.Client, clock: Clock
) -> None:
    """GIVEN a URL whose token the robot service does not know WHEN sending
    THEN ReceiverConfigError with 300001, the token masked."""
    robot = receiver(fake.url_for(TOKEN), http, clock)
    (message,) = robot.render(make_notification(1))
    with pytest.raises(ReceiverConfigError) as caught:
        robot.send(message)
    assert "300001" in str(caught.value)
    assert_no_secret(caught.value)


def test_missing_keyword_is_a_config_error(
    fake: DingTalkFake, http: httpx.Client, clock: Clock
) -> None:
    """GIVEN a robot requiring a keyword we were not told WHEN sending THEN a config error."""
    robot = receiver(fake.add_robot(TOKEN, keyword="告警机器人"), http, clock, secret=None)
    (message,) = robot.render(make_notification(1))
    with pytest.raises(ReceiverConfigError, match="310000"):
        robot.send(message)


def test_too_big_message_is_reported_as_a_render_bug(
    fake: DingTalkFake, http: httpx.Client, clock: Clock
) -> None:
    """GIVEN a message built by hand beyond 20,000 bytes WHEN sent
    THEN ReceiverConfigError 460101 saying it is a rendering bug."""
    robot = receiver(fake.add_robot(TOKEN, secret=SECRET), http, clock)
    (message,) = robot.render(make_notification(1))
    big = message.model_copy(
        update={"payload": {"msgtype": "markdown", "markdown": {"title": "t", "text": "x" * 30000}}}
    )
    with pytest.raises(ReceiverConfigError, match=r"460101.*rendering bug"):
        robot.send(big)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(
    status: int, fake: DingTalkFake, http: httpx.Client, clock: Clock
) -> None:
    """GIVEN the robot service answers 5xx once WHEN sending THEN the send is retried after
    a backoff and delivered once; GIVEN it answers 5xx three times THEN ReceiverTransientError
    (retryable: the outbox keeps the message)."""
    waits: list[float] = []
    robot = receiver(fake.add_robot(TOKEN, secret=SECRET), http, clock, sleep=waits.append)
    (message,) = robot.render(make_notification(1))
    fake.fail_next(status)
    robot.send(message)
    assert len(fake.received(TOKEN)) == 1
    assert waits == [1.0]
    fake.fail_next(status, times=3)
    with pytest.raises(ReceiverTransientError) as caught:
        robot.send(message)
    assert caught.value.retryable
    assert len(fake.received(TOKEN)) == 1


def test_timeouts_and_resets_are_transient_and_never_show_the_url(clock: Clock) -> None:
    """GIVEN a transport that times out, then one that resets WHEN sending
    THEN ReceiverTransientError both times, without the token in message or cause."""

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout(f"timed out reading {request.url}", request=request)

    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError(f"reset by {request.url}", request=request)

    url = f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"
    for handler in (timeout, reset):
        with httpx.Client(transport=httpx.MockTransport(handler)) as client:
            robot = receiver(url, client, clock)
            (message,) = robot.render(make_notification(1))
            with pytest.raises(ReceiverTransientError) as caught:
                robot.send(message)
            assert_no_secret(caught.value)
            assert caught.value.__cause__ is None
            assert caught.value.__suppress_context__


def test_other_errcodes_are_config_errors_with_code_and_message(clock: Clock) -> None:
    """GIVEN the robot answers an errcode we do not map WHEN sending
    THEN ReceiverConfigError carrying that errcode and errmsg."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"errcode": 400013, "errmsg": "群已被解散"})

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        robot = receiver(
            f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}", client, clock
        )
        (message,) = robot.render(make_notification(1))
        with pytest.raises(ReceiverConfigError, match=r"400013.*群已被解散"):
            robot.send(message)


def test_signed_request_carries_timestamp_and_sign_on_the_robot_url(clock: Clock) -> None:
    """GIVEN a robot with 加签 WHEN sending THEN the URL keeps access_token and adds the
    timestamp in ms and the sign; the body is the rendered payload as UTF-8 JSON."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        robot = receiver(
            f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}", client, clock
        )
        (message,) = robot.render(make_notification(1))
        robot.send(message)
    (request,) = seen
    params = request.url.params
    assert params["access_token"] == TOKEN
    assert params["timestamp"] == str(int(NOW * 1000))
    assert params["sign"]
    assert json.loads(request.content) == message.payload


def test_resolved_notification_is_rendered_and_delivered(
    fake: DingTalkFake, http: httpx.Client, clock: Clock
) -> None:
    """GIVEN a resolved alert WHEN rendered and sent THEN the robot gets a resolved message."""
    robot = receiver(fake.add_robot(TOKEN, secret=SECRET), http, clock)
    alert = make_alert(make_finding(), status="resolved")
    (message,) = robot.render(make_notification(alerts=(alert,)))
    robot.send(message)
    assert "已恢复" in fake.received(TOKEN)[0]["markdown"]["text"]


def test_delivery_errors_share_the_one_error_tree() -> None:
    """GIVEN the receiver's error classes THEN all are DeliveryErrors (the app catches those)."""
    for cls in (ReceiverConfigError, ReceiverRateLimited, ReceiverTransientError):
        assert issubclass(cls, DeliveryError)
