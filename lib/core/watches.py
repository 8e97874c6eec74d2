"""Watched invocations: remembered by invoke id and checked on every poll until terminal.

eflo-controller has no API that lists invocations, so Lingjun work is watched: whatever ran
RunCommand/SendFile sends ``{"action": "watch", ...}`` and every poll asks about each watched
id until it is terminal, then tells its failures and forgets it. ECS invoke ids can be
watched too (e.g. a task in a region nobody polls).

The record (``watches/ACCOUNT/PROVIDER/REGION``) is a shared record: updated with a version
check, so concurrent runs never drop each other's watches.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["MAX_WATCH_AGE", "WatchItem", "WatchList", "record_name"]

# Cloud Assistant keeps command history 4 weeks and file sends 6: a watch older than that
# can never be answered, and is forgotten (with a note) instead of asked forever.
MAX_WATCH_AGE = timedelta(weeks=6)


class WatchItem(BaseModel):
    """One watched invocation."""

    kind: Literal["command", "file"] | None = None  # None: ask both APIs
    added: datetime


class WatchList(BaseModel):
    """Every invocation watched for one (account, provider, region)."""

    items: dict[str, WatchItem] = Field(default_factory=dict)
    written_at: datetime | None = None

    def add(
        self, invoke_ids: Iterable[str], kind: Literal["command", "file"] | None, now: datetime
    ) -> WatchList:
        """These ids are watched from now on (an id already watched keeps its first time)."""
        items = dict(self.items)
        for invoke_id in invoke_ids:
            if invoke_id not in items:
                items[invoke_id] = WatchItem(kind=kind, added=now)
        return WatchList(items=items, written_at=now)

    def without(self, invoke_ids: Iterable[str]) -> WatchList:
        """The list once these ids are done."""
        gone = set(invoke_ids)
        return WatchList(
            items={k: v for k, v in self.items.items() if k not in gone},
            written_at=self.written_at,
        )

    def touched(self, now: datetime) -> WatchList:
        """The same list, marked as written now (a rewrite before the store expires it)."""
        return WatchList(items=dict(self.items), written_at=now)

    def expired(self, now: datetime) -> list[str]:
        """Ids watched for longer than Cloud Assistant keeps their history."""
        return [k for k, v in self.items.items() if now - v.added > MAX_WATCH_AGE]


def record_name(account: str, provider: str, region: str) -> str:
    """The shared record holding one (account, provider, region)'s watches."""
    return f"watches/{account}/{provider}/{region}"
