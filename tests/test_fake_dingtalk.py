"""The DingTalk fake behaves like the robot: 加签, time window, keyword, size, 20/min.

Requests here are built by hand (httpx), independently of DingTalkReceiver, so the fake is
checked against the documented protocol rather than against our receiver.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lib.notify.dingtalk import dingtalk_sign
from tests.factories import NOW, Clock
from tests.fakes.dingtalk import DingTalkFake

SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
HTTP = httpx.Client(timeout=5)  # one pooled client: a new one per request costs an SSL context


@pytest.fixture
def fake(clock: Clock) -> Iterator[DingTalkFake]:
    with DingTalkFake(clock=clock) as server:
        yield server


def documented_sign(secret: str, timestamp_ms: int) -> str:
    """The documented Python sample, step by step (the fake's tests' own oracle)."""
    string_to_sign = f"{timestamp_ms}\n{secret}"
    hmac_code = hmac.new(
        secret.encode("utf-8"), string_to_sign.encode("utf-8"), digestmod=hashlib.sha256
    ).digest()
    return urllib.parse.quote_plus(base64.b64encode(hmac_code))


def post(
    url: str,
    body: dict[str, Any] | bytes,
    *,
    secret: str | None = None,
    timestamp_ms: int | None = None,
) -> dict[str, Any]:
    if secret is not None:
        ts = int(NOW * 1000) if timestamp_ms is None else timestamp_ms
        url += f"&timestamp={ts}&sign={documented_sign(secret, ts)}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = HTTP.post(url, content=content)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


def markdown(text: str = "hello") -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"title": "t", "text": text}}


def test_our_signer_matches_the_documented_sample() -> None:
    """GIVEN the documented algorithm WHEN both sign the same input THEN they agree."""
    for ts in (0, 1_764_000_000_000, 1_577_836_800_123):
        assert dingtalk_sign(SECRET, ts) == documented_sign(SECRET, ts)


def test_correctly_signed_message_is_accepted_and_recorded(fake: DingTalkFake) -> None:
    """GIVEN a robot with 加签 WHEN a correctly signed message arrives THEN errcode 0, recorded."""
    url = fake.add_robot("tok1", secret=SECRET)
    assert post(url, markdown(), secret=SECRET)["errcode"] == 0
    assert fake.received("tok1") == [markdown()]


def test_wrong_secret_or_missing_sign_is_a_security_failure(fake: DingTalkFake) -> None:
    """GIVEN a robot with 加签 WHEN signed with another secret, or unsigned THEN 310000."""
    url = fake.add_robot("tok1", secret=SECRET)
    assert post(url, markdown(), secret="SECwrong")["errcode"] == 310000
    assert post(url, markdown())["errcode"] == 310000
    assert fake.received("tok1") == []


def test_timestamp_older_than_one_hour_is_refused(fake: DingTalkFake) -> None:
    """GIVEN a signature made 61 minutes ago WHEN posted THEN 310000; 59 minutes is fine."""
    url = fake.add_robot("tok1", secret=SECRET)
    stale = int((NOW - 61 * 60) * 1000)
    recent = int((NOW - 59 * 60) * 1000)
    assert post(url, markdown(), secret=SECRET, timestamp_ms=stale)["errcode"] == 310000
    assert post(url, markdown(), secret=SECRET, timestamp_ms=recent)["errcode"] == 0


def test_unknown_token_answers_300001(fake: DingTalkFake) -> None:
    """GIVEN no robot with that token WHEN posted THEN 300001."""
    assert post(fake.url_for("nope"), markdown())["errcode"] == 300001


def test_message_without_the_keyword_is_refused(fake: DingTalkFake) -> None:
    """GIVEN a robot with keyword 告警 WHEN a message lacks it THEN 310000; with it, accepted."""
    url = fake.add_robot("tok1", keyword="告警")
    assert post(url, markdown("hello"))["errcode"] == 310000
    assert post(url, markdown("云助手告警"))["errcode"] == 0


def test_body_over_20000_bytes_answers_460101(fake: DingTalkFake) -> None:
    """GIVEN a body of 20,001 bytes WHEN posted THEN 460101; 20,000 bytes is accepted."""
    url = fake.add_robot("tok1")
    skeleton = len(json.dumps(markdown("")).encode())
    assert post(url, json.dumps(markdown("x" * (20_001 - skeleton))).encode())["errcode"] == 460101
    assert post(url, json.dumps(markdown("x" * (20_000 - skeleton))).encode())["errcode"] == 0


def test_21st_message_in_a_minute_throttles_the_robot_for_ten_minutes(
    fake: DingTalkFake, clock: Clock
) -> None:
    """GIVEN 20 messages accepted within a minute WHEN a 21st arrives THEN 130101,
    and the robot keeps refusing for 10 minutes even after the minute has passed."""
    url = fake.add_robot("tok1")
    for _ in range(20):
        assert post(url, markdown())["errcode"] == 0
    assert post(url, markdown())["errcode"] == 130101
    clock.now += 120
    assert post(url, markdown())["errcode"] == 130101
    clock.now += 600
    assert post(url, markdown())["errcode"] == 0
    assert len(fake.received("tok1")) == 21


def test_twenty_messages_spread_over_time_are_not_throttled(
    fake: DingTalkFake, clock: Clock
) -> None:
    """GIVEN 40 messages, one every 4 seconds (15/min) WHEN posted THEN all are accepted."""
    url = fake.add_robot("tok1")
    for _ in range(40):
        assert post(url, markdown())["errcode"] == 0
        clock.now += 4
