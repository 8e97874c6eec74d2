"""The one error tree of assistwatch. The handler catches only the root.

::

    AssistwatchError                 root; ``retryable`` says whether FC should retry the event
    ├── BadInput                     a malformed or unknown event: logged, never retried
    ├── ConfigError                  a broken setting or routing file: names the variable/field
    ├── ApiError                     an OpenAPI error (Code, Message, RequestId)
    │   ├── ApiAuthError             wrong key, expired token, no permission: not retried
    │   ├── ApiRequestError          invalid parameter and other 4xx: not retried
    │   └── ApiTransientError        throttling, 5xx, network: retried, then raised to FC
    ├── StateError                   the state store failed (outage, unexpected answer): retryable
    └── DeliveryError                a receiver did not take a message
        ├── ReceiverConfigError      wrong token/secret/keyword/URL: not retried, reported
        ├── ReceiverRateLimited      over the robot's budget or told to slow down: deferred
        └── ReceiverTransientError   5xx, refused, DNS, TLS: provably not taken; retried
            └── ReceiverUnsure       the answer was lost (read timeout, reset after sending,
                                     504, unreadable 200): it may have arrived; resent once,
                                     later, marked as a possible repeat (docs/reliability.md)

Every message is built from facts that carry no secret: never put a key, token, signature
or robot URL with its access token into one (``lib.support.log`` redacts as a second line of defence).
"""

from __future__ import annotations

__all__ = [
    "ApiAuthError",
    "ApiError",
    "ApiRequestError",
    "ApiTransientError",
    "AssistwatchError",
    "BadInput",
    "ConfigError",
    "DeliveryError",
    "ReceiverConfigError",
    "ReceiverRateLimited",
    "ReceiverTransientError",
    "ReceiverUnsure",
    "StateError",
]


class AssistwatchError(Exception):
    """Root of every error assistwatch raises on purpose.

    Its text passes the outward-string scrubber (:mod:`lib.support.scrubber`) whenever it is read:
    a receiver URL in it shows as scheme://host, a registered secret as ``****``.
    """

    retryable: bool = False

    def __str__(self) -> str:
        from lib.support.scrubber import scrub

        return scrub(super().__str__())


class BadInput(AssistwatchError):
    """The event is malformed or not a trigger we know: retrying cannot help."""

    http: bool = False  # it came inside an HTTP trigger envelope: answer 400, not a report


class ConfigError(AssistwatchError):
    """A setting, routing file or receiver definition is wrong."""


class ApiError(AssistwatchError):
    """An OpenAPI call failed; carries the API's own Code, Message and RequestId."""

    def __init__(
        self,
        action: str,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.action = action
        self.code = code
        self.message = message
        self.request_id = request_id
        self.http_status = http_status
        where = f" (RequestId {request_id})" if request_id else ""
        status = f" HTTP {http_status}" if http_status else ""
        super().__init__(f"{action} failed:{status} {code}: {message}{where}")


class ApiAuthError(ApiError):
    """Credentials rejected or not allowed: fix the key, token or RAM policy."""


class ApiRequestError(ApiError):
    """The request itself is wrong (invalid parameter, unknown action …)."""


class ApiTransientError(ApiError):
    """Throttling, server errors and network faults that outlived our retries."""

    retryable = True


class StateError(AssistwatchError):
    """The state store could not be read or written."""

    retryable = True


class DeliveryError(AssistwatchError):
    """A receiver did not accept a message."""

    def __init__(self, receiver: str, reason: str) -> None:
        self.receiver = receiver
        self.reason = reason
        super().__init__(f"receiver {receiver}: {reason}")


class ReceiverConfigError(DeliveryError):
    """The receiver is misconfigured (token, secret, keyword, allowlist): a person must act."""


class ReceiverRateLimited(DeliveryError):
    """The receiver asked us to slow down; the message stays in the outbox."""

    def __init__(self, receiver: str, reason: str, *, pause_seconds: float = 600.0) -> None:
        self.pause_seconds = pause_seconds
        super().__init__(receiver, reason)


class ReceiverTransientError(DeliveryError):
    """5xx, timeout or connection fault: the message stays in the outbox for the next run."""

    retryable = True


class ReceiverUnsure(ReceiverTransientError):
    """The request went out and its answer was lost: the receiver may have taken it.

    Never retried in-process (a robot has no idempotency key: a retry would be a repeat);
    the outbox resends it at most once, on a later run, marked as a possible repeat.
    """
