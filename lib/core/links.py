"""Signed links: act on an alert (silence, acknowledge) or look (detail, operator page) from a
chat message, without credentials. Pure (HMAC-SHA256 from the standard library).

A link is ``{public_url}/act?a=ACTION&t=TARGET&e=EXPIRY&s=SIGNATURE`` where the signature is
HMAC-SHA256, keyed by ``ASSISTWATCH_ACTIONS_SECRET``, over a version tag, the action, its
target and the expiry (epoch seconds), truncated to 128 bits and Base64url-encoded. Nothing
in the link is a credential: the key never leaves the function, and the target is the alert's
fingerprint (and firing), which names nothing the message does not already show.

The POST that applies a link carries a CSRF token bound to that link (an HMAC of its
signature under a separate purpose tag), so a token lifted from one link's page is useless
for another link, and a link alone (as a chat previewer fetches it) applies nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode

__all__ = [
    "ACTIONS",
    "ACTION_LABELS",
    "ACTION_PATH",
    "ACT_ACTIONS",
    "LINK_TTL_SECONDS",
    "MIN_SECRET_BYTES",
    "OPS_TTL_SECONDS",
    "SILENCE_SECONDS",
    "Link",
    "LinkError",
    "Signer",
]

Action = Literal["silence-1h", "silence-1d", "silence-resolved", "ack", "detail", "ops", "expire"]
ACTIONS: tuple[str, ...] = (
    "silence-1h",
    "silence-1d",
    "silence-resolved",
    "ack",
    "detail",
    "ops",
    "expire",
)
# What each action is called, on a message's link or button and on its page alike.
ACTION_LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "silence-1h": "静默 1 小时",
        "silence-1d": "静默 1 天",
        "silence-resolved": "静默到恢复",
        "ack": "确认",
        "detail": "详情",
        "ops": "告警总览",
        "expire": "结束静默",
    },
    "en": {
        "silence-1h": "Silence 1 hour",
        "silence-1d": "Silence 1 day",
        "silence-resolved": "Silence until resolved",
        "ack": "Acknowledge",
        "detail": "Details",
        "ops": "Open alerts",
        "expire": "Expire silence",
    },
}
# Actions that change state (a POST applies them); the others only show a page.
ACT_ACTIONS: frozenset[str] = frozenset(
    {"silence-1h", "silence-1d", "silence-resolved", "ack", "expire"}
)
SILENCE_SECONDS = {"silence-1h": 3600.0, "silence-1d": 86400.0}
ACTION_PATH = "/act"
MIN_SECRET_BYTES = 32
LINK_TTL_SECONDS = 7 * 86400.0  # a message's silence/ack/detail links: at most a week
OPS_TTL_SECONDS = 86400.0  # the operator page's footer link: a day
_VERSION = "v1"
_SIG_BYTES = 16


class LinkError(ValueError):
    """A link that must not be followed; the message says why (never echoing the key), and
    ``code`` names the reason for a page in the reader's language (lib.edges.pages ``why_*``)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Link:
    """A verified link: what to do, to what, until when, and its signature (its identity)."""

    action: str
    target: str
    expires: int
    signature: str

    @property
    def id(self) -> str:
        """A stable id for the link (idempotence key): its signature's first 16 characters."""
        return self.signature[:16]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Signer:
    """Makes and checks links for one deployment: its public base URL and its key."""

    base_url: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the actions secret must be at least {MIN_SECRET_BYTES} bytes")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def _mac(self, *parts: str) -> str:
        message = "\n".join((_VERSION, *parts)).encode("utf-8")
        return _b64(hmac.new(self.secret, message, hashlib.sha256).digest()[:_SIG_BYTES])

    def sign(self, action: str, target: str, expires: float) -> Link:
        """A link for ``action`` on ``target`` valid until ``expires`` (epoch seconds)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown link action {action!r}")
        when = int(expires)
        return Link(action, target, when, self._mac("link", action, target, str(when)))

    def url(self, action: str, target: str, expires: float) -> str:
        """The link's URL on the public base."""
        link = self.sign(action, target, expires)
        query = urlencode(
            {"a": link.action, "t": link.target, "e": link.expires, "s": link.signature}
        )
        return f"{self.base_url}{ACTION_PATH}?{query}"

    def verify(self, params: dict[str, str], now: float, *, action: str | None = None) -> Link:
        """The link ``params`` (a, t, e, s) describe, checked; LinkError says why not.

        Args:
            params: the query parameters of the request.
            now: the clock (epoch seconds).
            action: when given, the link must be for this action (a POST to an expire
                button cannot be replayed as a silence, and so on).
        """
        name, target = params.get("a", ""), params.get("t", "")
        expires_text, signature = params.get("e", ""), params.get("s", "")
        if not (name and target and expires_text and signature):
            raise LinkError("this link is incomplete", "incomplete")
        if name not in ACTIONS:
            raise LinkError("this link names an unknown action", "unknown_action")
        try:
            expires = int(expires_text)
        except ValueError:
            raise LinkError("this link's expiry is not a number", "bad_expiry") from None
        expected = self._mac("link", name, target, str(expires))
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise LinkError(
                "this link's signature does not match (altered or not ours)", "signature"
            )
        if action is not None and name != action:
            raise LinkError("this link is for another action", "wrong_action")
        if now >= expires:
            raise LinkError("this link has expired", "expired")
        return Link(name, target, expires, signature)

    def csrf(self, link: Link) -> str:
        """The form token bound to ``link``: only its own page carries it."""
        return self._mac("csrf", link.signature)

    def check_csrf(self, link: Link, offered: str) -> bool:
        """Whether ``offered`` is ``link``'s own form token."""
        return bool(offered) and hmac.compare_digest(self.csrf(link).encode(), offered.encode())


@dataclass(frozen=True)
class ActionLinks:
    """What a receiver needs to put links in its messages: the signer and a clock (links
    expire relative to the send)."""

    signer: Signer
    clock: Callable[[], float] = field(default=time.time, compare=False)
