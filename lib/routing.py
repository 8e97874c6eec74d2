"""Which receiver hears about which alert, and how alerts are grouped into notifications.

Pure. Without a routing file every receiver gets every alert, grouped by invoke id: a task
failing on 500 instances is one notification, not 500.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lib.alerts import Alert
from lib.notify.base import Notification

__all__ = ["group", "route"]


def route(alerts: Iterable[Alert], receivers: Sequence[str]) -> dict[str, list[Alert]]:
    """Map each receiver name to the alerts it should hear about."""
    chosen = list(alerts)
    return {name: list(chosen) for name in receivers}


def group(receiver: str, alerts: Iterable[Alert]) -> list[Notification]:
    """Fold alerts into notifications by their group key, oldest group first."""
    groups: dict[str, list[Alert]] = {}
    for alert in sorted(alerts, key=lambda item: (item.starts_at, item.fingerprint)):
        groups.setdefault(alert.group, []).append(alert)
    return [
        Notification(receiver=receiver, group=key, alerts=tuple(members))
        for key, members in groups.items()
    ]
