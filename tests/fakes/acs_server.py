"""The HTTP side the Alibaba Cloud API fakes share (Cloud Assistant/eflo and STS).

Both answer like the OpenAPI gateway: keep-alive HTTP/1.1 from "Tengine", requests read into
an :class:`~tests.fakes.acs3.ReceivedRequest` for the signature check, errors in the
gateway's JSON error document.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from tests.fakes.acs3 import ReceivedRequest
from tests.fakes.server import QuietHandler

__all__ = ["AcsHandler", "error_body"]


class AcsHandler(QuietHandler):
    """A handler speaking like the gateway; subclasses answer what :meth:`received` read."""

    protocol_version = "HTTP/1.1"  # keep-alive, so clients' connection pools are exercised
    server_version = "Tengine"
    sys_version = ""

    def received(self) -> ReceivedRequest:
        """Read this request: method, path, raw query, lower-case headers, body."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        parts = urlsplit(self.path)
        return ReceivedRequest(
            method=self.command,
            path=parts.path or "/",
            query=parts.query,
            headers=headers,
            body=body,
        )

    def send_json(self, status: int, payload: bytes) -> None:
        """Answer ``status`` with a JSON ``payload``."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def error_body(product: str, request_id: str, host: str, code: str, message: str) -> bytes:
    """The gateway's error document, with its troubleshooting link for ``product``."""
    recommend = (
        f"https://api.aliyun.com/troubleshoot?q={code}&product={product}&requestId={request_id}"
    )
    return json.dumps(
        {
            "RequestId": request_id,
            "HostId": host,
            "Code": code,
            "Message": message,
            "Recommend": recommend,
        }
    ).encode()
