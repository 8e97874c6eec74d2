"""What the core hands a receiver (a Notification: alerts grouped for one receiver) and what a
receiver hands back to be sent (Messages). Pure data; rendering and sending live in lib.notify."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from lib.core.alerts import Alert
from lib.support.scrubber import scrub, scrub_value

__all__ = ["Message", "Notification", "scrubbed_message"]


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


def scrubbed_message(message: Message) -> Message:
    """``message`` with its title, text and payload scrubbed; the same message if clean."""
    title, text = scrub(message.title), scrub(message.text)
    payload = scrub_value(message.payload)
    if title == message.title and text == message.text and payload == message.payload:
        return message
    return message.model_copy(update={"title": title, "text": text, "payload": payload})
