"""Credentials for other accounts: RAM roles assumed with STS AssumeRole, cached until near expiry.

``ASSISTWATCH_ACCOUNTS`` lists role ARNs (``acs:ram::<account id>:role/<name>``). For each,
the function's own credentials sign an AssumeRole call (STS 2015-04-01, RPC, ACS3 through
:class:`lib.cloud.aliyun.client.OpenApiClient`) and the temporary key, secret and token that come
back sign that account's Cloud Assistant calls. A role's credentials are reused until five
minutes before their ``Expiration`` (STS limits AssumeRole rates; the docs advise reusing a
token while it is valid), per (role ARN, the caller's AccessKey id): FC rotates the
function's own STS key, and a new caller key asks afresh.

Endpoints: the public ``sts.aliyuncs.com`` by default; ``sts.{region}.aliyuncs.com`` and
``sts-vpc.{region}.aliyuncs.com`` through :func:`sts_endpoint`. Errors name the role ARN
and never a secret: a missing trust or permission (``NoPermission``), a role that does not
exist (``EntityNotExist.Role``) or a rejected caller key are ``ApiAuthError`` — a person
must fix RAM; a malformed parameter (``InvalidParameter.*``) is ``ApiRequestError``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError
from pydantic.alias_generators import to_pascal

from lib.cloud.aliyun.client import OpenApiClient
from lib.cloud.aliyun.endpoints import endpoint_for, parse_endpoint
from lib.cloud.aliyun.ratelimit import RateLimiter
from lib.support.arn import account_of
from lib.support.credentials import Credentials
from lib.support.errors import ApiAuthError, ApiError, ApiTransientError, ConfigError

__all__ = [
    "DEFAULT_ENDPOINT",
    "REFRESH_BEFORE",
    "STS_VERSION",
    "AssumedRoles",
    "sts_endpoint",
]

STS_VERSION = "2015-04-01"
DEFAULT_ENDPOINT = "https://sts.aliyuncs.com"
REFRESH_BEFORE = timedelta(minutes=5)
"""Assume the role again this long before its credentials expire."""

_SESSION_NAME = re.compile(r"^[A-Za-z0-9.@_-]{2,64}$")  # the AssumeRole reference's rule
_MIN_DURATION, _MAX_DURATION = 900, 43200
_AUTH_CODES = frozenset({"EntityNotExist.Role"})  # NoPermission & co: lib.cloud.aliyun.retry


def sts_endpoint(region: str | None = None, *, vpc: bool = False) -> str:
    """The STS endpoint: the public one, or a region's public or VPC one.

    Raises:
        ConfigError: a region id that is not one, or ``vpc`` without a region.
    """
    if region is None:
        if vpc:
            raise ConfigError("the STS VPC endpoint is regional: name the region")
        return DEFAULT_ENDPOINT
    # Same region check and URL shape as the products' endpoints.
    regional = endpoint_for("ecs", region, vpc=vpc)
    return regional.replace("://ecs", "://sts", 1)


class _Issued(BaseModel):
    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="ignore")

    access_key_id: str
    access_key_secret: SecretStr
    security_token: SecretStr
    expiration: datetime


class _Answer(BaseModel):
    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="ignore")

    credentials: _Issued


@dataclass(frozen=True)
class _Cached:
    credentials: Credentials
    expires: datetime


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class AssumedRoles:
    """Assumes RAM roles and keeps their credentials until shortly before they expire.

    One instance lives in the warm app and is shared by concurrent passes: the cache and the
    per-role locks make one AssumeRole call serve every caller of the same role and key.

    Args:
        http: the app's shared httpx client.
        endpoint: the STS endpoint; default ``https://sts.aliyuncs.com``.
        clock: now() as an aware datetime (tests pass a fake one); it also dates requests.
        session_name: RoleSessionName, shown in the other account's ActionTrail.
        duration_seconds: DurationSeconds asked for (900 up to the role's maximum).
        limiter: the app's rate limiter, if AssumeRole calls should count against it.
        sleep: wait function for retries (tests pass a recorder).

    Raises:
        ConfigError: a session name or duration STS would refuse, or a bad endpoint.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        endpoint: str | None = None,
        clock: Callable[[], datetime] | None = None,
        session_name: str = "assistwatch",
        duration_seconds: int = 3600,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not _SESSION_NAME.match(session_name):
            raise ConfigError(
                f"role session name {session_name!r}: 2-64 letters, digits or . @ _ -"
            )
        if not _MIN_DURATION <= duration_seconds <= _MAX_DURATION:
            raise ConfigError(
                f"role session duration {duration_seconds}s: STS takes "
                f"{_MIN_DURATION}..{_MAX_DURATION} seconds"
            )
        self._http = http
        self._endpoint = endpoint or DEFAULT_ENDPOINT
        self._clock = clock or _utcnow
        self._session_name = session_name
        self._duration = duration_seconds
        self._limiter = limiter
        self._sleep = sleep
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], _Cached] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self.calls = 0
        parse_endpoint(self._endpoint)  # fail at start-up, not on the first assume

    def __repr__(self) -> str:
        with self._lock:
            roles = sorted({role for role, _ in self._cache})
        return f"AssumedRoles({self._endpoint!r}, cached={roles!r}, calls={self.calls})"

    def credentials_for(self, role_arn: str, base: Credentials) -> Credentials:
        """The role's temporary credentials, assumed with ``base`` unless still cached.

        Args:
            role_arn: ``acs:ram::<account id>:role/<name>``.
            base: the function's own credentials (this invocation's), which sign AssumeRole.

        Raises:
            ConfigError: ``role_arn`` is not a role ARN.
            ApiAuthError: the role does not exist, or may not be assumed with ``base``.
            ApiRequestError: STS refused a parameter (e.g. a duration over the role's
                maximum session).
            ApiTransientError: throttling, 5xx or network faults outlived the retries, or
                an answer without credentials.
        """
        account_of(role_arn)
        key = (role_arn, base.access_key_id)
        with self._lock:
            fresh = self._fresh(key)
            if fresh is not None:
                return fresh
            role_lock = self._locks.setdefault(key, threading.Lock())
        # One assume per role and key at a time; the others wait and take its result.
        with role_lock:
            with self._lock:
                fresh = self._fresh(key)
            if fresh is not None:
                return fresh
            cached = self._assume(role_arn, base)
            with self._lock:
                self._cache[key] = cached
            return cached.credentials

    def _fresh(self, key: tuple[str, str]) -> Credentials | None:
        cached = self._cache.get(key)
        if cached is None or self._clock() >= cached.expires - REFRESH_BEFORE:
            return None
        return cached.credentials

    def _assume(self, role_arn: str, base: Credentials) -> _Cached:
        client = OpenApiClient(
            self._http,
            self._endpoint,
            STS_VERSION,
            base,
            limiter=self._limiter,
            sleep=self._sleep,
            now=self._clock,
        )
        params = {
            "RoleArn": role_arn,
            "RoleSessionName": self._session_name,
            "DurationSeconds": self._duration,
        }
        try:
            answer = client.call("AssumeRole", params)
        except ApiError as error:
            raise _about(role_arn, error) from None
        finally:
            with self._lock:
                self.calls += client.calls
        try:
            issued = _Answer.model_validate(answer).credentials
        except ValidationError as exc:
            # Locations only: the input values may be the very secrets we must not show.
            where = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors()[:3])
            raw_id = answer.get("RequestId")
            raise ApiTransientError(
                "AssumeRole",
                "UnexpectedAnswer",
                f"assuming {role_arn}: no usable credentials in the answer ({where})",
                request_id=raw_id if isinstance(raw_id, str) else None,
            ) from None
        expires = issued.expiration
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)  # STS answers in UTC
        credentials = Credentials(
            access_key_id=issued.access_key_id,
            access_key_secret=issued.access_key_secret,
            security_token=issued.security_token,
        )
        from lib.support.log import register_secret

        # Masked by value in every log line, like the function's own credentials.
        register_secret(
            credentials.access_key_secret.get_secret_value(),
            credentials.security_token.get_secret_value() if credentials.security_token else None,
        )
        return _Cached(credentials, expires)


def _about(role_arn: str, error: ApiError) -> ApiError:
    """The same failure, naming the role, classed by what a person must do about it."""
    # A role that is not there needs RAM fixed as much as a missing trust does.
    cls: type[ApiError] = ApiAuthError if error.code in _AUTH_CODES else type(error)
    return cls(
        error.action,
        error.code,
        f"assuming {role_arn}: {error.message}",
        request_id=error.request_id,
        http_status=error.http_status,
    )
