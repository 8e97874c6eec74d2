"""Endpoint and receiver URL rules: https everywhere, plain http only for loopback hosts."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["is_loopback_host", "require_secure_url"]


def is_loopback_host(host: str | None) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1: the demo's and the tests' hosts."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_secure_url(url: str, *, what: str) -> str:
    """Return ``url`` if it is https, or http to a loopback host; else raise ValueError.

    The message names ``what`` and the scheme/host only, never the path or query (robot
    URLs carry their access token there).
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced [ in the host
        raise ValueError(f"{what} is not a URL (its host does not parse)") from None
    shown = f"{parts.scheme}://{parts.hostname}" if parts.scheme else "a URL without a scheme"
    if not (parts.scheme == "https" and parts.hostname) and not (
        parts.scheme == "http" and is_loopback_host(parts.hostname)
    ):
        raise ValueError(f"{what} must be https (plain http only for loopback hosts), got {shown}")
    problem = _unusable(url)
    if problem is not None:
        raise ValueError(f"{what} is not a URL an HTTP client can use ({problem}), got {shown}")
    return url


def _unusable(url: str) -> str | None:
    """Why httpx would refuse ``url`` at send time (after the claims), or None.

    A port that is no number (``https://host:abc/``), a host no IDNA encoder accepts
    (``https://xn--/``), a control character: found here, at start-up, in one line.
    """
    try:
        port = urlsplit(url).port  # ValueError: not a number, or out of range
    except ValueError:
        return "its port is not a number from 0 to 65535"
    if port == 0:
        return "its port is 0"
    import httpx  # here, not at import: settings are read before any client is built

    try:
        httpx.Request("POST", url)  # what a send builds: the Host header encodes the name
    except httpx.InvalidURL as error:
        return str(error).split("\n", 1)[0][:80].rstrip(".")
    except UnicodeError:  # idna: a label that is no valid internationalised name
        return "its host is not a valid (internationalised) domain name"
    return None
