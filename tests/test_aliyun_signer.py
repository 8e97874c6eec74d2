"""ACS3-HMAC-SHA256: the published vector, and agreement with the official SDK utility."""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

import pytest
from alibabacloud_openapi_util.client import Client as OpenApiUtil
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from Tea.request import TeaRequest

from lib.cloud.aliyun.signer import (
    canonical_query,
    canonical_request,
    percent_encode,
    sign_request,
    signed_header_subset,
)
from lib.support.credentials import Credentials

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_published_v3_vector_matches_canonical_request_hash_and_signature():
    """GIVEN the RunInstances request from the V3 signature documentation (VECTORS.md)
    WHEN we sign it
    THEN the canonical request hashes and the signature come out exactly as published."""
    creds = Credentials("YourAccessKeyId", SecretStr("YourAccessKeySecret"))
    query = {
        "ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
        "RegionId": "cn-shanghai",
    }

    headers = sign_request(
        method="POST",
        host="ecs.cn-shanghai.aliyuncs.com",
        path="/",
        query=query,
        headers={},
        body=b"",
        credentials=creds,
        action="RunInstances",
        version="2014-05-26",
        date="2023-10-26T10:22:32Z",
        nonce="3156853299f313e23d1673dc12e1703d",
    )

    assert headers["x-acs-content-sha256"] == EMPTY_SHA256
    text, signed = canonical_request(
        method="POST",
        path="/",
        query=query,
        headers=signed_header_subset(headers),
        payload_hash=EMPTY_SHA256,
    )
    assert signed == (
        "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
    )
    assert (
        hashlib.sha256(text.encode()).hexdigest()
        == "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    )
    assert headers["Authorization"] == (
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,"
        f"SignedHeaders={signed},"
        "Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    )


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("a b", "a%20b"),
        ("*", "%2A"),
        ("~", "~"),
        ("/", "%2F"),
        ("+", "%2B"),
        ("=&", "%3D%26"),
        ("云助手", "%E4%BA%91%E5%8A%A9%E6%89%8B"),
        ("A-z_0.9", "A-z_0.9"),
    ],
)
def test_values_are_percent_encoded_per_rfc3986(raw, encoded):
    """GIVEN a value with a character the documentation singles out
    WHEN it is encoded for the canonical query
    THEN it follows RFC 3986 (space %20, * %2A, ~ kept, / and + escaped)."""
    assert percent_encode(raw) == encoded


def test_canonical_query_sorts_names_and_keeps_empty_values():
    """GIVEN parameters out of order, one of them empty
    WHEN the canonical query is built
    THEN names are sorted and the empty value stays as ``Name=``."""
    assert canonical_query({"b": "2", "a": "", "A": "x y"}) == "A=x%20y&a=&b=2"


def test_security_token_is_sent_and_signed_when_present():
    """GIVEN STS credentials
    WHEN a request is signed
    THEN x-acs-security-token is sent and listed among the signed headers."""
    creds = Credentials("id", SecretStr("secret"), SecretStr("sts-token"))
    headers = sign_request(
        method="POST",
        host="ecs.cn-hangzhou.aliyuncs.com",
        path="/",
        query={},
        headers={"user-agent": "ua", "accept": "application/json"},
        body=b"",
        credentials=creds,
        action="DescribeInvocations",
        version="2014-05-26",
        date="2024-01-01T00:00:00Z",
        nonce="n",
    )
    assert headers["x-acs-security-token"] == "sts-token"
    assert "x-acs-security-token" in headers["Authorization"].split("SignedHeaders=")[1]
    # user-agent and accept are sent but not signed: proxies may rewrite them.
    assert headers["user-agent"] == "ua"
    assert "user-agent" not in headers["Authorization"]


# ---------------------------------------------------------------- the official oracle


def _oracle_authorization(
    *,
    host: str,
    query: dict[str, str],
    body: bytes,
    content_type: str | None,
    creds: Credentials,
    action: str,
    version: str,
    date: str,
    nonce: str,
) -> str:
    """Sign as the Tea OpenAPI SDK does in its V3 do_request: headers set on a TeaRequest,
    x-acs-content-sha256 = hex sha256 of the body, then OpenApiUtil.get_authorization."""
    request = TeaRequest()
    request.method = "POST"
    request.pathname = "/"
    request.query = dict(query)
    hashed = OpenApiUtil.hex_encode(OpenApiUtil.hash(body, "ACS3-HMAC-SHA256"))
    request.headers = {
        "host": host,
        "x-acs-version": version,
        "x-acs-action": action,
        "x-acs-date": date,
        "x-acs-signature-nonce": nonce,
        "x-acs-content-sha256": hashed,
    }
    if content_type is not None:
        request.headers["content-type"] = content_type
    if creds.security_token is not None:
        request.headers["x-acs-security-token"] = creds.security_token.get_secret_value()
    return str(
        OpenApiUtil.get_authorization(
            request,
            "ACS3-HMAC-SHA256",
            hashed,
            creds.access_key_id,
            creds.access_key_secret.get_secret_value(),
        )
    )


# Names stay in the unreserved set: the SDK utility leaves names unencoded, the API
# names them that way, and the documentation encodes them (identical for these).
_names = st.text(
    alphabet=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"),
    min_size=1,
    max_size=20,
)
_values = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=30),
    st.text(alphabet=st.sampled_from(" *~/+%=&?#:;,云助手é"), max_size=12),
    st.just(""),
)
_secrets = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)


@settings(max_examples=400, deadline=None)
@given(
    params=st.dictionaries(_names, _values, max_size=8),
    form=st.booleans(),
    token=st.one_of(st.none(), st.text(alphabet="ABCDEFabcdef0123456789+/=", min_size=1)),
    secret=_secrets,
    key_id=st.text(alphabet="LTAIabcdef0123", min_size=1, max_size=24),
    action=st.sampled_from(["DescribeInvocations", "DescribeSendFileResults", "X"]),
    nonce=st.text(alphabet="0123456789abcdef", min_size=1, max_size=32),
    port=st.one_of(st.none(), st.integers(1, 65535)),
)
def test_signature_agrees_with_official_sdk_for_generated_requests(
    *, params, form, token, secret, key_id, action, nonce, port
):
    """GIVEN any request (unicode, spaces, * ~ / +, empty values, with/without token,
    query or form body)
    WHEN we sign it and the official alibabacloud_openapi_util signs it the Tea-SDK way
    THEN both Authorization headers are identical."""
    creds = Credentials(key_id, SecretStr(secret), SecretStr(token) if token else None)
    host = "ecs.cn-hangzhou.aliyuncs.com" + (f":{port}" if port else "")
    if form:
        query: dict[str, str] = {}
        body = urlencode(sorted(params.items())).encode()
        content_type: str | None = "application/x-www-form-urlencoded"
    else:
        query, body, content_type = params, b"", None
    extra = {"content-type": content_type} if content_type else {}

    ours = sign_request(
        method="POST",
        host=host,
        path="/",
        query=query,
        headers={**extra, "user-agent": "assistwatch", "accept": "application/json"},
        body=body,
        credentials=creds,
        action=action,
        version="2014-05-26",
        date="2024-05-01T12:34:56Z",
        nonce=nonce,
    )

    expected = _oracle_authorization(
        host=host,
        query=query,
        body=body,
        content_type=content_type,
        creds=creds,
        action=action,
        version="2014-05-26",
        date="2024-05-01T12:34:56Z",
        nonce=nonce,
    )
    assert ours["Authorization"] == expected
