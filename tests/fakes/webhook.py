"""A loopback webhook endpoint that verifies Standard Webhooks signatures and records payloads.

Verification uses this module's own code, written from the specification, so the receiver's
signer is checked against an independent implementation. Faults (status codes, Retry-After)
are injected per request so retry classification can be tested without a network.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.server import LoopbackServer, QuietHandler

__all__ = ["Delivery", "WebhookSink"]

TOLERANCE_SECONDS = 300  # the specification's suggested replay window


@dataclass(frozen=True)
class Delivery:
    """One accepted request."""

    msg_id: str
    timestamp: int
    payload: dict[str, Any]


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: str | None


class WebhookSink(LoopbackServer):
    """Context manager serving ``POST /hook`` on 127.0.0.1."""

    def __init__(self, secret: str | None = None, *, clock: Callable[[], float] | None = None):
        super().__init__(bind=True)
        self.secret = secret
        self.clock = clock or time.time
        self.deliveries: list[Delivery] = []
        self.rejected: list[str] = []  # why requests were refused (401s), for assertions
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    @property
    def url(self) -> str:
        return f"{self.root_url}/hook"

    def fail_next(self, status: int, *, retry_after: str | None = None, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` (and a Retry-After header)."""
        with self._lock:
            self._faults.extend([_Fault(status, retry_after)] * times)

    @property
    def payloads(self) -> list[dict[str, Any]]:
        """Accepted payloads, in order."""
        with self._lock:
            return [d.payload for d in self.deliveries]

    def _verify(self, headers: dict[str, str], body: bytes) -> str | None:
        """Why the request's signature is not acceptable, or None when it is."""
        msg_id = headers.get("webhook-id", "")
        timestamp = headers.get("webhook-timestamp", "")
        if not msg_id or not timestamp.isdigit():
            return "missing webhook-id or webhook-timestamp"
        if abs(self.clock() - int(timestamp)) > TOLERANCE_SECONDS:
            return "timestamp outside tolerance"
        if self.secret is None:
            return None
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        content = f"{msg_id}.{timestamp}.".encode() + body
        expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
        # The header may carry several space-separated signatures (key rotation).
        for candidate in headers.get("webhook-signature", "").split():
            version, _, signature = candidate.partition(",")
            if version == "v1" and hmac.compare_digest(signature, expected):
                return None
        return "no valid signature"

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        """Decide the answer to one request: (status, extra headers)."""
        with self._lock:
            if self._faults:
                fault = self._faults.pop(0)
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return fault.status, extra
            problem = self._verify(headers, body)
            if problem:
                self.rejected.append(problem)
                return 401, {}
            self.deliveries.append(
                Delivery(
                    msg_id=headers["webhook-id"],
                    timestamp=int(headers["webhook-timestamp"]),
                    payload=json.loads(body),
                )
            )
            return 204, {}


def _handler_for(sink: WebhookSink) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra = sink.handle(headers, body)
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler
