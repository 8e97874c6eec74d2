"""Per-source-address request limit for the link pages, kept in memory (never in the store).

A fixed one-minute window per address: at most ``per_minute`` requests are served in a
window; refused requests are not counted, so an address that keeps trying is served again as
soon as the window turns (nothing ever locks it out). The table is bounded: when it holds
``max_addresses`` windows, the ones already over are dropped first, then the oldest.
"""

from __future__ import annotations

import threading

__all__ = ["Throttle"]


class Throttle:
    """``allow(address, now)``: whether to serve this request."""

    def __init__(self, per_minute: int = 120, *, max_addresses: int = 10_000) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self._max = max_addresses
        self._windows: dict[str, tuple[int, int]] = {}  # address → (minute, served)
        self._lock = threading.Lock()

    def allow(self, address: str, now: float) -> bool:
        minute = int(now // 60)
        with self._lock:
            start, served = self._windows.get(address, (minute, 0))
            if start != minute:
                served = 0
            if served >= self.per_minute:
                return False
            if address not in self._windows and len(self._windows) >= self._max:
                self._evict(minute)
            self._windows[address] = (minute, served + 1)
            return True

    def retry_after(self, now: float) -> int:
        """Seconds until the current window turns."""
        return 60 - int(now % 60)

    def _evict(self, minute: int) -> None:
        stale = [key for key, (start, _) in self._windows.items() if start != minute]
        for key in stale:
            del self._windows[key]
        while len(self._windows) >= self._max:
            del self._windows[next(iter(self._windows))]
