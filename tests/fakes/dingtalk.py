"""A loopback DingTalk custom robot: verifies 加签, keywords, size and the 20/min budget.

It answers like the real robot (HTTP 200 with ``errcode``/``errmsg``) so receivers are tested
against the protocol, not against themselves: the signature is checked with this module's
own code, written from the documented algorithm, not with :func:`lib.notify.dingtalk_sign`.
The clock is injected, so tests move time instead of sleeping.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.server import LoopbackServer, QuietHandler

__all__ = ["DingTalkFake", "Robot"]

MAX_BODY_BYTES = 20_000
PER_MINUTE = 20
THROTTLE_SECONDS = 600.0
TIMESTAMP_WINDOW_MS = 3_600_000


@dataclass
class Robot:
    """One registered robot: its token, optional 加签 secret and keyword, and its history."""

    token: str
    secret: str | None = None
    keyword: str | None = None
    accepted: list[dict[str, Any]] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # accepted message times, seconds
    throttled_until: float = 0.0
    answers: list[int] = field(default_factory=list)  # every errcode given, in order
    accepted_wall: list[float] = field(default_factory=list)  # time.time() of each acceptance


class DingTalkFake(LoopbackServer):
    """Context manager serving ``POST /robot/send?access_token=…`` on 127.0.0.1."""

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        super().__init__(bind=True)
        self.clock = clock or time.time
        self._robots: dict[str, Robot] = {}
        self._lock = threading.Lock()
        self._faults: list[int] = []  # HTTP statuses to answer next, before any check
        self._late: list[float] = []  # the next accepted messages are answered this late
        self._delays: dict[int, float] = {}  # handler thread → delay before its answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    @property
    def base_url(self) -> str:
        return self.root_url

    def add_robot(
        self, token: str, *, secret: str | None = None, keyword: str | None = None
    ) -> str:
        """Register a robot and return its webhook URL."""
        with self._lock:
            self._robots[token] = Robot(token=token, secret=secret, keyword=keyword)
        return self.url_for(token)

    def url_for(self, token: str) -> str:
        """The webhook URL of a robot (registered or not)."""
        return f"{self.base_url}/robot/send?access_token={token}"

    def received(self, token: str) -> list[dict[str, Any]]:
        """Bodies the robot accepted, in order."""
        with self._lock:
            return list(self._robots[token].accepted)

    def received_at(self, token: str) -> list[tuple[float, dict[str, Any]]]:
        """(time.time() of acceptance, body) of every message the robot accepted, in order."""
        with self._lock:
            robot = self._robots[token]
            return list(zip(robot.accepted_wall, robot.accepted, strict=True))

    def answers(self, token: str) -> list[int]:
        """Every errcode the robot answered, in order (0 = accepted)."""
        with self._lock:
            return list(self._robots[token].answers)

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests with a bare HTTP ``status`` (5xx faults)."""
        with self._lock:
            self._faults.extend([status] * times)

    def answer_late(self, seconds: float, times: int = 1) -> None:
        """Take the next ``times`` messages, then answer each ``seconds`` late (after a
        client's read timeout: it was delivered, the client cannot know)."""
        with self._lock:
            self._late.extend([seconds] * times)

    def clear_faults(self) -> None:
        """Forget queued 5xx answers and late answers."""
        with self._lock:
            self._faults.clear()
            self._late.clear()

    def delay_for_this_answer(self) -> float:
        """How long the calling handler thread waits before answering (0: at once)."""
        with self._lock:
            return self._delays.pop(threading.get_ident(), 0.0)

    def throttle(self, token: str, seconds: float = THROTTLE_SECONDS) -> None:
        """Answer 130101 for ``seconds`` from now, as after a burst over 20 a minute."""
        with self._lock:
            self._robots[token].throttled_until = self.clock() + seconds

    # --- the robot's rules --------------------------------------------------------------

    def _expected_sign(self, secret: str, timestamp: str) -> str:
        string_to_sign = f"{timestamp}\n{secret}".encode()
        digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def handle(self, path: str, body: bytes) -> tuple[int, dict[str, Any] | None]:
        """Decide the answer to one request: (HTTP status, JSON answer or None)."""
        with self._lock:
            if self._faults:
                return self._faults.pop(0), None
            parts = urlsplit(path)
            if parts.path != "/robot/send":
                return 404, None
            query = parse_qs(parts.query)
            robot = self._robots.get(query.get("access_token", [""])[0])
            if robot is None:
                return 200, _err(300001, "token is not exist")
            errcode, errmsg = self._check(robot, query, body)
            robot.answers.append(errcode)
            if errcode:
                return 200, _err(errcode, errmsg)
            robot.accepted.append(json.loads(body))
            robot.accepted_wall.append(time.time())
            robot.sent_at.append(self.clock())
            if self._late:
                self._delays[threading.get_ident()] = self._late.pop(0)
            return 200, _err(0, "ok")

    def _check(  # noqa: PLR0911 - one return per rule the robot enforces
        self, robot: Robot, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, str]:
        now = self.clock()
        if robot.secret is not None:
            timestamp = query.get("timestamp", [""])[0]
            sign = query.get("sign", [""])[0]
            if not timestamp.isdigit() or not sign:
                return 310000, "sign not match, more: [missing timestamp or sign]"
            if abs(now * 1000 - int(timestamp)) > TIMESTAMP_WINDOW_MS:
                return 310000, "sign not match, more: [timestamp is not within one hour]"
            if not hmac.compare_digest(sign, self._expected_sign(robot.secret, timestamp)):
                return 310000, "sign not match"
        if now < robot.throttled_until:
            return 130101, "send too fast, exceed 20 times per minute"
        recent = [t for t in robot.sent_at if now - t < 60.0]
        if len(recent) >= PER_MINUTE:
            robot.throttled_until = now + THROTTLE_SECONDS
            return 130101, "send too fast, exceed 20 times per minute"
        if len(body) > MAX_BODY_BYTES:
            return 460101, "message too long, exceed 20000 bytes"
        try:
            message = json.loads(body)
        except ValueError:
            return 40035, "缺少参数 json"
        if robot.keyword is not None and robot.keyword not in _content(message):
            return 310000, "keywords not in content"
        return 0, "ok"


def _content(message: Any) -> str:
    """The text the keyword check looks at, for the message types we send."""
    if not isinstance(message, dict):
        return ""
    kind = message.get("msgtype")
    inner = message.get(kind, {}) if isinstance(kind, str) else {}
    if not isinstance(inner, dict):
        return ""
    return " ".join(str(inner.get(k, "")) for k in ("title", "text", "content"))


def _err(errcode: int, errmsg: str) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": errmsg}


def _handler_for(fake: DingTalkFake) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status, answer = fake.handle(self.path, body)
            delay = fake.delay_for_this_answer()
            if delay:
                time.sleep(delay)
            data = json.dumps(answer, ensure_ascii=False).encode() if answer is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            # A client that stopped waiting (a late answer): the message was taken all the same.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

    return Handler
