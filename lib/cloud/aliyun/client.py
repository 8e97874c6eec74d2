"""A small signed OpenAPI client for RPC-style Alibaba Cloud APIs (ECS, eflo-controller), and
ROA-style POSTs with a path and a body (FC InvokeFunction, :meth:`OpenApiClient.send`).

One ``call(action, params)`` = flatten the params, wait for the rate limiter, sign with
ACS3-HMAC-SHA256, POST, and turn the answer into a dict or an error from ``lib.support.errors``:

- Throttling*, ServiceUnavailable, InternalError, any 5xx, network faults: retried with
  exponential backoff and full jitter, then ``ApiTransientError``;
- wrong/disabled key, bad signature, expired token, no permission, 401/403: ``ApiAuthError``
  at once;
- other 4xx: ``ApiRequestError`` at once;
- a 2xx that is not a JSON object: ``ApiTransientError`` at once (FC retries the event).

Build one client per invocation (credentials change per invocation) around the app's
shared ``httpx.Client`` and ``RateLimiter``; both are safe to reuse.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import urlencode

import httpx

from lib.cloud.aliyun.endpoints import endpoint_for, parse_endpoint
from lib.cloud.aliyun.params import flatten_params
from lib.cloud.aliyun.ratelimit import RateLimiter
from lib.cloud.aliyun.retry import RetryPolicy, classify
from lib.cloud.aliyun.signer import canonical_query, sign_request
from lib.support.credentials import Credentials
from lib.support.errors import ApiAuthError, ApiError, ApiRequestError, ApiTransientError
from lib.support.text import has_surrogate_escape, without_lone_surrogates

__all__ = ["OpenApiClient", "RateLimiter", "RetryPolicy", "endpoint_for"]

USER_AGENT = "assistwatch/0.1 (+httpx)"
_FORM = "application/x-www-form-urlencoded"
_MASK = "***"


def _utc_stamp(moment: datetime) -> str:
    # A naive datetime is taken as UTC already; an aware one is converted.
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _default_now() -> datetime:
    return datetime.now(timezone.utc)


def _default_nonce() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class _Request:
    """A ROA request's own parts: its path (under the endpoint's), query, body, headers."""

    path: str
    query: dict[str, str]
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class _Outcome:
    data: dict[str, Any] | None = None
    error: ApiError | None = None
    retry: bool = False


class OpenApiClient:
    """Signed RPC calls to one product endpoint.

    Attributes:
        calls: API requests sent, retries included (the run report shows it).
        throttled: answers that were throttling errors (sustained throttling is a health
            signal).
    """

    def __init__(
        self,
        http: httpx.Client,
        endpoint: str,
        version: str,
        credentials: Credentials,
        *,
        style: Literal["query", "form"] = "query",
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        rand: Callable[[], float] | None = None,
        now: Callable[[], datetime] | None = None,
        nonce: Callable[[], str] | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        """Create a client.

        Args:
            http: the shared httpx client (its transport and timeouts are used as is).
            endpoint: ``https://host[:port]`` (a bare host means https); plain http only
                for loopback hosts.
            version: API version, e.g. ``2014-05-26`` (ECS), ``2022-12-15`` (eflo-controller).
            credentials: this invocation's credentials.
            style: ``query`` puts params in the query string (ECS); ``form`` sends them as
                an x-www-form-urlencoded body (eflo-controller).
            retry: backoff policy; default 4 attempts.
            sleep: wait function (tests pass a recorder so they never sleep).
            rand: uniform [0, 1) draws for the jitter.
            now: the current time (aware or UTC-naive datetime).
            nonce: unique nonce per request.
            limiter: the rate limiter of this account and region (ApiBudgets), if any.

        Raises:
            ConfigError: an endpoint that is not https (outside loopback) or not a URL.
        """
        self._http = http
        self._endpoint = parse_endpoint(endpoint)
        self._version = version
        self._credentials = credentials
        self._style = style
        self._retry = retry or RetryPolicy()
        self._sleep = sleep or time.sleep
        # Jitter only spreads retries out; it needs no cryptographic randomness.
        self._rand = rand or random.random
        self._now = now or _default_now
        self._nonce = nonce or _default_nonce
        self._limiter = limiter
        self._lock = threading.Lock()
        self.calls = 0
        self.throttled = 0

    def __repr__(self) -> str:
        return (
            f"OpenApiClient({self._endpoint.url!r}, version={self._version!r}, "
            f"key={self._credentials.access_key_id!r}, calls={self.calls})"
        )

    def call(self, action: str, params: Mapping[str, object]) -> dict[str, Any]:
        """Call one API and return its JSON answer.

        Args:
            action: API name, e.g. ``DescribeInvocationResults``.
            params: request parameters; nested lists/dicts are flattened the RPC way,
                None values dropped, bools sent as true/false.

        Raises:
            ApiAuthError: credentials rejected or not allowed (never retried).
            ApiRequestError: the request is wrong (never retried).
            ApiTransientError: throttling/server/network faults outlived the retries,
                or a success answer that is not JSON.
        """
        flat = flatten_params(action, params)
        return self._attempts(action, lambda: self._once(action, flat))

    def send(
        self,
        action: str,
        path: str,
        body: bytes,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One ROA-style POST (FC's InvokeFunction): ``path`` and a body, signed the same way.

        A 2xx with an empty body (FC's 202 for an asynchronous invocation) is ``{}``; errors
        and retries are those of :meth:`call`.
        """
        request = _Request(path, dict(query or {}), body, dict(headers or {}))
        return self._attempts(action, lambda: self._once(action, {}, request))

    def _attempts(self, action: str, once: Callable[[], _Outcome]) -> dict[str, Any]:
        attempts = self._retry.attempts
        last: ApiError | None = None
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                self._sleep(self._retry.delay(attempt - 1, self._rand()))
            outcome = once()
            if outcome.data is not None:
                return outcome.data
            assert outcome.error is not None
            if not outcome.retry:
                raise outcome.error
            last = outcome.error
        assert last is not None
        raise ApiTransientError(
            action,
            last.code,
            f"{last.message} (gave up after {attempts} attempts)",
            request_id=last.request_id,
            http_status=last.http_status,
        )

    def _once(self, action: str, flat: dict[str, str], roa: _Request | None = None) -> _Outcome:
        if self._limiter is not None:
            self._limiter.acquire()
        query: dict[str, str]
        path = self._endpoint.path
        if roa is not None:
            path = self._endpoint.path.rstrip("/") + roa.path
            query, body, extra = roa.query, roa.body, roa.headers
        elif self._style == "form":
            query, body = {}, urlencode(sorted(flat.items())).encode()
            extra = {"content-type": _FORM}
        else:
            query, body, extra = flat, b"", {}
        headers = sign_request(
            method="POST",
            host=self._endpoint.host,
            path=path,
            query=query,
            headers={**extra, "accept": "application/json", "user-agent": USER_AGENT},
            body=body,
            credentials=self._credentials,
            action=action,
            version=self._version,
            date=_utc_stamp(self._now()),
            nonce=self._nonce(),
        )
        # Send the very string that was signed, so the server decodes the signed values.
        base = self._endpoint.url if roa is None else self._endpoint.url.rstrip("/") + roa.path
        url = base + (f"?{canonical_query(query)}" if query else "")
        with self._lock:
            self.calls += 1
        try:
            response = self._http.post(url, content=body, headers=headers)
        except httpx.TransportError as exc:
            reason = self._redact(f"{type(exc).__name__}: {exc}", headers)
            return _Outcome(error=ApiTransientError(action, "NetworkError", reason), retry=True)
        return self._judge(action, response, headers, empty_ok=roa is not None)

    def _judge(
        self,
        action: str,
        response: httpx.Response,
        sent: Mapping[str, str],
        *,
        empty_ok: bool = False,
    ) -> _Outcome:
        status = response.status_code
        try:
            data: object = response.json()
        except (ValueError, RecursionError):  # not JSON, or nested beyond the parser's stack
            data = None
        if data is not None and has_surrogate_escape(response.content):
            # A lone surrogate ("\ud800" in a CommandName) is valid JSON but no character:
            # it would break the state store and the message at claim time, for every alert
            # of the run. Told as U+FFFD instead.
            data = without_lone_surrogates(data)
        if 200 <= status < 300 and empty_ok and not response.content:
            return _Outcome(data={})
        if 200 <= status < 300:
            if isinstance(data, dict):
                return _Outcome(data=data)
            what = self._describe(response)
            invalid = ApiTransientError(
                action,
                "InvalidResponse",
                f"the answer is not a JSON object ({what}); a proxy or captive portal "
                "in the way, or a wrong endpoint?",
                http_status=status,
            )
            return _Outcome(error=invalid)
        code, message, request_id = f"HTTP{status}", "", None
        if isinstance(data, dict):
            code = str(data.get("Code") or data.get("code") or code)
            message = str(data.get("Message") or data.get("message") or "")
            raw_id = data.get("RequestId") or data.get("requestId")
            request_id = str(raw_id) if raw_id else None
        else:
            message = f"the answer is not JSON ({self._describe(response)})"
        request_id = request_id or response.headers.get("x-acs-request-id")
        message = self._redact(message, sent)
        verdict = classify(status, code)
        if code.startswith("Throttling"):
            with self._lock:
                self.throttled += 1
        if verdict == "transient":
            error: ApiError = ApiTransientError(
                action, code, message, request_id=request_id, http_status=status
            )
            return _Outcome(error=error, retry=True)
        cls = ApiAuthError if verdict == "auth" else ApiRequestError
        return _Outcome(error=cls(action, code, message, request_id=request_id, http_status=status))

    @staticmethod
    def _describe(response: httpx.Response) -> str:
        kind = response.headers.get("content-type") or "no content-type"
        return f"HTTP {response.status_code}, {kind}, {len(response.content)} bytes"

    def _redact(self, text: str, sent: Mapping[str, str]) -> str:
        # Servers echo parts of the request in messages; make sure none is a secret.
        secrets = [self._credentials.access_key_secret.get_secret_value()]
        if self._credentials.security_token is not None:
            secrets.append(self._credentials.security_token.get_secret_value())
        auth = sent.get("Authorization", "")
        if "Signature=" in auth:
            secrets.append(auth.rsplit("Signature=", 1)[1])
        for secret in secrets:
            if secret:
                text = text.replace(secret, _MASK)
        return text
