"""A receiver's send budget (20 a minute for a DingTalk robot) and its pause, shared by runs.

The robot counts messages per robot, not per process: two FC instances sending at once, or
two runs a minute apart, share its 20 a minute. So the budget lives in the state store as a
versioned record (``budget/<receiver>``) that every run re-reads and updates with a version
check. The arithmetic is pure (:func:`available`, :func:`spend`, :func:`paused_until`); the
store I/O is in :class:`lib.state.budget.Budget` alone.

A slot is spent *before* the send: a message that then fails wastes a slot, which only
delays; spending after would let two runs both see a free slot and overrun the robot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Limit", "available", "pause", "paused_until", "record_name", "spend"]


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
