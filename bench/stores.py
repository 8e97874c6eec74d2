"""Counting seams for benchmarks: a state store that counts writes, a receiver that counts sends.

Both wrap or stand in for the real thing through the public protocols (``StateStore``,
``Receiver``), so what they count is exactly what the app asked for.
"""

from __future__ import annotations

from typing import Any

from lib.core.claims import ClaimKey
from lib.core.notification import Message, Notification
from lib.state.base import Claim, ClaimOutcome, Record, StateStore

__all__ = ["CountingReceiver", "CountingStore"]


class CountingStore:
    """Delegates to ``inner``; ``writes`` counts every call that changes the store."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.writes = 0
        self.reads = 0

    def claim(
        self, key: ClaimKey, payload: dict[str, Any], owner: str, lease_seconds: float, now: float
    ) -> ClaimOutcome:
        """Count, then claim."""
        self.writes += 1
        return self.inner.claim(key, payload, owner, lease_seconds, now)

    def confirm(self, key: ClaimKey, owner: str, now: float) -> bool:
        """Count, then confirm."""
        self.writes += 1
        return self.inner.confirm(key, owner, now)

    def release(self, key: ClaimKey, owner: str, error: str, now: float) -> bool:
        """Count, then release."""
        self.writes += 1
        return self.inner.release(key, owner, error, now)

    def pending(self, now: float, receiver: str | None = None) -> list[Claim]:
        """Count a read, then list pending claims."""
        self.reads += 1
        return self.inner.pending(now, receiver)

    def take_over(self, claim: Claim, owner: str, lease_seconds: float, now: float) -> bool:
        """Count, then take over."""
        self.writes += 1
        return self.inner.take_over(claim, owner, lease_seconds, now)

    def read(self, name: str) -> Record:
        """Count a read, then read."""
        self.reads += 1
        return self.inner.read(name)

    def write(self, name: str, value: dict[str, Any], expected_version: str | None) -> bool:
        """Count, then write."""
        self.writes += 1
        return self.inner.write(name, value, expected_version)

    def prune(self, now: float) -> int:
        """Prune; counted only when something was deleted."""
        deleted = self.inner.prune(now)
        self.writes += 1 if deleted else 0
        return deleted


class CountingReceiver:
    """A receiver that renders one tiny message per notification and only counts sends."""

    name = "bench"

    def __init__(self) -> None:
        self.messages = 0
        self.alerts = 0

    def render(self, notification: Notification) -> list[Message]:
        """One message covering every alert of the notification."""
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

    def send(self, message: Message) -> None:
        """Count the message and the alerts it covers."""
        self.messages += 1
        self.alerts += len(message.covers)
