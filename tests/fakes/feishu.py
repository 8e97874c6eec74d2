"""A loopback Feishu custom bot: body signature and the one-hour window, keyword, 20 KB,
100 a minute and 5 a second, with Feishu's own answer codes.

An ``interactive`` card is checked as the service checks message card JSON 1.0: ``elements``
of known tags only, an ``action`` element's ``actions`` are buttons with a non-empty
``plain_text``/``lark_md`` text, a ``url`` (or ``multi_url``, never both) that is http(s),
a known ``type`` and ``layout``. A bad card is refused with 9499 (the custom bot's "bad
request" answer) and the reason in ``msg``.

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

__all__ = ["FeishuFake", "card_problem"]

MAX_BODY_BYTES = 20 * 1024
WINDOW_SECONDS = 3600
CARD_TAGS = frozenset({"markdown", "div", "hr", "img", "note", "action", "column_set"})
BUTTON_TYPES = frozenset({"default", "primary", "danger"})
LAYOUTS = frozenset({"bisected", "trisection", "flow"})
TEXT_TAGS = frozenset({"plain_text", "lark_md"})


def _web_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def _button_problem(button: Any) -> str | None:  # noqa: PLR0911
    if not isinstance(button, dict) or button.get("tag") != "button":
        return "action element holds an unknown component"
    text = button.get("text")
    if not isinstance(text, dict) or text.get("tag") not in TEXT_TAGS:
        return "button text missing"
    if not isinstance(text.get("content"), str) or not text["content"].strip():
        return "button text empty"
    if "url" in button and "multi_url" in button:
        return "button url and multi_url both set"
    if "url" in button and not _web_url(button["url"]):
        return "button url is not http(s)"
    multi = button.get("multi_url")
    if multi is not None and not (isinstance(multi, dict) and _web_url(multi.get("url"))):
        return "button multi_url is not http(s)"
    if button.get("type", "default") not in BUTTON_TYPES:
        return "button type unknown"
    return None


def _element_problem(element: Any) -> str | None:
    tag = element.get("tag") if isinstance(element, dict) else None
    if tag not in CARD_TAGS:
        return f"unknown card element tag {tag!r}"
    if tag == "markdown" and not isinstance(element.get("content"), str):
        return "markdown content missing"
    if tag != "action":
        return None
    if element.get("layout", "bisected") not in LAYOUTS:
        return "action layout unknown"
    actions = element.get("actions")
    if not isinstance(actions, list) or not actions:
        return "action element without actions"
    return next((p for p in map(_button_problem, actions) if p), None)


def card_problem(card: Any) -> str | None:
    """Why Feishu would refuse this card (JSON 1.0), or None."""
    if not isinstance(card, dict) or not isinstance(card.get("elements"), list):
        return "card elements missing"
    return next((p for p in map(_element_problem, card["elements"]) if p), None)


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
        if message.get("msg_type") == "interactive":
            problem = card_problem(message.get("card"))
            if problem:
                return 9499, f"params error, {problem}"
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
