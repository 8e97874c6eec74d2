"""Silences: mute matching alerts until a time, with a reason, without a redeploy.

Kept in the state store as one versioned record (``silences``) that every run reads and
``assistwatch silence`` updates with a version check, so two people adding silences at
once both keep theirs. Matching is pure (:func:`apply_silences`); a silence's ``match`` has
the routing file's shape (source, kind, region, error_code, category, severity, name,
instance_tags), plus ``fingerprint`` (and optionally ``firing``) or ``group``: a silence
made from a message's link mutes that one alert (that firing, for "until resolved"), or the
alerts of that one cause (an invocation on many instances), and no other.
Expired silences are dropped on the next write.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from lib.core.alerts import Alert
from lib.core.matching import matcher_from
from lib.core.routing import Matcher, TagLookup
from lib.support.errors import ConfigError

__all__ = ["RECORD", "Silence", "apply_silences", "new_silence", "silences_from"]

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
        """The silence's label conditions (validated when the silence was added)."""
        if self._matcher is not None:
            return self._matcher
        return matcher_from(_labels(self.match), what=f"silence {self.id}")

    def pins(self, alert: Alert) -> bool:
        """Whether the silence's ``fingerprint``/``firing``/``group`` (if any) name ``alert``."""
        wanted = self.match.get("fingerprint")
        if wanted is not None and alert.fingerprint != wanted:
            return False
        group = self.match.get("group")
        if group is not None and alert.group != group:
            return False
        firing = self.match.get("firing")
        return firing is None or alert.firing == firing

    def to_record(self) -> dict[str, Any]:
        """The stored form."""
        data = asdict(self)
        data.pop("_matcher")
        return data


_PINS = ("fingerprint", "firing", "group")


def _labels(match: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in match.items() if key not in _PINS}


def _check_pins(match: Mapping[str, Any]) -> None:
    fingerprint = match.get("fingerprint")
    if fingerprint is not None and (not isinstance(fingerprint, str) or not fingerprint):
        raise ConfigError("silence: fingerprint must be an alert's fingerprint (text)")
    firing = match.get("firing")
    if firing is not None and (
        isinstance(firing, bool) or not isinstance(firing, int) or firing < 1
    ):
        raise ConfigError("silence: firing must be a positive whole number")
    group = match.get("group")
    if group is not None and (not isinstance(group, str) or not group):
        raise ConfigError("silence: group must be an alert group's key (text)")
    if firing is not None and fingerprint is None:
        raise ConfigError("silence: firing needs a fingerprint")


def silences_from(value: Mapping[str, Any]) -> list[Silence]:
    items = value.get("items", [])
    found = []
    for item in items if isinstance(items, list) else []:
        try:
            found.append(Silence(**item))
        except TypeError:
            continue  # a record from a newer version: ignore what we cannot read
    return found


def new_silence(
    match: Mapping[str, Any],
    *,
    reason: str,
    duration_seconds: float,
    now: float,
    created_by: str | None = None,
) -> Silence:
    """A new silence from ``now`` for ``duration_seconds``; ConfigError if ``match`` is bad."""
    _check_pins(match)
    return Silence(
        id="s-" + secrets.token_hex(4),
        match=dict(match),
        reason=reason,
        created_at=now,
        expires_at=now + duration_seconds,
        created_by=created_by,
        _matcher=matcher_from(_labels(match), what="silence"),
    )


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
        hit = next((s for s, m in active if s.pins(alert) and m.matches(alert.finding, tags)), None)
        if hit is None:
            told.append(alert)
        else:
            muted.append((alert, hit))
    return told, muted
