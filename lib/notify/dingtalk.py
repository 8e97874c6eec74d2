"""DingTalk custom group robot (自定义机器人): markdown messages, 加签, errcode mapping.

Rules (DESIGN "Messages", VECTORS "DingTalk"): the whole JSON body ≤ 20,000 bytes; ≤ 20
messages a minute a robot, else 130101 and a pause of about ten minutes; HTTP 200 with
``errcode`` ≠ 0 is a failure. The robot's URL carries its access token, so it is a
SecretStr and only ever shown through :func:`lib.support.redact.mask_url`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from pydantic import SecretStr

from lib.core.budget import Limit
from lib.core.notification import Message, Notification
from lib.core.overrides import Overrides
from lib.notify.chat import errcode_of, safe_text
from lib.notify.escape import DINGTALK
from lib.notify.render import (
    RenderOptions,
    compact_json,
    json_text_bytes,
    message_id,
    pack_entries,
    render_title,
)
from lib.notify.retry import RetryPolicy, send_with_retries, transport_fault
from lib.notify.templated import entries as draw_entries
from lib.notify.templated import header as draw_header
from lib.support.errors import ReceiverConfigError, ReceiverRateLimited
from lib.support.redact import mask_url

__all__ = [
    "LIMITS",
    "MAX_BODY_BYTES",
    "RATE_LIMIT_PAUSE_SECONDS",
    "DingTalkReceiver",
    "dingtalk_sign",
]

MAX_BODY_BYTES = 20_000
LIMITS = (Limit(20, 60.0),)  # 20 messages a minute a robot
RATE_LIMIT_PAUSE_SECONDS = 600.0
# Room for what the size estimate cannot see exactly (part numbers' digits): cheap insurance.
_MARGIN_BYTES = 64
_SEPARATOR = "\n\n"


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The 加签 ``sign`` query value: URL-encoded base64 HMAC-SHA256 of ``"{ts}\\n{secret}"``."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


class DingTalkReceiver:
    """A DingTalk group robot; ``render`` is pure, ``send`` posts one message."""

    def __init__(
        self,
        name: str,
        url: SecretStr,
        secret: SecretStr | None,
        *,
        http: httpx.Client,
        options: RenderOptions | None = None,
        clock: Callable[[], float] | None = None,
        keyword: str | None = None,
        at_mobiles: Sequence[str] = (),
        at_user_ids: Sequence[str] = (),
        at_all: bool = False,
        sleep: Callable[[float], None] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.name = name
        self.limits = LIMITS
        self._url = url
        self._secret = secret
        self._http = http
        self._options = options or RenderOptions()
        self._clock = clock or time.time
        self._keyword = keyword or None
        self._at_mobiles = tuple(at_mobiles)
        self._at_user_ids = tuple(at_user_ids)
        self._at_all = at_all
        self._sleep = sleep
        self._retry = retry

    def customized(self, overrides: Overrides) -> DingTalkReceiver:
        """A copy for one route: its own mentions and output switch, the same robot."""
        clone = copy.copy(self)
        if overrides.mentions is not None:
            clone._at_mobiles = overrides.mentions.mobiles
            clone._at_user_ids = overrides.mentions.user_ids
            clone._at_all = overrides.mentions.all
        clone._options = clone._options.overridden(overrides)
        return clone

    def __repr__(self) -> str:
        return f"DingTalkReceiver(name={self.name!r}, url={self.masked_url!r})"

    @property
    def masked_url(self) -> str:
        """The robot URL with its access token masked, safe for logs and errors."""
        return mask_url(self._url.get_secret_value())

    # --- rendering (pure) -------------------------------------------------------------

    def _mentions(self) -> str:
        # DingTalk only highlights a mention when "@<mobile>" is also written in the text.
        names = [f"@{m}" for m in (*self._at_mobiles, *self._at_user_ids)]
        if self._at_all:
            names.append("@所有人" if self._options.lang == "zh" else "@all")
        return " ".join(names)

    def _header(self, notification: Notification, part: int, parts: int) -> str:
        header = draw_header(notification, self._options, part=part, parts=parts, flavour=DINGTALK)
        if self._keyword and self._keyword not in header:
            # The robot rejects (310000) any message whose text lacks its keyword.
            header = f"{self._keyword}\n\n{header}" if header else self._keyword
        return header

    def _payload(self, title: str, text: str) -> dict[str, Any]:
        return {
            "msgtype": "markdown",
            "markdown": {"title": title, "text": text},
            "at": {
                "atMobiles": list(self._at_mobiles),
                "atUserIds": list(self._at_user_ids),
                "isAtAll": self._at_all,
            },
        }

    def render(self, notification: Notification) -> list[Message]:
        """Markdown messages, each whole JSON body ≤ 20,000 bytes, entries never cut."""
        title = render_title(notification, self._options, DINGTALK)
        if self._keyword and self._keyword not in title:
            title = f"{self._keyword} {title}"
        mentions = self._mentions()
        footer = f"{_SEPARATOR}{mentions}" if mentions else ""
        # Reserve room for the header with the widest part numbers we could print.
        widest = self._header(notification, 999, 999)
        skeleton = len(compact_json(self._payload(title, "")))
        budget = (
            MAX_BODY_BYTES
            - skeleton
            - json_text_bytes(widest + _SEPARATOR)
            - json_text_bytes(footer)
            - _MARGIN_BYTES
        )
        entries = draw_entries(notification, self._options, DINGTALK)
        bodies = pack_entries(entries, budget, _SEPARATOR, json_text_bytes)
        messages = []
        for index, (body, covers) in enumerate(bodies, start=1):
            header = self._header(notification, index, len(bodies))
            text = _SEPARATOR.join(piece for piece in (header, body) if piece) + footer
            messages.append(
                Message(
                    receiver=self.name,
                    id=message_id(self.name, notification.alerts, index, len(bodies)),
                    title=title,
                    text=text,
                    payload=self._payload(title, text),
                    covers=covers,
                )
            )
        return messages

    # --- sending (I/O) ----------------------------------------------------------------

    def _signed_url(self) -> str:
        url = self._url.get_secret_value()
        if self._secret is None:
            return url
        timestamp_ms = int(self._clock() * 1000)
        sign = dingtalk_sign(self._secret.get_secret_value(), timestamp_ms)
        joiner = "&" if urllib.parse.urlsplit(url).query else "?"
        # ``sign`` is already URL-encoded: append it as is so it is not encoded twice.
        return f"{url}{joiner}timestamp={timestamp_ms}&sign={sign}"

    def send(self, message: Message) -> None:
        """Post one message (retrying 5xx and timeouts); raise a DeliveryError unless taken."""
        send_with_retries(lambda: self._post(message), policy=self._retry, sleep=self._sleep)

    def _post(self, message: Message) -> None:
        body = compact_json(message.payload)
        try:
            response = self._http.post(
                self._signed_url(),
                content=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
        except httpx.TransportError as exc:
            # ``from None``: httpx exceptions carry the request, whose URL holds the token.
            raise transport_fault(self.name, exc) from None
        self._check(response)

    def _check(self, response: httpx.Response) -> None:
        errcode, errmsg = errcode_of(
            self.name, response, self.masked_url, pause_seconds=RATE_LIMIT_PAUSE_SECONDS
        )
        if errcode == 0:
            return
        if errcode == 130101:
            raise ReceiverRateLimited(
                self.name,
                "130101 sending too fast: robot paused",
                pause_seconds=RATE_LIMIT_PAUSE_SECONDS,
            )
        if errcode in (310000, 300001):
            what = "security check failed (keyword, 加签 secret or clock)"
            if errcode == 300001:
                what = "access token does not exist"
            raise ReceiverConfigError(
                self.name, f"robot {self.masked_url}: {errcode} {what}: {safe_text(errmsg)}"
            )
        if errcode == 460101:
            raise ReceiverConfigError(
                self.name, f"460101 message too big (a rendering bug): {safe_text(errmsg)}"
            )
        raise ReceiverConfigError(self.name, f"errcode {errcode}: {safe_text(errmsg)}")
