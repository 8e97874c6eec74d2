"""What a route may change about how a receiver renders: who is mentioned, whether output shows.

Receivers that support it implement ``customized(overrides)`` and return a copy with the
same name (claims are keyed by receiver name, so a route's variant shares the outbox).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from lib.notify.base import Receiver

__all__ = ["Customizable", "Mentions", "Overrides"]


@dataclass(frozen=True)
class Mentions:
    """Whom to ``@``: phone numbers, user ids (DingTalk/WeCom userid, Feishu open_id), all."""

    mobiles: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()
    all: bool = False

    def __bool__(self) -> bool:
        return bool(self.mobiles or self.user_ids or self.all)


@dataclass(frozen=True)
class Overrides:
    """A route's changes to a receiver; ``None`` keeps the receiver's own setting."""

    mentions: Mentions | None = None
    show_output: bool | None = None

    def __bool__(self) -> bool:
        return self.mentions is not None or self.show_output is not None


@runtime_checkable
class Customizable(Protocol):
    """A receiver that can render differently for one route."""

    def customized(self, overrides: Overrides) -> Receiver:
        """A copy of this receiver with ``overrides`` applied, under the same name."""
        ...
