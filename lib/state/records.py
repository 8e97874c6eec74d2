"""Read-modify-write of a shared record with a version check, retried on conflict.

Every shared record (a robot's budget, silences, poll state) is updated the same way: read
it and its version, compute the new value, write only if the version is unchanged, and on a
lost race read again. Racers back off with jitter so that a handful of concurrent runs all
get through instead of colliding in lock step.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from lib.state.base import StateStore
from lib.support.errors import StateError

__all__ = ["ATTEMPTS", "rebase", "update_record"]

ATTEMPTS = 30
_BASE_DELAY = 0.002
_MAX_DELAY = 0.1


def update_record(
    store: StateStore,
    name: str,
    change: Callable[[dict[str, Any]], dict[str, Any] | None],
    *,
    what: str,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> bool:
    """Apply ``change`` to record ``name``; False when ``change`` returned None (no write).

    Raises:
        StateError: still losing races after ``attempts`` tries (``what`` names the record).
    """
    for attempt in range(attempts):
        record = store.read(name)
        updated = change(dict(record.value))
        if updated is None:
            return False
        if store.write(name, updated, record.version):
            return True
        sleep(rand() * min(_MAX_DELAY, _BASE_DELAY * 2**attempt))
    raise StateError(f"{what} kept changing under {attempts} attempts to update it; try again")


def rebase(
    read: dict[str, Any],
    wanted: dict[str, Any],
    merge: Callable[[dict[str, Any]], dict[str, Any]],
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A change for :func:`update_record` that keeps a concurrent run's update.

    Writes ``wanted`` while the record is still what this run ``read``; when another run
    wrote in between, ``merge(current)`` folds this run's change onto theirs instead.
    """

    def change(current: dict[str, Any]) -> dict[str, Any]:
        return wanted if current == read else merge(current)

    return change
