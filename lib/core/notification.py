"""What the core hands a receiver (a Notification: alerts grouped for one receiver) and what a
receiver hands back to be sent (Messages). Pure data; rendering and sending live in lib.notify."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from lib.core.alerts import Alert

__all__ = ["Message", "Notification"]


class Notification(BaseModel):
    """A group of alerts for one receiver (default group: one invoke id)."""

    model_config = ConfigDict(frozen=True)

    receiver: str
    group: str
    alerts: tuple[Alert, ...]


class Message(BaseModel):
    """One rendered message, ready to send; ``id`` is stable for the same alerts."""

    model_config = ConfigDict(frozen=True)

    receiver: str
    id: str
    title: str
    text: str  # the human-readable body (markdown for robots), shown by the console/demo
    payload: dict[str, Any]  # the JSON body the receiver's API takes (unsigned)
    # The alerts this message tells, as Alert.key ("fingerprint/firing"): the outbox confirms
    # exactly these when the send succeeds, so a split notification never resends a part.
    covers: tuple[str, ...] = ()
