"""Retry one send a few times in-process: 5xx, 408, timeouts, and short 429 waits.

Receivers raise :class:`ReceiverTransientError` for 5xx / 408 / timeouts / resets and
:class:`ReceiverRateLimited` (with the server's Retry-After) for 429. A short wait is worth
taking now; a long one is not (the function's time is billed and bounded), so the error is
raised and the message waits in the outbox, with the receiver paused for that long. Other
errors (4xx, config) are never retried: sending the same request again cannot help.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from lib.support.errors import ReceiverRateLimited, ReceiverTransientError

__all__ = ["RetryPolicy", "send_with_retries"]

T = TypeVar("T")


class RetryPolicy:
    """How many attempts, how long between them, and the longest wait taken in-process."""

    def __init__(
        self,
        *,
        attempts: int = 3,
        base_delay: float = 1.0,
        max_delay: float = 8.0,
        max_wait: float = 10.0,
    ) -> None:
        self.attempts = max(1, attempts)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_wait = max_wait

    def delay(self, attempt: int) -> float:
        """Backoff before attempt ``attempt + 1`` (1 s, 2 s, 4 s … bounded)."""
        return float(min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))


def send_with_retries(
    attempt: Callable[[], T],
    *,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """Call ``attempt`` until it succeeds, retrying transient faults and short rate limits.

    Raises:
        DeliveryError: the last error, once attempts are spent, or at once when it is not
            retryable or asks for a wait longer than ``policy.max_wait``.
    """
    policy = policy or RetryPolicy()
    sleep = sleep or time.sleep
    for number in range(1, policy.attempts + 1):
        try:
            return attempt()
        except ReceiverRateLimited as error:
            if number == policy.attempts or error.pause_seconds > policy.max_wait:
                raise
            # Retry-After says when; never sooner than our own backoff.
            sleep(max(error.pause_seconds, policy.delay(number)))
        except ReceiverTransientError:
            if number == policy.attempts:
                raise
            sleep(policy.delay(number))
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
