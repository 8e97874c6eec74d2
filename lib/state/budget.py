"""A receiver's send budget kept in the state store (``budget/<receiver>``), shared by runs.

The arithmetic is the core's (lib.core.budget); this class reads and updates the record
with a version check, so two runs a minute apart, or two FC instances at once, share it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from lib.core.budget import Limit, available, pause, paused_until, record_name, spend
from lib.state.base import StateStore
from lib.state.records import update_record

__all__ = ["Budget"]


class Budget:
    """One receiver's budget in the state store; every method re-reads and retries."""

    def __init__(
        self,
        store: StateStore,
        receiver: str,
        limits: Sequence[Limit],
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.receiver = receiver
        self.limits = tuple(limits)
        self._store = store
        self._name = record_name(receiver)
        self._clock = clock or time.time

    def _update(self, change: Callable[[dict[str, Any], float], dict[str, Any] | None]) -> bool:
        """Apply ``change`` with a version check; False when it chose not to write."""
        return update_record(
            self._store,
            self._name,
            lambda value: change(value, self._clock()),
            what=f"the budget of receiver {self.receiver}",
        )

    def available(self) -> int:
        """How many messages may go out now (read only)."""
        return available(self._store.read(self._name).value, self._clock(), self.limits)

    def acquire(self) -> bool:
        """Spend one slot if there is one; False when the receiver is full or paused."""

        def take(value: dict[str, Any], now: float) -> dict[str, Any] | None:
            if available(value, now, self.limits) < 1:
                return None
            return spend(value, now, 1, self.limits)

        return self._update(take)

    def pause(self, seconds: float) -> None:
        """Pause the receiver for every run (DingTalk 130101: at least ten minutes)."""
        self._update(lambda value, now: pause(value, now, seconds))

    def paused_until(self) -> float:
        """Until when the receiver is paused (epoch seconds; 0: not paused)."""
        return paused_until(self._store.read(self._name).value)
