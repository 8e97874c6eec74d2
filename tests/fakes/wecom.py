"""A loopback WeCom group robot: key check, 4,096-byte markdown, 20 a minute, real errcodes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.chatbot import LoopbackRobot

__all__ = ["WeComFake"]

MAX_MARKDOWN_BYTES = 4096
PER_MINUTE = 20


class WeComFake(LoopbackRobot):
    """Serves ``POST /cgi-bin/webhook/send?key=…``."""

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        super().__init__(clock=clock)
        self.keys: dict[str, list[dict[str, Any]]] = {}
        self.sent_at: dict[str, list[float]] = {}
        self.codes: list[int] = []

    def add_robot(self, key: str) -> str:
        with self.lock:
            self.keys[key] = []
            self.sent_at[key] = []
        return self.url_for(key)

    def url_for(self, key: str) -> str:
        return f"{self.base_url}/cgi-bin/webhook/send?key={key}"

    def received(self, key: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.keys[key])

    def decide(self, path: str, body: bytes) -> tuple[int, dict[str, Any] | None]:
        code, msg = self._check(path, body)
        self.codes.append(code)
        return 200, {"errcode": code, "errmsg": msg}

    def _check(self, path: str, body: bytes) -> tuple[int, str]:  # noqa: PLR0911
        parts = urlsplit(path)
        key = parse_qs(parts.query).get("key", [""])[0]
        if parts.path != "/cgi-bin/webhook/send" or key not in self.keys:
            return (
                93000,
                "invalid webhook url, hint: [x], more info at https://open.work.weixin.qq.com/devtool/query?e=93000",
            )
        try:
            message = json.loads(body)
        except ValueError:
            return 40016, "invalid json"
        if message.get("msgtype") != "markdown" or not isinstance(message.get("markdown"), dict):
            return 40008, "invalid message type"
        content = str(message["markdown"].get("content", ""))
        if not content:
            return 44004, "empty content"
        if len(content.encode()) > MAX_MARKDOWN_BYTES:
            return 40058, "markdown.content exceed max length 4096"
        now = self.clock()
        recent = [t for t in self.sent_at[key] if now - t < 60.0]
        if len(recent) >= PER_MINUTE:
            return 45009, "api freq out of limit"
        self.sent_at[key].append(now)
        self.keys[key].append(message)
        return 0, "ok"
