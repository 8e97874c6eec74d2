"""A thread-safe token bucket that caps API calls per second (``ASSISTWATCH_API_QPS``).

One limiter per account, region and product (lib.cloud.aliyun.budgets.ApiBudgets), shared by
every client and thread of that scope, so the watcher never eats an account's ECS API quota
in a region however many sources and threads touch it; STS keeps one of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from lib.support.errors import ConfigError

__all__ = ["MAX_QPS", "MIN_QPS", "RateLimiter"]

MIN_QPS = 0.1  # one call every 10 s; lower would sleep past any FC timeout (1e-9: years)
MAX_QPS = 1000.0


class RateLimiter:
    """Token bucket: ``qps`` tokens a second, at most ``burst`` saved up.

    Callers that find the bucket empty reserve a future token under the lock and sleep
    outside it, so concurrent threads queue fairly and never sleep holding the lock.
    """

    def __init__(
        self,
        qps: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """Create a limiter.

        Args:
            qps: calls per second, from 0.1 to 1000.
            burst: calls allowed at once after a quiet spell; default ``max(1, qps)``.
            clock: monotonic seconds (injected in tests).
            sleep: how to wait (injected in tests).

        Raises:
            ConfigError: qps out of range or burst below 1.
        """
        if not MIN_QPS <= qps <= MAX_QPS:  # also refuses NaN
            raise ConfigError(
                f"ASSISTWATCH_API_QPS must be between {MIN_QPS} and {MAX_QPS:g}, got {qps:g}"
            )
        self.qps = float(qps)
        self.burst = float(burst) if burst is not None else max(1.0, self.qps)
        if not self.burst >= 1:
            raise ConfigError(f"rate limiter burst must be >= 1, got {burst}")
        self._clock = clock or time.monotonic
        self._sleep = sleep or time.sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._last = self._clock()

    def acquire(self) -> float:
        """Take one token, waiting as long as needed.

        Returns:
            The seconds this call waited (0.0 when a token was there).
        """
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
            self._last = now
            # Going below zero is a reservation: the wait pays it back.
            self._tokens -= 1.0
            wait = -self._tokens / self.qps if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait
