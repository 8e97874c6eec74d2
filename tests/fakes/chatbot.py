"""Shared loopback plumbing for the WeCom and Feishu robot fakes: a server, a clock, faults.

Each fake decides answers in ``decide(path, body)`` under the lock, like the real service
would (its own checks, written from the vendor's documentation, not with our code).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.server import LoopbackServer, QuietHandler

__all__ = ["LoopbackRobot"]


class LoopbackRobot(LoopbackServer):
    """Context manager serving POSTs on 127.0.0.1; subclasses implement ``decide``."""

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        super().__init__(bind=True)
        self.clock = clock or time.time
        self.lock = threading.Lock()
        self.faults: list[tuple[int, dict[str, str]]] = []
        self.requests = 0

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    @property
    def base_url(self) -> str:
        return self.root_url

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        """Answer the next ``times`` requests with a bare HTTP ``status``."""
        with self.lock:
            self.faults.extend([(status, headers or {})] * times)

    def answer(self, path: str, body: bytes) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        with self.lock:
            self.requests += 1
            if self.faults:
                status, headers = self.faults.pop(0)
                return status, headers, None
            status, answer = self.decide(path, body)
            return status, {}, answer

    def decide(self, path: str, body: bytes) -> tuple[int, dict[str, Any] | None]:
        raise NotImplementedError


def _handler_for(fake: LoopbackRobot) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status, headers, answer = fake.answer(self.path, body)
            data = json.dumps(answer, ensure_ascii=False).encode() if answer is not None else b""
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
