"""Generic webhook: Alertmanager-compatible JSON, signed per Standard Webhooks.

Existing Alertmanager receivers (version "4" payload) can consume it unchanged, and the
``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature`` headers let any Standard
Webhooks library verify it. ``webhook-id`` is the message id, stable for the same alerts,
so a receiver can drop the duplicates that at-least-once delivery may produce.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import SecretStr

from lib.core.alerts import Alert
from lib.core.budget import Limit
from lib.core.notification import Message, Notification
from lib.core.overrides import Overrides
from lib.notify.escape import one_line
from lib.notify.render import (
    RenderOptions,
    compact_json,
    console_url,
    message_id,
    output_tail,
    render_markdown,
    render_title,
)
from lib.notify.retry import RetryPolicy, send_with_retries, transport_fault
from lib.support.errors import (
    ConfigError,
    ReceiverConfigError,
    ReceiverRateLimited,
    ReceiverTransientError,
    ReceiverUnsure,
)
from lib.support.redact import mask_url

__all__ = ["ZERO_TIME", "WebhookReceiver", "alertmanager_payload", "standard_webhook_signature"]

ZERO_TIME = "0001-01-01T00:00:00Z"  # what Alertmanager writes for an unset endsAt
_DEFAULT_PAUSE_SECONDS = 60.0
_MAX_PAUSE_SECONDS = 3600.0


def standard_webhook_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``; the key is base64 after ``whsec_``.

    Raises:
        ConfigError: the secret is not base64 (without saying what it was).
    """
    encoded = secret[len("whsec_") :] if secret.startswith("whsec_") else secret
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("webhook secret is not a base64 whsec_ secret") from None
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _rfc3339(moment: datetime | None) -> str:
    if moment is None:
        return ZERO_TIME
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    # RFC 3339 like Go's time encoding: fractional seconds only when there are some.
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _labels(alert: Alert) -> dict[str, str]:
    finding = alert.finding
    if alert.subject == "agent":
        alertname = "CloudAssistantAgentUnhealthy"
    elif alert.subject == "missed":
        alertname = "CloudAssistantMissedRun"
    elif finding.kind == "file":
        alertname = "CloudAssistantFileSendFailed"
    else:
        alertname = "CloudAssistantCommandFailed"
    labels = {
        "alertname": alertname,
        "provider": finding.provider,
        "kind": finding.kind,
        "region": finding.region,
        "invoke_id": finding.invoke_id,
        "instance_id": finding.instance_id,
        "error_code": finding.classification.code,
        "severity": finding.classification.severity,
        "account": finding.account,
    }
    if alert.subject == "agent":  # one alert per instance: the invocation is evidence, not identity
        del labels["invoke_id"]
    return labels


def _annotations(alert: Alert, options: RenderOptions) -> dict[str, str]:
    """Human-readable fields: one line each, free of control, ANSI and bidi characters.

    The JSON is data (labels carry the ids verbatim), but consumers paste annotations into
    chats, pages and terminals, so they get :func:`~lib.notify.escape.one_line`; the output
    keeps its line breaks and is cleaned the same way (:func:`output_tail`).
    """
    finding = alert.finding
    cls = finding.classification
    zh = options.lang == "zh"
    what = finding.name or finding.command_id or finding.invoke_id
    if finding.kind == "file":
        what = f"{what} → {finding.target_dir or '-'}"
    summary = f"{finding.kind} {what} {finding.status} on {finding.instance_id} ({cls.code})"
    if alert.subject == "agent":
        summary = f"Cloud Assistant agent unhealthy on {finding.instance_id} ({cls.code})"
    description = (
        f"{cls.explanation_zh if zh else cls.explanation_en} {cls.hint_zh if zh else cls.hint_en}"
    )
    annotations = {"summary": one_line(summary), "description": one_line(description)}
    if alert.subject == "missed":  # a periodic task that stopped running there
        summary = f"periodic task {what} missed its runs on {finding.instance_id}"
        annotations["summary"] = one_line(summary)
        annotations["last_run_at"] = _rfc3339(finding.finished_at) if finding.finished_at else ""
        annotations["next_due_at"] = _rfc3339(alert.due_at)
    # DescribeInstances (issue #15): the instance's name and, when not running, its status.
    if finding.instance_name:
        annotations["instance_name"] = one_line(finding.instance_name)
    if finding.instance_status and finding.instance_status != "Running":
        annotations["instance_status"] = finding.instance_status
    if alert.reminder:  # the same firing again, still open: say which reminder this is
        annotations["reminder"] = str(alert.reminder)
    tail, _ = output_tail(finding.output, options)
    if tail:
        annotations["output"] = tail
    return annotations


def _common(items: list[dict[str, str]]) -> dict[str, str]:
    if not items:
        return {}
    first = items[0]
    return {k: v for k, v in first.items() if all(other.get(k) == v for other in items[1:])}


def alertmanager_payload(
    notification: Notification, receiver: str, options: RenderOptions, *, max_alerts: int = 0
) -> dict[str, Any]:
    """The Alertmanager webhook (version "4") JSON for a notification.

    Args:
        notification: the group to send.
        receiver: the receiver's name, echoed in ``receiver``.
        options: language and output bounds for annotations.
        max_alerts: list at most this many alerts (0 = all), counting the rest in
            ``truncatedAlerts`` as Alertmanager does.
    """
    alerts = list(notification.alerts)
    listed = alerts[:max_alerts] if max_alerts > 0 else alerts
    labels = [_labels(alert) for alert in listed]
    annotations = [_annotations(alert, options) for alert in listed]
    items = [
        {
            "status": alert.status,
            "labels": labels[i],
            "annotations": annotations[i],
            "startsAt": _rfc3339(alert.starts_at),
            "endsAt": _rfc3339(alert.ends_at),
            "generatorURL": console_url(alert.finding, options) or "",
            "fingerprint": alert.fingerprint,
        }
        for i, alert in enumerate(listed)
    ]
    firing = any(a.status == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": notification.group,
        "truncatedAlerts": len(alerts) - len(listed),
        "status": "firing" if firing else "resolved",
        "receiver": receiver,
        "groupLabels": {"group": notification.group},
        "commonLabels": _common(labels),
        "commonAnnotations": {
            **_common(annotations),
            # resent after a lost answer; webhook-id is the first send's, to dedupe on
            **({"possible_repeat": "true"} if notification.possible_repeat else {}),
        },
        "externalURL": options.console_base,
        "alerts": items,
    }


def _retry_after(value: str | None, now: float) -> float:
    """Seconds to wait from a Retry-After header (delta seconds or HTTP date), bounded."""
    if not value:
        return _DEFAULT_PAUSE_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError):
            return _DEFAULT_PAUSE_SECONDS
    return min(max(seconds, 0.0), _MAX_PAUSE_SECONDS)


class WebhookReceiver:
    """POSTs one Alertmanager-style JSON per notification, Standard-Webhooks signed."""

    def __init__(
        self,
        name: str,
        url: str,
        secret: SecretStr | None,
        *,
        http: httpx.Client,
        clock: Callable[[], float] | None = None,
        options: RenderOptions | None = None,
        max_alerts: int = 0,
        sleep: Callable[[float], None] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.name = name
        self.limits: tuple[Limit, ...] = ()  # the endpoint says 429 when it wants less
        self._url = url
        self._secret = secret
        self._http = http
        self._clock = clock or time.time
        self._options = options or RenderOptions()
        self._max_alerts = max_alerts
        self._sleep = sleep
        self._retry = retry

    def customized(self, overrides: Overrides) -> WebhookReceiver:
        """A copy for one route: output in annotations on or off (no one to mention)."""
        clone = copy.copy(self)
        if overrides.show_output is not None:
            clone._options = self._options.model_copy(update={"show_output": overrides.show_output})
        return clone

    def __repr__(self) -> str:
        return f"WebhookReceiver(name={self.name!r}, url={mask_url(self._url)!r})"

    def render(self, notification: Notification) -> list[Message]:
        """One message: the payload, with the markdown text for the console and the log."""
        payload = alertmanager_payload(
            notification, self.name, self._options, max_alerts=self._max_alerts
        )
        return [
            Message(
                receiver=self.name,
                id=message_id(self.name, notification.alerts),
                title=render_title(notification, self._options),
                text=render_markdown(notification, self._options),
                payload=payload,
            )
        ]

    def send(self, message: Message) -> None:
        """POST the payload; 2xx is delivered, anything else raises a DeliveryError.

        5xx, 408, 429 and timeouts are retried with backoff (429 after its Retry-After when
        that is short); other 4xx are not: the same request would be refused again.
        """
        send_with_retries(lambda: self._post(message), policy=self._retry, sleep=self._sleep)

    def _post(self, message: Message) -> None:
        body = compact_json(message.payload)
        now = self._clock()
        headers = {"Content-Type": "application/json", "webhook-id": message.id}
        timestamp = int(now)
        headers["webhook-timestamp"] = str(timestamp)
        if self._secret is not None:
            try:
                headers["webhook-signature"] = standard_webhook_signature(
                    self._secret.get_secret_value(), message.id, timestamp, body
                )
            except ConfigError as exc:
                # send() raises only DeliveryErrors: the app defers or reports on those.
                raise ReceiverConfigError(self.name, str(exc)) from None
        try:
            response = self._http.post(self._url, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise transport_fault(self.name, exc) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        if status == 429:
            pause = _retry_after(response.headers.get("Retry-After"), now)
            raise ReceiverRateLimited(self.name, "HTTP 429 Too Many Requests", pause_seconds=pause)
        if status == 504:  # a gateway gave up waiting: the service behind it may have it
            raise ReceiverUnsure(self.name, "HTTP 504 (the gateway gave up waiting)")
        if status >= 500 or status == 408:
            raise ReceiverTransientError(self.name, f"HTTP {status}")
        raise ReceiverConfigError(self.name, f"HTTP {status} from {mask_url(self._url)}")
