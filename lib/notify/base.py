"""What every receiver is: it renders a Notification into Messages and sends them (and may be
customised per route)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from lib.core.notification import Message, Notification
from lib.core.overrides import Overrides

__all__ = ["Customizable", "Receiver"]


class Receiver(Protocol):
    """A place messages go. ``render`` is pure; ``send`` does the I/O and raises DeliveryError."""

    name: str

    def render(self, notification: Notification) -> list[Message]:
        """Split the notification into messages within this receiver's size limit."""
        ...

    def send(self, message: Message) -> None:
        """Deliver one message; raise a DeliveryError subclass when it was not taken."""
        ...


@runtime_checkable
class Customizable(Protocol):
    """A receiver that can render differently for one route."""

    def customized(self, overrides: Overrides) -> Receiver:
        """A copy of this receiver with ``overrides`` applied, under the same name."""
        ...
