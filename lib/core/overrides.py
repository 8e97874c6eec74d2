"""What a route may change about how a receiver renders: who is mentioned, whether output
shows, which message template draws it.

Receivers that support it implement ``customized(overrides)`` (lib.notify.base.Customizable)
and return a copy with the same name (claims are keyed by receiver name, so a route's variant
shares the outbox).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Mentions", "Overrides", "TemplateSource"]


@dataclass(frozen=True)
class Mentions:
    """Whom to ``@``: phone numbers, user ids (DingTalk/WeCom userid, Feishu open_id), all."""

    mobiles: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()
    all: bool = False

    def __bool__(self) -> bool:
        return bool(self.mobiles or self.user_ids or self.all)


@dataclass(frozen=True)
class TemplateSource:
    """A message template as the routing file wrote it (lib.notify.template compiles it).

    ``where`` is ``FILE:LINE`` of the template's first line in the routing file, so an error
    at line k of the template is reported at that line + k - 1.
    """

    text: str
    where: str = "<template>:1"


@dataclass(frozen=True)
class Overrides:
    """A route's changes to a receiver; ``None`` keeps the receiver's own setting."""

    mentions: Mentions | None = None
    show_output: bool | None = None
    template: TemplateSource | None = None

    def __bool__(self) -> bool:
        return (
            self.mentions is not None or self.show_output is not None or self.template is not None
        )
