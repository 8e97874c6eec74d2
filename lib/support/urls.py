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
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return url
    shown = f"{parts.scheme}://{parts.hostname}" if parts.scheme else "a URL without a scheme"
    raise ValueError(f"{what} must be https (plain http only for loopback hosts), got {shown}")
