"""Feishu / Lark custom bot (自定义机器人): a markdown card, signature in the body.

A firing message's actions are card buttons (lib.notify.feishu_card), or the markdown links
every robot gets when the buttons would need more messages than the links.

``POST https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN`` (Lark: open.larksuite.com).
With 签名校验 the body carries ``timestamp`` (seconds) and ``sign`` = base64 of
HMAC-SHA256 keyed with ``"{timestamp}\\n{secret}"`` over an empty message; the timestamp must
be within an hour. Limits: 100 a minute and 5 a second per bot, body ≤ 20 KB. Answers are
``{"code": N, "msg": …}``: 19021 signature or timestamp, 19022 IP not allowed, 19024 keyword
missing, 9499 bad request, 11232 rate limited.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr

from lib.core.budget import Limit
from lib.core.notification import Message, Notification
from lib.core.overrides import Mentions
from lib.notify.chat import ChatRobot, safe_text
from lib.notify.escape import FEISHU
from lib.notify.render import RenderOptions, compact_json, json_text_bytes, message_id
from lib.notify.retry import RetryPolicy
from lib.notify.templated import entries as draw_entries
from lib.support.errors import (
    ReceiverConfigError,
    ReceiverRateLimited,
    ReceiverTransientError,
    ReceiverUnsure,
)

__all__ = ["MAX_BODY_BYTES", "FeishuReceiver", "feishu_sign"]

MAX_BODY_BYTES = 20_000  # "20 KB"; the decimal reading is the safe one
_PAUSE_SECONDS = 60.0
_RATE_LIMITED = frozenset({11232, 99991400})
_CONFIG = {
    19021: "signature or timestamp rejected (secret or clock)",
    19022: "IP not allowed (FC needs a fixed egress IP: NAT gateway)",
    19024: "keyword missing",
    9499: "bad request",
}
# Room for the signature fields added at send time (a 10-digit timestamp and a 44-char sign).
_SIGNATURE_BYTES = 96


def feishu_sign(secret: str, timestamp: int) -> str:
    """The body's ``sign``: base64 HMAC-SHA256 keyed by ``"{timestamp}\\n{secret}"``, empty msg."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


class FeishuReceiver(ChatRobot):
    """A Feishu/Lark custom bot; ``render`` is pure, ``send`` signs and posts one card."""

    kind = "feishu"
    flavour = FEISHU
    max_bytes = MAX_BODY_BYTES
    default_limits = (Limit(100, 60.0), Limit(5, 1.0))

    def __init__(
        self,
        name: str,
        url: SecretStr,
        secret: SecretStr | None = None,
        *,
        http: httpx.Client,
        options: RenderOptions | None = None,
        clock: Callable[[], float] | None = None,
        keyword: str | None = None,
        mentions: Mentions | None = None,
        sleep: Callable[[float], None] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(
            name,
            url,
            http=http,
            options=options,
            clock=clock,
            keyword=keyword,
            mentions=mentions,
            sleep=sleep,
            retry=retry,
        )
        self._secret = secret

    def mention_text(self) -> str:
        names = [f"<at id={user}></at>" for user in self._mentions.user_ids]
        if self._mentions.all:
            names.append("<at id=all></at>")
        return " ".join(names)

    def measure(self, text: str) -> int:
        # The limit is on the whole body, so the text counts as it is escaped in JSON.
        return json_text_bytes(text)

    def _skeleton(self, title: str, firing: bool) -> int:
        return len(compact_json(self.payload(title, "", firing))) + _SIGNATURE_BYTES

    def payload(self, title: str, text: str, firing: bool) -> dict[str, Any]:
        return self._card(title, [{"tag": "markdown", "content": text}], firing)

    def _card(self, title: str, elements: list[dict[str, Any]], firing: bool) -> dict[str, Any]:
        return {
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {
                    "title": {"tag": "plain_text", "content": title},
                    "template": "red" if firing else "green",
                },
                "elements": elements,
            },
        }

    def render(self, notification: Notification) -> list[Message]:
        """Cards whose actions are buttons; the markdown links when buttons need more parts."""
        if self._options.actions is None:  # actions off: the markdown card as always
            return super().render(notification)
        entries = draw_entries(notification, self._options, self.flavour)
        if not any(entry.actions is not None for entry in entries):
            return super().render(notification)
        from lib.notify.feishu_card import pack_card

        title = self._title(notification)
        firing = any(alert.status == "firing" for alert in notification.alerts)
        mentions = self.mention_text()

        def size(elements: list[dict[str, Any]]) -> int:
            return len(compact_json(self._card(title, elements, firing))) + _SIGNATURE_BYTES

        cards = pack_card(
            entries,
            header=lambda i, n: self._header(notification, i, n),
            mentions=mentions,
            size=size,
            limit=self.max_bytes,
        )
        if len(cards) > 1:  # one card cannot be beaten; more may be where links need fewer
            links = super().render(notification)
            if len(cards) > len(links):
                return links  # the buttons would not fit where the links do
        return [
            Message(
                receiver=self.name,
                id=message_id(self.name, notification.alerts, index, len(cards)),
                title=title,
                text=card.text,
                payload=self._card(title, card.elements, firing),
                covers=card.covers,
            )
            for index, card in enumerate(cards, start=1)
        ]

    def post(self, message: Message) -> httpx.Response:
        body = dict(message.payload)
        if self._secret is not None:
            timestamp = int(self._clock())
            body["timestamp"] = str(timestamp)
            body["sign"] = feishu_sign(self._secret.get_secret_value(), timestamp)
        return self._http.post(
            self._url.get_secret_value(),
            content=compact_json(body),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )

    def check(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 429:
            reset = response.headers.get("x-ogw-ratelimit-reset", "")
            pause = float(reset) if reset.isdigit() else _PAUSE_SECONDS
            raise ReceiverRateLimited(self.name, "HTTP 429", pause_seconds=pause)
        if status == 504:  # a gateway gave up waiting: the bot behind it may have taken it
            raise ReceiverUnsure(self.name, "HTTP 504 (the gateway gave up waiting)")
        if status >= 500 or status == 408:
            raise ReceiverTransientError(self.name, f"HTTP {status}")
        try:
            answer = response.json()
            code = int(answer.get("code", answer.get("StatusCode", 0)))
            msg = str(answer.get("msg", answer.get("StatusMessage", "")))
        except (ValueError, AttributeError, TypeError):
            if status != 200:
                raise ReceiverConfigError(
                    self.name, f"HTTP {status} from {self.masked_url}"
                ) from None
            # HTTP 200 with a body we cannot read: it may well have been taken.
            raise ReceiverUnsure(self.name, "unreadable answer (HTTP 200, not JSON)") from None
        if code == 0 and status == 200:
            return
        if code in _RATE_LIMITED:
            raise ReceiverRateLimited(
                self.name, f"{code} rate limited", pause_seconds=_PAUSE_SECONDS
            )
        what = _CONFIG.get(code, "refused")
        raise ReceiverConfigError(
            self.name, f"robot {self.masked_url}: {code} {what}: {safe_text(msg)}"
        )
