"""What one claim in the state store is about: one firing (or resolve, or reminder) of one
alert for one receiver. The core decides these keys; every state backend stores them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ClaimKey"]


@dataclass(frozen=True)
class ClaimKey:
    """What one claim is about: one firing of one alert (or its resolve), for one receiver.

    A firing and its resolve are two notifications, so two claims: ``status`` tells them
    apart; so is each reminder that a firing is still open (``reminder`` 1, 2, …). Backends
    store and restore every field through :meth:`as_fields` and :meth:`from_fields`.
    """

    fingerprint: str
    firing: int
    receiver: str
    status: Literal["firing", "resolved"] = "firing"
    reminder: int = 0  # 0: the firing's first notice

    @property
    def id(self) -> str:
        """A filesystem- and URL-safe name, stable for the same key."""
        raw = f"{self.fingerprint}\x1f{self.firing}\x1f{self.receiver}"
        if self.status != "firing":
            raw += f"\x1f{self.status}"
        if self.reminder:
            raw += f"\x1freminder {self.reminder}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def as_fields(self) -> dict[str, Any]:
        """The fields every backend stores with a claim."""
        return {
            "fingerprint": self.fingerprint,
            "firing": self.firing,
            "receiver": self.receiver,
            "status": self.status,
            "reminder": self.reminder,
        }

    @classmethod
    def from_fields(cls, data: Mapping[str, Any]) -> ClaimKey:
        """Read the key back; KeyError/ValueError/TypeError when a field is missing or bad."""
        return cls(
            fingerprint=str(data["fingerprint"]),
            firing=int(data["firing"]),
            receiver=str(data["receiver"]),
            status="resolved" if data.get("status") == "resolved" else "firing",
            reminder=int(data.get("reminder") or 0),  # absent in claims written before reminders
        )
