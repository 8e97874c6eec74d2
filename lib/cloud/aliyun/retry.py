"""Which OpenAPI failures are worth retrying, and how long to wait between tries.

Codes come from the common OpenAPI error table (Throttling*, ServiceUnavailable,
InternalError, SignatureNonceUsed are the server's or the moment's fault; a wrong or
disabled key, a bad signature, an expired STS token or a missing RAM permission needs a
person). Everything else that is a 4xx is a bad request and is not retried either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lib.support.errors import ConfigError

__all__ = ["AUTH_CODES", "TRANSIENT_CODES", "RetryPolicy", "Verdict", "classify"]

Verdict = Literal["transient", "auth", "request"]

TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "Throttling.User",
        "Throttling.Api",
        "ServiceUnavailable",
        "InternalError",
        "UnknownError",
        # Our nonce collided with an earlier one: the next try carries a fresh nonce.
        "SignatureNonceUsed",
    }
)
AUTH_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "InvalidAccessKeyId.NotFound",
        "InvalidAccessKeyId.Inactive",
        "InvalidAccessKeySecret",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidSecurityToken",
        "NoPermission",
        "ActionUnauthorized",
        "Unauthorized",
        "AccessDenied",
    }
)
_AUTH_PREFIXES = ("InvalidAccessKeyId.", "InvalidSecurityToken.", "Forbidden", "NoPermission.")


def classify(status: int, code: str | None) -> Verdict:
    """Decide what an error answer means: retry it, blame the credentials, or the request.

    The error Code wins over the HTTP status: the API sends throttling as 400 and some
    auth failures as 400 or 404.
    """
    if code:
        if code in TRANSIENT_CODES or code.startswith("Throttling"):
            return "transient"
        if code in AUTH_CODES or code.startswith(_AUTH_PREFIXES):
            return "auth"
    if status >= 500 or status == 429:
        return "transient"
    if status in (401, 403):
        return "auth"
    return "request"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter (wait = rand * min(cap, base * 2**n)).

    Attributes:
        attempts: tries in all, the first included (>= 1).
        base_delay: seconds before the first retry, at most.
        max_delay: cap on any one wait, seconds.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigError(f"retry attempts must be >= 1, got {self.attempts}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ConfigError("retry delays must not be negative")

    def delay(self, retry: int, rand: float) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry).

        Args:
            retry: 1-based retry number.
            rand: a uniform draw in [0, 1).
        """
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        return rand * ceiling
