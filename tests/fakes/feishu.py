"""A loopback Feishu custom bot: body signature and the one-hour window, keyword, 20 KB,
100 a minute and 5 a second, with Feishu's own answer codes.

The signature is checked from the documented algorithm (HMAC-SHA256 keyed with
``"{timestamp}\\n{secret}"`` over an empty message, base64), not with our signer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.chatbot import LoopbackRobot

__all__ = ["FeishuFake"]

MAX_BODY_BYTES = 20 * 1024
WINDOW_SECONDS = 3600


@dataclass
class Bot:
    token: str
    secret: str | None = None
    keyword: str | None = None
    accepted: list[dict[str, Any]] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)


class FeishuFake(LoopbackRobot):
    """Serves ``POST /open-apis/bot/v2/hook/<token>``."""

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        super().__init__(clock=clock)
        self.bots: dict[str, Bot] = {}
        self.codes: list[int] = []

    def add_robot(
        self, token: str, *, secret: str | None = None, keyword: str | None = None
    ) -> str:
        with self.lock:
            self.bots[token] = Bot(token, secret, keyword)
        return self.url_for(token)

    def url_for(self, token: str) -> str:
        return f"{self.base_url}/open-apis/bot/v2/hook/{token}"

    def received(self, token: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.bots[token].accepted)

    def decide(self, path: str, body: bytes) -> tuple[int, dict[str, Any] | None]:
        code, msg = self._check(path, body)
        self.codes.append(code)
        return 200, {"code": code, "msg": msg, "data": {}}

    def _check(self, path: str, body: bytes) -> tuple[int, str]:  # noqa: PLR0911
        prefix = "/open-apis/bot/v2/hook/"
        bot = self.bots.get(path[len(prefix) :]) if path.startswith(prefix) else None
        if bot is None:
            return 19001, "param invalid: incoming webhook access token invalid"
        if len(body) > MAX_BODY_BYTES:
            return 9499, "Bad Request"
        try:
            message = json.loads(body)
        except ValueError:
            return 9499, "Bad Request"
        now = self.clock()
        if bot.secret is not None:
            timestamp = str(message.get("timestamp", ""))
            key = f"{timestamp}\n{bot.secret}".encode()
            expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            if (
                not timestamp.isdigit()
                or abs(now - int(timestamp)) > WINDOW_SECONDS
                or not hmac.compare_digest(str(message.get("sign", "")), expected)
            ):
                return (
                    19021,
                    "sign match fail or timestamp is not within one hour from current time",
                )
        if bot.keyword is not None and bot.keyword not in json.dumps(message, ensure_ascii=False):
            return 19024, "Key Words Not Found"
        if (
            sum(1 for t in bot.sent_at if now - t < 1.0) >= 5
            or sum(1 for t in bot.sent_at if now - t < 60.0) >= 100
        ):
            return 11232, "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]"
        bot.sent_at.append(now)
        bot.accepted.append(message)
        return 0, "success"
