"""Alibaba Cloud OpenAPI signature V3 (ACS3-HMAC-SHA256), as pure functions.

::

    CanonicalRequest = METHOD \\n CanonicalURI \\n CanonicalQuery \\n CanonicalHeaders \\n
                       SignedHeaders \\n hex(sha256(body))
    StringToSign     = "ACS3-HMAC-SHA256" \\n hex(sha256(CanonicalRequest))
    Signature        = hex(hmac_sha256(AccessKeySecret, StringToSign))

Names and values are percent-encoded per RFC 3986 (only ``A-Za-z0-9-_.~`` stay as they
are: a space is ``%20``, ``*`` is ``%2A``, ``/`` is ``%2F``). Signed headers are ``host``,
``content-type`` and every ``x-acs-*`` header, lowercase, sorted, values trimmed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote

from lib.support.credentials import Credentials

__all__ = [
    "ALGORITHM",
    "canonical_query",
    "canonical_request",
    "percent_encode",
    "sign_request",
    "signed_header_subset",
]

ALGORITHM = "ACS3-HMAC-SHA256"


def percent_encode(text: str) -> str:
    """RFC 3986 percent-encoding of UTF-8 text: only unreserved characters stay."""
    return quote(text, safe="~")


def canonical_query(query: Mapping[str, str]) -> str:
    """Query parameters sorted by name, each name and value percent-encoded, joined by ``&``.

    The same string is what the client puts on the wire, so the server decodes exactly
    the values that were signed.
    """
    return "&".join(
        f"{percent_encode(name)}={percent_encode(query[name])}" for name in sorted(query)
    )


def _canonical_uri(path: str) -> str:
    return quote(path or "/", safe="/~")


def signed_header_subset(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers V3 signs: host, content-type and all x-acs-*, lowercase, values trimmed."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        low = name.lower()
        if low in ("host", "content-type") or low.startswith("x-acs-"):
            out[low] = value.strip()
    return out


def canonical_request(
    *,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    payload_hash: str,
) -> tuple[str, str]:
    """Build the canonical request over exactly ``headers``.

    Args:
        method: HTTP method.
        path: the resource path (``/`` for RPC-style APIs).
        query: decoded query parameters.
        headers: the headers to sign (already chosen, see ``signed_header_subset``).
        payload_hash: lowercase hex sha256 of the body.

    Returns:
        (canonical request, signed header names joined by ``;``).
    """
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    names = sorted(lowered)
    canonical_headers = "".join(f"{name}:{lowered[name]}\n" for name in names)
    signed = ";".join(names)
    text = "\n".join(
        [
            method.upper(),
            _canonical_uri(path),
            canonical_query(query),
            canonical_headers,
            signed,
            payload_hash,
        ]
    )
    return text, signed


def sign_request(
    *,
    method: str,
    host: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    credentials: Credentials,
    action: str,
    version: str,
    date: str,
    nonce: str,
) -> dict[str, str]:
    """Sign one request and return every header to send with it.

    Args:
        method: HTTP method (POST for RPC-style calls).
        host: the Host header exactly as sent (``host[:port]``).
        path: the resource path, ``/`` for RPC style.
        query: decoded query parameters (the caller sends ``canonical_query(query)``).
        headers: extra headers; content-type and x-acs-* among them are signed, others
            (user-agent, accept) are sent unsigned.
        body: the exact body bytes.
        credentials: the AccessKey pair, with the STS token if any.
        action: API name, e.g. ``DescribeInvocations``.
        version: API version, e.g. ``2014-05-26``.
        date: UTC time as ``YYYY-MM-DDTHH:MM:SSZ``.
        nonce: a value unique per request (the server refuses replays).

    Returns:
        Lowercase headers (host, x-acs-*, the given ones) plus ``Authorization``.
    """
    payload_hash = hashlib.sha256(body).hexdigest()
    out = {name.lower(): value for name, value in headers.items()}
    out.update(
        {
            "host": host,
            "x-acs-action": action,
            "x-acs-version": version,
            "x-acs-date": date,
            "x-acs-signature-nonce": nonce,
            "x-acs-content-sha256": payload_hash,
        }
    )
    out.pop("authorization", None)
    if credentials.security_token is not None:
        out["x-acs-security-token"] = credentials.security_token.get_secret_value()
    text, signed = canonical_request(
        method=method,
        path=path,
        query=query,
        headers=signed_header_subset(out),
        payload_hash=payload_hash,
    )
    string_to_sign = f"{ALGORITHM}\n{hashlib.sha256(text.encode()).hexdigest()}"
    signature = hmac.new(
        credentials.access_key_secret.get_secret_value().encode(),
        string_to_sign.encode(),
        hashlib.sha256,
    ).hexdigest()
    out["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id},"
        f"SignedHeaders={signed},Signature={signature}"
    )
    return out
