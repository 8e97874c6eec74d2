"""Small builders for Findings, Alerts and Notifications, so tests state only what matters.

Also the small doubles many tests share: a settable clock and a recording receiver.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any

from lib.core.alerts import Alert, fingerprint
from lib.core.findings import Classification, Finding
from lib.core.notification import Message, Notification

__all__ = [
    "NOW",
    "Clock",
    "RecordingReceiver",
    "make_alert",
    "make_classification",
    "make_finding",
    "make_notification",
]

T0 = datetime(2026, 11, 23, 13, 0, 1, tzinfo=timezone.utc)
T1 = datetime(2026, 11, 23, 13, 0, 5, tzinfo=timezone.utc)
NOW = 1_764_000_000.0  # epoch seconds, 2025-11-24: the default "now" of a test clock


class Clock:
    """A settable clock: call it for ``now`` (epoch seconds); tests move time by assignment."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingReceiver:
    """A receiver double: one message per notification, covering all of its alerts.

    ``render`` remembers each alert by key (under ``lock``), so a subclass's ``send`` can
    look up what a message covers with :meth:`covered`.
    """

    name = "people"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.alerts: dict[str, Alert] = {}

    def render(self, notification: Notification) -> list[Message]:
        with self.lock:
            for alert in notification.alerts:
                self.alerts[alert.key] = alert
        return [
            Message(
                receiver=self.name,
                id=notification.group,
                title=notification.group,
                text="",
                payload={},
                covers=tuple(alert.key for alert in notification.alerts),
            )
        ]

    def covered(self, message: Message) -> list[Alert]:
        """The alerts ``message`` covers, as rendered."""
        return [self.alerts[key] for key in message.covers]

    def send(self, message: Message) -> None:
        raise NotImplementedError


def make_classification(**overrides: Any) -> Classification:
    """ExitCodeNonzero by default."""
    fields: dict[str, Any] = {
        "code": "ExitCodeNonzero",
        "category": "command",
        "severity": "warning",
        "explanation_zh": "命令进程的退出码不为 0。",
        "explanation_en": "The command exited with a non-zero code.",
        "hint_zh": "查看命令输出，修复脚本后重新执行。",
        "hint_en": "Read the output, fix the script and run it again.",
    }
    fields.update(overrides)
    return Classification(**fields)


def make_finding(**overrides: Any) -> Finding:
    """A failed once-command on an ECS instance in cn-hangzhou, exit code 1."""
    fields: dict[str, Any] = {
        "account": "self",
        "provider": "ecs",
        "region": "cn-hangzhou",
        "kind": "command",
        "invoke_id": "t-hz0jdfwd9f0001",
        "instance_id": "i-bp1i7gg30r52z2em0001",
        "status": "Failed",
        "error_code": "ExitCodeNonzero",
        "error_info": "the command execution exit code is not zero.",
        "exit_code": 1,
        "name": "deploy.sh",
        "command_id": "c-hz0jdfwcsr0001",
        "command_type": "RunShellScript",
        "repeat_mode": "Once",
        "started_at": T0,
        "finished_at": T1,
        "output": "starting\nerror: disk full\n",
        "classification": make_classification(),
    }
    fields.update(overrides)
    return Finding(**fields)


def make_alert(finding: Finding | None = None, **overrides: Any) -> Alert:
    """A firing alert for ``finding`` (default: :func:`make_finding`), grouped by invoke id."""
    finding = finding or make_finding()
    fields: dict[str, Any] = {
        "fingerprint": fingerprint(finding),
        "group": finding.invoke_id,
        "reason": "new failure",
        "starts_at": finding.finished_at or T1,
        "finding": finding,
    }
    fields.update(overrides)
    return Alert(**fields)


def make_notification(
    count: int = 1,
    *,
    receiver: str = "dingtalk",
    alerts: tuple[Alert, ...] | None = None,
    **finding_overrides: Any,
) -> Notification:
    """A group of ``count`` firing alerts of one invocation on instances i-…0000, i-…0001 …"""
    if alerts is None:
        alerts = tuple(
            make_alert(make_finding(instance_id=f"i-bp1i7gg30r52z2e{n:05d}", **finding_overrides))
            for n in range(count)
        )
    group = alerts[0].group if alerts else "empty"
    return Notification(receiver=receiver, group=group, alerts=alerts)
