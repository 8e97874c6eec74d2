"""A tiny ECS RPC client signed by the official ``alibabacloud_openapi_util`` (the oracle).

Tests of the fakes use it instead of our own client: if the fake accepts what the vendor's
signer produces, the fake agrees with the cloud, not just with us. Query values are
encoded the way the official SDK does (RFC 3986, ``~`` kept), all headers are signed.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
from alibabacloud_openapi_util.client import Client as OpenApiUtil
from Tea.request import TeaRequest

__all__ = ["build_request", "call"]


def build_request(
    base_url: str,
    action: str,
    params: Mapping[str, str],
    *,
    access_key_id: str,
    secret: str,
    security_token: str | None = None,
    form: Mapping[str, str] | None = None,
    method: str = "POST",
    version: str = "2014-05-26",
    date: datetime | None = None,
    nonce: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> httpx.Request:
    """An httpx request for ``action`` with ``params`` in the query (``form`` in the body)."""
    body = urlencode(dict(form)).encode() if form else b""
    host = urlsplit(base_url).netloc
    when = (date or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": when,
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        "accept": "application/json",
    }
    if form:
        headers["content-type"] = "application/x-www-form-urlencoded"
    if security_token is not None:
        headers["x-acs-security-token"] = security_token
    headers.update(extra_headers or {})
    tea = TeaRequest()
    tea.method = method
    tea.pathname = "/"
    tea.query = dict(params)
    tea.headers = dict(headers)
    headers["Authorization"] = OpenApiUtil.get_authorization(
        tea, "ACS3-HMAC-SHA256", headers["x-acs-content-sha256"], access_key_id, secret
    )
    query = "&".join(f"{k}={quote(v, safe='~')}" for k, v in params.items())
    url = f"{base_url}/?{query}" if query else f"{base_url}/"
    return httpx.Request(method, url, headers=headers, content=body)


def call(
    client: httpx.Client,
    base_url: str,
    action: str,
    params: Mapping[str, str],
    **sign: Any,
) -> httpx.Response:
    """Sign with the official util and send; returns the raw response."""
    return client.send(build_request(base_url, action, params, **sign))
