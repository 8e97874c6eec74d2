"""``CloudAssistantFake``: a loopback ECS and eflo-controller OpenAPI that verifies ACS3
signatures and serves Cloud Assistant results from an in-memory
:class:`~tests.fakes.dataset.Dataset`.

::

    with CloudAssistantFake({"LTAI-test": "test-secret"}, dataset=ds) as fake:
        client = OurClient(endpoint=fake.url, ...)
        ...
        assert [a for a, _ in fake.calls] == ["DescribeInvocations"]

Every request is checked the way the gateway checks it (:mod:`tests.fakes.acs3`: header
form, signed headers, key, STS token, x-acs-date skew, signature, nonce reuse) and answered
with the real error shape — ``{"RequestId", "HostId", "Code", "Message", "Recommend"}`` and
the real HTTP status — or with the action's JSON. One server speaks both products, routed
by the signed ``x-acs-version`` header (the Host is the loopback address either way):
``2014-05-26`` goes to the ECS actions (:mod:`tests.fakes.ecs_api`, over ``ds.commands``
and ``ds.file_sends``), ``2022-12-15`` to the eflo-controller actions
(:mod:`tests.fakes.eflo_api`, over ``ds.eflo_commands`` and ``ds.eflo_file_sends``), any
other version gets ``InvalidVersion``. Point both ``ASSISTWATCH_ECS_ENDPOINT`` and
``ASSISTWATCH_EFLO_ENDPOINT`` at ``fake.url``. Faults can be
injected for the next n requests: an API error (throttling, 5xx), a dropped connection, a
truncated body; ``slow()`` delays every answer. ``calls`` logs (action, params) per request
(params from the query and a form-encoded body alike). Keys can be added while it runs
(``add_key``), as an STS fake does when it issues credentials.
It imports nothing from ``lib``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl

from tests.fakes import acs3, eflo_api, resourcemanager_api
from tests.fakes.acs_server import AcsHandler, error_body
from tests.fakes.dataset import Dataset
from tests.fakes.ecs_api import ApiError, Order, Pager, handle
from tests.fakes.server import LoopbackServer

__all__ = [
    "API_VERSION",
    "DEMO_ACCESS_KEY_ID",
    "DEMO_ACCESS_KEY_SECRET",
    "EFLO_API_VERSION",
    "CloudAssistantFake",
]

API_VERSION = "2014-05-26"
EFLO_API_VERSION = eflo_api.API_VERSION
# Credentials the demo and tests use by default; they open nothing but this fake.
DEMO_ACCESS_KEY_ID = "LTAIfakeDemo01"
DEMO_ACCESS_KEY_SECRET = "fake-demo-secret-not-a-real-one"


@dataclass
class _Fault:
    kind: str  # "error" | "drop" | "garbage"
    action: str | None = None
    status: int = 400
    code: str = ""
    message: str = ""
    region: str | None = None


_DEFAULT_MESSAGES = {
    "Throttling": "Request was denied due to request throttling.",
    "Throttling.User": "Request was denied due to user flow control.",
    "Throttling.Api": "Request was denied due to api flow control.",
    "ServiceUnavailable": "The request has failed due to a temporary failure of the server.",
    "InternalError": "The request processing has failed due to some unknown error.",
}


class CloudAssistantFake(LoopbackServer):
    """A ThreadingHTTPServer on 127.0.0.1 (port 0) in a daemon thread; a context manager."""

    def __init__(
        self,
        credentials: Mapping[str, str] | None = None,
        *,
        security_tokens: Mapping[str, str] | None = None,
        dataset: Dataset | None = None,
        order: Order = "newest",
        seed: int = 0,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
        max_skew: timedelta = acs3.MAX_SKEW,
        regions: Mapping[str, Dataset] | None = None,
    ) -> None:
        """Accept ``credentials`` ({access key id: secret}); ``security_tokens`` marks STS keys.

        Args:
            credentials: accepted keys; default the demo key pair.
            security_tokens: {access key id: token} for STS keys: requests with that key must
                carry exactly this ``x-acs-security-token``.
            dataset: what the API answers from (a new empty one by default).
            order: "newest" (by CreationTime, the API's default) or "shuffled" (seeded).
            seed: the shuffle's seed.
            clock: now() for the x-acs-date check; default the system clock (UTC).
            sleep: how ``slow()`` waits; default time.sleep.
            max_skew: how far x-acs-date may be from now.
            regions: {RegionId: dataset} for a fleet: a request answers from its RegionId's
                dataset (``dataset`` for a region not listed), as each region's endpoint would.
        """
        super().__init__(name="cloudassist-fake")
        creds = (
            credentials if credentials is not None else {DEMO_ACCESS_KEY_ID: DEMO_ACCESS_KEY_SECRET}
        )
        tokens = security_tokens or {}
        self._keys = {
            key_id: acs3.KnownKey(secret, tokens.get(key_id)) for key_id, secret in creds.items()
        }
        self.dataset = dataset if dataset is not None else Dataset()
        self.regions: dict[str, Dataset] = dict(regions or {})
        # DescribeRegions: the regions ECS offers (default those with a dataset of their own)
        self.offered_regions: list[str] = list(self.regions)
        self.members: list[dict[str, object]] = []  # Resource Directory members (ListAccounts)
        self._gates: dict[str, Callable[[], bool]] = {}
        self.gates_opened: dict[str, bool] = {}
        self._pager = Pager(order=order, seed=seed)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._sleep = sleep or time.sleep
        self._max_skew = max_skew
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._delay = 0.0
        self._gate_timeout = 10.0
        self._nonces: dict[str, datetime] = {}
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __repr__(self) -> str:
        # Never the secrets: only where it listens and which key ids it knows.
        return f"CloudAssistantFake(url={self._root_url_or_none()!r}, keys={sorted(self._keys)!r})"

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        return self.root_url

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the endpoint without a scheme."""
        return self.url.removeprefix("http://")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    # --- knobs ---------------------------------------------------------------------------

    @property
    def order(self) -> Order:
        """How lists are ordered: "newest" first, or "shuffled" with ``seed``."""
        return self._pager.order

    @order.setter
    def order(self, value: Order) -> None:
        self._pager.order = value

    @property
    def tag_page_size(self) -> int:
        """(Resource, tag) pairs per ListTagResources page; small, so clients cross pages."""
        return self._pager.tag_page_size

    @tag_page_size.setter
    def tag_page_size(self, value: int) -> None:
        self._pager.tag_page_size = value

    def fail_next(
        self,
        n: int = 1,
        *,
        code: str = "Throttling",
        status: int = 400,
        message: str | None = None,
        action: str | None = None,
        region: str | None = None,
    ) -> None:
        """Answer the next ``n`` signed requests (of ``action``, in ``region``, if given) with
        this API error."""
        text = message or _DEFAULT_MESSAGES.get(code, f"Injected error {code}.")
        with self._lock:
            self._faults += [_Fault("error", action, status, code, text, region) for _ in range(n)]

    def drop_connection_next(self, n: int = 1, *, action: str | None = None) -> None:
        """Close the connection without answering the next ``n`` requests."""
        with self._lock:
            self._faults += [_Fault("drop", action) for _ in range(n)]

    def garbage_next(self, n: int = 1, *, action: str | None = None) -> None:
        """Answer the next ``n`` requests with HTTP 200 and truncated, invalid JSON."""
        with self._lock:
            self._faults += [_Fault("garbage", action) for _ in range(n)]

    def clear_faults(self) -> None:
        """Forget every injected fault not yet served."""
        with self._lock:
            self._faults.clear()

    def slow(self, seconds: float) -> None:
        """Delay every answer by ``seconds`` (0 to stop)."""
        with self._lock:
            self._delay = seconds

    def hold(self, region: str, until: Callable[[], bool], *, timeout: float = 10.0) -> None:
        """Hold every answer in ``region`` until ``until()`` is true (at most ``timeout`` s).

        ``gates_opened[region]`` then says whether it came true: a stuck region, without a
        timed assertion.
        """
        with self._lock:
            self._gates[region] = until
        self._gate_timeout = timeout

    def add_key(
        self, access_key_id: str, secret: str, *, security_token: str | None = None
    ) -> None:
        """Accept one more key from now on (an STS key with the token issued with it)."""
        with self._lock:
            self._keys[access_key_id] = acs3.KnownKey(secret, security_token)

    def _known_key(self, access_key_id: str) -> acs3.KnownKey | None:
        with self._lock:
            return self._keys.get(access_key_id)

    def reset_calls(self) -> None:
        """Forget the call log."""
        with self._lock:
            self.calls.clear()

    def count(self, action: str) -> int:
        """How many requests named ``action`` arrived."""
        with self._lock:
            return sum(1 for a, _ in self.calls if a == action)

    # --- request processing (called from the handler threads) ----------------------------

    def _take_fault(self, action: str, region: str | None = None) -> _Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.action in (None, action) and fault.region in (None, region):
                    return self._faults.pop(i)
        return None

    def _directory(
        self, version: str | None, action: str, params: dict[str, str], request_id: str, host: str
    ) -> tuple[int, bytes] | None:
        """What is not over a dataset: ECS DescribeRegions, Resource Manager's members."""
        if version == API_VERSION and action == "DescribeRegions":
            body = self._regions_body()
        elif version == resourcemanager_api.API_VERSION:
            try:
                body = resourcemanager_api.handle(action, params, self.members)
            except ApiError as err:
                return err.status, _error_body(request_id, host, err.code, err.message)
        else:
            return None
        return 200, json.dumps({"RequestId": request_id, **body}).encode()

    def _regions_body(self) -> dict[str, object]:
        """DescribeRegions as alibabacloud_ecs20140526 models it: Regions.Region[]."""
        return {
            "Regions": {
                "Region": [
                    {
                        "RegionId": region,
                        "LocalName": region,
                        "RegionEndpoint": f"ecs.{region}.aliyuncs.com",
                        "Status": "available",
                    }
                    for region in self.offered_regions
                ]
            }
        }

    def _wait_gate(self, region: str) -> None:
        with self._lock:
            until = self._gates.get(region)
        if until is None:
            return
        deadline = time.monotonic() + self._gate_timeout
        while not until() and time.monotonic() < deadline:
            time.sleep(0.005)
        opened = until()
        with self._lock:  # a later call (DescribeInstances at claim time) must not hide a hold
            self.gates_opened[region] = self.gates_opened.get(region, True) and opened

    def _check_nonce(self, auth: acs3.Authorization, nonce: str, now: datetime) -> None:
        # The gateway refuses a nonce it saw within the signature's validity window: a
        # client that retries by resending the same signed request fails here, as in the cloud.
        key = f"{auth.access_key_id}:{nonce}"
        with self._lock:
            horizon = now - self._max_skew
            for old in [k for k, seen in self._nonces.items() if seen < horizon]:
                del self._nonces[old]
            if key in self._nonces:
                raise acs3.SignatureError(
                    400, "SignatureNonceUsed", "Specified signature nonce was used already."
                )
            self._nonces[key] = now

    def _process(self, request: acs3.ReceivedRequest) -> tuple[int, bytes | None]:
        """Verify and answer one request: (status, body), body None = drop the connection."""
        action = request.header("x-acs-action") or ""
        params = dict(parse_qsl(request.query, keep_blank_values=True))
        if (request.header("content-type") or "").startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        with self._lock:
            self.calls.append((action, params))
            delay = self._delay
        if delay:
            self._sleep(delay)
        self._wait_gate(params.get("RegionId", ""))
        host = request.header("host") or "ecs.aliyuncs.com"
        request_id = str(uuid.uuid4()).upper()
        now = self._clock()
        try:
            auth = acs3.verify(request, self._known_key, now=now, max_skew=self._max_skew)
            self._check_nonce(auth, request.header("x-acs-signature-nonce") or "", now)
        except acs3.SignatureError as err:
            return err.status, _error_body(request_id, host, err.code, err.message)
        return self._answer(request, action, params, request_id, host)

    def _answer(
        self,
        request: acs3.ReceivedRequest,
        action: str,
        params: dict[str, str],
        request_id: str,
        host: str,
    ) -> tuple[int, bytes | None]:
        """Answer a verified request: an injected fault, or the action's JSON."""
        fault = self._take_fault(action, params.get("RegionId"))
        if fault is not None and fault.kind == "drop":
            return 0, None
        if fault is not None and fault.kind == "garbage":
            whole = json.dumps({"RequestId": request_id, "Invocations": {"Invocation": []}})
            return 200, whole[: len(whole) // 2].encode()
        if fault is not None:
            return fault.status, _error_body(request_id, host, fault.code, fault.message)
        return self._product(request.header("x-acs-version"), action, params, request_id, host)

    def _product(
        self, version: str | None, action: str, params: dict[str, str], request_id: str, host: str
    ) -> tuple[int, bytes | None]:
        """The answer of the product the signed version names."""
        directory = self._directory(version, action, params, request_id, host)
        if directory is not None:
            return directory
        if version not in (API_VERSION, EFLO_API_VERSION):
            return 400, _error_body(
                request_id, host, "InvalidVersion", "Specified parameter Version is not valid."
            )
        dataset = self.regions.get(params.get("RegionId", ""), self.dataset)
        try:
            if version == EFLO_API_VERSION:
                body = eflo_api.handle(action, params, dataset)
            else:
                body = handle(action, params, dataset, self._pager)
        except ApiError as err:
            return err.status, _error_body(request_id, host, err.code, err.message)
        return 200, _json_bytes({"RequestId": request_id, **body})


def _error_body(request_id: str, host: str, code: str, message: str) -> bytes:
    return error_body("Ecs", request_id, host, code, message)


def _handler_for(fake: CloudAssistantFake) -> type[BaseHTTPRequestHandler]:
    class Handler(AcsHandler):
        def _serve(self) -> None:
            request = self.received()
            status, payload = fake._process(request)
            if payload is None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_json(status, payload)

        do_GET = _serve  # the names http.server dispatches to
        do_POST = _serve

    return Handler


def _json_bytes(answer: dict[str, object]) -> bytes:
    """UTF-8 JSON; a lone surrogate (not UTF-8) is sent escaped ("\\ud800"), as JSON allows."""
    try:
        return json.dumps(answer, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(answer).encode()
