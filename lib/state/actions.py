"""What people did from a message's links, kept in the state store (record ``actions``).

One versioned record, updated with a version check like the silences: ``applied`` maps a
link's id to who applied it, when and from where (so applying a link again changes
nothing), and ``acks`` maps an alert's fingerprint to the firing that was acknowledged (no
more reminders for it; a later firing is told again). Old entries are dropped on each write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lib.state.base import StateStore
from lib.state.records import update_record

__all__ = ["RECORD", "acknowledged", "applied", "claim_link", "record_ack", "record_result"]

RECORD = "actions"
_KEEP_APPLIED_SECONDS = 8 * 86400.0  # beyond any link's life (7 days)
_KEEP_ACKS_SECONDS = 43 * 86400.0  # like every other record: 6 weeks and a day


def _section(value: Mapping[str, Any], name: str) -> dict[str, dict[str, Any]]:
    found = value.get(name)
    if not isinstance(found, dict):
        return {}
    return {str(k): v for k, v in found.items() if isinstance(v, dict)}


def _fresh(items: dict[str, dict[str, Any]], now: float, keep: float) -> dict[str, dict[str, Any]]:
    return {
        key: item
        for key, item in items.items()
        if isinstance(item.get("at"), int | float) and now - float(item["at"]) < keep
    }


def applied(store: StateStore, link_id: str) -> dict[str, Any] | None:
    """The record of a link already applied, or None."""
    return _section(store.read(RECORD).value, "applied").get(link_id)


def claim_link(store: StateStore, link_id: str, entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """Record that ``link_id`` is being applied; the earlier entry if it already was (then
    nothing is written and the caller changes nothing)."""
    earlier: dict[str, Any] = {}
    now = float(entry["at"])

    def change(value: dict[str, Any]) -> dict[str, Any] | None:
        items = _section(value, "applied")
        if link_id in items:
            earlier.clear()
            earlier.update(items[link_id])
            return None
        items = _fresh(items, now, _KEEP_APPLIED_SECONDS)
        items[link_id] = dict(entry)
        return {**value, "applied": items}

    written = update_record(store, RECORD, change, what="the actions record")
    return None if written else earlier


def record_result(store: StateStore, link_id: str, result: str) -> None:
    """Note what applying ``link_id`` made (e.g. the silence's id), for a second click."""

    def change(value: dict[str, Any]) -> dict[str, Any] | None:
        items = _section(value, "applied")
        if link_id not in items:
            return None
        items[link_id] = {**items[link_id], "result": result}
        return {**value, "applied": items}

    update_record(store, RECORD, change, what="the actions record")


def record_ack(store: StateStore, fingerprint: str, firing: int, entry: Mapping[str, Any]) -> None:
    """Acknowledge ``firing`` of ``fingerprint``: no more reminders for it."""
    now = float(entry["at"])

    def change(value: dict[str, Any]) -> dict[str, Any]:
        acks = _fresh(_section(value, "acks"), now, _KEEP_ACKS_SECONDS)
        acks[fingerprint] = {**entry, "firing": firing}
        return {**value, "acks": acks}

    update_record(store, RECORD, change, what="the actions record")


def acknowledged(value: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """fingerprint → the acknowledgement (``firing``, ``at``, ``by``…) in a read record."""
    return _section(value, "acks")
