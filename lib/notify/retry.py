"""Retry one send a few times in-process — only what provably did not arrive.

Receivers raise :class:`ReceiverTransientError` when the request provably was not taken
(connection refused, DNS, TLS, connect timeout, an explicit 5xx / 408 answer),
:class:`ReceiverUnsure` when it went out and the answer was lost (read timeout, a reset
after sending, 504, an unreadable 200: :func:`transport_fault` sorts httpx's exceptions),
and :class:`ReceiverRateLimited` (with the server's Retry-After) for 429. A robot has no
idempotency key, so an unsure send is never retried here: the outbox resends it once, on a
later run, marked as a possible repeat (docs/reliability.md). A short rate-limit wait is
worth taking now; a long one is not (the function's time is billed and bounded), so the
error is raised and the message waits in the outbox, with the receiver paused for that
long. Other errors (4xx, config) are never retried: the same request would be refused again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import httpx

from lib.support.errors import ReceiverRateLimited, ReceiverTransientError, ReceiverUnsure

__all__ = ["RetryPolicy", "send_with_retries", "transport_fault"]

# Raised before a byte of the request left: the receiver cannot have taken it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def transport_fault(receiver: str, exc: httpx.TransportError) -> ReceiverTransientError:
    """The DeliveryError an httpx transport failure means: not sent, or unsure.

    Connection refused, DNS and TLS failures (ConnectError), a connect or pool timeout:
    nothing was sent, so retrying is safe. A read or write timeout, a reset or a close
    after the request started: the receiver may have taken it (:class:`ReceiverUnsure`).
    The message names the exception's type only: httpx's text can carry the URL.
    """
    if isinstance(exc, _NOT_SENT):
        what = "connect timed out" if isinstance(exc, httpx.ConnectTimeout) else "not reached"
        return ReceiverTransientError(receiver, f"{what} ({type(exc).__name__})")
    if isinstance(exc, httpx.TimeoutException):
        return ReceiverUnsure(receiver, f"timed out waiting for the answer ({type(exc).__name__})")
    return ReceiverUnsure(receiver, f"connection lost after sending ({type(exc).__name__})")


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
        except ReceiverUnsure:
            raise  # it may have arrived: a retry now could tell it twice
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
