"""The fake's ACS3-HMAC-SHA256 verifier agrees with the published vector and the official signer."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes import acs3
from tests.fakes.official_signer import build_request

KEYS = {"LTAI-test": acs3.KnownKey("test-secret")}
NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
URL = "http://ecs.cn-hangzhou.aliyuncs.com"


def received(request: httpx.Request) -> acs3.ReceivedRequest:
    """What a server would see of an httpx request."""
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.multi_items():
        headers.setdefault(name.lower(), []).append(value)
    return acs3.ReceivedRequest(
        method=request.method,
        path=request.url.path,
        query=request.url.query.decode(),
        headers=headers,
        body=request.content,
    )


def signed(params: dict[str, str] | None = None, /, **kw: Any) -> acs3.ReceivedRequest:
    sign = {"access_key_id": "LTAI-test", "secret": "test-secret", "date": NOW, **kw}
    return received(
        build_request(URL, "DescribeInvocations", params or {"RegionId": "cn-hangzhou"}, **sign)
    )


def vector_request() -> acs3.ReceivedRequest:
    headers = {
        "host": "ecs.cn-shanghai.aliyuncs.com",
        "x-acs-action": "RunInstances",
        "x-acs-version": "2014-05-26",
        "x-acs-date": "2023-10-26T10:22:32Z",
        "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
        "x-acs-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    }
    return acs3.ReceivedRequest(
        method="POST",
        path="/",
        query="ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai",
        headers={k: [v] for k, v in headers.items()},
    )


def test_published_vector_gives_the_documented_hash_and_signature():
    # GIVEN the request from the signature documentation (VECTORS.md)
    request = vector_request()
    # WHEN the server side rebuilds its canonical request and signs it
    canonical = acs3.canonical_request(request, list(request.headers), acs3.hex_sha256(b""))
    signature = acs3.sign("YourAccessKeySecret", acs3.string_to_sign(canonical))
    # THEN both match the published figures
    assert acs3.hex_sha256(canonical.encode()) == (
        "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    )
    assert signature == "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"


def test_published_vector_request_is_accepted_at_its_own_time_and_refused_an_hour_later():
    # GIVEN the documented request with its documented Authorization header
    base = vector_request()
    auth = (
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;"
        "x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
        "Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    )
    request = acs3.ReceivedRequest(
        base.method, base.path, base.query, {**base.headers, "authorization": [auth]}
    )
    keys = {"YourAccessKeyId": acs3.KnownKey("YourAccessKeySecret")}
    sent = datetime(2023, 10, 26, 10, 22, 32, tzinfo=timezone.utc)
    # WHEN verified at the time it was sent THEN it passes
    assert acs3.verify(request, keys, now=sent).access_key_id == "YourAccessKeyId"
    # WHEN verified an hour later THEN the date is refused
    with pytest.raises(acs3.SignatureError) as err:
        acs3.verify(request, keys, now=sent + timedelta(hours=1))
    assert err.value.code == "InvalidTimeStamp.Expired"


_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=30
)


@settings(max_examples=60, deadline=None)
@given(
    params=st.dictionaries(
        st.from_regex(r"[A-Z][A-Za-z0-9]{0,12}(\.[1-9]\.(Key|Value))?", fullmatch=True),
        _text,
        max_size=6,
    ),
    form=st.dictionaries(st.from_regex(r"[A-Z][A-Za-z]{0,8}", fullmatch=True), _text, max_size=3),
)
def test_any_request_signed_by_the_official_util_is_accepted(params, form):
    # GIVEN arbitrary RPC parameters (unicode, spaces, reserved characters) and form fields
    # WHEN the official alibabacloud_openapi_util signs the request
    request = signed({"RegionId": "cn-hangzhou", **params}, form=form or None)
    # THEN the fake's verifier accepts it
    assert acs3.verify(request, KEYS, now=NOW).access_key_id == "LTAI-test"


def test_a_parameter_changed_after_signing_is_refused():
    # GIVEN a correctly signed request
    good = signed({"RegionId": "cn-hangzhou", "InvokeId": "t-hz0001"})
    # WHEN someone changes a parameter on the way
    tampered = acs3.ReceivedRequest(
        good.method, good.path, good.query.replace("t-hz0001", "t-hz0002"), good.headers
    )
    # THEN the signature no longer matches
    with pytest.raises(acs3.SignatureError) as err:
        acs3.verify(tampered, KEYS, now=NOW)
    assert (err.value.status, err.value.code) == (400, "SignatureDoesNotMatch")


def test_a_wrong_secret_is_refused_without_echoing_any_secret():
    # GIVEN a request signed with the wrong secret
    request = signed(secret="not-the-secret")
    # WHEN verified
    with pytest.raises(acs3.SignatureError) as err:
        acs3.verify(request, KEYS, now=NOW)
    # THEN SignatureDoesNotMatch, and neither secret appears in the message
    assert err.value.code == "SignatureDoesNotMatch"
    assert "test-secret" not in str(err.value)
    assert "not-the-secret" not in str(err.value)


def test_an_unknown_access_key_is_not_found():
    request = signed(access_key_id="LTAI-nobody")
    with pytest.raises(acs3.SignatureError) as err:
        acs3.verify(request, KEYS, now=NOW)
    assert (err.value.status, err.value.code) == (404, "InvalidAccessKeyId.NotFound")


@pytest.mark.parametrize(("minutes", "accepted"), [(14, True), (16, False), (-16, False)])
def test_x_acs_date_is_accepted_only_within_fifteen_minutes(minutes, accepted):
    # GIVEN a request signed `minutes` before now (negative: in the future)
    request = signed(date=NOW - timedelta(minutes=minutes))
    # WHEN verified THEN only a skew within 15 minutes passes
    if accepted:
        acs3.verify(request, KEYS, now=NOW)
    else:
        with pytest.raises(acs3.SignatureError) as err:
            acs3.verify(request, KEYS, now=NOW)
        assert err.value.code == "InvalidTimeStamp.Expired"


def test_an_x_acs_header_left_out_of_the_signature_is_refused():
    # GIVEN a signed request to which an unsigned x-acs-* header is added
    good = signed()
    request = acs3.ReceivedRequest(
        good.method, good.path, good.query, {**good.headers, "x-acs-extra": ["1"]}
    )
    # WHEN verified THEN the signature is incomplete
    with pytest.raises(acs3.SignatureError) as err:
        acs3.verify(request, KEYS, now=NOW)
    assert err.value.code == "IncompleteSignature"
    assert "x-acs-extra" in err.value.message


def test_a_body_that_does_not_match_its_content_hash_is_refused():
    # GIVEN a signed form request whose body is swapped after signing
    good = signed(form={"InvokeId": "t-hz0001"})
    request = acs3.ReceivedRequest(
        good.method, good.path, good.query, good.headers, body=b"InvokeId=t-hz0002"
    )
    # WHEN verified THEN it is refused, and the message says why
    with pytest.raises(acs3.SignatureError) as err:
        acs3.verify(request, KEYS, now=NOW)
    assert err.value.code == "SignatureDoesNotMatch"
    assert "x-acs-content-sha256" in err.value.message


def test_missing_authorization_is_an_incomplete_signature():
    good = signed()
    headers = {k: v for k, v in good.headers.items() if k != "authorization"}
    with pytest.raises(acs3.SignatureError) as err:
        acs3.verify(acs3.ReceivedRequest("POST", "/", good.query, headers), KEYS, now=NOW)
    assert (err.value.status, err.value.code) == (400, "IncompleteSignature")


def test_sts_keys_need_their_own_security_token():
    # GIVEN an STS key issued with a token
    keys = {"STS.key": acs3.KnownKey("sts-secret", "the-token")}
    sts = {"access_key_id": "STS.key", "secret": "sts-secret"}
    # WHEN it signs with its token THEN it is accepted
    acs3.verify(signed(security_token="the-token", **sts), keys, now=NOW)
    # WHEN it signs with another token THEN the token does not match the key
    with pytest.raises(acs3.SignatureError) as err:
        acs3.verify(signed(security_token="other-token", **sts), keys, now=NOW)
    assert err.value.code == "InvalidSecurityToken.MismatchWithAccessKey"
    assert "the-token" not in str(err.value)
    # WHEN it signs without a token THEN the key is unknown
    with pytest.raises(acs3.SignatureError) as err:
        acs3.verify(signed(**sts), keys, now=NOW)
    assert err.value.code == "InvalidAccessKeyId.NotFound"


def test_known_keys_never_show_their_secret_or_token():
    key = acs3.KnownKey("very-secret", "very-token")
    assert "very-secret" not in repr(key)
    assert "very-token" not in repr(key)
