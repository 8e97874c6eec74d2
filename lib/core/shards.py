"""Fan-out decisions, pure: how many shards, which scopes each gets, whose lease holds.

A *scope* is one account in one region (``"self/cn-hangzhou"``, ``"1234…/cn-beijing"``). A
*slot* is a shard's lease in the state store: the scopes it was given, the token of the
coordinator pass that gave them (the shard's event carries it), and until when it holds them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "FAN_OUT_ABOVE",
    "SHARD_TARGET",
    "Slot",
    "parse_scope",
    "scope_id",
    "shard_count",
    "split",
]

Key = tuple[str, str]  # (account, region)
Status = Literal["dispatched", "running", "done", "released"]

# Auto mode (ASSISTWATCH_SHARDS unset): fan out when the estimate passes this share of the
# pass's time budget, into shards each estimated at SHARD_TARGET of it (room to grow, and a
# gap so a fleet near the line does not flip between modes every pass).
FAN_OUT_ABOVE = 0.7
SHARD_TARGET = 0.4


def scope_id(account: str, region: str) -> str:
    """The text form of a scope (slot records, shard events)."""
    return f"{account}/{region}"


def parse_scope(text: str) -> Key:
    """``account/region`` back to its pair; ValueError if it is not one."""
    account, sep, region = text.partition("/")
    if not sep or not account or not region or "/" in region:
        raise ValueError(f"{text[:60]!r} is not a scope (expected account/region)")
    return account, region


def split(keys: list[Key], count: int) -> list[list[Key]]:
    """``keys`` in ``count`` contiguous, balanced, non-empty parts (order kept: an account's
    regions stay together, so a shard assumes few roles)."""
    count = max(1, min(count, len(keys)))
    size, extra = divmod(len(keys), count)
    parts: list[list[Key]] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        parts.append(keys[start:end])
        start = end
    return [part for part in parts if part]


def shard_count(configured: int, estimate: float | None, budget: float, scopes: int) -> int:
    """How many shards this pass needs: 1 means in-process, as without fan-out.

    Args:
        configured: ASSISTWATCH_SHARDS (0: estimate; 1: never fan out).
        estimate: seconds the whole pass is expected to take in one instance (None: unknown).
        budget: seconds one invocation may poll (its timeout less the time to claim and send).
        scopes: how many scopes the pass has (never more shards than scopes).
    """
    if scopes < 2:
        return 1
    if configured >= 1:
        return min(configured, scopes)
    if estimate is None or budget <= 0 or estimate <= FAN_OUT_ABOVE * budget:
        return 1
    return min(max(2, math.ceil(estimate / (SHARD_TARGET * budget))), scopes)


@dataclass
class Slot:
    """A shard's lease, as stored (``fanout/slot/{index}``)."""

    token: str = ""
    scopes: list[str] = field(default_factory=list)
    status: Status = "done"
    lease_until: float = 0.0
    runner: str | None = None  # the request id of the invocation polling it
    seconds: float | None = None  # what the shard's poll took (the next estimate)
    api_calls: int | None = None

    @classmethod
    def from_value(cls, value: dict[str, Any]) -> Slot:
        """A stored slot; anything unreadable is a free slot (it holds nothing)."""
        try:
            return cls(
                token=str(value.get("token") or ""),
                scopes=[str(s) for s in value.get("scopes") or []],
                status=value.get("status") or "done",
                lease_until=float(value.get("lease_until") or 0.0),
                runner=value.get("runner"),
                seconds=None if value.get("seconds") is None else float(value["seconds"]),
                api_calls=None if value.get("api_calls") is None else int(value["api_calls"]),
            )
        except (TypeError, ValueError, AttributeError):
            return cls()

    def value(self) -> dict[str, Any]:
        """The record to store."""
        return {
            "token": self.token,
            "scopes": self.scopes,
            "status": self.status,
            "lease_until": self.lease_until,
            "runner": self.runner,
            "seconds": self.seconds,
            "api_calls": self.api_calls,
        }

    def holds(self, now: float) -> bool:
        """Its scopes are being polled (or about to be): nobody else may take them."""
        return self.status in ("dispatched", "running") and self.lease_until > now

    def died(self, now: float) -> bool:
        """Dispatched or running, and its lease ended: its run died (or never started)."""
        return self.status in ("dispatched", "running") and self.lease_until <= now

    def may_start(self, token: str, runner: str, now: float) -> bool:
        """A shard's invocation may poll: its coordinator's token still owns the slot, and no
        other live invocation (FC delivers an async event at least once) is on it."""
        if self.token != token or self.status == "done":
            return False
        return not (self.status == "running" and self.runner != runner and self.lease_until > now)
