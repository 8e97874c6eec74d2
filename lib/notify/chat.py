"""What WeCom and Feishu robots share: markdown parts within a byte limit, keyword, mentions.

Each robot module supplies its payload shape, its size measure, how a mention is written
and how its answers map to :mod:`lib.support.errors`. Rendering is pure; ``send`` posts once per
attempt and :func:`lib.notify.retry.send_with_retries` retries what may be retried.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr

from lib.core.budget import Limit
from lib.core.notification import Message, Notification
from lib.core.overrides import Mentions, Overrides
from lib.notify.escape import MARKDOWN, Flavour
from lib.notify.render import (
    RenderOptions,
    message_id,
    pack_entries,
    render_title,
)
from lib.notify.retry import RetryPolicy, send_with_retries, transport_fault
from lib.notify.templated import entries as draw_entries
from lib.notify.templated import header as draw_header
from lib.support.errors import (
    ReceiverConfigError,
    ReceiverRateLimited,
    ReceiverTransientError,
    ReceiverUnsure,
)
from lib.support.redact import mask_url, redact_text

__all__ = ["ChatRobot", "errcode_of", "safe_text"]

_SEPARATOR = "\n\n"
_MARGIN_BYTES = 64


def safe_text(text: str) -> str:
    """A robot's free-text answer, bounded and with anything secret-looking masked."""
    return redact_text(text[:200])


def errcode_of(
    receiver: str, response: httpx.Response, masked_url: str, *, pause_seconds: float
) -> tuple[int, str]:
    """Read a group robot's ``{"errcode", "errmsg"}`` answer (DingTalk, WeCom).

    HTTP-level failures raise here: 429 rate limited, 5xx/408 transient, other non-200 a
    configuration error naming the masked URL, a body that is not JSON transient. An HTTP
    200 answer returns its errcode (0 = delivered) for the robot to map.
    """
    status = response.status_code
    if status == 429:
        raise ReceiverRateLimited(receiver, "HTTP 429", pause_seconds=pause_seconds)
    if status == 504:  # a gateway gave up waiting: the robot behind it may have taken it
        raise ReceiverUnsure(receiver, "HTTP 504 (the gateway gave up waiting)")
    if status >= 500 or status == 408:
        raise ReceiverTransientError(receiver, f"HTTP {status}")
    if status != 200:
        raise ReceiverConfigError(receiver, f"HTTP {status} from {masked_url}")
    try:
        answer = response.json()
        return int(answer.get("errcode", 0)), str(answer.get("errmsg", ""))
    except (ValueError, AttributeError, TypeError):
        # HTTP 200 with a body we cannot read: it may well have been taken.
        raise ReceiverUnsure(receiver, "unreadable answer (HTTP 200, not JSON)") from None


class ChatRobot:
    """Base of a chat robot receiver; subclasses set the class attributes and hooks."""

    kind = "robot"
    flavour: Flavour = MARKDOWN  # how text from the cloud is neutralised for this robot
    max_bytes = 4096
    default_limits: tuple[Limit, ...] = ()

    def __init__(
        self,
        name: str,
        url: SecretStr,
        *,
        http: httpx.Client,
        options: RenderOptions | None = None,
        clock: Callable[[], float] | None = None,
        keyword: str | None = None,
        mentions: Mentions | None = None,
        sleep: Callable[[float], None] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.name = name
        self.limits = self.default_limits
        self._url = url
        self._http = http
        self._options = options or RenderOptions()
        self._clock = clock or time.time
        self._keyword = keyword or None
        self._mentions = mentions or Mentions()
        self._sleep = sleep
        self._retry = retry

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self.masked_url!r})"

    @property
    def masked_url(self) -> str:
        """The robot URL with its key or token masked, safe for logs and errors."""
        return mask_url(self._url.get_secret_value())

    def customized(self, overrides: Overrides) -> ChatRobot:
        """A copy for one route: its own mentions and output switch, the same robot."""
        clone = copy.copy(self)
        if overrides.mentions is not None:
            clone._mentions = overrides.mentions
        clone._options = clone._options.overridden(overrides)
        return clone

    # --- hooks ----------------------------------------------------------------------------

    def mention_text(self) -> str:
        """Mentions as the robot wants them written in the text ("" for none)."""
        return ""

    def measure(self, text: str) -> int:
        """Bytes ``text`` adds to what the limit counts."""
        raise NotImplementedError

    def payload(self, title: str, text: str, firing: bool) -> dict[str, Any]:
        """The unsigned JSON body for one part."""
        raise NotImplementedError

    def post(self, message: Message) -> httpx.Response:
        """Send one request (signing it if the robot wants that)."""
        raise NotImplementedError

    def check(self, response: httpx.Response) -> None:
        """Raise the DeliveryError the robot's answer means, or return when it took it."""
        raise NotImplementedError

    # --- rendering (pure) -----------------------------------------------------------------

    def _header(self, notification: Notification, part: int, parts: int) -> str:
        header = draw_header(
            notification, self._options, part=part, parts=parts, flavour=self.flavour
        )
        if self._keyword and self._keyword not in header:
            header = f"{self._keyword}\n\n{header}" if header else self._keyword
        return header

    def _skeleton(self, title: str, firing: bool) -> int:
        """Bytes the limit counts that are not the markdown text (0 if only text counts)."""
        return 0

    def _title(self, notification: Notification) -> str:
        title = render_title(notification, self._options, self.flavour)
        if self._keyword and self._keyword not in title:
            title = f"{self._keyword} {title}"
        return title

    def render(self, notification: Notification) -> list[Message]:
        """Markdown parts, each within the robot's limit, entries never cut in two."""
        title = self._title(notification)
        firing = any(alert.status == "firing" for alert in notification.alerts)
        mentions = self.mention_text()
        footer = f"{_SEPARATOR}{mentions}" if mentions else ""
        widest = self._header(notification, 999, 999)
        budget = (
            self.max_bytes
            - self._skeleton(title, firing)
            - self.measure(widest + _SEPARATOR)
            - self.measure(footer)
            - _MARGIN_BYTES
        )
        entries = draw_entries(notification, self._options, self.flavour)
        parts = pack_entries(entries, budget, _SEPARATOR, self.measure)
        messages = []
        for index, (body, covers) in enumerate(parts, start=1):
            header = self._header(notification, index, len(parts))
            text = _SEPARATOR.join(piece for piece in (header, body) if piece) + footer
            messages.append(
                Message(
                    receiver=self.name,
                    id=message_id(self.name, notification.alerts, index, len(parts)),
                    title=title,
                    text=text,
                    payload=self.payload(title, text, firing),
                    covers=covers,
                )
            )
        return messages

    # --- sending (I/O) --------------------------------------------------------------------

    def send(self, message: Message) -> None:
        """Post one message (retrying 5xx and timeouts); raise a DeliveryError unless taken."""
        send_with_retries(lambda: self._attempt(message), policy=self._retry, sleep=self._sleep)

    def _attempt(self, message: Message) -> None:
        try:
            response = self.post(message)
        except httpx.TransportError as exc:
            # ``from None``: httpx exceptions carry the request, whose URL holds the key.
            raise transport_fault(self.name, exc) from None
        self.check(response)
