"""Silences: mute matching alerts until a time, with a reason, without a redeploy.

Kept in the state store as one versioned record (``silences``) that every run reads and
``assistwatch silence`` updates with a version check, so two people adding silences at
once both keep theirs. Matching is pure (:func:`apply_silences`); a silence's ``match`` has
the routing file's shape (source, kind, region, error_code, category, severity, name,
instance_tags). Expired silences are dropped on the next write.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from lib.alerts import Alert
from lib.routing import Matcher, TagLookup
from lib.state.base import StateStore
from lib.state.records import update_record

__all__ = [
    "RECORD",
    "Silence",
    "add_silence",
    "apply_silences",
    "expire_silence",
    "list_silences",
]

RECORD = "silences"


@dataclass(frozen=True)
class Silence:
    """Mute alerts that match ``match`` from ``created_at`` until ``expires_at`` (epoch s)."""

    id: str
    match: dict[str, Any]
    reason: str
    created_at: float
    expires_at: float
    created_by: str | None = None
    _matcher: Matcher | None = field(default=None, compare=False, repr=False)

    def active(self, now: float) -> bool:
        """Whether the silence mutes alerts at ``now``."""
        return self.created_at <= now < self.expires_at

    def matcher(self) -> Matcher:
        """The silence's conditions (validated when the silence was added)."""
        if self._matcher is not None:
            return self._matcher
        from lib.config import matcher_from

        return matcher_from(self.match, what=f"silence {self.id}")

    def to_record(self) -> dict[str, Any]:
        """The stored form."""
        data = asdict(self)
        data.pop("_matcher")
        return data


def _silences(value: Mapping[str, Any]) -> list[Silence]:
    items = value.get("items", [])
    found = []
    for item in items if isinstance(items, list) else []:
        try:
            found.append(Silence(**item))
        except TypeError:
            continue  # a record from a newer version: ignore what we cannot read
    return found


def list_silences(store: StateStore, now: float, *, include_expired: bool = False) -> list[Silence]:
    """The silences in the store, soonest to expire first."""
    found = _silences(store.read(RECORD).value)
    if not include_expired:
        found = [s for s in found if s.expires_at > now]
    return sorted(found, key=lambda s: s.expires_at)


def _update(store: StateStore, change: Callable[[list[Silence]], list[Silence]]) -> None:
    update_record(
        store,
        RECORD,
        lambda value: {"items": [s.to_record() for s in change(_silences(value))]},
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
    from lib.config import matcher_from

    matcher = matcher_from(match, what="silence")
    silence = Silence(
        id="s-" + secrets.token_hex(4),
        match=dict(match),
        reason=reason,
        created_at=now,
        expires_at=now + duration_seconds,
        created_by=created_by,
        _matcher=matcher,
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


def apply_silences(
    alerts: Iterable[Alert],
    silences: Sequence[Silence],
    now: float,
    *,
    tags: TagLookup | None = None,
) -> tuple[list[Alert], list[tuple[Alert, Silence]]]:
    """Split alerts into (to tell, muted with the silence that muted each). Pure."""
    active = [(s, s.matcher()) for s in silences if s.active(now)]
    told: list[Alert] = []
    muted: list[tuple[Alert, Silence]] = []
    for alert in alerts:
        hit = next((s for s, m in active if m.matches(alert.finding, tags)), None)
        if hit is None:
            told.append(alert)
        else:
            muted.append((alert, hit))
    return told, muted
