"""A receiver's send budget (20 a minute for a DingTalk robot) and its pause, shared by runs.

The robot counts messages per robot, not per process: two FC instances sending at once, or
two runs a minute apart, share its 20 a minute. So the budget lives in the state store as a
versioned record (``budget/<receiver>``) that every run re-reads and updates with a version
check. The arithmetic is pure (:func:`available`, :func:`spend`, :func:`paused`); the
store I/O is in :class:`Budget` alone.

A slot is spent *before* the send: a message that then fails wastes a slot, which only
delays; spending after would let two runs both see a free slot and overrun the robot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lib.state.base import StateStore
from lib.state.records import update_record

__all__ = ["Budget", "Limit", "available", "pause", "paused_until", "record_name", "spend"]


@dataclass(frozen=True)
class Limit:
    """At most ``count`` messages in any ``window`` seconds."""

    count: int
    window: float


def record_name(receiver: str) -> str:
    """The state record holding ``receiver``'s budget."""
    return f"budget/{receiver}"


def _sent(value: dict[str, Any]) -> list[float]:
    raw = value.get("sent", [])
    return [float(t) for t in raw if isinstance(t, int | float)] if isinstance(raw, list) else []


def paused_until(value: dict[str, Any]) -> float:
    """Until when (epoch seconds) the receiver is paused; 0 when it is not."""
    until = value.get("paused_until", 0.0)
    return float(until) if isinstance(until, int | float) else 0.0


def available(value: dict[str, Any], now: float, limits: Sequence[Limit]) -> int:
    """How many messages may go out now under every limit (0 while paused)."""
    if now < paused_until(value):
        return 0
    sent = _sent(value)
    free = [limit.count - sum(1 for t in sent if now - t < limit.window) for limit in limits]
    return max(0, min(free, default=1_000_000))


def spend(value: dict[str, Any], now: float, count: int, limits: Sequence[Limit]) -> dict[str, Any]:
    """The record after ``count`` messages were sent at ``now``; old times are dropped."""
    horizon = max((limit.window for limit in limits), default=0.0)
    kept = [t for t in _sent(value) if now - t < horizon]
    return {**value, "sent": sorted([*kept, *([now] * count)])}


def pause(value: dict[str, Any], now: float, seconds: float) -> dict[str, Any]:
    """The record with the receiver paused for ``seconds`` from ``now`` (never shortened)."""
    until = max(paused_until(value), now + seconds)
    return {**value, "paused_until": until}


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
