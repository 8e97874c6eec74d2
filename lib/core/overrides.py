"""What a route may change about how a receiver renders: who is mentioned, whether output shows.

Receivers that support it implement ``customized(overrides)`` (lib.notify.base.Customizable)
and return a copy with the same name (claims are keyed by receiver name, so a route's variant
shares the outbox).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Mentions", "Overrides"]


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
