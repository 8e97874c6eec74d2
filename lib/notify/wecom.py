"""WeCom (企业微信) group robot: markdown ≤ 4,096 bytes, 20 messages a minute.

``POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY`` with
``{"msgtype": "markdown", "markdown": {"content": …}}``. The key in the URL is the only
credential (no signature), so the URL is a SecretStr shown only masked. Mentions in
markdown are written ``<@userid>`` (phone numbers can be mentioned only in text messages,
which we do not send). Answers are ``{"errcode": N, "errmsg": …}``: 45009 is "too fast",
93000 an invalid key.
"""

from __future__ import annotations

from typing import Any

import httpx

from lib.core.budget import Limit
from lib.core.notification import Message
from lib.notify.chat import ChatRobot, errcode_of, safe_text
from lib.notify.escape import WECOM
from lib.notify.render import compact_json, utf8_bytes
from lib.support.errors import ReceiverConfigError, ReceiverRateLimited

__all__ = ["MAX_CONTENT_BYTES", "WeComReceiver"]

MAX_CONTENT_BYTES = 4096
_PAUSE_SECONDS = 60.0  # the limit is per minute: a minute's wait clears it
_TOO_FAST = 45009
_BAD_KEY = 93000


class WeComReceiver(ChatRobot):
    """A WeCom group robot; ``render`` is pure, ``send`` posts one markdown message."""

    kind = "wecom"
    flavour = WECOM
    max_bytes = MAX_CONTENT_BYTES
    default_limits = (Limit(20, 60.0),)

    def mention_text(self) -> str:
        names = [f"<@{user}>" for user in self._mentions.user_ids]
        if self._mentions.all:
            names.append("<@all>")
        return " ".join(names)

    def measure(self, text: str) -> int:
        # The limit is on the markdown content in UTF-8, not on the JSON body.
        return utf8_bytes(text)

    def payload(self, title: str, text: str, firing: bool) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": text}}

    def post(self, message: Message) -> httpx.Response:
        return self._http.post(
            self._url.get_secret_value(),
            content=compact_json(message.payload),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )

    def check(self, response: httpx.Response) -> None:
        errcode, errmsg = errcode_of(
            self.name, response, self.masked_url, pause_seconds=_PAUSE_SECONDS
        )
        if errcode == 0:
            return
        if errcode == _TOO_FAST:
            raise ReceiverRateLimited(
                self.name, "45009 over 20 messages a minute", pause_seconds=_PAUSE_SECONDS
            )
        if errcode == _BAD_KEY:
            raise ReceiverConfigError(
                self.name,
                f"robot {self.masked_url}: 93000 invalid webhook key ({safe_text(errmsg)})",
            )
        raise ReceiverConfigError(self.name, f"errcode {errcode}: {safe_text(errmsg)}")
