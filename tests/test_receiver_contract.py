"""One contract, every receiver: size limits, rate limits, retries, and no secret anywhere.

Each receiver is driven against its strict loopback fake (DingTalk, WeCom, Feishu, the
Standard Webhooks sink). A receiver added later joins by adding a Harness.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from lib.app.outbox import DeliveryTally, Outbox
from lib.core.budget import Limit
from lib.core.notification import Message
from lib.notify.base import Receiver
from lib.notify.dingtalk import DingTalkReceiver
from lib.notify.feishu import FeishuReceiver
from lib.notify.render import RenderOptions, compact_json
from lib.notify.webhook import WebhookReceiver
from lib.notify.wecom import WeComReceiver
from lib.state.file import FileStore
from lib.support.errors import (
    DeliveryError,
    ReceiverConfigError,
    ReceiverRateLimited,
    ReceiverTransientError,
)
from lib.support.log import get_logger
from tests.factories import Clock, make_notification
from tests.fakes.dingtalk import DingTalkFake
from tests.fakes.feishu import FeishuFake
from tests.fakes.webhook import WebhookSink
from tests.fakes.wecom import WeComFake
from tests.hostile import INSTANCE, hostile_notification

TOKEN = "7c1e0b9a8f7d6c5b4a3928171615141312111009f8e7d6c5b4a39281706f5e4d"
SECRET = "SECa1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OUTPUT = "\n".join(f"错误：第 {n} 行，磁盘空间不足 disk full" for n in range(40))


@dataclass
class Harness:
    """How to stand up one receiver kind against its fake."""

    kind: str
    size_limit: int
    limits: tuple[Limit, ...]
    secrets: tuple[str, ...]
    fake: Any
    build: Callable[[str, str | None], Receiver]  # (url, secret) → receiver
    url: Callable[[], str]  # a registered endpoint
    bad_url: Callable[[], str]  # an endpoint that refuses the credential
    delivered: Callable[[], list[dict[str, Any]]]

    def size(self, message: Message) -> int:
        if self.kind == "wecom":
            return len(message.payload["markdown"]["content"].encode())
        return len(compact_json(message.payload))


# kind → (fake, receiver, size limit, rate limits, signed with a secret)
ROBOTS: dict[str, tuple[Any, Callable[..., Receiver], int, tuple[Limit, ...], bool]] = {
    "dingtalk": (DingTalkFake, DingTalkReceiver, 20_000, (Limit(20, 60.0),), True),
    "wecom": (WeComFake, WeComReceiver, 4096, (Limit(20, 60.0),), False),
    "feishu": (FeishuFake, FeishuReceiver, 20_000, (Limit(100, 60.0), Limit(5, 1.0)), True),
}


def _harness(kind: str, clock: Clock, http: httpx.Client, stack: list[Any]) -> Harness:
    def opened(fake: AbstractContextManager[Any]) -> Any:
        stack.append(fake)
        return fake.__enter__()

    options = RenderOptions(max_alerts_listed=500, max_output_bytes=4000)
    no_sleep: Callable[[float], None] = lambda seconds: None  # noqa: E731
    if kind in ROBOTS:
        fake_type, receiver_type, size_limit, limits, signed = ROBOTS[kind]
        fake = opened(fake_type(clock=clock))

        def build(url: str, secret: str | None) -> Receiver:
            signing = (SecretStr(secret) if secret else None,) if signed else ()
            return receiver_type(
                "ops",
                SecretStr(url),
                *signing,
                http=http,
                clock=clock,
                options=options,
                sleep=no_sleep,
            )

        return Harness(
            kind,
            size_limit,
            limits,
            (TOKEN, SECRET) if signed else (TOKEN,),
            fake,
            build,
            lambda: fake.add_robot(TOKEN, secret=SECRET) if signed else fake.add_robot(TOKEN),
            lambda: fake.url_for(TOKEN[::-1]),
            lambda: fake.received(TOKEN),
        )
    sink = opened(WebhookSink(WHSEC, clock=clock))
    return Harness(
        kind,
        10_000_000,
        (),
        (WHSEC, WHSEC.removeprefix("whsec_")),
        sink,
        lambda url, secret: WebhookReceiver(
            "ops",
            url,
            SecretStr(secret) if secret else None,
            http=http,
            clock=clock,
            options=options,
            sleep=no_sleep,
        ),
        lambda: sink.url,
        lambda: sink.url,  # the sink refuses a wrong signature instead
        lambda: sink.payloads,
    )


KINDS = ["dingtalk", "wecom", "feishu", "webhook"]


@pytest.fixture(params=KINDS)
def harness(request: pytest.FixtureRequest) -> Iterator[tuple[Harness, Clock]]:
    clock = Clock()
    stack: list[Any] = []
    with httpx.Client(timeout=5) as http:
        try:
            yield _harness(request.param, clock, http, stack), clock
        finally:
            for fake in reversed(stack):
                fake.__exit__(None, None, None)


def _secret_for(h: Harness) -> str:
    return WHSEC if h.kind == "webhook" else SECRET


def _wrong_secret(h: Harness) -> str:
    return (
        "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=" if h.kind == "webhook" else SECRET[::-1]
    )


def test_every_part_fits_the_limit_and_together_they_name_every_instance(
    harness: tuple[Harness, Clock],
) -> None:
    """GIVEN a task failed on 500 instances with long Chinese output WHEN rendered and sent
    THEN each message is within the receiver's limit, the service takes them all, and every
    instance is named exactly once."""
    h, clock = harness
    receiver = h.build(h.url(), _secret_for(h))
    notification = make_notification(500, output=OUTPUT)
    messages = receiver.render(notification)
    for message in messages:
        assert h.size(message) <= h.size_limit
        receiver.send(message)
        clock.now += 3.5  # within every robot's per-minute and per-second limits
    delivered = json.dumps(h.delivered(), ensure_ascii=False)
    for alert in notification.alerts:
        assert delivered.count(alert.finding.instance_id) >= 1
    assert len(h.delivered()) == len(messages)


def test_rate_limits_are_declared_as_published_and_keep_the_service_from_refusing(
    harness: tuple[Harness, Clock], tmp_path: Path
) -> None:
    """GIVEN more groups than a minute's budget WHEN two runs deliver through the outbox
    THEN the service never answers "too fast" and nothing is dropped (digest or outbox)."""
    h, clock = harness
    receiver = h.build(h.url(), _secret_for(h))
    assert receiver.limits == h.limits  # type: ignore[attr-defined]
    store = FileStore(tmp_path)
    alerts = [
        alert
        for n in range(30)
        for alert in make_notification(1, invoke_id=f"t-{n:04d}", output=OUTPUT).alerts
    ]
    sent = 0
    for run in range(3):
        box = Outbox(
            store,
            {"ops": receiver},
            owner=f"run-{run}",
            lease_seconds=60,
            clock=clock,
            log=get_logger(),
        )
        tally = DeliveryTally()
        box.flush_pending(tally)
        box.deliver(box.claim({"ops": alerts if run == 0 else []}, tally), tally)
        assert tally.errors == []
        sent += tally.alerts_sent
        clock.now += 61
    assert sent == 30
    if isinstance(h.fake, DingTalkFake):
        assert set(h.fake.answers(TOKEN)) == {0}
    elif isinstance(h.fake, WeComFake | FeishuFake):
        assert set(h.fake.codes) == {0}


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried_then_kept_as_transient(
    harness: tuple[Harness, Clock], status: int
) -> None:
    """GIVEN the service answers 5xx once THEN the send is retried and delivered once;
    GIVEN 5xx three times THEN ReceiverTransientError, which the outbox keeps."""
    h, _ = harness
    receiver = h.build(h.url(), _secret_for(h))
    (message,) = receiver.render(make_notification(1))
    h.fake.fail_next(status)
    receiver.send(message)
    assert len(h.delivered()) == 1
    h.fake.fail_next(status, times=3)
    with pytest.raises(ReceiverTransientError):
        receiver.send(message)
    assert len(h.delivered()) == 1


def test_client_errors_are_not_retried(harness: tuple[Harness, Clock]) -> None:
    """GIVEN the service answers HTTP 404 once WHEN sending THEN ReceiverConfigError at once
    (a retry would have been accepted, so nothing delivered proves none was made)."""
    h, _ = harness
    receiver = h.build(h.url(), _secret_for(h))
    (message,) = receiver.render(make_notification(1))
    h.fake.fail_next(404)
    with pytest.raises(ReceiverConfigError):
        receiver.send(message)
    assert h.delivered() == []


def test_no_secret_reaches_an_error_a_repr_a_log_line_or_a_report(
    harness: tuple[Harness, Clock], tmp_path: Path
) -> None:
    """GIVEN a receiver whose token or secret the service refuses WHEN the outbox delivers
    THEN the failure is reported, and no token or secret is in the error, the receiver's
    repr, the tally's errors or any log event."""
    h, clock = harness
    h.url()  # register the real robot so only the credential is wrong
    receiver = h.build(h.bad_url(), _wrong_secret(h))
    box = Outbox(
        FileStore(tmp_path),
        {"ops": receiver},
        owner="run-1",
        lease_seconds=60,
        clock=clock,
        log=get_logger(),
    )
    tally = DeliveryTally()
    with capture_logs() as logs:
        box.deliver(box.claim({"ops": list(make_notification(2).alerts)}, tally), tally)
    assert tally.deferred == 2
    assert tally.failures
    assert all(isinstance(f, ReceiverConfigError) for f in tally.failures)
    texts = [
        repr(receiver),
        *tally.errors,
        *(str(f) for f in tally.failures),
        *(repr(f) for f in tally.failures),
        json.dumps(logs, default=str, ensure_ascii=False),
    ]
    secrets = (*h.secrets, TOKEN[::-1], _wrong_secret(h), _wrong_secret(h).removeprefix("whsec_"))
    for text in texts:
        for secret in secrets:
            assert secret[4:-4] not in text


def test_a_refusal_for_speed_is_rate_limited_not_a_config_error(
    harness: tuple[Harness, Clock],
) -> None:
    """GIVEN the service is over its rate limit WHEN sending THEN ReceiverRateLimited with a
    pause the outbox applies (webhook: a 429 with a long Retry-After)."""
    h, _ = harness
    receiver = h.build(h.url(), _secret_for(h))
    (message,) = receiver.render(make_notification(1))
    if h.kind == "webhook":
        h.fake.fail_next(429, retry_after="120")
    else:
        per_window = min(limit.count for limit in h.limits)
        for _ in range(per_window):
            receiver.send(message)
    with pytest.raises(ReceiverRateLimited) as caught:
        receiver.send(message)
    assert caught.value.pause_seconds >= 60
    assert isinstance(caught.value, DeliveryError)


def test_a_hostile_tenants_text_is_delivered_and_arrives_with_nothing_that_acts(
    harness: tuple[Harness, Clock],
) -> None:
    """GIVEN findings whose names, ErrorInfo and output carry headings, links, HTML, every
    robot's mention syntax, ANSI and bidi codes and a lone surrogate WHEN sent over HTTP
    THEN the service takes every message, and what it stored has no tag or mention opener,
    no link but our console's, no control character, and the instance ids verbatim."""
    h, clock = harness
    receiver = h.build(h.url(), _secret_for(h))
    messages = receiver.render(hostile_notification())
    for message in messages:
        receiver.send(message)
        clock.now += 3.5
    assert len(h.delivered()) == len(messages)
    stored = "\n".join(_strings(h.delivered()))  # the values as the service decoded them
    assert INSTANCE in stored
    if h.kind != "webhook":  # the webhook's JSON carries output as data, not markup
        assert "<at " not in stored
        assert "<@" not in stored
        assert "](http://evil" not in stored
    for control in ("\x1b", "\u202e", "\u2066", "\x00", "\x07", "\ud800"):
        assert control not in stored


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []
