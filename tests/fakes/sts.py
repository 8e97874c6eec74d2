"""``StsFake``: a loopback STS (2015-04-01) that verifies ACS3 signatures and answers AssumeRole.

::

    with CloudAssistantFake(dataset=ds) as ca, StsFake(
        {"LTAI-fn": "fn-secret"},
        grants={"LTAI-fn": ["acs:ram::1234567890123456:role/assistwatch"]},
        targets=[ca],
    ) as sts:
        ...  # AssumedRoles(http, endpoint=sts.url) gets keys that ``ca`` accepts

It knows which caller key may assume which role (``grants``; the trust policy and the
caller's ``sts:AssumeRole`` permission in one) and which roles exist (``roles``, default:
every granted one). It answers the reference's shape — ``Credentials`` (AccessKeyId,
AccessKeySecret, SecurityToken, Expiration in UTC) and ``AssumedRoleUser`` — and its error
codes: ``MissingRoleArn`` / ``MissingRoleSessionName``, ``InvalidParameter.RoleArn`` /
``.RoleSessionName`` / ``.DurationSeconds`` (900 up to the role's ``max_session``),
``EntityNotExist.Role`` (404), ``NoPermission`` (403); signature and key errors come from
:mod:`tests.fakes.acs3`. Each issued key and token is registered with the ``targets``
(``CloudAssistantFake.add_key``) so calls signed with them are accepted there. ``issued``
lists what was handed out; no secret is in any repr. It imports nothing from ``lib``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qsl

from tests.fakes import acs3
from tests.fakes.acs_server import AcsHandler, error_body
from tests.fakes.server import LoopbackServer

__all__ = ["API_VERSION", "Issued", "KeyRegistry", "StsFake"]

API_VERSION = "2015-04-01"
_ROLE_ARN = re.compile(r"^acs:ram::(\d+):role/([^\s/:]+)$")
_SESSION_NAME = re.compile(r"^[A-Za-z0-9.@_-]{2,64}$")
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class KeyRegistry(Protocol):
    """Anything that accepts issued keys (``CloudAssistantFake``)."""

    def add_key(
        self, access_key_id: str, secret: str, *, security_token: str | None = None
    ) -> None:
        """Accept this key (and its token) from now on."""
        ...


@dataclass(frozen=True)
class Issued:
    """Credentials the fake handed out."""

    role_arn: str
    caller: str  # the AccessKey id that asked
    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str = field(repr=False)
    expiration: datetime


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class StsFake(LoopbackServer):
    """A ThreadingHTTPServer on 127.0.0.1 (port 0) in a daemon thread; a context manager."""

    def __init__(
        self,
        credentials: Mapping[str, str],
        *,
        security_tokens: Mapping[str, str] | None = None,
        grants: Mapping[str, Iterable[str]] | None = None,
        roles: Iterable[str] | None = None,
        max_session: int = 3600,
        targets: Iterable[KeyRegistry] = (),
        clock: Callable[[], datetime] | None = None,
        max_skew: timedelta = acs3.MAX_SKEW,
    ) -> None:
        """Accept ``credentials`` ({access key id: secret}); ``security_tokens`` marks STS keys.

        Args:
            grants: {caller key id: role ARNs it may assume}.
            roles: the roles that exist; default every granted role.
            max_session: the roles' MaxSessionDuration, seconds.
            targets: fakes that must accept what is issued.
            clock: now() for x-acs-date checks and Expiration; default the system clock.
        """
        super().__init__(name="sts-fake")
        tokens = security_tokens or {}
        self._keys = {k: acs3.KnownKey(s, tokens.get(k)) for k, s in credentials.items()}
        self._grants = {key: set(arns) for key, arns in (grants or {}).items()}
        granted = {arn for arns in self._grants.values() for arn in arns}
        self._roles = set(roles) if roles is not None else granted
        self._max_session = max_session
        self._targets = list(targets)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._max_skew = max_skew
        self._lock = threading.Lock()
        self._faults: list[tuple[int, str]] = []
        self._nonces: set[str] = set()
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.issued: list[Issued] = []

    def __repr__(self) -> str:
        return f"StsFake(url={self._root_url_or_none()!r}, keys={sorted(self._keys)!r})"

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        return self.root_url

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    # --- knobs ---------------------------------------------------------------------------

    def add_key(
        self,
        access_key_id: str,
        secret: str,
        *,
        security_token: str | None = None,
        may_assume: Iterable[str] = (),
    ) -> None:
        """Accept one more caller key (e.g. FC rotated the function's own STS key)."""
        with self._lock:
            self._keys[access_key_id] = acs3.KnownKey(secret, security_token)
            self._grants[access_key_id] = set(may_assume)

    def _known_key(self, access_key_id: str) -> acs3.KnownKey | None:
        with self._lock:
            return self._keys.get(access_key_id)

    def fail_next(self, n: int = 1, *, code: str = "Throttling.User", status: int = 400) -> None:
        """Answer the next ``n`` signed requests with this API error."""
        with self._lock:
            self._faults += [(status, code)] * n

    def count(self, action: str = "AssumeRole") -> int:
        """How many requests named ``action`` arrived."""
        with self._lock:
            return sum(1 for a, _ in self.calls if a == action)

    # --- request processing (handler threads) --------------------------------------------

    def _process(self, request: acs3.ReceivedRequest) -> tuple[int, bytes]:
        action = request.header("x-acs-action") or ""
        params = dict(parse_qsl(request.query, keep_blank_values=True))
        if (request.header("content-type") or "").startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        with self._lock:
            self.calls.append((action, params))
        request_id = str(uuid.uuid4()).upper()
        host = request.header("host") or "sts.aliyuncs.com"
        now = self._clock()
        try:
            auth = acs3.verify(request, self._known_key, now=now, max_skew=self._max_skew)
            self._check_nonce(auth.access_key_id, request.header("x-acs-signature-nonce") or "")
            with self._lock:
                fault = self._faults.pop(0) if self._faults else None
            if fault is not None:
                raise _Refused(fault[0], fault[1], f"Injected error {fault[1]}.")
            if request.header("x-acs-version") != API_VERSION:
                raise _Refused(400, "InvalidVersion", "Specified parameter Version is not valid.")
            if action != "AssumeRole":
                raise _Refused(
                    404,
                    "InvalidAction.NotFound",
                    "Specified api is not found, please check your url and method.",
                )
            body = self._assume_role(auth.access_key_id, params, now)
        except (acs3.SignatureError, _Refused) as err:
            return err.status, _error_body(request_id, host, err.code, err.message)
        return 200, json.dumps({"RequestId": request_id, **body}).encode()

    def _check_nonce(self, key_id: str, nonce: str) -> None:
        with self._lock:
            if f"{key_id}:{nonce}" in self._nonces:
                raise _Refused(
                    400, "SignatureNonceUsed", "Specified signature nonce was used already."
                )
            self._nonces.add(f"{key_id}:{nonce}")

    def _assume_role(self, caller: str, params: Mapping[str, str], now: datetime) -> dict[str, Any]:
        arn = params.get("RoleArn", "")
        session = params.get("RoleSessionName", "")
        if not arn:
            raise _Refused(400, "MissingRoleArn", "RoleArn is mandatory for this action.")
        if not session:
            raise _Refused(
                400, "MissingRoleSessionName", "RoleSessionName is mandatory for this action."
            )
        match = _ROLE_ARN.match(arn)
        if match is None:
            raise _Refused(
                400, "InvalidParameter.RoleArn", "The parameter RoleArn is wrongly formed."
            )
        if not _SESSION_NAME.match(session):
            raise _Refused(
                400,
                "InvalidParameter.RoleSessionName",
                "The parameter RoleSessionName is wrongly formed.",
            )
        duration = self._duration(params.get("DurationSeconds") or "3600")
        if arn not in self._roles:
            raise _Refused(404, "EntityNotExist.Role", f"The specified Role not exists: {arn}.")
        with self._lock:
            allowed = arn in self._grants.get(caller, set())
        if not allowed:
            raise _Refused(
                403,
                "NoPermission",
                "You are not authorized to do this action. You should be authorized by RAM.",
            )
        expires = (
            (now + timedelta(seconds=duration)).astimezone(timezone.utc).replace(microsecond=0)
        )
        issued = Issued(
            role_arn=arn,
            caller=caller,
            access_key_id="STS.NT" + "".join(secrets.choice(_ALNUM) for _ in range(22)),
            access_key_secret=secrets.token_urlsafe(30),
            security_token="CAIS" + secrets.token_urlsafe(96),
            expiration=expires,
        )
        with self._lock:
            self.issued.append(issued)
        for target in self._targets:
            target.add_key(
                issued.access_key_id,
                issued.access_key_secret,
                security_token=issued.security_token,
            )
        return {
            "AssumedRoleUser": {
                "Arn": f"{arn}/{session}",
                # The role's own id (a number RAM assigns), then the session name.
                "AssumedRoleId": f"{_role_id(arn)}:{session}",
            },
            "Credentials": {
                "AccessKeyId": issued.access_key_id,
                "AccessKeySecret": issued.access_key_secret,
                "SecurityToken": issued.security_token,
                "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        }

    def _duration(self, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            value = -1
        if not 900 <= value <= self._max_session:
            raise _Refused(
                400,
                "InvalidParameter.DurationSeconds",
                f"The Min/Max value of DurationSeconds is 15min/{self._max_session // 3600}hr.",
            )
        return value


def _role_id(arn: str) -> str:
    return str(int(hashlib.sha256(arn.encode()).hexdigest()[:13], 16)).rjust(16, "3")[:16]


def _error_body(request_id: str, host: str, code: str, message: str) -> bytes:
    return error_body("Sts", request_id, host, code, message)


def _handler_for(fake: StsFake) -> type[BaseHTTPRequestHandler]:
    class Handler(AcsHandler):
        def _serve(self) -> None:
            request = self.received()
            try:
                status, payload = fake._process(request)
            except Exception:  # a fake bug must not hang the client
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                raise
            self.send_json(status, payload)

        do_GET = _serve
        do_POST = _serve

    return Handler
