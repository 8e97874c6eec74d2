"""StsFake behaves like STS AssumeRole over real HTTP.

Requests are signed by the official ``alibabacloud_openapi_util`` (tests/fakes/official_signer),
never by our own client, so these tests pin the fake to the vendor's protocol.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.fakes.cloudassist import CloudAssistantFake
from tests.fakes.dataset import Dataset
from tests.fakes.official_signer import build_request
from tests.fakes.sts import StsFake

KEY_ID, SECRET = "LTAI-caller", "caller-secret"
ROLE = "acs:ram::1234567890123456:role/reader"
UNTRUSTED = "acs:ram::1234567890123456:role/admin"
ASK = {"RoleArn": ROLE, "RoleSessionName": "assistwatch"}


@pytest.fixture
def cloud() -> Iterator[CloudAssistantFake]:
    with CloudAssistantFake({}, dataset=Dataset()) as fake:
        yield fake


@pytest.fixture
def sts(cloud: CloudAssistantFake) -> Iterator[StsFake]:
    with StsFake(
        {KEY_ID: SECRET}, grants={KEY_ID: [ROLE]}, roles=[ROLE, UNTRUSTED], targets=[cloud]
    ) as fake:
        yield fake


def assume(
    http: httpx.Client, url: str, params: dict[str, str], *, secret: str = SECRET, **kw: Any
) -> httpx.Response:
    request = build_request(
        url, "AssumeRole", params, access_key_id=KEY_ID, secret=secret, version="2015-04-01", **kw
    )
    return http.send(request)


def test_assume_role_answers_the_reference_shape(sts, http):
    # GIVEN a caller allowed to assume a role WHEN it asks for 15 minutes
    before = datetime.now(timezone.utc).replace(microsecond=0)
    response = assume(http, sts.url, {**ASK, "DurationSeconds": "900"})
    # THEN Credentials and AssumedRoleUser as the reference prints them
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"RequestId", "AssumedRoleUser", "Credentials"}
    creds = body["Credentials"]
    assert set(creds) == {"AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration"}
    assert creds["AccessKeyId"].startswith("STS.")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", creds["Expiration"])
    expires = datetime.fromisoformat(creds["Expiration"].replace("Z", "+00:00"))
    lasts = expires - before
    assert timedelta(minutes=14) < lasts <= timedelta(minutes=16)
    assert body["AssumedRoleUser"]["Arn"] == f"{ROLE}/assistwatch"
    assert body["AssumedRoleUser"]["AssumedRoleId"].endswith(":assistwatch")


def test_issued_keys_are_accepted_by_the_targets(sts, cloud, http):
    # GIVEN credentials just issued
    creds = assume(http, sts.url, ASK).json()["Credentials"]
    # WHEN the Cloud Assistant fake is called with them, with and without the token
    signed = {"access_key_id": creds["AccessKeyId"], "secret": creds["AccessKeySecret"]}
    params = {"RegionId": "cn-hangzhou"}
    with_token = http.send(
        build_request(
            cloud.url,
            "DescribeInvocations",
            params,
            security_token=creds["SecurityToken"],
            **signed,
        )
    )
    without = http.send(build_request(cloud.url, "DescribeInvocations", params, **signed))
    # THEN accepted with the token only
    assert with_token.status_code == 200, with_token.text
    assert without.json()["Code"] == "InvalidAccessKeyId.NotFound"


def test_a_wrong_secret_is_refused_without_echoing_it(sts, http):
    response = assume(http, sts.url, ASK, secret="not-the-secret")
    assert (response.status_code, response.json()["Code"]) == (400, "SignatureDoesNotMatch")
    assert "not-the-secret" not in response.text
    assert sts.issued == []


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"RoleSessionName": "s1"}, 400, "MissingRoleArn"),
        ({"RoleArn": ROLE}, 400, "MissingRoleSessionName"),
        ({**ASK, "RoleArn": "acs:ram::1234567890123456:user/bob"}, 400, "InvalidParameter.RoleArn"),
        ({**ASK, "RoleSessionName": "no spaces"}, 400, "InvalidParameter.RoleSessionName"),
        ({**ASK, "DurationSeconds": "600"}, 400, "InvalidParameter.DurationSeconds"),
        ({**ASK, "DurationSeconds": "7200"}, 400, "InvalidParameter.DurationSeconds"),
        ({**ASK, "RoleArn": "acs:ram::1234567890123456:role/gone"}, 404, "EntityNotExist.Role"),
        ({**ASK, "RoleArn": UNTRUSTED}, 403, "NoPermission"),
    ],
)
def test_refusals_carry_the_real_codes(sts, http, params, status, code):
    # GIVEN a request STS would refuse WHEN sent THEN the reference's status and code, no key
    response = assume(http, sts.url, params)
    assert (response.status_code, response.json()["Code"]) == (status, code)
    assert sts.issued == []


def test_a_version_other_than_2015_04_01_is_refused(sts, http):
    request = build_request(
        sts.url, "AssumeRole", ASK, access_key_id=KEY_ID, secret=SECRET, version="2014-05-26"
    )
    assert http.send(request).json()["Code"] == "InvalidVersion"


def test_a_replayed_nonce_is_refused(sts, http):
    first = assume(http, sts.url, ASK, nonce="same-nonce")
    second = assume(http, sts.url, ASK, nonce="same-nonce")
    assert first.status_code == 200
    assert second.json()["Code"] == "SignatureNonceUsed"


def test_reprs_show_no_secret(sts, http):
    assume(http, sts.url, ASK)
    [issued] = sts.issued
    shown = repr(sts) + repr(issued)
    assert SECRET not in shown
    assert issued.access_key_secret not in shown
    assert issued.security_token not in shown
