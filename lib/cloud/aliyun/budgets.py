"""API budgets per account, region and product: one token bucket each (``ASSISTWATCH_API_QPS``).

ECS throttles "per Alibaba Cloud account, per API, per region" (ECS API throttling, help
doc 437902), so a budget per process would let one slow or busy region starve the others and
would cap a fleet at one account's quota. Each (account, region, product) gets its own
:class:`RateLimiter` of ``qps``, created on first use; the buckets are independent, so a
region that waits for tokens holds up nobody else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from lib.cloud.aliyun.ratelimit import RateLimiter

__all__ = ["ApiBudgets"]


class ApiBudgets:
    """The rate limiters of one app, by (account, region, product); thread-safe."""

    def __init__(
        self,
        qps: float,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """``qps`` for every bucket (validated by the first :class:`RateLimiter`)."""
        self.qps = qps
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str], RateLimiter] = {}
        RateLimiter(qps)  # bad qps fails at build time, not in the first scope

    def limiter(self, account: str, region: str, product: str = "ecs") -> RateLimiter:
        """The one bucket of this account, region and product (the same object every call)."""
        key = (account, region, product)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = RateLimiter(self.qps, clock=self._clock, sleep=self._sleep)
                self._buckets[key] = bucket
            return bucket

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)
