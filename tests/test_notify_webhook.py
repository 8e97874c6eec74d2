"""WebhookReceiver: Alertmanager-compatible payload, Standard Webhooks signature, retries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone

import httpx
import pytest
from pydantic import SecretStr

from lib.notify.render import RenderOptions
from lib.notify.webhook import ZERO_TIME, WebhookReceiver, standard_webhook_signature
from lib.support.errors import (
    ConfigError,
    ReceiverConfigError,
    ReceiverRateLimited,
    ReceiverTransientError,
)
from tests.factories import make_alert, make_finding, make_notification
from tests.fakes.webhook import WebhookSink

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = 1_764_000_000.0


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink(SECRET, clock=lambda: NOW) as server:
        yield server


def receiver(
    url: str,
    http: httpx.Client,
    *,
    secret: str | None = SECRET,
    sleep: Callable[[float], None] | None = None,
) -> WebhookReceiver:
    return WebhookReceiver(
        "hook",
        url,
        SecretStr(secret) if secret else None,
        http=http,
        clock=lambda: NOW,
        options=RenderOptions(lang="en"),
        sleep=sleep or (lambda seconds: None),
    )


def test_signature_matches_the_standard_webhooks_vector() -> None:
    """GIVEN the specification's published vector WHEN signed THEN the signature matches."""
    signature = standard_webhook_signature(
        SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_malformed_secret_is_a_config_error_that_does_not_echo_it() -> None:
    """GIVEN a secret that is not base64 WHEN signing THEN ConfigError without the secret."""
    with pytest.raises(ConfigError) as caught:
        standard_webhook_signature("whsec_not*base64!", "id", 1, b"{}")
    assert "not*base64" not in str(caught.value)


def test_receiver_with_a_malformed_secret_fails_as_a_receiver_config_error(
    http: httpx.Client,
) -> None:
    """GIVEN a receiver configured with a non-base64 secret WHEN sending
    THEN ReceiverConfigError (a DeliveryError the app handles), secret not echoed."""
    hook = receiver("https://example.com/h", http, secret="whsec_not*base64!")
    (message,) = hook.render(make_notification(1))
    with pytest.raises(ReceiverConfigError) as caught:
        hook.send(message)
    assert "not*base64" not in str(caught.value)


def test_payload_is_alertmanager_version_4(sink: WebhookSink, http: httpx.Client) -> None:
    """GIVEN two failed instances of one invocation WHEN delivered
    THEN the sink verifies the signature and gets an Alertmanager v4 payload."""
    hook = receiver(sink.url, http)
    notification = make_notification(2, output="ok\npassword=hunter2\nfailed")
    (message,) = hook.render(notification)
    hook.send(message)
    (payload,) = sink.payloads
    assert sink.deliveries[0].msg_id == message.id
    assert payload["version"] == "4"
    assert payload["status"] == "firing"
    assert payload["receiver"] == "hook"
    assert payload["groupKey"] == "t-hz0jdfwd9f0001"
    assert payload["truncatedAlerts"] == 0
    assert payload["commonLabels"]["invoke_id"] == "t-hz0jdfwd9f0001"
    assert "instance_id" not in payload["commonLabels"]
    first = payload["alerts"][0]
    assert first["status"] == "firing"
    assert set(first["labels"]) == {
        "alertname",
        "provider",
        "kind",
        "region",
        "invoke_id",
        "instance_id",
        "error_code",
        "severity",
        "account",
    }
    assert first["labels"]["alertname"] == "CloudAssistantCommandFailed"
    assert first["labels"]["error_code"] == "ExitCodeNonzero"
    assert "non-zero code" in first["annotations"]["description"]
    assert "Read the output" in first["annotations"]["description"]
    assert first["annotations"]["output"].endswith("failed")
    assert "hunter2" not in first["annotations"]["output"]
    assert first["startsAt"] == "2026-11-23T13:00:05Z"
    assert first["endsAt"] == ZERO_TIME
    assert first["generatorURL"].endswith("/cloud-assistant/region/cn-hangzhou")
    assert first["fingerprint"] == notification.alerts[0].fingerprint


def test_resolved_group_has_status_resolved_and_an_end_time(
    sink: WebhookSink, http: httpx.Client
) -> None:
    """GIVEN a resolved alert WHEN delivered THEN status is resolved and endsAt is set."""
    ended = datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)
    alert = make_alert(make_finding(), status="resolved", ends_at=ended)
    hook = receiver(sink.url, http)
    (message,) = hook.render(make_notification(alerts=(alert,)))
    hook.send(message)
    (payload,) = sink.payloads
    assert payload["status"] == "resolved"
    assert payload["alerts"][0]["endsAt"] == "2026-11-23T14:00:00Z"


def test_wrong_secret_is_rejected_by_the_sink_as_a_config_error(
    sink: WebhookSink, http: httpx.Client
) -> None:
    """GIVEN a receiver signing with another secret WHEN sending
    THEN the sink refuses (401) and the receiver raises ReceiverConfigError without secrets."""
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
    hook = receiver(sink.url, http, secret=other)
    (message,) = hook.render(make_notification(1))
    with pytest.raises(ReceiverConfigError) as caught:
        hook.send(message)
    assert sink.rejected == ["no valid signature"]
    assert other not in str(caught.value)
    assert other not in repr(caught.value)
    assert other not in repr(hook)


def test_a_gateway_timeout_is_not_retried_in_process_it_may_have_arrived(
    sink: WebhookSink, http: httpx.Client
) -> None:
    """GIVEN a gateway answering 504 (it gave up waiting on the service behind it) WHEN
    sending THEN one attempt, ReceiverUnsure: the outbox resends it once, marked."""
    from lib.support.errors import ReceiverUnsure

    waits: list[float] = []
    hook = receiver(sink.url, http, sleep=waits.append)
    (message,) = hook.render(make_notification(1))
    sink.fail_next(504, times=3)
    with pytest.raises(ReceiverUnsure):
        hook.send(message)
    assert waits == []


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_server_errors_and_request_timeout_are_transient(
    status: int, sink: WebhookSink, http: httpx.Client
) -> None:
    """GIVEN the endpoint answers 5xx/408 once WHEN sending THEN retried after 1 s and
    delivered once; GIVEN it fails three times THEN transient (kept in the outbox)."""
    waits: list[float] = []
    hook = receiver(sink.url, http, sleep=waits.append)
    (message,) = hook.render(make_notification(1))
    sink.fail_next(status)
    hook.send(message)
    assert len(sink.payloads) == 1
    assert waits == [1.0]
    sink.fail_next(status, times=3)
    with pytest.raises(ReceiverTransientError):
        hook.send(message)
    assert waits == [1.0, 1.0, 2.0]
    assert len(sink.payloads) == 1


@pytest.mark.parametrize(
    ("retry_after", "pause"),
    [("120", 120.0), (None, 60.0), ("Mon, 24 Nov 2025 16:02:00 GMT", 120.0), ("soon", 60.0)],
)
def test_429_is_rate_limited_honouring_retry_after(
    retry_after: str | None, pause: float, sink: WebhookSink, http: httpx.Client
) -> None:
    """GIVEN the endpoint answers 429 with a long Retry-After (seconds, date, absent, garbage)
    WHEN sending THEN no wait in-process: ReceiverRateLimited pauses that long (60 s when
    unknown) and the outbox keeps the message."""
    # NOW is 2025-11-24T16:00:00Z; the date above is 2 minutes later.
    waits: list[float] = []
    hook = receiver(sink.url, http, sleep=waits.append)
    (message,) = hook.render(make_notification(1))
    sink.fail_next(429, retry_after=retry_after)
    with pytest.raises(ReceiverRateLimited) as caught:
        hook.send(message)
    assert caught.value.pause_seconds == pause
    assert waits == []


def test_429_with_a_short_retry_after_is_retried_after_that_wait(
    sink: WebhookSink, http: httpx.Client
) -> None:
    """GIVEN the endpoint answers 429 with Retry-After: 3 WHEN sending
    THEN the receiver waits 3 s (not its 1 s backoff) and the message is delivered."""
    waits: list[float] = []
    hook = receiver(sink.url, http, sleep=waits.append)
    (message,) = hook.render(make_notification(1))
    sink.fail_next(429, retry_after="3")
    hook.send(message)
    assert waits == [3.0]
    assert len(sink.payloads) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_other_client_errors_are_config_errors_with_the_url_masked(
    status: int, sink: WebhookSink, http: httpx.Client
) -> None:
    """GIVEN the endpoint answers 4xx WHEN sending THEN ReceiverConfigError, URL secrets masked."""
    hook = receiver(sink.url + "?token=abcdefghijklmnop1234", http)
    (message,) = hook.render(make_notification(1))
    sink.fail_next(status)
    with pytest.raises(ReceiverConfigError) as caught:
        hook.send(message)
    assert sink.payloads == []  # not retried: the fault was answered once, nothing after
    assert f"HTTP {status}" in str(caught.value)
    assert "abcdefghijklmnop" not in str(caught.value)


def test_connection_refused_is_transient(http: httpx.Client) -> None:
    """GIVEN nothing listens on the port WHEN sending THEN ReceiverTransientError."""
    with WebhookSink(SECRET) as gone:
        url = gone.url
    hook = receiver(url, http)
    (message,) = hook.render(make_notification(1))
    with pytest.raises(ReceiverTransientError):
        hook.send(message)


def test_big_group_can_be_truncated_like_alertmanager(http: httpx.Client) -> None:
    """GIVEN 500 alerts and max_alerts 100 WHEN rendered THEN 100 listed, 400 truncated."""
    hook = WebhookReceiver("hook", "https://example.com/h", None, http=http, max_alerts=100)
    (message,) = hook.render(make_notification(500))
    assert len(message.payload["alerts"]) == 100
    assert message.payload["truncatedAlerts"] == 400


def test_a_missed_run_on_a_named_instance_carries_its_due_time_and_name(
    sink: WebhookSink, http: httpx.Client
) -> None:
    """GIVEN a missed-run alert on an instance DescribeInstances named WHEN delivered
    THEN its alertname says so, and the annotations carry the last run, the due time and the
    instance's name and status."""
    from lib.core.missed import MISSED_RUN

    finding = make_finding(
        name="backup.sh",
        status="Missed",
        error_code=MISSED_RUN.code,
        exit_code=None,
        classification=MISSED_RUN,
        instance_name="db-replica-2",
        instance_status="Stopping",
        finished_at=datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc),
    )
    due = datetime(2026, 11, 23, 12, 5, tzinfo=timezone.utc)
    alert = make_alert(finding, subject="missed", due_at=due)
    hook = receiver(sink.url, http)
    (message,) = hook.render(make_notification(alerts=(alert,)))
    hook.send(message)
    (sent,) = sink.payloads[0]["alerts"]
    assert sent["labels"]["alertname"] == "CloudAssistantMissedRun"
    assert sent["annotations"]["last_run_at"] == "2026-11-23T12:00:00Z"
    assert sent["annotations"]["next_due_at"] == "2026-11-23T12:05:00Z"
    assert sent["annotations"]["instance_name"] == "db-replica-2"
    assert sent["annotations"]["instance_status"] == "Stopping"
    assert "missed its runs on" in sent["annotations"]["summary"]
