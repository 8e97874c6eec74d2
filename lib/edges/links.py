"""The HTTP side of signed links (``/act``), reached through the HTTP trigger's v1 envelope.

- GET shows a page and writes nothing to the state store: a confirmation page (one button, a
  plain form carrying the CSRF token bound to the link) for actions, the detail or operator
  page for looks.
- POST applies an action link once (lib.app.actions) when its form token is the link's own.
- A tampered, expired, wrong-action or token-less request gets a 403 page; every request
  counts against its source address's per-minute limit (in memory; lib.edges.throttle).

With actions on, the trigger is open at FC's level, so this module also answers whether any
other HTTP request carries the serve token (:func:`bearer_ok`).
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from lib.core.links import (
    ACT_ACTIONS,
    ACTION_PATH,
    LinkError,
    Signer,
)
from lib.edges.pages import TEXT, confirm_page, message_page, when
from lib.edges.throttle import Throttle

if TYPE_CHECKING:
    from lib.core.links import Link
    from lib.state.base import StateStore
    from lib.support.settings import Settings

__all__ = [
    "LIMITER",
    "OPS_PATH",
    "bearer_ok",
    "is_link_request",
    "serve_link",
    "serve_ops",
    "signer_for",
]

OPS_PATH = "/ops"  # the operator page with the serve token (no link needed)

LIMITER = Throttle(per_minute=120)
_MAX_FORM_BYTES = 4096
_SECURITY_HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
}


def is_link_request(envelope: Mapping[str, Any]) -> bool:
    """Whether an HTTP trigger envelope is for the link pages."""
    return envelope.get("rawPath") == ACTION_PATH


def signer_for(settings: Settings) -> Signer | None:
    """The deployment's link signer, or None when actions are off."""
    if settings.public_url is None or settings.actions_secret is None:
        return None
    return Signer(settings.public_url, settings.actions_secret.get_secret_value().encode())


# The serve token's floor; lib/edges/serve.py MIN_TOKEN_LENGTH is the same (a test holds them equal).
MIN_BEARER_LENGTH = 16


def bearer_ok(envelope: Mapping[str, Any], token: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (token ≥
    MIN_BEARER_LENGTH chars, the floor ``make serve`` asks of the same token)."""
    if len(token) < MIN_BEARER_LENGTH:
        return False
    headers = envelope.get("headers") or {}
    offered = next((str(v) for k, v in headers.items() if str(k).lower() == "authorization"), "")
    scheme, _, credential = offered.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credential.strip().encode(), token.encode()
    )


def _reply(status: int, html: str, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every page is an outward string: it passes the scrubber (a command's output on the
    detail page may hold a robot's URL or another registered secret)."""
    from lib.support.scrubber import scrub

    return {
        "statusCode": status,
        "headers": {**_SECURITY_HEADERS, **(extra or {})},
        "body": scrub(html),
    }


def _form(envelope: Mapping[str, Any]) -> dict[str, str]:
    body = envelope.get("body") or ""
    if not isinstance(body, str):
        return {}
    if envelope.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except ValueError:
            return {}
    if len(body) > _MAX_FORM_BYTES:
        return {}
    return {key: values[0] for key, values in parse_qs(body).items() if values}


def serve_link(
    envelope: Mapping[str, Any],
    settings: Settings,
    signer: Signer,
    store: StateStore,
    now: float,
    *,
    limiter: Throttle = LIMITER,
) -> dict[str, Any]:
    """Answer one ``/act`` request as an FC HTTP reply (``statusCode``, ``headers``, ``body``)."""
    lang = settings.lang
    t = TEXT[lang]
    context = envelope.get("requestContext") or {}
    http = context.get("http") or {}
    method = str(http.get("method") or "GET").upper()
    address = str(http.get("sourceIp") or "unknown")
    if not limiter.allow(address, now):
        wait = limiter.retry_after(now)
        page = message_page(lang, "slow", [t["slow_hint"].format(n=wait)], warn=True)
        return _reply(429, page, {"retry-after": str(wait)})
    raw = envelope.get("queryParameters") or {}
    params = {str(k): str(v) for k, v in raw.items()}
    zone = ZoneInfo(settings.timezone)
    try:
        link = signer.verify(params, now)
    except LinkError as error:
        return _refused(lang, error.code)
    if _resolved_a_day_ago(link, store, now):
        return _refused(lang, "resolved")
    if method in {"GET", "HEAD"}:
        return _show(link, settings, signer=signer, store=store, now=now, zone=zone)
    if method != "POST":
        return _reply(
            405, message_page(lang, "refused", [method], warn=True), {"allow": "GET, POST"}
        )
    return _apply(link, envelope, settings, signer=signer, store=store, now=now)


def _apply(
    link: Link,
    envelope: Mapping[str, Any],
    settings: Settings,
    *,
    signer: Signer,
    store: StateStore,
    now: float,
) -> dict[str, Any]:
    """POST: apply an action link whose form carries the link's own token."""
    lang = settings.lang
    t = TEXT[lang]
    if link.action not in ACT_ACTIONS:
        return _refused(lang, "look_only")
    form = _form(envelope)
    if not signer.check_csrf(link, form.get("csrf", "")):
        return _refused(lang, "csrf")
    from lib.app.actions import Actor, apply_link

    http = (envelope.get("requestContext") or {}).get("http") or {}
    actor = Actor(
        ip=str(http.get("sourceIp") or "unknown"),
        user_agent=str(http.get("userAgent") or ""),
        name=form.get("name", ""),
    )
    done = apply_link(store, link, actor, now, lang=lang)
    from lib.support.log import get_logger

    get_logger().info(
        "link applied" if not done.again else "link applied again: nothing changed",
        action=link.action,
        target=link.target,
        result=done.result,
        source_ip=actor.ip,
        name=actor.name[:64],
    )
    zone = ZoneInfo(settings.timezone)
    lines = [f"{t[done.action]} · {t['result']}: {done.result}"]
    lines += _silence_lines(store, done.result, now, zone, t)
    if done.again:
        lines.append(t["again"].format(at=when(done.at, zone)))
    return _reply(200, message_page(lang, "done", lines))


def _silence_lines(
    store: StateStore, result: str, now: float, zone: ZoneInfo, t: dict[str, str]
) -> list[str]:
    """For a silence made (or found made) by a link: until when, and how to end it early."""
    from lib.state.silences import list_silences

    made = next((s for s in list_silences(store, now) if s.id == result), None)
    if made is None:
        return []
    return [
        f"{t['until']} {when(made.expires_at, zone)}",
        t["undo"].format(id=made.id),
    ]


def serve_ops(settings: Settings, signer: Signer, store: StateStore, now: float) -> dict[str, Any]:
    """The operator page for a caller holding the serve token (``GET /ops``)."""
    from lib.edges.operator import operator_page

    zone = ZoneInfo(settings.timezone)
    return _reply(200, operator_page(settings, signer, store, now, zone))


_RESOLVED_GRACE_SECONDS = 86400.0


def _resolved_a_day_ago(link: Link, store: StateStore, now: float) -> bool:
    """A silence or acknowledge link expires once its alert has been resolved for a day."""
    if link.action not in {"silence-1h", "silence-1d", "silence-resolved", "ack"}:
        return False
    fingerprint, _, firing = link.target.partition(".")
    if link.target.startswith("g:") or not firing.isdigit():
        return False
    from lib.app.journal import RECORD, resolved_for

    since = resolved_for(store.read(RECORD).value, fingerprint, int(firing), now)
    return since is not None and since > _RESOLVED_GRACE_SECONDS


def _refused(lang: str, why: str) -> dict[str, Any]:
    """The 403 page: the reason (``why_<why>`` in the page's language) and what to do."""
    t = TEXT[lang]
    reason = t.get(f"why_{why}", t["why_refused"])
    return _reply(403, message_page(lang, "refused", [reason, t["refused_hint"]], warn=True))


def _show(
    link: Link,
    settings: Settings,
    *,
    signer: Signer,
    store: StateStore,
    now: float,
    zone: ZoneInfo,
) -> dict[str, Any]:
    """GET: a page, reading the store only."""
    return _page_for(link, settings, signer, store, now, zone)


def _page_for(  # noqa: PLR0917 - private, called once
    link: Link, settings: Settings, signer: Signer, store: StateStore, now: float, zone: ZoneInfo
) -> dict[str, Any]:
    """GET: a page, reading the store only."""
    lang = settings.lang
    if link.action in ACT_ACTIONS:
        from lib.edges.operator import about_alert, about_cause
        from lib.state.actions import applied

        earlier = applied(store, link.id)
        extra = ""
        if link.target.startswith("g:"):
            extra = about_cause(store, link.target[2:], lang)
        elif link.action != "expire":
            extra = about_alert(store, link.target.partition(".")[0], lang, zone)
        if earlier is not None:
            note = TEXT[lang]["again"].format(at=when(float(earlier.get("at", 0.0)), zone))
            extra += f'<p class="small">{_esc(note)}</p>'
        page = confirm_page(
            lang,
            link.action,
            link.target,
            csrf=signer.csrf(link),
            expires=when(link.expires, zone),
            extra=extra,
        )
        return _reply(200, page)
    from lib.edges.operator import operator_page

    only = link.target.partition(".")[0] if link.action == "detail" else None
    return _reply(200, operator_page(settings, signer, store, now, zone, only=only))


def _esc(text: str) -> str:
    from html import escape

    return escape(text)
