"""The one scrubber every outward string passes: registered secrets out, receiver URLs cut.

Outward strings are log lines (the logger's processor), run reports (``lib.edges.entry``),
messages (the outbox and the self-health report, just before a receiver sends, through
:func:`lib.core.notification.scrubbed_message`) and
exception text (:class:`lib.support.errors.AssistwatchError`) and the signed links' pages
(``lib.edges.links``). Each goes through :func:`scrub`:

- every secret value the run knows (access key secret, STS token, robot tokens, webhook
  secrets, a receiver URL's path and query) is removed, replaced by ``****``;
- a registered receiver URL is shown as ``scheme://host`` only, whatever follows it (a
  Slack-style webhook keeps its credential in the path, a DingTalk robot in the query);
  :func:`show_url` does the same for a URL in hand.

This is exact, not heuristic: what the run was configured with is what is removed. Masking
by pattern (a key printed by a command) is :mod:`lib.support.redact`'s job and comes on top, in the
logger and in what receivers render from command output.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "register_secret",
    "register_secrets",
    "scrub",
    "scrub_value",
    "show_url",
]

MASK = "****"
_MIN_SECRET = 6  # shorter values would mask ordinary words
_RECENT = 256  # rotating credentials kept: the newest this many
_secrets: dict[str, None] = {}  # per-invocation values (STS secrets, tokens), oldest first
_lasting: set[str] = set()  # configured for the process's life (robot URLs and secrets)
_origins: set[str] = set()  # scheme://host[:port] of every registered receiver URL
_lock = threading.Lock()
_compiled: tuple[int, re.Pattern[str] | None, tuple[str, ...]] = (-1, None, ())
_generation = 0  # bumped on every change: the compiled view is rebuilt lazily
# What may follow an origin inside a URL: everything up to whitespace, a quote or a bracket.
_URL_REST = r"(?::[0-9]+)?(?:[/?#][^\s\"'<>`)\]]*)?"


def show_url(url: str) -> str:
    """``scheme://host`` (with a non-default port) of ``url``: nothing of path, query, user.

    Anything that does not parse as a URL with a host is shown as ``****``.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return MASK
    host = parts.hostname
    if not parts.scheme or not host:
        return MASK
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + ("" if port is None else f":{port}")


def _as_url(value: str) -> tuple[str, list[str]] | None:
    """(origin, its secret parts) when ``value`` is an http(s) URL with a host.

    The parts: the path, the path with the query, each query value, the userinfo — any of
    them may be quoted apart from the URL (an HTTP library naming only the path).
    """
    if not value.lower().startswith(("http://", "https://")):
        return None
    shown = show_url(value)
    if shown == MASK:
        return None
    parts = urlsplit(value)
    path = parts.path.strip("/")
    found = [path, f"{path}?{parts.query}" if parts.query else ""]
    found += [item.partition("=")[2] for item in parts.query.split("&")]
    found.append(parts.netloc.rpartition("@")[0])
    return shown, [part for part in found if len(part) >= _MIN_SECRET]


def register_secret(*values: str | None, lasting: bool = False) -> None:
    """Remember secret values so no outward string can show them (process-wide).

    ``lasting``: configuration (a robot's URL or secret), kept for the process's life;
    otherwise a credential that rotates, kept among the last few hundred. A lasting http(s)
    URL registers its origin (shown alone from then on) and its path and query (removed).
    """
    global _generation  # noqa: PLW0603  # one registry per process, like the log stream
    with _lock:
        for value in values:
            if not value or len(value) < _MIN_SECRET:
                continue
            if lasting:
                _lasting.add(value)
                url = _as_url(value)
                if url is not None:
                    origin, parts = url
                    _origins.add(origin)
                    _lasting.update(parts)
                continue
            _secrets.pop(value, None)  # registered again: now the newest
            _secrets[value] = None
            while len(_secrets) > _RECENT:  # credentials rotate: forget the oldest only
                del _secrets[next(iter(_secrets))]
        _generation += 1


def register_secrets(values: Iterable[str | None]) -> None:
    """Convenience for several values at once."""
    register_secret(*values)


def _view() -> tuple[re.Pattern[str] | None, tuple[str, ...]]:
    global _compiled  # noqa: PLW0603  # a cache of the registry above
    with _lock:
        generation, pattern, known = _compiled
        if generation == _generation:
            return pattern, known
        origins = sorted(_origins, key=len, reverse=True)
        pattern = (
            re.compile(
                "(" + "|".join(map(re.escape, origins)) + r")(?![\w.-])" + _URL_REST,
                re.IGNORECASE,
            )
            if origins
            else None
        )
        known = tuple(sorted({*_secrets, *_lasting}, key=len, reverse=True))
        _compiled = (_generation, pattern, known)
        return pattern, known


def scrub(text: str) -> str:
    """``text`` with registered receiver URLs cut to scheme://host and secrets removed."""
    pattern, known = _view()
    if pattern is not None:
        text = pattern.sub(lambda match: match.group(1), text)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def scrub_value(value: Any) -> Any:
    """:func:`scrub` applied to every string in a JSON-like value (keys too)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {scrub(str(key)): scrub_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(item) for item in value]
    return value
