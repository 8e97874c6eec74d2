"""Watched invocations: remembered by invoke id and checked on every poll until terminal.

eflo-controller has no API that lists invocations, so Lingjun work is watched: whatever ran
RunCommand/SendFile sends ``{"action": "watch", ...}`` and every poll asks about each watched
id until it is terminal, then tells its failures and forgets it. ECS invoke ids can be
watched too (e.g. a task in a region nobody polls).

The record (``watches/ACCOUNT/PROVIDER/REGION``) is a shared record: updated with a version
check, so concurrent runs never drop each other's watches.

However many ids are watched, a timer poll must still claim and send its own findings in
time (issue #12): a request carries at most :data:`MAX_IDS_PER_REQUEST` ids, a list holds at
most :data:`MAX_WATCHED`, and a poll asks about watches only while its deadline allows,
oldest first, going on next time from a cursor kept in the record (:meth:`WatchList.in_turn`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "MAX_IDS_PER_REQUEST",
    "MAX_WATCHED",
    "MAX_WATCH_AGE",
    "WatchItem",
    "WatchList",
    "record_name",
]

# Cloud Assistant keeps command history 4 weeks and file sends 6: a watch older than that
# can never be answered, and is forgotten (with a note) instead of asked forever.
MAX_WATCH_AGE = timedelta(weeks=6)
# One request: what one deployment script or pipeline step starts; more is refused with one
# line (send several requests). Asking 100 ids costs at most 200 calls, 20 s at 10 qps.
MAX_IDS_PER_REQUEST = 100
# One (account, provider, region) list: ~80 bytes an id, so 10,000 stay well under Table
# Store's 2 MB a column; asked in turn, at 10 qps and ~40 s of a 60 s timer poll, a full
# list is gone through in about 25 polls.
MAX_WATCHED = 10_000


class WatchItem(BaseModel):
    """One watched invocation."""

    kind: Literal["command", "file"] | None = None  # None: ask both APIs
    added: datetime


class WatchList(BaseModel):
    """Every invocation watched for one (account, provider, region)."""

    items: dict[str, WatchItem] = Field(default_factory=dict)
    written_at: datetime | None = None
    # (added, invoke id) of the last watch a poll asked about when its deadline came before
    # the end of the list: the next poll goes on after it. None: start with the oldest.
    cursor: tuple[datetime, str] | None = None

    def add(
        self, invoke_ids: Iterable[str], kind: Literal["command", "file"] | None, now: datetime
    ) -> WatchList:
        """These ids are watched from now on (an id already watched keeps its first time)."""
        items = dict(self.items)
        for invoke_id in invoke_ids:
            if invoke_id not in items:
                items[invoke_id] = WatchItem(kind=kind, added=now)
        if len(items) > MAX_WATCHED:
            raise ValueError(
                f"{len(items) - len(self.items)} more would make {len(items)} watched "
                f"invocations here, over the {MAX_WATCHED:,} a region and provider can hold; "
                "wait for some to end"
            )
        return WatchList(items=items, written_at=now, cursor=self.cursor)

    def without(self, invoke_ids: Iterable[str]) -> WatchList:
        """The list once these ids are done."""
        gone = set(invoke_ids)
        return WatchList(
            items={k: v for k, v in self.items.items() if k not in gone},
            written_at=self.written_at,
            cursor=self.cursor,
        )

    def touched(self, now: datetime) -> WatchList:
        """The same list, marked as written now (a rewrite before the store expires it)."""
        return WatchList(items=dict(self.items), written_at=now, cursor=self.cursor)

    def moved_to(self, cursor: tuple[datetime, str] | None) -> WatchList:
        """The same list, the next poll going on after ``cursor`` (None: from the oldest)."""
        return WatchList(items=dict(self.items), written_at=self.written_at, cursor=cursor)

    def in_turn(self) -> list[tuple[datetime, str]]:
        """Every watch as (added, id), oldest first, starting after the cursor and wrapping.

        The cursor's own id may be gone (ended meanwhile): its place in the order still holds.
        """
        ordered = sorted((item.added, invoke_id) for invoke_id, item in self.items.items())
        if self.cursor is None:
            return ordered
        cut = next((i for i, key in enumerate(ordered) if key > self.cursor), len(ordered))
        return ordered[cut:] + ordered[:cut]

    def expired(self, now: datetime) -> list[str]:
        """Ids watched for longer than Cloud Assistant keeps their history."""
        return [k for k, v in self.items.items() if now - v.added > MAX_WATCH_AGE]


def record_name(account: str, provider: str, region: str) -> str:
    """The shared record holding one (account, provider, region)'s watches."""
    return f"watches/{account}/{provider}/{region}"
