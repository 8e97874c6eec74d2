"""What every receiver shares: the Notification it is given and the Messages it sends."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from lib.alerts import Alert

__all__ = ["Message", "Notification", "Receiver"]


class Notification(BaseModel):
    """A group of alerts for one receiver (default group: one invoke id)."""

    model_config = ConfigDict(frozen=True)

    receiver: str
    group: str
    alerts: tuple[Alert, ...]
    # Sent again after a send whose answer was lost (可能重复): receivers say so.
    possible_repeat: bool = False


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


class Receiver(Protocol):
    """A place messages go. ``render`` is pure; ``send`` does the I/O and raises DeliveryError."""

    name: str

    def render(self, notification: Notification) -> list[Message]:
        """Split the notification into messages within this receiver's size limit."""
        ...

    def send(self, message: Message) -> None:
        """Deliver one message; raise a DeliveryError subclass when it was not taken."""
        ...
