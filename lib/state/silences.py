"""Silences kept in the state store: one versioned record (``silences``) that every run reads
and ``assistwatch silence`` updates with a version check, so two people adding silences at
once both keep theirs. What a silence is and what it mutes is the core's (lib.core.silences).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lib.core.silences import RECORD, Silence, new_silence, silences_from
from lib.state.base import StateStore
from lib.state.records import update_record

__all__ = ["add_silence", "expire_silence", "list_silences"]


def list_silences(store: StateStore, now: float, *, include_expired: bool = False) -> list[Silence]:
    """The silences in the store, soonest to expire first."""
    found = silences_from(store.read(RECORD).value)
    if not include_expired:
        found = [s for s in found if s.expires_at > now]
    return sorted(found, key=lambda s: s.expires_at)


def _update(store: StateStore, change: Callable[[list[Silence]], list[Silence]]) -> None:
    update_record(
        store,
        RECORD,
        lambda value: {"items": [s.to_record() for s in change(silences_from(value))]},
        what="the silences record",
    )


def add_silence(
    store: StateStore,
    match: Mapping[str, Any],
    *,
    reason: str,
    duration_seconds: float,
    now: float,
    created_by: str | None = None,
) -> Silence:
    """Add a silence; raise ConfigError if ``match`` is not a valid condition."""
    silence = new_silence(
        match, reason=reason, duration_seconds=duration_seconds, now=now, created_by=created_by
    )
    _update(store, lambda items: [*(s for s in items if s.expires_at > now), silence])
    return silence


def expire_silence(store: StateStore, silence_id: str, now: float) -> bool:
    """End a silence now; False if there is no such silence."""
    found = any(s.id == silence_id for s in list_silences(store, now))
    if found:
        _update(
            store, lambda items: [s for s in items if s.id != silence_id and s.expires_at > now]
        )
    return found
